"""Executor: the policy's verdict on plans, previews, application and audit."""

from ._executor import Executor as Executor
from ._executor import Outcome as Outcome
from ._executor import PreviewedPlan as PreviewedPlan
from ._executor import PreviewOutdated as PreviewOutdated
from ._executor import StepResult as StepResult
from ._executor import UndoReport as UndoReport
from ._preview import Preview as Preview

__all__ = [
    "Executor",
    "Outcome",
    "Preview",
    "PreviewOutdated",
    "PreviewedPlan",
    "StepResult",
    "UndoReport",
]
