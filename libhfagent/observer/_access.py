"""Web server access-log lines (nginx and Apache ``combined``, Apache ``vhost_combined``).

Pure functions: a line in, a value (or ``None``) out. They never raise on bad input.
"""

from __future__ import annotations

import datetime as dt
import re

import attrs

__all__ = ["AccessRecord", "parse_access_line", "parse_clf_time"]

_QUOTED = r'"((?>[^"\\]++|\\.)*+)"'
_COMBINED = re.compile(
    r"(\S+) \S+ (\S+) \[([^\]]{1,64})\] "
    + _QUOTED
    + r" (\d{3}) (\d+|-)(?: "
    + _QUOTED
    + " "
    + _QUOTED
    + ")?"
)
# Apache's vhost_combined: "%v:%p %h %l %u %t ..." (other_vhosts_access.log).
_VHOST = re.compile(r"([^\s:]+:\d+) (.*)", re.DOTALL)

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_CLF_TIME = re.compile(
    r"(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})"
)
_TZ_CACHE: dict[int, dt.timezone] = {}
_TIME_CACHE: dict[str, dt.datetime | None] = {}
_TIME_CACHE_MAX = 4096


@attrs.frozen(slots=True)
class AccessRecord:
    """One request from an access log.

    Attributes:
        client: The client address as logged.
        time: When the request was logged, timezone-aware.
        method: The HTTP method, or ``None`` when the request line is not HTTP.
        path: The requested path without its query string (the raw request line
            when it is not HTTP).
        query: The query string, without ``?``, or ``""``.
        status: The HTTP status code.
        size: Body bytes sent.
        user: The authenticated user, or ``None``.
        referer: The Referer header, or ``None``.
        user_agent: The User-Agent header, or ``None``.
        vhost: ``host:port`` for Apache's vhost_combined format, else ``None``.
    """

    client: str
    time: dt.datetime
    method: str | None
    path: str
    query: str
    status: int
    size: int
    user: str | None = None
    referer: str | None = None
    user_agent: str | None = None
    vhost: str | None = None


def parse_clf_time(text: str) -> dt.datetime | None:
    """Parse a Common Log Format time (``10/Oct/2000:13:55:36 -0700``).

    Returns:
        A timezone-aware datetime, or ``None`` when the text is not a valid time.
    """
    cached = _TIME_CACHE.get(text, False)
    if cached is not False:
        return cached  # type: ignore[return-value]
    value: dt.datetime | None = None
    m = _CLF_TIME.fullmatch(text)
    if m is not None and m.group(2) in _MONTHS:
        offset = (int(m.group(8)) * 60 + int(m.group(9))) * (-1 if m.group(7) == "-" else 1)
        tz = _TZ_CACHE.get(offset)
        if tz is None:
            tz = _TZ_CACHE.setdefault(offset, dt.timezone(dt.timedelta(minutes=offset)))
        try:
            value = dt.datetime(
                int(m.group(3)),
                _MONTHS[m.group(2)],
                int(m.group(1)),
                int(m.group(4)),
                int(m.group(5)),
                int(m.group(6)),
                tzinfo=tz,
            )
        except ValueError:
            value = None
    if len(_TIME_CACHE) >= _TIME_CACHE_MAX:
        _TIME_CACHE.clear()
    _TIME_CACHE[text] = value
    return value


def _unescape(value: str | None) -> str | None:
    if value is None or value == "-":
        return None
    return value.replace('\\"', '"').replace("\\\\", "\\") if "\\" in value else value


def parse_access_line(line: str) -> AccessRecord | None:
    """Parse one access-log line in ``combined``, ``common`` or ``vhost_combined`` format.

    Args:
        line: The line, with or without its trailing newline.

    Returns:
        The record, or ``None`` when the line is not an access-log line.
    """
    line = line.rstrip("\r\n")
    vhost = None
    m = _COMBINED.match(line)
    if m is None:
        v = _VHOST.match(line)
        if v is None:
            return None
        m = _COMBINED.match(v.group(2))
        if m is None:
            return None
        vhost = v.group(1)
    client, user, stamp, request, status, size, referer, agent = m.groups()
    when = parse_clf_time(stamp)
    if when is None:
        return None
    method: str | None = None
    path, query = request, ""
    parts = request.split(" ")
    if len(parts) == 3 and parts[2].startswith("HTTP/") and parts[0].isalpha():
        method, target = parts[0], parts[1]
        path, _, query = target.partition("?")
    elif len(parts) == 2 and parts[0].isalpha() and parts[0].isupper() and parts[1][:1] == "/":
        method, target = parts  # HTTP/0.9 style request line
        path, _, query = target.partition("?")
    return AccessRecord(
        client,
        when,
        method,
        path,
        query,
        int(status),
        0 if size == "-" else int(size),
        None if user == "-" else user,
        _unescape(referer),
        _unescape(agent),
        vhost,
    )
