"""Reports: the numbers behind an analysis and their text in French or English."""

from ._access import AccessSummary as AccessSummary
from ._access import summarize_access as summarize_access
from ._render import render_access as render_access
from ._render import render_system as render_system

__all__ = ["AccessSummary", "render_access", "render_system", "summarize_access"]
