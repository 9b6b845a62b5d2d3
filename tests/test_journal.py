"""The journal source, on real journal files written by systemd-journal-remote."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from libhfagent._errors import SourceError
from libhfagent.config import Config
from libhfagent.observer import Observer
from libhfagent.observer._events import Event, Severity
from libhfagent.observer._journal import JournalSource, journal_entry_event
from libhfagent.observer._source import Source
from libhfagent.observer._state import PositionStore
from libhfagent.testing._journal import (
    DEFAULT_START,
    JournalBuildError,
    build_journal,
    export_entries,
)

T0 = DEFAULT_START


def _entry(message: str | bytes, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "MESSAGE": message,
        "_HOSTNAME": "web1",
        "PRIORITY": "6",
        "_SYSTEMD_UNIT": "nginx.service",
        "SYSLOG_IDENTIFIER": "nginx",
        "_PID": "812",
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def _mixed() -> list[dict[str, Any]]:
    return [
        _entry("nginx started"),
        _entry(
            "Accepted password for root from 10.0.0.5 port 50022 ssh2",
            _SYSTEMD_UNIT="ssh.service",
            SYSLOG_IDENTIFIER="sshd",
            _PID="900",
            PRIORITY="5",
        ),
        _entry("upstream timed out", PRIORITY="3"),
        _entry(
            "Failed password for root from 10.0.0.6 port 50023 ssh2",
            _SYSTEMD_UNIT="ssh.service",
            SYSLOG_IDENTIFIER="sshd",
            _PID="901",
            PRIORITY="4",
        ),
        _entry(
            "Started ssh.service - OpenBSD Secure Shell server.",
            _SYSTEMD_UNIT="init.scope",
            SYSLOG_IDENTIFIER="systemd",
            _PID="1",
            UNIT="ssh.service",
        ),
        _entry(
            "kernel: disk full",
            _SYSTEMD_UNIT=None,
            SYSLOG_IDENTIFIER="kernel",
            _PID=None,
            PRIORITY="2",
        ),
    ]


@pytest.fixture
def journal_file(tmp_path: Path) -> Path:
    return build_journal(_mixed(), tmp_path / "j" / "system.journal")


def _messages(events: Any) -> list[str]:
    return [e.message for e in events]


def test_a_journal_source_is_a_source(journal_file: Path) -> None:
    assert isinstance(JournalSource("j", files=[journal_file]), Source)


def test_history_maps_every_field(journal_file: Path) -> None:
    events = list(JournalSource("sys", files=[journal_file]).read())
    assert _messages(events) == [e["MESSAGE"] for e in _mixed()]
    first = events[0]
    assert isinstance(first, Event)
    assert first.timestamp == T0 and first.timestamp.tzinfo is not None
    assert first.source == "sys"
    assert first.host == "web1"
    assert first.severity is Severity.INFO
    assert first.fields["unit"] == "nginx.service"
    assert first.fields["identifier"] == "nginx"
    assert first.fields["pid"] == 812
    assert first.fields["cursor"].startswith("s=")
    assert events[5].severity is Severity.CRITICAL
    assert "unit" not in events[5].fields and "pid" not in events[5].fields
    assert [e.timestamp for e in events] == [T0 + dt.timedelta(seconds=i) for i in range(6)]


def test_history_by_time_window(journal_file: Path) -> None:
    src = JournalSource("sys", files=[journal_file])
    got = list(src.read(since=T0 + dt.timedelta(seconds=2), until=T0 + dt.timedelta(seconds=4)))
    assert _messages(got) == ["upstream timed out", _mixed()[3]["MESSAGE"]]
    # A window in another zone is the same instants.
    paris = dt.timezone(dt.timedelta(hours=2))
    again = list(
        src.read(
            since=(T0 + dt.timedelta(seconds=2)).astimezone(paris),
            until=(T0 + dt.timedelta(seconds=4)).astimezone(paris),
        )
    )
    assert _messages(again) == _messages(got)
    assert list(src.read(since=T0 + dt.timedelta(days=1))) == []
    assert len(list(src.read(until=T0))) == 0


def test_matches_by_unit_include_systemd_messages_about_it(journal_file: Path) -> None:
    got = list(JournalSource("ssh", units=["ssh.service"], files=[journal_file]).read())
    assert [e.fields.get("pid") for e in got] == [900, 901, 1]
    assert got[2].fields["unit"] == "init.scope"
    assert got[2].fields["about_unit"] == "ssh.service"
    assert "about_unit" not in got[0].fields


def test_matches_by_priority_and_identifier(journal_file: Path) -> None:
    severe = list(JournalSource("p", priority=4, files=[journal_file]).read())
    assert [e.severity for e in severe] == [Severity.ERROR, Severity.WARNING, Severity.CRITICAL]
    sshd = list(JournalSource("i", identifiers=["sshd"], files=[journal_file]).read())
    assert [e.fields["pid"] for e in sshd] == [900, 901]
    both = list(
        JournalSource(
            "b",
            units=["ssh.service", "nginx.service"],
            priority=4,
            identifiers=["sshd", "nginx"],
            files=[journal_file],
        ).read()
    )
    assert _messages(both) == ["upstream timed out", _mixed()[3]["MESSAGE"]]


def test_bad_entries_do_not_break_reading(tmp_path: Path) -> None:
    entries = [
        {"MESSAGE": b"disk \xff\xfe failed", "PRIORITY": "3"},
        {"SYSLOG_IDENTIFIER": "nomessage"},
        {"MESSAGE": "line one\nline two", "PRIORITY": "not-a-number", "_PID": "abc"},
        {"MESSAGE": b"nul \x00 inside", "PRIORITY": "9"},
    ]
    path = build_journal(entries, tmp_path / "bad.journal")
    events = list(JournalSource("bad", files=[path]).read())
    assert [e.message for e in events] == [
        "disk \ufffd\ufffd failed",
        "",
        "line one\nline two",
        "nul \x00 inside",
    ]
    assert [e.severity for e in events] == [
        Severity.ERROR,
        Severity.INFO,
        Severity.INFO,
        Severity.INFO,
    ]
    assert events[0].host == "" and "pid" not in events[2].fields


def test_entry_mapping_without_anything() -> None:
    event = journal_entry_event({}, "x")
    assert event.message == "" and event.timestamp == dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    listed = journal_entry_event({"MESSAGE": [b"a", b"b"], "_PID": ["7", "8"]}, "x")
    assert listed.message == "a" and listed.fields["pid"] == 7


class Collector:
    """Consumes a follow() stream in a task of its own, as the agent does."""

    def __init__(self, agen: AsyncIterator[Any]) -> None:
        self.agen = agen
        self.events: list[Any] = []
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        async for event in self.agen:
            self.events.append(event)

    async def wait_for(self, n: int, timeout: float = 10) -> list[Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.events) < n:
            if self.task.done():
                self.task.result()  # raises what ended the stream
                raise AssertionError(f"stream ended after {len(self.events)} events")
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"only {len(self.events)} of {n} events")
            await asyncio.sleep(0.01)
        return self.events[:n]

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def _more(start: int, n: int) -> list[dict[str, Any]]:
    return [
        _entry(
            f"message {i}",
            __REALTIME_TIMESTAMP=T0 + dt.timedelta(minutes=10, seconds=i),
            __MONOTONIC_TIMESTAMP=10_000_000 + i * 1_000_000,
        )
        for i in range(start, start + n)
    ]


def test_cursor_resumes_without_duplicate_or_loss(tmp_path: Path) -> None:
    path = build_journal(_more(0, 10), tmp_path / "a.journal")
    store = PositionStore(tmp_path / "state")

    async def first_run() -> list[str]:
        src = JournalSource("app", files=[path], store=store, start="beginning", poll_interval=0.05)
        stream = Collector(src.follow())
        got = await stream.wait_for(5)
        for event in got[:4]:
            src.commit(event)  # the fifth and later are yielded, not committed
        await stream.close()
        return _messages(stream.events)

    assert asyncio.run(first_run()) == [f"message {i}" for i in range(10)]
    assert store.load("journal-app") is not None
    build_journal(_more(10, 3), path)  # entries written while the agent was down

    async def second_run() -> list[str]:
        src = JournalSource("app", files=[path], store=store, start="beginning", poll_interval=0.05)
        stream = Collector(src.follow())
        for event in await stream.wait_for(9):
            src.commit(event)
        await asyncio.sleep(0.3)
        await stream.close()
        return _messages(stream.events)

    assert asyncio.run(second_run()) == [f"message {i}" for i in range(4, 13)]


def test_follow_from_end_sees_only_new_entries(tmp_path: Path) -> None:
    path = build_journal(_more(0, 3), tmp_path / "a.journal")

    async def run() -> list[str]:
        src = JournalSource(
            "app", files=[path], store=PositionStore(tmp_path / "s"), poll_interval=0.05
        )
        stream = Collector(src.follow())
        await asyncio.sleep(0.2)
        assert stream.events == []
        build_journal(_more(3, 2), path)  # appended while following
        await stream.wait_for(2)
        await asyncio.sleep(0.2)
        await stream.close()
        return _messages(stream.events)

    assert asyncio.run(run()) == ["message 3", "message 4"]


def test_follow_a_directory_wakes_on_new_files_and_appends(tmp_path: Path) -> None:
    folder = tmp_path / "journal"
    build_journal(_more(0, 2), folder / "one.journal")
    store = PositionStore(tmp_path / "s")

    async def run() -> list[str]:
        # A long poll interval: only the journal's change notification wakes it quickly.
        src = JournalSource(
            "dir", directory=folder, store=store, start="beginning", poll_interval=30
        )
        stream = Collector(src.follow())
        await stream.wait_for(2)
        build_journal(_more(2, 1), folder / "one.journal")
        await stream.wait_for(3)
        build_journal(_more(3, 2), folder / "two.journal", boot_id="f" * 32)
        await stream.wait_for(5)
        await asyncio.sleep(0.2)
        await stream.close()
        return _messages(stream.events)

    assert asyncio.run(run()) == [f"message {i}" for i in range(5)]


def test_commit_without_store_is_kept_in_memory(tmp_path: Path) -> None:
    path = build_journal(_more(0, 4), tmp_path / "a.journal")
    src = JournalSource("mem", files=[path], start="beginning", poll_interval=0.05)

    async def run() -> list[str]:
        stream = Collector(src.follow())
        got = await stream.wait_for(4)
        src.commit(got[1], extra={"batch": 7})
        await stream.close()
        again = Collector(src.follow())
        await again.wait_for(2)
        await asyncio.sleep(0.2)
        await again.close()
        return _messages(again.events)

    assert asyncio.run(run()) == ["message 2", "message 3"]
    assert src.committed_extra == {"batch": 7}
    foreign = Event(timestamp=T0, source="other", message="x", fields={"cursor": "s=1"})
    with pytest.raises(ValueError, match="journal source 'mem'"):
        src.commit(foreign)
    with pytest.raises(ValueError, match="journal source"):
        src.commit(Event(timestamp=T0, source="mem", message="no cursor"))


def test_observer_follows_and_commits_the_journal(tmp_path: Path) -> None:
    path = build_journal(_more(0, 5), tmp_path / "a.journal")
    store = PositionStore(tmp_path / "state")

    async def run(n: int) -> list[str]:
        observer = Observer(Config())
        src = JournalSource("jr", files=[path], store=store, start="beginning", poll_interval=0.05)
        got: list[str] = []
        async with contextlib.aclosing(observer.follow([src])) as events:
            async for event in events:
                assert isinstance(event, Event)
                got.append(event.message)
                if len(got) == n:
                    observer.commit(event, extra={"seen": n})
                    break
        return got

    assert asyncio.run(run(3)) == ["message 0", "message 1", "message 2"]
    assert store.load("journal-jr") is not None
    assert asyncio.run(run(2)) == ["message 3", "message 4"]
    assert JournalSource("jr", files=[path], store=store).committed_extra == {"seen": 2}


def test_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not both"):
        JournalSource("x", files=[tmp_path / "a.journal"], directory=tmp_path)
    with pytest.raises(SourceError, match="priority"):
        JournalSource("x", priority=8)
    with pytest.raises(SourceError, match="does not exist"):
        list(JournalSource("x", files=[tmp_path / "missing.journal"]).read())


def test_export_format_is_binary_safe_and_deterministic() -> None:
    data = export_entries([{"MESSAGE": "a\nb", "X": b"\xff", "Y": "plain"}])
    assert data == export_entries([{"MESSAGE": "a\nb", "X": b"\xff", "Y": "plain"}])
    assert b"MESSAGE\n\x03\x00\x00\x00\x00\x00\x00\x00a\nb\n" in data
    assert b"X\n\x01\x00\x00\x00\x00\x00\x00\x00\xff\n" in data
    assert b"Y=plain\n" in data
    assert data.startswith(b"__REALTIME_TIMESTAMP=1714564800000000\n")
    with pytest.raises(JournalBuildError, match="field name"):
        export_entries([{"lower": "x"}])


def test_build_journal_reports_a_missing_writer(tmp_path: Path) -> None:
    with pytest.raises(JournalBuildError, match="systemd-journal-remote"):
        build_journal([{"MESSAGE": "x"}], tmp_path / "a.journal", binary=str(tmp_path / "nope"))
    with pytest.raises(JournalBuildError, match=r"\.journal"):
        build_journal([{"MESSAGE": "x"}], tmp_path / "a.log")
