"""The Observer's read and follow API: history by time, live merge, back-pressure, commits."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import gzip
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from libhfagent._errors import SourceError
from libhfagent.config import DEFAULT_SOURCES, Config
from libhfagent.observer import Event, Metric, Observer, Severity
from libhfagent.observer._follow import FileSource
from libhfagent.observer._source import Source
from libhfagent.observer._state import PositionStore

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def aio(fn: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test in a fresh event loop (no asyncio plugin needed)."""

    @functools.wraps(fn)
    def run(*args: object, **kwargs: object) -> None:
        asyncio.run(fn(*args, **kwargs))  # type: ignore[arg-type]

    return run


def access(i: int, when: dt.datetime, status: int = 200) -> str:
    stamp = when.strftime("%d/%b/%Y:%H:%M:%S %z")
    return f'198.51.100.{i % 250} - - [{stamp}] "GET /p/{i} HTTP/1.1" {status} 10 "-" "t"\n'


def config(tmp_path: Path, sources: dict[str, list[str]], watch: list[str] | None = None) -> Config:
    """A configuration with only these sources (the Debian defaults turned off)."""
    sources = {**{name: [] for name in DEFAULT_SOURCES}, **sources}
    doc = {
        "agent": {"state_dir": str(tmp_path / "state"), "timezone": "UTC"},
        "modules": {
            "monitoring": {
                "interval": 0.05,
                "sources": sources,
                "files_to_watch": watch or [],
            }
        },
    }
    return Config.from_text(json.dumps(doc))


