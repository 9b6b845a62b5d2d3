"""Typed values the Observer produces."""

from __future__ import annotations

import datetime as dt
import enum
import types
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["Event", "Metric", "Severity"]

_EMPTY: Mapping[str, Any] = types.MappingProxyType({})


def _freeze(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return types.MappingProxyType(dict(value))


def _check_aware(instance: object, attribute: attrs.Attribute[Any], value: dt.datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{attribute.name} must be timezone-aware, got {value!r}")


class Severity(enum.IntEnum):
    """Syslog severities (RFC 5424), lower is more severe."""

    EMERGENCY = 0
    ALERT = 1
    CRITICAL = 2
    ERROR = 3
    WARNING = 4
    NOTICE = 5
    INFO = 6
    DEBUG = 7


@attrs.frozen(slots=True)
class Event:
    """One thing that happened on the machine: a log line, a kernel message, a unit change.

    Attributes:
        timestamp: When it happened, timezone-aware.
        source: The source name (``nginx``, ``auth``, ``kernel``…) or a file path.
        message: The original text.
        severity: How serious it is.
        host: The host that produced it.
        template_id: The log template it belongs to, once mined.
        fields: Structured values parsed from the message (status, path, client…).
    """

    timestamp: dt.datetime = attrs.field(validator=_check_aware)
    source: str
    message: str
    severity: Severity = Severity.INFO
    host: str = ""
    template_id: str | None = None
    fields: Mapping[str, Any] = attrs.field(default=_EMPTY, converter=_freeze)


@attrs.frozen(slots=True)
class Metric:
    """One measured value.

    Attributes:
        name: ``cpu_load``, ``memory_usage``, ``disk_space``…
        value: The measurement.
        timestamp: When it was measured, timezone-aware.
        labels: What it is about (``{"mount": "/var"}``).
    """

    name: str
    value: float
    timestamp: dt.datetime = attrs.field(validator=_check_aware)
    labels: Mapping[str, str] = attrs.field(default=_EMPTY, converter=_freeze)
