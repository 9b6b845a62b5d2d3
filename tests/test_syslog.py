"""Syslog line parsing: RFC 3164, RFC 5424, rsyslog's RFC 3339 timestamps (pure parts)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libhfagent.observer._syslog import SyslogRecord, parse_syslog_line

UTC = dt.UTC
PARIS = ZoneInfo("Europe/Paris")
NOW = dt.datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def parse(line: str, now: dt.datetime = NOW, tz: dt.tzinfo = PARIS) -> SyslogRecord | None:
    return parse_syslog_line(line, now=now, tz=tz)


def test_rfc3164_line() -> None:
    rec = parse(
        "Nov 25 01:10:00 web1 sshd[4242]: Accepted publickey for alice from 203.0.113.5 "
        "port 50022 ssh2\n"
    )
    assert rec == SyslogRecord(
        dt.datetime(2026, 11, 25, 1, 10, tzinfo=PARIS),
        "web1",
        "sshd",
        4242,
        "Accepted publickey for alice from 203.0.113.5 port 50022 ssh2",
    )
    assert rec.time.utcoffset() == dt.timedelta(hours=1)


def test_rfc3164_with_pri() -> None:
    rec = parse("<38>Nov 25 01:10:00 web1 sshd[7]: hello")
    assert rec is not None
    assert (rec.facility, rec.severity, rec.app, rec.pid) == (4, 6, "sshd", 7)
    assert parse("<192>Nov 25 01:10:00 web1 sshd[7]: hello") is None


@pytest.mark.parametrize(
    ("stamp", "day"), [("Nov  5 03:04:05", 5), ("Nov 5 03:04:05", 5), ("Nov 05 03:04:05", 5)]
)
def test_rfc3164_day_padding(stamp: str, day: int) -> None:
    rec = parse(f"{stamp} web1 cron[1]: tick")
    assert rec is not None
    assert rec.time == dt.datetime(2026, 11, day, 3, 4, 5, tzinfo=PARIS)


def test_rfc3164_tags() -> None:
    rec = parse("Nov 25 01:10:00 web1 sshd-session[31337]: Connection closed")
    assert rec is not None and (rec.app, rec.pid) == ("sshd-session", 31337)
    rec = parse("Nov 25 01:10:00 web1 kernel: [ 12.5] eth0: link up")
    assert rec is not None
    assert (rec.host, rec.app, rec.pid, rec.message) == (
        "web1",
        "kernel",
        None,
        "[ 12.5] eth0: link up",
    )
    rec = parse("Nov 25 01:10:00 sshd[12]: no host here")
    assert rec is not None and (rec.host, rec.app, rec.pid) == (None, "sshd", 12)
    rec = parse("Nov 25 01:10:00 [sshd]: bracketed tag")
    assert rec is not None and (rec.host, rec.app, rec.message) == (None, "sshd", "bracketed tag")
    rec = parse("Nov 25 01:10:00 web1 [sshd] no colon")
    assert rec is not None and (rec.host, rec.app, rec.message) == ("web1", "sshd", "no colon")
    rec = parse("Nov 25 01:10:00 web1 just some text")
    assert rec is not None and (rec.host, rec.app, rec.message) == ("web1", "", "just some text")


def test_rfc5424_line() -> None:
    rec = parse(
        "<34>1 2026-11-25T01:10:00.123+01:00 web1.example.org billing 4242 ID47 "
        '[origin ip="192.0.2.8"][meta note="a \\"quoted\\" \\] bracket"] disk full'
    )
    assert rec == SyslogRecord(
        dt.datetime(2026, 11, 25, 0, 10, 0, 123000, tzinfo=UTC),
        "web1.example.org",
        "billing",
        4242,
        "disk full",
        4,
        2,
    )


def test_rfc5424_nil_values_and_bom() -> None:
    rec = parse("<13>1 2026-11-25T00:00:00Z - - - - - \ufeffplain")
    assert rec is not None
    assert (rec.host, rec.app, rec.pid, rec.message) == (None, "", None, "plain")
    assert rec.time == dt.datetime(2026, 11, 25, tzinfo=UTC)
    rec = parse("<13>1 2026-11-25T00:00:00Z host app worker-3 - -")
    assert rec is not None and rec.pid is None and rec.message == ""
    assert parse("<13>1 2026-11-25T00:00:00Z host app 1 - [broken message") is None


def test_rsyslog_high_precision() -> None:
    rec = parse("2026-11-25T01:10:00.123456+01:00 web1 sshd[123]: Invalid user x from 192.0.2.1")
    assert rec is not None
    assert rec.time == dt.datetime(2026, 11, 25, 0, 10, 0, 123456, tzinfo=UTC)
    assert (rec.host, rec.app, rec.pid) == ("web1", "sshd", 123)
    # Without an offset the time is local.
    rec = parse("2026-07-01T12:00:00 web1 app: x")
    assert rec is not None and rec.time == dt.datetime(2026, 7, 1, 12, tzinfo=PARIS)


def test_year_inference() -> None:
    january = dt.datetime(2027, 1, 2, 0, 30, tzinfo=UTC)
    rec = parse("Dec 31 23:59:00 web1 app: late", now=january, tz=UTC)
    assert rec is not None and rec.time.year == 2026
    rec = parse("Jan  2 00:10:00 web1 app: now", now=january, tz=UTC)
    assert rec is not None and rec.time.year == 2027
    # A day ahead is tolerated (clock skew), also across the new year.
    new_year_eve = dt.datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    rec = parse("Jan  1 00:10:00 web1 app: early", now=new_year_eve, tz=UTC)
    assert rec is not None and rec.time == dt.datetime(2027, 1, 1, 0, 10, tzinfo=UTC)
    rec = parse("Jan  3 00:10:00 web1 app: far", now=new_year_eve, tz=UTC)
    assert rec is not None and rec.time.year == 2026
    # Feb 29 goes back to the last leap year.
    rec = parse("Feb 29 12:00:00 web1 app: leap", now=dt.datetime(2027, 3, 1, tzinfo=UTC), tz=UTC)
    assert rec is not None and rec.time.year == 2024
    # A naive ``now`` is in ``tz``.
    rec = parse("Nov 25 01:10:00 web1 app: x", now=dt.datetime(2026, 11, 25, 2, 0), tz=PARIS)
    assert rec is not None and rec.time.year == 2026


@pytest.mark.parametrize(
    "line",
    [
        "",
        "\n",
        "hello world",
        "Foo 25 01:10:00 web1 app: bad month",
        "Feb 30 01:10:00 web1 app: no such day",
        "Nov 25 25:10:00 web1 app: no such hour",
        "Nov 25 01:10:00",
        "<12>",
        "<12>1 not-a-time host app - - - msg",
        "2026-13-01T00:00:00Z host app: bad month",
        "2026-11-25T00:00:00+99:99 host app: bad offset",
    ],
)
def test_not_syslog(line: str) -> None:
    assert parse(line) is None


_PIECES = st.sampled_from(
    ["<", ">", "1", "34", "Nov", " ", "  ", "25", "01:10:00", ":", "[", "]", "sshd", "123",
     "2026-11-25T01:10:00", ".123", "+01:00", "Z", "-", '"', "\\", "=", "\ufeff", "\n", "é"]
)  # fmt: skip


@given(
    line=st.one_of(st.text(max_size=200), st.lists(_PIECES, max_size=30).map("".join)),
    now=st.datetimes(
        min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9998, 12, 30), timezones=st.just(UTC)
    ),
)
def test_parser_never_raises(line: str, now: dt.datetime) -> None:
    rec = parse(line, now=now, tz=UTC)
    assert rec is None or rec.time.tzinfo is not None
