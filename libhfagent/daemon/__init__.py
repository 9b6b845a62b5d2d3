"""The long-running parts of the agent: scheduler, runbooks, notifications."""

from ._scheduler import ScheduledJob as ScheduledJob
from ._scheduler import Scheduler as Scheduler

__all__ = ["ScheduledJob", "Scheduler"]
