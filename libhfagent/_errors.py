"""The exception tree of libhfagent.

Every error the library raises on purpose derives from :class:`HFAgentError`::

    HFAgentError                      org.huggingface.Agent1.Error.Failed
    ├── InvalidInputError             org.huggingface.Agent1.Error.InvalidArgument
    │   ├── ConfigError               (a configuration file or value is wrong)
    │   ├── RequestError              (a request or an argument cannot be used)
    │   └── SourceError               (a log source is missing or unreadable)
    ├── ModelError                    org.huggingface.Agent1.Error.ModelUnavailable
    ├── PolicyDenied                  org.huggingface.Agent1.Error.PolicyDenied
    ├── ExecutionError                org.huggingface.Agent1.Error.Failed
    ├── AuditError                    org.huggingface.Agent1.Error.AuditBroken
    └── NotAuthorized                 org.huggingface.Agent1.Error.NotAuthorized

Each class carries the D-Bus error name the service replies with and the exit
status the command line returns (2 for bad input, 1 for everything else), so no
traceback ever reaches a user or crosses the bus.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AuditError",
    "ConfigError",
    "ExecutionError",
    "HFAgentError",
    "InvalidInputError",
    "ModelError",
    "NotAuthorized",
    "PolicyDenied",
    "RequestError",
    "SourceError",
]


class HFAgentError(Exception):
    """Base class of every error raised by libhfagent."""

    dbus_name: ClassVar[str] = "org.huggingface.Agent1.Error.Failed"
    exit_status: ClassVar[int] = 1


class InvalidInputError(HFAgentError):
    """Input that cannot be used: nothing was changed."""

    dbus_name: ClassVar[str] = "org.huggingface.Agent1.Error.InvalidArgument"
    exit_status: ClassVar[int] = 2


class ConfigError(InvalidInputError):
    """A configuration file or value is wrong.

    Attributes:
        key: The dotted key path at fault (``modules.monitoring.enabled``), or
            ``None`` when the file itself cannot be read or parsed.
        line: The 1-based line of the key in the file, when known.
        origin: The file (or ``"<defaults>"``, ``"<string>"``) being read.
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        line: int | None = None,
        origin: str | None = None,
    ) -> None:
        super().__init__(message)
        self.key = key
        self.line = line
        self.origin = origin


class RequestError(InvalidInputError):
    """A request or an argument cannot be used as given."""


class SourceError(InvalidInputError):
    """A log source is missing, unreadable or not of the expected kind.

    Attributes:
        path: The file at fault, when there is one.
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class ModelError(HFAgentError):
    """A model cannot be loaded: missing from the cache, corrupted, or refused."""

    dbus_name: ClassVar[str] = "org.huggingface.Agent1.Error.ModelUnavailable"


class PolicyDenied(HFAgentError):
    """The policy forbids an action; nothing was changed."""

    dbus_name: ClassVar[str] = "org.huggingface.Agent1.Error.PolicyDenied"


class ExecutionError(HFAgentError):
    """An action failed while it ran."""


class AuditError(HFAgentError):
    """The audit log cannot be written or does not verify."""

    dbus_name: ClassVar[str] = "org.huggingface.Agent1.Error.AuditBroken"


class NotAuthorized(HFAgentError):
    """The caller is not authorised for the requested action."""

    dbus_name: ClassVar[str] = "org.huggingface.Agent1.Error.NotAuthorized"
