"""Access-log parsing, rotated files and the window summary (pure parts)."""

from __future__ import annotations

import datetime as dt
import gzip
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libhfagent.observer import LineCounts, parse_access_line, rotation_chain
from libhfagent.observer._files import iter_lines
from libhfagent.reports import summarize_access

UTC = dt.UTC


def line(client: str, when: dt.datetime, path: str, status: int, size: int = 153) -> str:
    stamp = when.strftime("%d/%b/%Y:%H:%M:%S %z")
    return f'{client} - - [{stamp}] "GET {path} HTTP/1.1" {status} {size} "-" "curl/8.0"\n'


def test_combined_line() -> None:
    rec = parse_access_line(
        '203.0.113.7 - alice [25/Nov/2026:01:10:00 +0100] "GET /a/b?x=1 HTTP/1.1" 404 153 '
        '"https://example.org/" "Mozilla/5.0 (X11)"\n'
    )
    assert rec is not None
    assert (rec.client, rec.user, rec.method, rec.path, rec.query) == (
        "203.0.113.7",
        "alice",
        "GET",
        "/a/b",
        "x=1",
    )
    assert (rec.status, rec.size, rec.referer, rec.user_agent) == (
        404,
        153,
        "https://example.org/",
        "Mozilla/5.0 (X11)",
    )
    assert rec.time == dt.datetime(2026, 11, 25, 0, 10, tzinfo=UTC)


def test_common_and_vhost_and_garbage_requests() -> None:
    common = parse_access_line('::1 - - [01/Jan/2026:00:00:00 +0000] "HEAD / HTTP/1.0" 200 -')
    assert common is not None and common.size == 0 and common.referer is None
    vhost = parse_access_line(
        "www.example.org:443 192.0.2.1 - - [01/Jan/2026:00:00:00 +0000] "
        '"GET / HTTP/2.0" 301 0 "-" "-"'
    )
    assert (
        vhost is not None and vhost.vhost == "www.example.org:443" and vhost.client == "192.0.2.1"
    )
    tls = parse_access_line(
        '192.0.2.9 - - [01/Jan/2026:00:00:00 +0000] "\\x16\\x03\\x01" 400 157 "-" "-"'
    )
    assert tls is not None and tls.method is None and tls.status == 400


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a log line",
        '1.2.3.4 - - [31/Feb/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-"',  # no 31 Feb
        '1.2.3.4 - - [01/Foo/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-"',
        '1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 2000 1 "-" "-"',
        '2026/01/01 00:00:00 [error] 12#12: *1 open() "/x" failed (2: No such file or directory)',
    ],
)
def test_not_access_lines(text: str) -> None:
    assert parse_access_line(text) is None


def test_huge_line_is_linear() -> None:
    # Unterminated quotes over 5 MB must not backtrack for ever.
    assert parse_access_line('1 - - [25/Nov/2026:01:10:00 +0100] "' + "A\\" * 2_500_000) is None
    long_path = parse_access_line(
        '1.2.3.4 - - [25/Nov/2026:01:10:00 +0100] "GET /'
        + "a" * 5_000_000
        + ' HTTP/1.1" 414 0 "-" "-"'
    )
    assert long_path is not None and long_path.status == 414


@given(st.text(max_size=300))
def test_parser_never_raises(text: str) -> None:
    parse_access_line(text)


@given(st.binary(max_size=300))
def test_parser_never_raises_on_decoded_bytes(data: bytes) -> None:
    parse_access_line(data.decode("utf-8", "surrogateescape"))


def test_rotation_chain_orders_newest_first(tmp_path: Path) -> None:
    for name in [
        "access.log",
        "access.log.1",
        "access.log.10.gz",
        "access.log.2.gz",
        "access.log-20261120.gz",
        "access.log-20261122",
        "error.log.1",
        "access.log.bak",
    ]:
        (tmp_path / name).write_text("")
    names = [p.name for p in rotation_chain(tmp_path / "access.log")]
    assert names == [
        "access.log",
        "access.log.1",
        "access.log.2.gz",
        "access.log.10.gz",
        "access.log-20261122",
        "access.log-20261120.gz",
    ]
    assert rotation_chain(tmp_path / "nothing.log") == []


def test_iter_lines_skips_binary_and_counts(tmp_path: Path) -> None:
    f = tmp_path / "a.log"
    f.write_bytes(b"good\n\xff\xfe bad utf8\nnul\x00byte\nalso good\nno newline at end")
    counts = LineCounts()
    assert list(iter_lines(f, counts)) == ["good\n", "also good\n", "no newline at end"]
    assert (counts.lines, counts.invalid) == (5, 2)


