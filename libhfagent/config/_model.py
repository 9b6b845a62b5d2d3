"""The configuration: frozen values, read and checked from ``hf-agent.json``.

The file has three sections, as in the product announcement::

    {"agent": {...}, "modules": {"monitoring": {...}, "scheduler": {...},
     "nlp": {...}}, "security": {...}}

Every key is optional; what is left out takes its default. Unknown keys and
wrong types are errors naming the key and its line. Nothing is read at import
time: the environment and the file are read only by :meth:`Config.load` and
friends, and only from the ``env`` mapping they are given (``os.environ`` when
``None``).
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal, TypeAlias, get_args

import attrs
import cronsim

from libhfagent._errors import ConfigError
from libhfagent.config._jsonc import KeyPath, format_key_path, parse_jsonc

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_SOURCES",
    "AgentSettings",
    "Config",
    "Job",
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
]

DEFAULT_CONFIG_PATH = "/etc/hf-agent/hf-agent.json"
"""Where the configuration is looked for when no path and no ``$HF_AGENT_CONFIG`` is given."""

DEFAULT_STATE_DIR = "/var/lib/hf-agent"
DEFAULT_CACHE_DIR = "/var/cache/hf-agent"
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"

LogLevel: TypeAlias = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
UserMode: TypeAlias = Literal["interactive", "auto"]
Language: TypeAlias = Literal["fr", "en"]
SandboxLevel: TypeAlias = Literal["strict", "permissive"]
AlertSeverity: TypeAlias = Literal["info", "warning", "critical"]
Metric: TypeAlias = Literal["cpu_load", "memory_usage", "disk_space", "disk_io", "network"]

DEFAULT_SOURCES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "nginx": ("/var/log/nginx/access.log", "/var/log/nginx/error.log"),
        "apache": (
            "/var/log/apache2/access.log",
            "/var/log/apache2/error.log",
            "/var/log/apache2/other_vhosts_access.log",
        ),
        "syslog": ("/var/log/syslog",),
        "auth": ("/var/log/auth.log",),
        "kernel": ("kmsg:",),
        "journal": ("journal:",),
    }
)
"""The log sources known without configuration: the Debian locations.

