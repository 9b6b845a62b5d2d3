"""Reports: the numbers behind an analysis and their text in French or English."""

from ._access import AccessSummary as AccessSummary
from ._access import summarize_access as summarize_access
from ._render import render_access as render_access
from ._render import render_security as render_security
from ._render import render_system as render_system
from ._security import SecuritySummary as SecuritySummary
from ._security import summarize_auth as summarize_auth

__all__ = [
    "AccessSummary",
    "SecuritySummary",
    "render_access",
    "render_security",
    "render_system",
    "summarize_access",
    "summarize_auth",
]
