"""Observer: the machine's logs, metrics and events as typed values."""

from ._access import AccessRecord as AccessRecord
from ._access import parse_access_line as parse_access_line
from ._auth import AuthEvent as AuthEvent
from ._auth import parse_auth_message as parse_auth_message
from ._diskstats import DiskCounters as DiskCounters
from ._diskstats import DiskRates as DiskRates
from ._diskstats import disk_rates as disk_rates
from ._diskstats import parse_diskstats as parse_diskstats
from ._errorlog import ErrorLogRecord as ErrorLogRecord
from ._errorlog import parse_apache_error_line as parse_apache_error_line
from ._errorlog import parse_error_line as parse_error_line
from ._errorlog import parse_nginx_error_line as parse_nginx_error_line
from ._events import Event as Event
from ._events import Metric as Metric
from ._events import Severity as Severity
from ._files import LineCounts as LineCounts
from ._files import rotation_chain as rotation_chain
from ._follow import FilePosition as FilePosition
from ._follow import FileSource as FileSource
from ._follow import FollowStats as FollowStats
from ._journal import JournalSource as JournalSource
from ._kernel import KernelEvent as KernelEvent
from ._kernel import parse_kernel_message as parse_kernel_message
from ._kmsg import KmsgRecord as KmsgRecord
from ._kmsg import KmsgSource as KmsgSource
from ._kmsg import parse_kmsg_record as parse_kmsg_record
from ._logformat import APACHE_COMBINED as APACHE_COMBINED
from ._logformat import NGINX_COMBINED as NGINX_COMBINED
from ._logformat import LogFormatParser as LogFormatParser
from ._logformat import compile_log_format as compile_log_format
from ._metrics import MetricsSource as MetricsSource
from ._observer import FollowerStats as FollowerStats
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
    "APACHE_COMBINED",
    "NGINX_COMBINED",
    "AccessRecord",
    "AuthEvent",
    "DiskCounters",
    "DiskRates",
    "ErrorLogRecord",
    "Event",
    "FilePosition",
    "FileSource",
    "FollowStats",
    "FollowerStats",
    "JournalSource",
    "KernelEvent",
    "KmsgRecord",
    "KmsgSource",
    "LineCounts",
    "LogFormatParser",
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
    "compile_log_format",
    "disk_rates",
    "mask_token",
    "parse_access_line",
    "parse_apache_error_line",
    "parse_auth_message",
    "parse_diskstats",
    "parse_error_line",
    "parse_kernel_message",
    "parse_kmsg_record",
    "parse_nginx_error_line",
    "parse_syslog_line",
    "rotation_chain",
    "take_snapshot",
]
