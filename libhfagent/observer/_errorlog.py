"""Web server error-log lines: nginx, Apache 2.4 and Apache 2.2.

Pure functions: a line in, a value (or ``None``) out. They never raise on bad input.

The shapes recognised::

    2024/05/01 12:00:00 [error] 123#123: *45 open() "/x" failed (2: No such file or
    directory), client: 1.2.3.4, server: example.org, request: "GET /x HTTP/1.1",
    host: "example.org"                                                     nginx
    [Wed May 01 12:00:00.123456 2024] [core:error] [pid 123:tid 456] [client
    1.2.3.4:5678] AH00126: Invalid URI in request GET /x HTTP/1.1      Apache 2.4
    [Wed May 01 12:00:00 2024] [error] [client 1.2.3.4] File does not exist:
    /var/www/favicon.ico                                                Apache 2.2

(each on one line). Neither server writes a time zone: times are read in the zone
given.
"""

from __future__ import annotations

import datetime as dt
import re

import attrs

__all__ = [
    "ErrorLogRecord",
    "parse_apache_error_line",
    "parse_error_line",
    "parse_nginx_error_line",
]

_LEVELS = {
    "emerg": 0,
    "alert": 1,
    "crit": 2,
    "error": 3,
    "warn": 4,
    "notice": 5,
    "info": 6,
    "debug": 7,
}
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}

_NGINX_HEAD = re.compile(
    r"(\d{4})/(\d{2})/(\d{2}) (\d{2}):(\d{2}):(\d{2}) \[([a-z]{1,8})\] "
    r"(\d{1,10})#(\d{1,20}): (?:\*(\d{1,20}) )?"
)
_QUOTED = r'"([^"]*+)"'
_NGINX_CONTEXT = re.compile(
    r", client: ([^,\s]{1,256}), server: ([^,]{0,256})"
    r"(?:, request: " + _QUOTED + r")?"
    r"(?:, subrequest: " + _QUOTED + r")?"
    r"(?:, upstream: " + _QUOTED + r")?"
    r"(?:, host: " + _QUOTED + r")?"
    r"(?:, referrer: " + _QUOTED + r")?"
)
_OS_ERROR = re.compile(r"\((\d{1,5}): ([^()]{1,200})\)")
_APACHE_HEAD = re.compile(
    r"\[([A-Z][a-z]{2}) ([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))? "
    r"(\d{4})\] \[(?:([^:\]\s]{1,64}):)?([a-z]{1,8}\d?)\] "
)
_APACHE_PID = re.compile(r"\[pid (\d{1,10})(?::tid (\d{1,20}))?\] ")
_APR_ERROR = re.compile(r"\((-?\d{1,10})\)([^:\[\]]{0,200}): ")
_APACHE_PEER = re.compile(r"\[(client|remote) ([^\]\s]{1,128})\] ")
_AH_CODE = re.compile(r"(AH\d{5}): ")
_MAX_CANDIDATES = 4


@attrs.frozen(slots=True)
class ErrorLogRecord:
    """One error-log line.

    Attributes:
        server: ``nginx`` or ``apache``.
        time: When it was logged, timezone-aware.
        level: The level as written (``error``, ``warn``, ``crit``, ``trace3``…).
        severity: The syslog severity of the level, 0 (emergency) to 7 (debug).
        message: The message, without the header and the trailing context.
        pid: The process id, or ``None``.
        tid: The thread id, or ``None``.
        connection: nginx's connection number (``*45``), or ``None``.
        client: The client address (without its port), or ``None``.
        client_port: The client port when logged (Apache), or ``None``.
        module: Apache's module (``core``, ``proxy_fcgi``), or ``None``.
        code: Apache's message code (``AH00126``), or ``None``.
        os_errno: The operating-system or APR error number in the message, or ``None``.
        os_error: Its text (``No such file or directory``), or ``None``.
        vhost: nginx's ``server:`` value, or ``None``.
        request: The request line, or ``None``.
        upstream: nginx's upstream address, or ``None``.
        host: The ``Host`` header, or ``None``.
        referer: The referer, or ``None``.
    """

    server: str
    time: dt.datetime
    level: str
    severity: int
    message: str
    pid: int | None = None
    tid: int | None = None
    connection: int | None = None
    client: str | None = None
    client_port: int | None = None
    module: str | None = None
    code: str | None = None
    os_errno: int | None = None
    os_error: str | None = None
    vhost: str | None = None
    request: str | None = None
    upstream: str | None = None
    host: str | None = None
    referer: str | None = None


def _severity(level: str) -> int | None:
    if level.startswith("trace") and level[5:].isdigit():
        return 7
    return _LEVELS.get(level)


def _nginx_context(rest: str) -> tuple[int, re.Match[str] | None]:
    """Where the trailing ``, client: …`` context starts in ``rest``, and its match."""
    starts: list[int] = []
    pos = len(rest)
    while len(starts) < _MAX_CANDIDATES:
        pos = rest.rfind(", client: ", 0, pos)
        if pos < 0:
            break
        starts.append(pos)
    for start in reversed(starts):
        m = _NGINX_CONTEXT.match(rest, start)
        if m is not None and m.end() == len(rest):
            return start, m
    return len(rest), None