def test_truncated_gzip_is_read_up_to_the_damage(tmp_path: Path) -> None:
    data = gzip.compress(b"".join(b"line %d\n" % i for i in range(20000)))
    f = tmp_path / "a.log.2.gz"
    f.write_bytes(data[: len(data) // 2])
    counts = LineCounts()
    got = list(iter_lines(f, counts))
    assert 0 < len(got) < 20000 and got[0] == "line 0\n"
    assert counts.damaged == [str(f)]


def test_summary_counts_window_status_and_future() -> None:
    now = dt.datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    lines = [
        line("10.0.0.1", now - dt.timedelta(hours=30), "/old", 404),  # before the window
        line("10.0.0.1", now - dt.timedelta(hours=23), "/a", 404),
        line("10.0.0.2", now - dt.timedelta(hours=2, minutes=5), "/a", 404),
        line("10.0.0.2", now - dt.timedelta(hours=2), "/b?q=1", 404),
        line("10.0.0.3", now - dt.timedelta(hours=1), "/", 200),
        line("10.0.0.3", now - dt.timedelta(minutes=1), "/", 500),
        line("10.0.0.9", now + dt.timedelta(hours=3), "/future", 404),  # clock ahead
        "garbage\n",
    ]
    counts = LineCounts()
    s = summarize_access(
        (parse_access_line(x) for x in lines),
        source="nginx",
        end=now,
        start=now - dt.timedelta(hours=24),
        status=404,
        counts=counts,
    )
    assert (s.total, s.matched) == (5, 3)
    assert s.by_status == {404: 3, 200: 1, 500: 1}
    assert s.top_paths == (("/a", 2), ("/b", 1))
    assert s.top_clients == (("10.0.0.2", 2), ("10.0.0.1", 1))
    assert s.by_hour == (
        ("2026-11-24T13:00+00:00", 1),
        ("2026-11-25T09:00+00:00", 1),
        ("2026-11-25T10:00+00:00", 1),
    )
    assert s.first == now - dt.timedelta(hours=23) and s.last == now - dt.timedelta(hours=2)
    assert (counts.future, counts.unparsed) == (1, 1)
    d = s.to_dict()
    assert d["by_status"] == {"200": 1, "404": 3, "500": 1}
    assert d["top_paths"] == [["/a", 2], ["/b", 1]]


def test_hours_follow_the_local_clock() -> None:
    from zoneinfo import ZoneInfo

    now = dt.datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    lines = [line("10.0.0.1", now - dt.timedelta(minutes=m), "/a", 404) for m in (10, 50, 60)]
    s = summarize_access(
        (parse_access_line(x) for x in lines),
        source="nginx",
        end=now,
        status=404,
        tz=ZoneInfo("Asia/Kathmandu"),  # UTC+5:45: one UTC hour, 11:00-11:50, is two local ones
    )
    assert s.by_hour == (("2026-11-25T16:00+05:45", 2), ("2026-11-25T17:00+05:45", 1))
    assert s.timezone == "Asia/Kathmandu"


def test_summary_of_nothing() -> None:
    now = dt.datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    s = summarize_access([], source="nginx", end=now, status=404)
    assert (s.total, s.matched, s.first, s.top_paths) == (0, 0, None, ())


def test_mtime_skips_only_files_that_cannot_hold_the_window(tmp_path: Path) -> None:
    from libhfagent.config import Config
    from libhfagent.observer import Observer

    now = dt.datetime.now(UTC)
    live = tmp_path / "access.log"
    live.write_text(line("10.0.0.1", now - dt.timedelta(minutes=5), "/x", 404))
    old = tmp_path / "access.log.1"
    old.write_text(line("10.0.0.1", now - dt.timedelta(days=3), "/y", 404))
    os.utime(old, (now.timestamp() - 3 * 86400,) * 2)
    counts = LineCounts()
    records = list(
        Observer(Config.default(env={})).read_access(
            [live], counts, start=now - dt.timedelta(hours=24)
        )
    )
    assert [r.path for r in records if r] == ["/x"]
    assert counts.files == [str(live)]
    counts = LineCounts()
    records = list(Observer(Config.default(env={})).read_access([live], counts, start=None))
    assert [r.path for r in records if r] == ["/y", "/x"]