class CountingSource:
    """A live source of ``n`` numbered events that also serves history (a Source, no file)."""

    def __init__(self, name: str, n: int) -> None:
        self.name = name
        self.n = n
        self.produced = 0
        self.committed: list[int] = []

    def _event(self, i: int) -> Event:
        return Event(timestamp=T0 + dt.timedelta(seconds=i), source=self.name, message=str(i))

    def read(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> Iterator[Event]:
        for i in range(self.n):
            e = self._event(i)
            if (since is None or e.timestamp >= since) and (until is None or e.timestamp < until):
                yield e

    async def follow(self) -> AsyncIterator[Event]:
        for i in range(self.n):
            self.produced += 1
            yield self._event(i)

    def commit(self, event: Event) -> None:
        self.committed.append(int(event.message))


class FailingSource:
    """Fails twice with a SourceError, then yields one event."""

    def __init__(self) -> None:
        self.name = "flaky"
        self.interval = 0.01
        self.calls = 0

    def read(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> Iterator[Event]:
        return iter(())

    async def follow(self) -> AsyncIterator[Event]:
        self.calls += 1
        if self.calls <= 2:
            raise SourceError(f"cannot read /dev/flaky: try {self.calls}")
        yield Event(timestamp=T0, source=self.name, message="finally")


# -- history ----------------------------------------------------------------------------------


def test_read_history_by_time_across_rotations_and_files(tmp_path: Path) -> None:
    logs = tmp_path / "nginx"
    logs.mkdir()
    with gzip.open(logs / "access.log.2.gz", "wt") as g:
        g.write("".join(access(i, T0 + dt.timedelta(minutes=i)) for i in range(0, 10)))
    (logs / "access.log.1").write_text(
        "".join(access(i, T0 + dt.timedelta(minutes=i)) for i in range(10, 20))
    )
    (logs / "access.log").write_text(
        "".join(access(i, T0 + dt.timedelta(minutes=i)) for i in range(20, 30))
    )
    (logs / "other.log").write_text(
        "".join(access(i, T0 + dt.timedelta(minutes=i, seconds=30), 500) for i in range(5, 25, 5))
    )
    for p in logs.iterdir():  # rotated copies are read when the window reaches them
        os.utime(p, (T0.timestamp() + 3600, T0.timestamp() + 3600))
    obs = Observer(config(tmp_path, {"nginx": [str(logs / "access.log"), str(logs / "other.log")]}))
    events = list(
        obs.read("nginx", since=T0 + dt.timedelta(minutes=8), until=T0 + dt.timedelta(minutes=22))
    )
    assert all(isinstance(e, Event) and e.source == "nginx" for e in events)
    times = [e.timestamp for e in events]
    assert times == sorted(times)
    assert times[0] == T0 + dt.timedelta(minutes=8) and times[-1] < T0 + dt.timedelta(minutes=22)
    assert len(events) == 14 + 3  # minutes 8..21, and the 500s at 10:30, 15:30, 20:30
    errors = [e for e in events if isinstance(e, Event) and e.severity == Severity.ERROR]
    assert [e.fields["status"] for e in errors] == [500, 500, 500]
    assert events[0].fields["file"].endswith("access.log.2.gz")  # type: ignore[union-attr]
    # By path, no window: everything of that file and its copies, oldest first.
    by_path = list(obs.read(str(logs / "access.log")))
    assert [e.fields["path"] for e in by_path if isinstance(e, Event)] == [
        f"/p/{i}" for i in range(30)
    ]
    # Nothing was saved by reading.
    assert not (tmp_path / "state").exists()


def test_read_errors_say_what_to_do(tmp_path: Path) -> None:
    obs = Observer(config(tmp_path, {"web": [str(tmp_path / "missing.log")], "kernel": ["kmsg:"]}))
    with pytest.raises(SourceError, match="no log file found for web"):
        list(obs.read("web"))
    with pytest.raises(SourceError, match="unknown log source"):
        list(obs.read("nope"))
    with pytest.raises(SourceError, match="kmsg"):
        list(obs.read("kernel"))


def test_read_uses_extra_sources_and_source_objects(tmp_path: Path) -> None:
    obs = Observer(config(tmp_path, {}))
    counting = CountingSource("units", 10)
    obs._extra_sources.append(counting)
    assert isinstance(counting, Source)
    got = list(
        obs.read("units", since=T0 + dt.timedelta(seconds=3), until=T0 + dt.timedelta(seconds=6))
    )
    assert [e.message for e in got if isinstance(e, Event)] == ["3", "4", "5"]
    assert len(list(obs.read(CountingSource("x", 4)))) == 4


# -- live -------------------------------------------------------------------------------------


@aio
async def test_follow_merges_sources_with_back_pressure_and_nothing_dropped(tmp_path: Path) -> None:
    obs = Observer(config(tmp_path, {}))
    a, b = CountingSource("a", 300), CountingSource("b", 300)
    got: list[Event | Metric] = []
    async with contextlib.aclosing(obs.follow([a, b], queue_size=8)) as stream:
        async for item in stream:
            got.append(item)
            if len(got) == 20:
                await asyncio.sleep(0.05)
                # The sources waited for the slow consumer instead of running ahead.
                assert a.produced + b.produced <= 20 + 8 + 2
            if len(got) == 600:
                break
    stats = obs.follow_stats
    assert [e.message for e in got if isinstance(e, Event) and e.source == "a"] == [
        str(i) for i in range(300)
    ]
    assert [e.message for e in got if isinstance(e, Event) and e.source == "b"] == [
        str(i) for i in range(300)
    ]
    assert stats.delivered == 600 and stats.dropped == 0
    assert stats.waits > 0 and stats.queue_peak <= 8


@aio
async def test_follow_ends_when_every_source_ends_and_restarts_failed_ones(tmp_path: Path) -> None:
    obs = Observer(config(tmp_path, {}))
    flaky = FailingSource()
    got = [e async for e in obs.follow([flaky, CountingSource("c", 2)])]
    msgs = [(e.source, e.severity, e.message) for e in got if isinstance(e, Event)]
    assert ("flaky", Severity.INFO, "finally") in msgs
    failures = [m for m in msgs if m[1] == Severity.ERROR]
    assert len(failures) == 2 and "cannot read /dev/flaky: try 1" in failures[0][2]
    assert obs.follow_stats.errors == 2 and obs.follow_stats.restarts == 2


@aio
async def test_follow_configured_files_batches_and_commit(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    web = logs / "access.log"
    extra = tmp_path / "elsewhere" / "app.log"
    extra.parent.mkdir()
    cfg = config(tmp_path, {"web": [str(web)]}, watch=[str(extra)])
    obs = Observer(cfg)
    sources = obs.file_sources()
    assert [(s.name, s.path) for s in sources] == [("web", web), (str(extra), extra)]
    assert sources[0].parser == "access" and sources[0].interval == 0.05
    web.write_text("")
    extra.write_text("")

    async def writer() -> None:
        await asyncio.sleep(0.1)
        with open(web, "a") as f:
            f.write("".join(access(i, T0) for i in range(5)))
        with open(extra, "a") as f:
            f.write("one\ntwo\n")

    task = asyncio.create_task(writer())
    seen: list[Event | Metric] = []
    async with contextlib.aclosing(obs.follow_batches(max_batch=100)) as batches:
        async for batch in batches:
            seen += batch
            obs.commit(batch, extra={"handled": len(seen)})
            if len(seen) >= 7:
                break
    await task
    assert sorted(e.message for e in seen if isinstance(e, Event) and e.source == str(extra)) == [
        "one",
        "two",
    ]
    store = PositionStore(tmp_path / "state" / "observer")
    docs = {s.key: store.load(s.key) for s in sources}
    assert docs[sources[0].key]["offset"] == web.stat().st_size  # type: ignore[index]
    assert docs[sources[1].key]["offset"] == extra.stat().st_size  # type: ignore[index]
    assert docs[sources[1].key]["extra"] == {"handled": 7}  # type: ignore[index]
    # Restarted, the observer goes on after what was committed.
    with open(extra, "a") as f:
        f.write("three\n")
    again = Observer(cfg)
    async with contextlib.aclosing(again.follow()) as stream, asyncio.timeout(5):
        first = await anext(stream)
    assert isinstance(first, Event) and first.message == "three"


@aio
async def test_autocommit_is_at_least_once(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("a\nb\nc\n")
    obs = Observer(config(tmp_path, {}))
    src = obs.file_source(log, "app")
    src.start = "beginning"
    got: list[str] = []
    async with contextlib.aclosing(obs.follow([src], autocommit=0.0)) as stream:
        async for e in stream:
            assert isinstance(e, Event)
            got.append(e.message)
            if len(got) == 2:
                break
    assert got == ["a", "b"]
    # "b" was handed over but the consumer never asked for more: it comes again.
    again = obs.file_source(log, "app")
    async with contextlib.aclosing(again.follow()) as stream2, asyncio.timeout(5):
        assert [(await anext(stream2)).message for _ in range(2)] == ["b", "c"]


@aio
async def test_commit_routes_to_the_source_and_ignores_what_has_no_position(tmp_path: Path) -> None:
    obs = Observer(config(tmp_path, {}))
    counting = CountingSource("n", 3)
    got = [e async for e in obs.follow([counting])]
    obs.commit(got)
    assert counting.committed == [2]  # the last of the batch
    error = Event(
        timestamp=T0, source="n", message="boom", severity=Severity.ERROR, fields={"error": True}
    )
    obs.commit([error, Metric(name="cpu_load", value=1.0, timestamp=T0)])
    assert counting.committed == [2]
    with pytest.raises(ValueError, match="not read by"):
        FileSource(tmp_path / "x.log").commit(got[0])  # type: ignore[arg-type]
