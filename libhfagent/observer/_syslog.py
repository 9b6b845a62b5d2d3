"""Syslog lines: RFC 3164 (BSD), RFC 5424, and rsyslog's RFC 3339 "high precision" format.

Pure functions: a line in, a value (or ``None``) out. They never raise on bad input.

The three shapes recognised, each with or without a leading ``<PRI>``::

    Nov 25 01:10:00 host sshd[123]: message                      RFC 3164
    <34>1 2026-11-25T01:10:00.123+01:00 host app 123 msgid [sd] msg RFC 5424
    2026-11-25T01:10:00.123456+01:00 host sshd[123]: message     rsyslog (Debian 12 default)

In the 3164 and rsyslog shapes the host may be missing (``Nov 25 01:10:00
sshd[1]: ...``) and the tag may be ``app[pid]:``, ``app:``, ``[app]:`` or
``[app]``.  RFC 3164 times carry neither year nor zone: they are read in the
zone given, in the latest year that does not put them more than a day after ``now``.
"""

from __future__ import annotations

import datetime as dt
import re

import attrs

__all__ = ["SyslogRecord", "parse_syslog_line"]

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_PRI = re.compile(r"<(\d{1,3})>")
_BSD_TIME = re.compile(r"([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})? +")
_ISO_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(Z|[+-]\d{2}:?\d{2})?(?: +|$)"
)
_RFC5424_HEAD = re.compile(r"(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+) ?")
# A structured-data element: [id param="value" ...], values may hold \" \] \\ escapes.
_SD_ELEMENT = re.compile(r'\[[^\s\]="]+(?: [^\s\]="]+="(?:[^"\\]|\\.)*")*\s*\]', re.DOTALL)
_TAG = re.compile(r"(?:\[([^\[\]\s]+)\]|([^\[\]\s]+?)(?:\[([^\[\]\s]*)\])?):?")
# The usual header after the time, "host app[pid]: ", read in one step.
_COMMON_HEADER = re.compile(r"([^\s\[\]:]+) ([^\s\[\]:]+)\[(\d{1,10})\]: ")
_FUTURE_SLACK = dt.timedelta(days=1)
_TZ_CACHE: dict[int, dt.timezone] = {}
_BSD_CACHE: dict[tuple[str, int, dt.tzinfo], dt.datetime | None] = {}
_BSD_CACHE_MAX = 4096


@attrs.frozen(slots=True)
class SyslogRecord:
    """One syslog line.

    Attributes:
        time: When the line was logged, timezone-aware.
        host: The host name as logged, or ``None`` when the line has none.
        app: The program (tag, APP-NAME), or ``""`` when the line has none.
        pid: The process id, or ``None`` when the line has none (or it is not a number).
        message: The message text, without the header.
        facility: The facility number from ``<PRI>`` (``4`` is auth, ``10`` authpriv),
            or ``None`` without ``<PRI>``.
        severity: The severity from ``<PRI>`` (0 emergency .. 7 debug), or ``None``.
    """

    time: dt.datetime
    host: str | None
    app: str
    pid: int | None
    message: str
    facility: int | None = None
    severity: int | None = None


def _offset_tz(text: str | None, default: dt.tzinfo) -> dt.tzinfo:
    if text is None:
        return default
    if text == "Z":
        minutes = 0
    else:
        digits = text[1:].replace(":", "")
        minutes = int(digits[:2]) * 60 + int(digits[2:])
        if text[0] == "-":
            minutes = -minutes
    tz = _TZ_CACHE.get(minutes)
    if tz is None:
        tz = _TZ_CACHE.setdefault(minutes, dt.timezone(dt.timedelta(minutes=minutes)))
    return tz


def _iso_time(m: re.Match[str], tz: dt.tzinfo) -> dt.datetime:
    frac = m.group(7)
    micro = int((frac + "00000")[:6]) if frac else 0
    return dt.datetime(
        int(m.group(1)),
        int(m.group(2)),
        int(m.group(3)),
        int(m.group(4)),
        int(m.group(5)),
        int(m.group(6)),
        micro,
        tzinfo=_offset_tz(m.group(8), tz),
    )


def _bsd_in_year(stamp: str, year: int, tz: dt.tzinfo) -> dt.datetime | None:
    key = (stamp, year, tz)
    when = _BSD_CACHE.get(key, False)
    if when is not False:
        return when  # type: ignore[return-value]
    m = _BSD_TIME.match(stamp + " ")
    month = _MONTHS.get(m.group(1)) if m is not None else None
    if m is None or month is None:
        when = None
    else:
        day, hour, minute, second = (int(m.group(i)) for i in range(2, 6))
        try:
            when = dt.datetime(year, month, day, hour, minute, second, tzinfo=tz)
        except ValueError:
            when = None
    if len(_BSD_CACHE) >= _BSD_CACHE_MAX:
        _BSD_CACHE.clear()
    _BSD_CACHE[key] = when
    return when


