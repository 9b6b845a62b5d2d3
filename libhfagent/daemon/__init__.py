"""The long-running parts of the agent: the engine, scheduler, runbooks, notifications."""

from ._engine import Engine as Engine
from ._engine import EngineStats as EngineStats
from ._engine import JobRun as JobRun
from ._notify import Alert as Alert
from ._notify import ChannelResult as ChannelResult
from ._notify import Delivery as Delivery
from ._notify import DesktopSession as DesktopSession
from ._notify import Notifier as Notifier
from ._notify import find_sessions as find_sessions
from ._runbooks import Runbook as Runbook
from ._runbooks import RunbookRun as RunbookRun
from ._runbooks import load_runbooks as load_runbooks
from ._runbooks import run_runbook as run_runbook
from ._scheduler import ScheduledJob as ScheduledJob
from ._scheduler import Scheduler as Scheduler

__all__ = [
    "Alert",
    "ChannelResult",
    "Delivery",
    "DesktopSession",
    "Engine",
    "EngineStats",
    "JobRun",
    "Notifier",
    "Runbook",
    "RunbookRun",
    "ScheduledJob",
    "Scheduler",
    "find_sessions",
    "load_runbooks",
    "run_runbook",
]
