"""The configuration of the agent: ``hf-agent.json``, read, checked and edited.

:class:`Config` is the frozen, checked configuration; :meth:`Config.load`
finds and reads it. :func:`parse_jsonc` and :func:`update_text` work on the
file's text (JSON with comments) and are what ``hf-agent --configure`` uses
to change a file without losing its comments.
"""

from libhfagent.config._jsonc import JsoncDocument as JsoncDocument
from libhfagent.config._jsonc import KeyPath as KeyPath
from libhfagent.config._jsonc import format_key_path as format_key_path
from libhfagent.config._jsonc import parse_jsonc as parse_jsonc
from libhfagent.config._jsonc import update_text as update_text
from libhfagent.config._model import DEFAULT_CONFIG_PATH as DEFAULT_CONFIG_PATH
from libhfagent.config._model import DEFAULT_SOURCES as DEFAULT_SOURCES
from libhfagent.config._model import AgentSettings as AgentSettings
from libhfagent.config._model import Config as Config
from libhfagent.config._model import Job as Job
from libhfagent.config._model import MailSettings as MailSettings
from libhfagent.config._model import Modules as Modules
from libhfagent.config._model import MonitoringSettings as MonitoringSettings
from libhfagent.config._model import NlpSettings as NlpSettings
from libhfagent.config._model import NotificationSettings as NotificationSettings
from libhfagent.config._model import RunbookSettings as RunbookSettings
from libhfagent.config._model import SchedulerSettings as SchedulerSettings
from libhfagent.config._model import SecuritySettings as SecuritySettings
from libhfagent.config._model import WebhookSettings as WebhookSettings
from libhfagent.config._model import find_config_path as find_config_path

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_SOURCES",
    "AgentSettings",
    "Config",
    "Job",
    "JsoncDocument",
    "KeyPath",
    "MailSettings",
    "Modules",
    "MonitoringSettings",
    "NlpSettings",
    "NotificationSettings",
    "RunbookSettings",
    "SchedulerSettings",
    "SecuritySettings",
    "WebhookSettings",
    "find_config_path",
    "format_key_path",
    "parse_jsonc",
    "update_text",
]