def _bsd_time(stamp: str, now: dt.datetime, tz: dt.tzinfo) -> dt.datetime | None:
    reference = now if now.tzinfo is not None else now.replace(tzinfo=tz)
    # The latest year that does not put the line more than a day after ``now``: the
    # year before for a December line read in January, the year after for a January
    # line read late on December 31 (a clock slightly ahead); going back a few years
    # more finds the last leap year for Feb 29.
    for year in range(reference.year + 1, reference.year - 9, -1):
        when = _bsd_in_year(stamp, year, tz)
        if when is not None and when - reference <= _FUTURE_SLACK:
            return when
    return None


def _tag(token: str) -> tuple[str, int | None] | None:
    """Split a tag token (``sshd[12]:``, ``cron:``, ``[sshd]``) into app and pid."""
    m = _TAG.fullmatch(token)
    if m is None:
        return None
    if m.group(1) is not None:
        return m.group(1), None
    pid_text = m.group(3)
    pid = int(pid_text) if pid_text and pid_text.isdigit() and len(pid_text) < 11 else None
    return m.group(2), pid


def _is_tag(token: str) -> bool:
    return token.endswith((":", "]")) or token.startswith("[")


def _split_header(rest: str) -> tuple[str | None, str, int | None, str]:
    """Split ``[host] tag message`` (3164 and rsyslog shapes) after the time."""
    first, _, after = rest.partition(" ")
    host: str | None = None
    if not _is_tag(first):
        host = first
        first, _, after = after.partition(" ")
        if not _is_tag(first):
            # No tag: the message starts right after the host.
            return host, "", None, rest[len(host) + 1 :]
    tag = _tag(first)
    if tag is None:
        return host, "", None, (first + " " + after) if after else first
    return host, tag[0], tag[1], after


def _structured_data_end(text: str) -> int | None:
    """Return where the structured data at the start of ``text`` ends, or None."""
    if text.startswith("-"):
        return 1
    pos = 0
    while pos < len(text) and text[pos] == "[":
        m = _SD_ELEMENT.match(text, pos)
        if m is None:
            return None
        pos = m.end()
    return pos or None


def _parse_5424(
    body: str, pri: tuple[int, int] | None, now: dt.datetime, tz: dt.tzinfo
) -> SyslogRecord | None:
    head = _RFC5424_HEAD.match(body)
    if head is None:
        return None
    stamp, host, app, procid = head.group(2), head.group(3), head.group(4), head.group(5)
    if stamp == "-":
        when = now if now.tzinfo is not None else now.replace(tzinfo=tz)
    else:
        tm = _ISO_TIME.fullmatch(stamp)
        if tm is None:
            return None
        when = _iso_time(tm, tz)
    rest = body[head.end() :]
    end = _structured_data_end(rest)
    if end is None:
        return None
    message = rest[end:]
    if message.startswith(" "):
        message = message[1:]
    elif message:
        return None
    message = message.removeprefix("\ufeff")
    pid = int(procid) if procid.isdigit() and len(procid) < 11 else None
    return SyslogRecord(
        when,
        None if host == "-" else host,
        "" if app == "-" else app,
        pid,
        message,
        pri[0] if pri else None,
        pri[1] if pri else None,
    )


def _parse(line: str, now: dt.datetime, tz: dt.tzinfo) -> SyslogRecord | None:
    line = line.rstrip("\r\n")
    pri: tuple[int, int] | None = None
    body = line
    pm = _PRI.match(line)
    if pm is not None:
        value = int(pm.group(1))
        if value > 191:
            return None
        pri = (value >> 3, value & 7)
        body = line[pm.end() :]
        if body[:1].isdigit() and not _ISO_TIME.match(body):
            return _parse_5424(body, pri, now, tz)
    bm = _BSD_TIME.match(body)
    if bm is not None:
        when = _bsd_time(body[: bm.end()].rstrip(" "), now, tz)
    else:
        im = _ISO_TIME.match(body)
        if im is None:
            return None
        when = _iso_time(im, tz)
        bm = im
    rest = body[bm.end() :]
    if when is None or not rest:
        return None
    hm = _COMMON_HEADER.match(rest)
    host: str | None
    pid: int | None
    if hm is not None:
        host, app, pid = hm.group(1), hm.group(2), int(hm.group(3))
        message = rest[hm.end() :]
    else:
        host, app, pid, message = _split_header(rest)
    return SyslogRecord(
        when, host, app, pid, message, pri[0] if pri else None, pri[1] if pri else None
    )


def parse_syslog_line(line: str, *, now: dt.datetime, tz: dt.tzinfo) -> SyslogRecord | None:
    """Parse one syslog line (RFC 3164, RFC 5424, or rsyslog's RFC 3339 timestamps).

    Args:
        line: The line, with or without its trailing newline.
        now: When the line is read: RFC 3164 lines take the latest year that does not
            put them more than a day after ``now`` (the year of ``now``; the year
            before for a December line read in January).
            A naive ``now`` is taken to be in ``tz``.
        tz: The zone of times written without an offset (RFC 3164, and RFC 3339
            times without one).

    Returns:
        The record, or ``None`` when the line is not a syslog line.
    """
    try:
        return _parse(line, now, tz)
    except (ValueError, OverflowError):
        # Out-of-range dates and offsets (day 31 of February, +99:99).
        return None