``kmsg:`` names the kernel ring buffer and ``journal:`` the systemd journal.
"""

PSEUDO_LOCATIONS = ("kmsg:", "journal:")

_SOURCE_NAME = re.compile(r"[a-z][a-z0-9_-]*")
_MODEL_PART = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
# Any instant will do: the reference time only matters when iterating, not when parsing.
_CRON_REFERENCE = datetime(2000, 1, 1, tzinfo=UTC)


def _strings(items: Iterable[str]) -> tuple[str, ...]:
    if isinstance(items, str):
        raise TypeError(f"expected an iterable of strings, got the string {items!r}")
    return tuple(items)


def _metrics(items: Iterable[Metric]) -> tuple[Metric, ...]:
    if isinstance(items, str):
        raise TypeError(f"expected an iterable of metric names, got the string {items!r}")
    return tuple(items)


def _jobs(items: Iterable[Job]) -> tuple[Job, ...]:
    return tuple(items)


def _frozen_sources(sources: Mapping[str, Iterable[str]]) -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType({name: _strings(paths) for name, paths in sources.items()})


@attrs.frozen
class AgentSettings:
    """The ``agent`` section.

    Attributes:
        version: The configuration's version string.
        log_level: The logging threshold.
        user_mode: ``interactive`` asks for confirmation before changing
            anything, ``auto`` applies the plans the policy allows.
        language: The language of reports when a request does not set one.
        timezone: The IANA time zone the scheduler reads cron expressions in.
        state_dir: Where offsets, learner state, the audit log and the
            quarantine live. When the file does not set it:
            ``$HF_AGENT_STATE_DIR``, else ``/var/lib/hf-agent``.
        cache_dir: Where models and other re-creatable data are cached. When
            the file does not set it: ``$HF_AGENT_CACHE_DIR``, else
            ``/var/cache/hf-agent``.

    Constructing this class reads no environment variable: the environment
    defaults are applied by :class:`Config`'s constructors.
    """

    version: str = "1.0.0"
    log_level: LogLevel = "INFO"
    user_mode: UserMode = "interactive"
    language: Language = "fr"
    timezone: str = "UTC"
    state_dir: str = DEFAULT_STATE_DIR
    cache_dir: str = DEFAULT_CACHE_DIR


@attrs.frozen
class MonitoringSettings:
    """The ``modules.monitoring`` section.

    Attributes:
        enabled: Whether the observer runs.
        files_to_watch: Extra files (absolute paths or globs) to follow.
        metrics: The system metrics sampled: ``cpu_load``, ``memory_usage``,
            ``disk_space``, ``disk_io``, ``network``.
        interval: Seconds between two metric samples.
        sources: Log source name to its locations (absolute paths or globs,
            or ``kmsg:`` / ``journal:``), a read-only mapping. A file's
            ``sources`` replaces the entries it names and keeps the other
            :data:`DEFAULT_SOURCES`; an empty list turns a source off.
            Not part of the hash (mappings are not hashable); it still counts
            for equality.
    """

    enabled: bool = True
    files_to_watch: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    metrics: tuple[Metric, ...] = attrs.field(
        default=("cpu_load", "memory_usage", "disk_space"), converter=_metrics
    )
    interval: float = 10.0
    sources: Mapping[str, tuple[str, ...]] = attrs.field(
        default=DEFAULT_SOURCES, converter=_frozen_sources, hash=False
    )


@attrs.frozen
class Job:
    """A scheduled job from ``modules.scheduler.jobs``.

    Attributes:
        name: A name unique among the configured jobs.
        cron: A five-field cron expression, read in ``agent.timezone``.
        task: What to do, as a request the interpreter understands.
    """

    name: str
    cron: str
    task: str


@attrs.frozen
class SchedulerSettings:
    """The ``modules.scheduler`` section.

    Attributes:
        enabled: Whether scheduled jobs run.
        jobs: The configured jobs, in file order.
    """

    enabled: bool = True
    jobs: tuple[Job, ...] = attrs.field(default=(), converter=_jobs)


@attrs.frozen
class NlpSettings:
    """The ``modules.nlp`` section.

    Attributes:
        enabled: Whether requests are interpreted with the model (otherwise
            with the grammar alone).
        model: A Hugging Face model id (``org/name``) or the absolute path of
            a local model; the default is the embedded model.
        language: The default language of requests.
        token_file: The absolute path of a file holding a Hugging Face token,
            or ``None``. The token itself never appears in the configuration.
    """

    enabled: bool = True
    model: str = DEFAULT_MODEL
    language: Language = "fr"
    token_file: str | None = None


@attrs.frozen
class SecuritySettings:
    """The ``security`` section.

    Attributes:
        sandbox_level: ``strict`` or ``permissive``.
        forbidden_commands: Command lines the policy always denies.
        permissions_file: The permission policy's override file (merged over the
            shipped defaults key by key); ``None``: ``/etc/hf-agent/permissions.json``
            when it exists.
    """

    sandbox_level: SandboxLevel = "strict"
    forbidden_commands: tuple[str, ...] = attrs.field(
        default=("rm -rf /", "mkfs"), converter=_strings
    )
    permissions_file: str | None = None


@attrs.frozen
class MailSettings:
    """The ``modules.notifications.mail`` section: alerts by e-mail (SMTP).

    Attributes:
        host: The SMTP server.
        port: Its port.
        sender: The From address.
        recipients: Who receives the alerts.
        starttls: Whether to upgrade the connection with STARTTLS.
        username: The SMTP login, if the server needs one.
        password_file: The absolute path of a file holding the SMTP password.
    """

    recipients: tuple[str, ...] = attrs.field(converter=_strings)
    host: str = "localhost"
    port: int = 25
    sender: str = "hf-agent@localhost"
    starttls: bool = False
    username: str | None = None
    password_file: str | None = None


@attrs.frozen
class WebhookSettings:
    """The ``modules.notifications.webhook`` section: alerts POSTed as JSON.

    Attributes:
        url: The ``http://`` or ``https://`` address.
        timeout: Seconds to wait for the server.
    """

    url: str
    timeout: float = 10.0


@attrs.frozen
class NotificationSettings:
    """The ``modules.notifications`` section.

    Attributes:
        desktop: Show alerts on the logged-in users' desktops
            (org.freedesktop.Notifications).
        journal: Write alerts to the journal.
        mail: E-mail settings, or ``None`` for no mail.
        webhook: Webhook settings, or ``None``.
        min_severity: The least severe alert sent (``info``, ``warning``, ``critical``).
        rate_limit: Alerts per channel and hour at most (the rest are counted).
        dedup_window: Seconds during which the same alert is sent only once.
    """

    desktop: bool = True
    journal: bool = True
    mail: MailSettings | None = None
    webhook: WebhookSettings | None = None
    min_severity: AlertSeverity = "warning"
    rate_limit: int = 20
    dedup_window: float = 3600.0


@attrs.frozen
class RunbookSettings:
    """The ``modules.runbooks`` section: what the shipped runbooks act on.

    Attributes:
        enabled: Whether runbooks run when their trigger fires.
        directories: Extra folders of runbook files (besides the shipped ones).
        backup_paths: The critical data the disk-failure runbook copies.
        backup_destination: Where it copies them (a folder, or an rsync target).
        maintenance_flag: The file whose presence puts the web site in maintenance
            (the nginx configuration tests for it).
        web_service: The web server reloaded after switching maintenance: a systemd
            unit name, or the absolute path of the server's pid file (sent SIGHUP).
        ban_time: Seconds an SSH brute-force source stays banned (0: report only).
    """

    enabled: bool = True
    directories: tuple[str, ...] = attrs.field(
        default=("/etc/hf-agent/runbooks.d",), converter=_strings
    )
    backup_paths: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    backup_destination: str | None = None
    maintenance_flag: str = "/var/www/maintenance.on"
    web_service: str = "nginx"
    ban_time: float = 0.0


@attrs.frozen
class Modules:
    """The ``modules`` section."""

    monitoring: MonitoringSettings = attrs.field(factory=MonitoringSettings)
    scheduler: SchedulerSettings = attrs.field(factory=SchedulerSettings)
    nlp: NlpSettings = attrs.field(factory=NlpSettings)
    notifications: NotificationSettings = attrs.field(factory=NotificationSettings)
    runbooks: RunbookSettings = attrs.field(factory=RunbookSettings)


@attrs.frozen
class Config:
    """The whole configuration, as read from ``hf-agent.json``.

    ``Config()`` is the built-in defaults without the environment; use
    :meth:`default` or :meth:`load` to honour ``$HF_AGENT_STATE_DIR`` and
    ``$HF_AGENT_CACHE_DIR``.

    Attributes:
        agent: The ``agent`` section.
        modules: The ``modules`` section.
        security: The ``security`` section.
        origin: Where the configuration came from: a file name,
            ``"<string>"`` or ``"<defaults>"``. Not compared.
    """

    agent: AgentSettings = attrs.field(factory=AgentSettings)
    modules: Modules = attrs.field(factory=Modules)
    security: SecuritySettings = attrs.field(factory=SecuritySettings)
    origin: str = attrs.field(default="<defaults>", eq=False)

    @classmethod
    def default(cls, env: Mapping[str, str] | None = None) -> Config:
        """The built-in defaults, with the directories the environment sets.

        Args:
            env: The environment; ``os.environ`` when ``None``.

        Raises:
            ConfigError: ``$HF_AGENT_STATE_DIR`` or ``$HF_AGENT_CACHE_DIR``
                is not an absolute path.
        """
        return cls(agent=AgentSettings(**_environment_defaults(_environ(env), {})))

    @classmethod
    def from_text(
        cls, text: str, origin: str = "<string>", env: Mapping[str, str] | None = None
    ) -> Config:
        """Read a configuration from the text of an ``hf-agent.json``.

        Args:
            text: The document: JSON with ``//`` and ``/* */`` comments.
            origin: The file name to report in errors and keep in ``origin``.
            env: The environment, for the directory defaults; ``os.environ``
                when ``None``.

        Raises:
            ConfigError: The text does not parse, or a key is unknown or has
                a wrong value; the first error in file order is reported,
                naming the key path and its line.
        """
        document = parse_jsonc(text, origin=origin)
        reader = _Reader(document.lines, origin)
        root = document.value
        if not isinstance(root, dict):
            line = document.lines.get(())
            raise ConfigError(
                f"the configuration must be a JSON object, got {_describe(root)} (line {line})",
                line=line,
                origin=origin,
            )
        sections = reader.members((), root, _CONFIG_FIELDS)
        agent = _environment_defaults(_environ(env), sections.pop("agent", {}))
        return cls(agent=AgentSettings(**agent), **sections, origin=origin)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], env: Mapping[str, str] | None = None
    ) -> Config:
        """Read a configuration file.

        Args:
            path: The file, UTF-8 (a byte-order mark is accepted).
            env: The environment, for the directory defaults; ``os.environ``
                when ``None``.

        Raises:
            ConfigError: The file cannot be read (the message names it and
                the reason) or its content is wrong (see :meth:`from_text`).
        """
        name = os.fspath(path)
        try:
            with open(name, "rb") as stream:
                data = stream.read()
        except FileNotFoundError:
            raise ConfigError(f"{name}: no such configuration file", origin=name) from None
        except OSError as error:
            reason = error.strerror or str(error)
            raise ConfigError(
                f"{name}: cannot read the configuration: {reason}", origin=name
            ) from None
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            line = data.count(b"\n", 0, error.start) + 1
            raise ConfigError(
                f"{name}: not UTF-8 text (line {line})", line=line, origin=name
            ) from None
        return cls.from_text(text, origin=name, env=env)

    @classmethod
    def load(
        cls, path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
    ) -> Config:
        """Find and read the configuration, as the agent does at start-up.

        Looks at ``path``, else ``$HF_AGENT_CONFIG``, else
        :data:`DEFAULT_CONFIG_PATH` if it exists, else uses the defaults.

        Args:
            path: An explicit file (``--config``); it must exist.
            env: The environment; ``os.environ`` when ``None``.

        Raises:
            ConfigError: An explicit or ``$HF_AGENT_CONFIG`` file does not
                exist, or the file found cannot be read or is wrong.
        """
        environ = _environ(env)
        found = find_config_path(path, environ)
        if found is None:
            return cls.default(environ)
        return cls.from_file(found, environ)

    def to_dict(self) -> dict[str, Any]:
        """The effective configuration as plain JSON-serialisable dicts and lists.

        Every key is present, defaults included; reading the result back with
        :meth:`from_text` gives an equal configuration. ``origin`` is left out.
        """
        return {
            "agent": _plain(self.agent),
            "modules": _plain(self.modules),
            "security": _plain(self.security),
        }


def find_config_path(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> str | None:
    """The configuration file to read, following the lookup order.

    ``path`` if given, else ``$HF_AGENT_CONFIG`` if set and not empty, else
    :data:`DEFAULT_CONFIG_PATH` if it exists, else ``None`` (use the defaults).

    Args:
        path: An explicit file (``--config``).
        env: The environment; ``os.environ`` when ``None``.

    Returns:
        The file name, or ``None`` when no file applies.

    Raises:
        ConfigError: The explicit or ``$HF_AGENT_CONFIG`` file does not
            exist; a missing file there is a mistake, not a reason to fall back.
    """
    if path is not None:
        name = os.fspath(path)
        if not _exists(name):
            raise ConfigError(f"{name}: no such configuration file", origin=name)
        return name
    named = _environ(env).get("HF_AGENT_CONFIG")
    if named:
        if not _exists(named):
            raise ConfigError(
                f"{named}: no such configuration file (named by $HF_AGENT_CONFIG)", origin=named
            )
        return named
    return DEFAULT_CONFIG_PATH if _exists(DEFAULT_CONFIG_PATH) else None


def _exists(name: str) -> bool:
    """Whether ``name`` is there; a file that cannot be looked at counts as there."""
    try:
        os.stat(name)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except (OSError, ValueError):
        return True
    return True


def _environ(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def _environment_defaults(env: Mapping[str, str], given: dict[str, Any]) -> dict[str, Any]:
    """``given`` with the directories it does not set taken from the environment."""
    settings = dict(given)
    for key, variable, default in (
        ("state_dir", "HF_AGENT_STATE_DIR", DEFAULT_STATE_DIR),
        ("cache_dir", "HF_AGENT_CACHE_DIR", DEFAULT_CACHE_DIR),
    ):
        if key in settings:
            continue
        value = env.get(variable) or default
        if not value.startswith("/"):
            raise ConfigError(
                f"agent.{key}: ${variable} must be an absolute path, got {json.dumps(value)}",
                key=f"agent.{key}",
                origin=f"${variable}",
            )
        settings[key] = value
    return settings


def _plain(value: object) -> Any:
    """``value`` with attrs instances and mappings as dicts, tuples as lists."""
    cls = type(value)
    if attrs.has(cls):
        return {field.name: _plain(getattr(value, field.name)) for field in attrs.fields(cls)}
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value


# Reading and checking ------------------------------------------------------------------------

_ReadFn: TypeAlias = Callable[["_Reader", KeyPath, object], Any]


@attrs.frozen
class _Reader:
    """Checks decoded values, turning mistakes into errors that name the key and line."""

    lines: Mapping[KeyPath, int]
    origin: str

    def line(self, path: KeyPath) -> int | None:
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path)

    def error(self, path: KeyPath, problem: str, hint: str | None = None) -> ConfigError:
        key = format_key_path(path)
        line = self.line(path)
        message = f"{key}: {problem}" if key else problem
        if line is not None:
            message += f" (line {line})"
        if hint:
            message += f"; {hint}"
        return ConfigError(message, key=key or None, line=line, origin=self.origin)

    def members(
        self, path: KeyPath, value: dict[str, object], fields: Mapping[str, _ReadFn]
    ) -> dict[str, Any]:
        """Read an object's members in file order, refusing unknown keys."""
        result: dict[str, Any] = {}
        for key, item in value.items():
            member = (*path, key)
            read = fields.get(key)
            if read is None:
                raise self.unknown_key(member, fields)
            result[key] = read(self, member, item)
        return result

    def unknown_key(self, path: KeyPath, fields: Iterable[str]) -> ConfigError:
        allowed = list(fields)
        close = difflib.get_close_matches(str(path[-1]), allowed, n=1)
        if close:
            hint = f"did you mean {json.dumps(close[0])}?"
        else:
            hint = "allowed keys: " + ", ".join(json.dumps(key) for key in allowed)
        return self.error(path, "unknown key", hint)


