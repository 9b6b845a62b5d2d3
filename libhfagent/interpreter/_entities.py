"""Entity extraction from folded request text (see :func:`._text.fold`). Pure functions."""

from __future__ import annotations

import datetime as dt
import os
import re

__all__ = ["find_paths", "find_since", "find_source", "find_status"]

_UNIT_SECONDS = {
    "s": 1,
    "sec": 1,
    "seconde": 1,
    "secondes": 1,
    "second": 1,
    "seconds": 1,
    "min": 60,
    "mn": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "heure": 3600,
    "heures": 3600,
    "hour": 3600,
    "hours": 3600,
    "hr": 3600,
    "hrs": 3600,
    "j": 86400,
    "jour": 86400,
    "jours": 86400,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "journee": 86400,
    "semaine": 604800,
    "semaines": 604800,
    "week": 604800,
    "weeks": 604800,
    "w": 604800,
    "mois": 2592000,
    "month": 2592000,
    "months": 2592000,
}
_UNITS = "|".join(sorted(_UNIT_SECONDS, key=len, reverse=True))
_NUMBER_WORDS = {
    "un": 1,
    "une": 1,
    "one": 1,
    "a": 1,
    "an": 1,
    "deux": 2,
    "two": 2,
    "trois": 3,
    "three": 3,
    "quatre": 4,
    "four": 4,
    "cinq": 5,
    "five": 5,
    "six": 6,
    "sept": 7,
    "seven": 7,
    "huit": 8,
    "eight": 8,
    "dix": 10,
    "ten": 10,
    "douze": 12,
    "twelve": 12,
    "quinze": 15,
    "fifteen": 15,
    "trente": 30,
    "thirty": 30,
}
_NUM = r"(\d+|" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + r")"

# "des dernieres 24 heures", "last 2 weeks", "past 48h", "depuis 3 jours", "over the last 24h"
_LAST_N = re.compile(
    r"\b(?:dernier(?:e?s?)|last|past|previous|depuis|since|sur|over|pendant|durant|within|for)"
    r"\s+(?:les\s+|the\s+)?" + _NUM + r"\s*(" + _UNITS + r")\b"
)
# "7 derniers jours", "24 dernieres heures"
_N_LAST = re.compile(_NUM + r"\s+dernier(?:e?s?)\s+(" + _UNITS + r")\b")
# "la derniere heure", "last hour", "past week", "le dernier mois"
_LAST_ONE = re.compile(r"\b(?:dernier(?:e?s?)|last|past)\s+(" + _UNITS + r")\b")
# "48h", "24 h", "7j", "2 weeks" on its own
_BARE = re.compile(r"(?<![\w.:/])(\d+)\s*(" + _UNITS + r")\b(?!'|\s*(?:du matin|am|pm|\d))")


def _amount(token: str) -> int:
    return int(token) if token.isdigit() else _NUMBER_WORDS[token]


def find_since(text: str, now: dt.datetime) -> int | None:
    """The look-back window of a request, in seconds.

    Args:
        text: Folded request text.
        now: The current time, timezone-aware in the agent's time zone (for
            "depuis hier", "today").

    Returns:
        Seconds, or ``None`` when the request names no window.
    """
    for pattern in (_LAST_N, _N_LAST):
        m = pattern.search(text)
        if m is not None:
            return _amount(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    m = _LAST_ONE.search(text)
    if m is not None:
        return _UNIT_SECONDS[m.group(1)]
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if re.search(r"\b(?:depuis hier|since yesterday|hier|yesterday)\b", text):
        return int((now - (midnight - dt.timedelta(days=1))).total_seconds())
    if re.search(
        r"\b(?:aujourd'hui|aujourdhui|today|ce jour|depuis ce matin|this morning)\b", text
    ):
        return int((now - midnight).total_seconds())
    if re.search(r"\b(?:cette semaine|this week)\b", text):
        return int((now - (midnight - dt.timedelta(days=now.weekday()))).total_seconds())
    m = _BARE.search(text)
    if m is not None:
        return int(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    return None


_STATUS = re.compile(
    r"(?<![\w./:-])([1-5]\d\d)(?![\w.:/-])(?!\s*(?:"
    + _UNITS
    + r"|%|mo|go|ko|to|mb|gb|kb|tb|mib|gib)\b(?!'))"
)
_NOT_FOUND = re.compile(
    r"\b(?:not found|introuvables?|non trouvee?s?|pages? manquantes?|missing pages?)\b"
)


def find_status(text: str) -> int | None:
    """An HTTP status code named in the request (``404``, "not found"…), or ``None``."""
    m = _STATUS.search(text)
    if m is not None:
        return int(m.group(1))
    if _NOT_FOUND.search(text):
        return 404
    return None


_SOURCES = (
    ("nginx", r"\bnginx\b"),
    ("apache", r"\b(?:apache2?|httpd)\b"),
    (
        "auth",
        r"\b(?:auth(?:\.log)?|authentification|authentication|ssh|sshd|connexions?|logins?)\b",
    ),
    ("kernel", r"\b(?:kernel|noyau|dmesg|kmsg)\b"),
    ("journal", r"\b(?:journald|journalctl|journal systemd|systemd journal)\b"),
    ("syslog", r"\b(?:syslog|systeme|system)\b"),
)


def find_source(text: str) -> str | None:
    """The log source a request names (nginx, apache, auth, kernel, journal, syslog) or ``None``.

    A path in the request wins over a name (see the grammar).
    """
    for name, pattern in _SOURCES:
        if re.search(pattern, text):
            return name
    return None


_PATH = re.compile(r"(?<![\w~])(/(?:[\w.@+-]+/?)*)")


def find_paths(text: str) -> list[str]:
    """Absolute paths in the request, normalised (``/var/log/`` → ``/var/log``)."""
    out: list[str] = []
    for m in _PATH.finditer(text):
        path = os.path.normpath(m.group(1))
        if path not in out:
            out.append(path)
    return out