def _parse_nginx(line: str, tz: dt.tzinfo) -> ErrorLogRecord | None:
    head = _NGINX_HEAD.match(line)
    if head is None:
        return None
    level = head.group(7)
    severity = _severity(level)
    if severity is None:
        return None
    year, month, day, hour, minute, second = (int(head.group(i)) for i in range(1, 7))
    when = dt.datetime(year, month, day, hour, minute, second, tzinfo=tz)
    rest = line[head.end() :]
    end, ctx = _nginx_context(rest)
    message = rest[:end]
    os_error = _OS_ERROR.search(message)
    return ErrorLogRecord(
        "nginx",
        when,
        level,
        severity,
        message,
        pid=int(head.group(8)),
        tid=int(head.group(9)),
        connection=int(head.group(10)) if head.group(10) else None,
        client=ctx.group(1) if ctx else None,
        os_errno=int(os_error.group(1)) if os_error else None,
        os_error=os_error.group(2) if os_error else None,
        vhost=(ctx.group(2) or None) if ctx else None,
        request=ctx.group(3) if ctx else None,
        upstream=ctx.group(5) if ctx else None,
        host=ctx.group(6) if ctx else None,
        referer=ctx.group(7) if ctx else None,
    )


def _split_port(address: str) -> tuple[str, int | None]:
    host, sep, port = address.rpartition(":")
    if sep and port.isascii() and port.isdigit() and len(port) <= 5 and host:
        return host.strip("[]"), int(port)
    return address, None


def _parse_apache(line: str, tz: dt.tzinfo) -> ErrorLogRecord | None:
    head = _APACHE_HEAD.match(line)
    if head is None:
        return None
    month = _MONTHS.get(head.group(2))
    level = head.group(10)
    severity = _severity(level)
    if month is None or severity is None:
        return None
    micro = int((head.group(7) or "0").ljust(6, "0"))
    when = dt.datetime(
        int(head.group(8)),
        month,
        int(head.group(3)),
        int(head.group(4)),
        int(head.group(5)),
        int(head.group(6)),
        micro,
        tzinfo=tz,
    )
    pos = head.end()
    pid = tid = None
    m = _APACHE_PID.match(line, pos)
    if m is not None:
        pid = int(m.group(1))
        tid = int(m.group(2)) if m.group(2) else None
        pos = m.end()
    os_errno = os_error = None
    m = _APR_ERROR.match(line, pos)
    if m is not None:
        os_errno, os_error, pos = int(m.group(1)), m.group(2).strip() or None, m.end()
    client = client_port = None
    m = _APACHE_PEER.match(line, pos)
    if m is not None:
        if m.group(1) == "client":
            client, client_port = _split_port(m.group(2))
        pos = m.end()
    code = None
    m = _AH_CODE.match(line, pos)
    if m is not None:
        code, pos = m.group(1), m.end()
    message = line[pos:]
    referer = None
    cut = message.rfind(", referer: ")
    if cut >= 0:
        message, referer = message[:cut], message[cut + 11 :]
    return ErrorLogRecord(
        "apache",
        when,
        level,
        severity,
        message,
        pid=pid,
        tid=tid,
        client=client,
        client_port=client_port,
        module=head.group(9),
        code=code,
        os_errno=os_errno,
        os_error=os_error,
        referer=referer,
    )


def parse_nginx_error_line(line: str, *, tz: dt.tzinfo = dt.UTC) -> ErrorLogRecord | None:
    """Parse one nginx error-log line.

    Args:
        line: The line, with or without its trailing newline.
        tz: The zone of the server's clock (nginx writes local time without zone).

    Returns:
        The record, or ``None`` when the line is not an nginx error-log line (a
        continuation line of a multi-line message, for one).
    """
    try:
        return _parse_nginx(line.rstrip("\r\n"), tz)
    except (ValueError, OverflowError):
        return None


def parse_apache_error_line(line: str, *, tz: dt.tzinfo = dt.UTC) -> ErrorLogRecord | None:
    """Parse one Apache error-log line (2.4 default ``ErrorLogFormat``, or 2.2).

    Args:
        line: The line, with or without its trailing newline.
        tz: The zone of the server's clock (Apache writes local time without zone).

    Returns:
        The record, or ``None`` when the line is not an Apache error-log line.
    """
    try:
        return _parse_apache(line.rstrip("\r\n"), tz)
    except (ValueError, OverflowError):
        return None


def parse_error_line(line: str, *, tz: dt.tzinfo = dt.UTC) -> ErrorLogRecord | None:
    """Parse one nginx or Apache error-log line, whichever it is.

    Returns:
        The record, or ``None`` when the line is neither.
    """
    if line.startswith("["):
        return parse_apache_error_line(line, tz=tz)
    return parse_nginx_error_line(line, tz=tz)