def _describe(value: object) -> str:
    """How a wrong value is shown in an error message."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str) and len(value) > 60:
        value = value[:57] + "..."
    return json.dumps(value, ensure_ascii=False)


def _quoted(options: Iterable[str]) -> str:
    return ", ".join(json.dumps(option) for option in options)


def _members(fields: Mapping[str, _ReadFn]) -> _ReadFn:
    """A reader for an object with the given keys, returning the members it sets."""

    def read(reader: _Reader, path: KeyPath, value: object) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise reader.error(path, f"expected an object, got {_describe(value)}")
        return reader.members(path, value, fields)

    return read


def _section(cls: type[Any], fields: Mapping[str, _ReadFn]) -> _ReadFn:
    """A reader for an object whose members fill the attrs class ``cls``."""
    read_members = _members(fields)

    def read(reader: _Reader, path: KeyPath, value: object) -> Any:
        return cls(**read_members(reader, path, value))

    return read


def _required_section(
    cls: type[Any], fields: Mapping[str, _ReadFn], required: tuple[str, ...]
) -> _ReadFn:
    """Like :func:`_section`, with keys that must be present."""
    read_members = _members(fields)

    def read(reader: _Reader, path: KeyPath, value: object) -> Any:
        members = read_members(reader, path, value)
        for key in required:
            if key not in members:
                raise reader.error(path, f"missing key {json.dumps(key)}")
        return cls(**members)

    return read


def _optional(read_value: _ReadFn) -> _ReadFn:
    """``null`` or what ``read_value`` reads."""

    def read(reader: _Reader, path: KeyPath, value: object) -> Any:
        return None if value is None else read_value(reader, path, value)

    return read


def _non_empty(read_value: _ReadFn) -> _ReadFn:
    def read(reader: _Reader, path: KeyPath, value: object) -> Any:
        result = read_value(reader, path, value)
        if not result:
            raise reader.error(path, "expected at least one item")
        return result

    return read


def _port(reader: _Reader, path: KeyPath, value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536:
        return value
    raise reader.error(path, f"expected a port number (1-65535), got {_describe(value)}")


def _positive_int(reader: _Reader, path: KeyPath, value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise reader.error(path, f"expected a whole number greater than 0, got {_describe(value)}")


def _non_negative_number(reader: _Reader, path: KeyPath, value: object) -> float:
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    ):
        return float(value)
    raise reader.error(path, f"expected a number of 0 or more, got {_describe(value)}")


def _email(reader: _Reader, path: KeyPath, value: object) -> str:
    text = _string(reader, path, value)
    local, at, domain = text.rpartition("@")
    if at and local and domain and not any(c.isspace() or c in "<>,;" for c in text):
        return text
    raise reader.error(path, f"expected an e-mail address, got {_describe(text)}")


def _http_url(reader: _Reader, path: KeyPath, value: object) -> str:
    text = _string(reader, path, value)
    scheme, sep, rest = text.partition("://")
    if scheme in ("http", "https") and sep and rest and not any(c.isspace() for c in text):
        return text
    raise reader.error(path, f"expected an http:// or https:// address, got {_describe(text)}")


def _boolean(reader: _Reader, path: KeyPath, value: object) -> bool:
    if not isinstance(value, bool):
        raise reader.error(path, f"expected true/false, got {_describe(value)}")
    return value


def _string(reader: _Reader, path: KeyPath, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise reader.error(path, f"expected a non-empty string, got {_describe(value)}")
    return value


def _choice(options: tuple[str, ...]) -> _ReadFn:
    def read(reader: _Reader, path: KeyPath, value: object) -> str:
        if not isinstance(value, str) or value not in options:
            raise reader.error(path, f"expected one of {_quoted(options)}, got {_describe(value)}")
        return value

    return read


def _positive_number(reader: _Reader, path: KeyPath, value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if math.isfinite(number) and number > 0:
            return number
    raise reader.error(path, f"expected a number greater than 0, got {_describe(value)}")


def _absolute_path(reader: _Reader, path: KeyPath, value: object) -> str:
    if not isinstance(value, str) or not value.startswith("/") or "\0" in value:
        raise reader.error(path, f"expected an absolute path, got {_describe(value)}")
    return value


def _location(reader: _Reader, path: KeyPath, value: object) -> str:
    if value in PSEUDO_LOCATIONS:
        return str(value)
    if not isinstance(value, str) or not value.startswith("/") or "\0" in value:
        raise reader.error(
            path,
            f"expected an absolute path or glob, or one of {_quoted(PSEUDO_LOCATIONS)}, "
            f"got {_describe(value)}",
        )
    return value


def _list_of(read_item: _ReadFn, what: str) -> _ReadFn:
    def read(reader: _Reader, path: KeyPath, value: object) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise reader.error(path, f"expected a list of {what}, got {_describe(value)}")
        return tuple(read_item(reader, (*path, index), item) for index, item in enumerate(value))

    return read


def _timezone(reader: _Reader, path: KeyPath, value: object) -> str:
    name = _string(reader, path, value)
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise reader.error(path, f"unknown time zone {_describe(name)}") from None
    return name


def _model(reader: _Reader, path: KeyPath, value: object) -> str:
    name = _string(reader, path, value)
    if name.startswith("/") and "\0" not in name:
        return name
    parts = name.split("/")
    if (
        len(parts) <= 2
        and len(name) <= 96
        and all(_MODEL_PART.fullmatch(part) for part in parts)
        and ".." not in name
        and "--" not in name
    ):
        return name
    raise reader.error(
        path,
        f'expected a Hugging Face model id ("org/name") or an absolute path, got {_describe(name)}',
    )


def _token_file(reader: _Reader, path: KeyPath, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith("/") or "\0" in value:
        # The value is not echoed: it may be the token itself, pasted in by mistake.
        raise reader.error(
            path,
            "expected the absolute path of a file holding the Hugging Face token "
            "(the token itself does not belong in the configuration)",
        )
    return value


def _cron(reader: _Reader, path: KeyPath, value: object) -> str:
    expression = _string(reader, path, value)
    fields = len(expression.split())
    if fields != 5:
        reason = f"expected 5 fields (minute hour day month weekday), got {fields}"
    else:
        try:
            cronsim.CronSim(expression, _CRON_REFERENCE)
        except cronsim.CronSimError as error:
            reason = str(error)
        else:
            return expression
    raise reader.error(path, f"invalid cron expression {_describe(expression)}: {reason}")


def _sources(reader: _Reader, path: KeyPath, value: object) -> Mapping[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise reader.error(
            path,
            f"expected an object mapping source names to lists of paths, got {_describe(value)}",
        )
    merged = dict(DEFAULT_SOURCES)
    for name, locations in value.items():
        member = (*path, name)
        if not _SOURCE_NAME.fullmatch(name):
            raise reader.error(
                member,
                f"invalid source name {_describe(name)}: use lowercase letters, digits, "
                '"_" and "-", starting with a letter',
            )
        merged[name] = _list_of(_location, "absolute paths")(reader, member, locations)
    return MappingProxyType(merged)


_JOB_FIELDS: Mapping[str, _ReadFn] = {"name": _string, "cron": _cron, "task": _string}


def _jobs_list(reader: _Reader, path: KeyPath, value: object) -> tuple[Job, ...]:
    if not isinstance(value, list):
        raise reader.error(path, f"expected a list of jobs, got {_describe(value)}")
    jobs: list[Job] = []
    first_lines: dict[str, int | None] = {}
    for index, item in enumerate(value):
        job_path = (*path, index)
        if not isinstance(item, dict):
            raise reader.error(
                job_path,
                f'expected an object with "name", "cron" and "task", got {_describe(item)}',
            )
        fields = reader.members(job_path, item, _JOB_FIELDS)
        for key in _JOB_FIELDS:
            if key not in fields:
                raise reader.error(job_path, f"missing key {json.dumps(key)}")
        name = fields["name"]
        name_path = (*job_path, "name")
        if name in first_lines:
            raise reader.error(
                name_path,
                f"duplicate job name {_describe(name)}",
                f"first used on line {first_lines[name]}",
            )
        first_lines[name] = reader.line(name_path)
        jobs.append(Job(**fields))
    return tuple(jobs)


# The agent section is read as its members only: Config.from_text fills in the
# directories from the environment before building AgentSettings.
_CONFIG_FIELDS: Mapping[str, _ReadFn] = {
    "agent": _members(
        {
            "version": _string,
            "log_level": _choice(get_args(LogLevel)),
            "user_mode": _choice(get_args(UserMode)),
            "language": _choice(get_args(Language)),
            "timezone": _timezone,
            "state_dir": _absolute_path,
            "cache_dir": _absolute_path,
        },
    ),
    "modules": _section(
        Modules,
        {
            "monitoring": _section(
                MonitoringSettings,
                {
                    "enabled": _boolean,
                    "files_to_watch": _list_of(_absolute_path, "strings"),
                    "metrics": _list_of(_choice(get_args(Metric)), "strings"),
                    "interval": _positive_number,
                    "sources": _sources,
                },
            ),
            "scheduler": _section(SchedulerSettings, {"enabled": _boolean, "jobs": _jobs_list}),
            "notifications": _section(
                NotificationSettings,
                {
                    "desktop": _boolean,
                    "journal": _boolean,
                    "mail": _optional(
                        _required_section(
                            MailSettings,
                            {
                                "host": _string,
                                "port": _port,
                                "sender": _email,
                                "recipients": _non_empty(_list_of(_email, "e-mail addresses")),
                                "starttls": _boolean,
                                "username": _optional(_string),
                                "password_file": _optional(_absolute_path),
                            },
                            ("recipients",),
                        )
                    ),
                    "webhook": _optional(
                        _required_section(
                            WebhookSettings,
                            {"url": _http_url, "timeout": _positive_number},
                            ("url",),
                        )
                    ),
                    "min_severity": _choice(get_args(AlertSeverity)),
                    "rate_limit": _positive_int,
                    "dedup_window": _positive_number,
                },
            ),
            "runbooks": _section(
                RunbookSettings,
                {
                    "enabled": _boolean,
                    "directories": _list_of(_absolute_path, "absolute paths"),
                    "backup_paths": _list_of(_absolute_path, "absolute paths"),
                    "backup_destination": _optional(_string),
                    "maintenance_flag": _absolute_path,
                    "web_service": _string,
                    "ban_time": _non_negative_number,
                },
            ),
            "nlp": _section(
                NlpSettings,
                {
                    "enabled": _boolean,
                    "model": _model,
                    "language": _choice(get_args(Language)),
                    "token_file": _token_file,
                },
            ),
        },
    ),
    "security": _section(
        SecuritySettings,
        {
            "sandbox_level": _choice(get_args(SandboxLevel)),
            "forbidden_commands": _list_of(_string, "strings"),
            "permissions_file": _optional(_absolute_path),
        },
    ),
}
