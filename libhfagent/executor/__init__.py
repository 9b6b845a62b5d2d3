"""Executor: the policy's verdict on plans, previews, application and audit."""

from ._executor import Executor as Executor
from ._executor import Outcome as Outcome
from ._executor import StepResult as StepResult

__all__ = ["Executor", "Outcome", "StepResult"]
