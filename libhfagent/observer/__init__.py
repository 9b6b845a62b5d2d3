"""Observer: the machine's logs, metrics and events as typed values."""

from ._access import AccessRecord as AccessRecord
from ._access import parse_access_line as parse_access_line
from ._auth import AuthEvent as AuthEvent
from ._auth import parse_auth_message as parse_auth_message
from ._diskstats import DiskCounters as DiskCounters
from ._diskstats import DiskRates as DiskRates
from ._diskstats import disk_rates as disk_rates
from ._diskstats import parse_diskstats as parse_diskstats
from ._events import Event as Event
from ._events import Metric as Metric
from ._events import Severity as Severity
from ._files import LineCounts as LineCounts
from ._files import rotation_chain as rotation_chain
from ._metrics import MetricsSource as MetricsSource
from ._observer import Observer as Observer
from ._syslog import SyslogRecord as SyslogRecord
from ._syslog import parse_syslog_line as parse_syslog_line
from ._system import SystemSnapshot as SystemSnapshot
from ._system import take_snapshot as take_snapshot
from ._templates import Template as Template
from ._templates import TemplateMiner as TemplateMiner
from ._templates import mask_token as mask_token
from ._units import UnitSource as UnitSource
from ._units import UnitState as UnitState
from ._units import UnitTracker as UnitTracker

__all__ = [
    "AccessRecord",
    "AuthEvent",
    "DiskCounters",
    "DiskRates",
    "Event",
    "LineCounts",
    "Metric",
    "MetricsSource",
    "Observer",
    "Severity",
    "SyslogRecord",
    "SystemSnapshot",
    "Template",
    "TemplateMiner",
    "UnitSource",
    "UnitState",
    "UnitTracker",
    "disk_rates",
    "mask_token",
    "parse_access_line",
    "parse_auth_message",
    "parse_diskstats",
    "parse_syslog_line",
    "rotation_chain",
    "take_snapshot",
]
