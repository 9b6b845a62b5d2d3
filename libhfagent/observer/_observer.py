"""The Observer: where the machine's logs are, reading them, and following them live."""

from __future__ import annotations

import asyncio
import datetime as dt
import glob
import heapq
import os
import zoneinfo
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from .._errors import HFAgentError, SourceError
from ..config import Config
from ._access import AccessRecord, parse_access_line, parse_clf_time
from ._events import Event, Metric, Severity
from ._files import LineCounts, is_rotated_name, iter_lines, rotation_chain
from ._follow import FilePosition, FileSource, Parser
from ._source import Source
from ._state import PositionStore

__all__ = ["FollowerStats", "Observer"]

#: Events waiting between the sources and the consumer of :meth:`Observer.follow`.
QUEUE_SIZE = 1024

#: A rotated file last written this long before the window starts is still read,
#: in case its modification time was touched by a copy or a clock change.
MTIME_MARGIN = dt.timedelta(hours=1)

_PSEUDO = ("kmsg:", "journal:")


def _dated_before(line: str, start: dt.datetime) -> bool:
    """Whether an access-log line is dated before ``start``, read from its ``[time]`` alone.

    A cheap look at the timestamp spares parsing the lines a window does not
    reach; a line whose time cannot be read this way is left to the parser.
    """
    i = line.find("[")
    j = line.find("]", i)
    if i < 0 or j - i > 40:
        return False
    when = parse_clf_time(line[i + 1 : j])
    return when is not None and when < start


@attrs.define
class FollowerStats:
    """How :meth:`Observer.follow` is doing.

    Attributes:
        delivered: Events and metrics handed to the consumer.
        queue_peak: The most items that waited in the queue at once.
        waits: Times a source found the queue full and waited for the consumer
            (back-pressure: nothing is dropped).
        dropped: Items dropped: always 0, the queue makes sources wait instead.
        errors: Sources that failed; each failure is also an ERROR event.
        restarts: Sources started again after a failure.
    """

    delivered: int = 0
    queue_peak: int = 0
    waits: int = 0
    dropped: int = 0
    errors: int = 0
    restarts: int = 0


class _Done:
    """A source's follow() ended."""


class _Failed:
    """A source's follow() raised something that is not an expected error."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_ACCESS_SOURCES = frozenset({"nginx", "apache"})
_SYSLOG_SOURCES = frozenset({"syslog", "auth", "kern", "messages", "daemon"})


class Observer:
    """Turns the machine's logs into typed records.

    Args:
        config: The agent configuration (``modules.monitoring.sources`` and
            ``files_to_watch`` say where each source's files are;
            ``agent.state_dir`` where positions are saved).

    Attributes:
        follow_stats: How the last :meth:`follow` went (queue, waits, errors).
    """

    def __init__(self, config: Config) -> None:
        self._config = config
        #: Sources other than files (journal, kmsg, metrics, units) that
        #: :meth:`read` finds by name and :meth:`follow` follows by default.
        self._extra_sources: list[Source] = []
        self._committers: dict[str, Any] = {}
        self.follow_stats = FollowerStats()

    @property
    def config(self) -> Config:
        """The configuration this observer reads."""
        return self._config

    def source_names(self) -> list[str]:
        """Names of the configured sources."""
        return sorted(self._config.modules.monitoring.sources)

    def files(self, source: str) -> list[Path]:
        """The live log files of a source (rotated copies excluded).

        A source is a configured name (``nginx``) or an absolute file path.
        Globs in the configuration are expanded; files named in
        ``modules.monitoring.files_to_watch`` under a source's directory are
        added to it.

        Raises:
            SourceError: The source is neither configured nor an absolute path.
        """
        if os.path.isabs(source):
            return [Path(os.path.normpath(source))]
        sources = self._config.modules.monitoring.sources
        if source not in sources:
            known = ", ".join(sorted(sources))
            raise SourceError(
                f'unknown log source "{source}"; configured sources: {known} '
                "(add it under modules.monitoring.sources in hf-agent.json, or give a file path)"
            )
        patterns = [p for p in sources[source] if p not in _PSEUDO]
        dirs = {os.path.dirname(p) for p in patterns}
        patterns += [
            p
            for p in self._config.modules.monitoring.files_to_watch
            if os.path.dirname(p) in dirs and p not in patterns
        ]
        found: list[Path] = []
        for pattern in patterns:
            if glob.has_magic(pattern):
                matches = sorted(glob.glob(pattern))
                found += [Path(m) for m in matches if not is_rotated_name(os.path.basename(m))]
            else:
                found.append(Path(pattern))
        return found

    def access_files(self, source: str) -> list[Path]:
        """The access logs of a web source (files whose name says ``error`` are left out)."""
        if os.path.isabs(source):
            return self.files(source)
        return [p for p in self.files(source) if "error" not in p.name]

    def read_lines(
        self,
        files: Sequence[Path],
        counts: LineCounts,
        *,
        start: dt.datetime | None = None,
        progress: Callable[[int], None] | None = None,
        what: str = "log",
    ) -> Iterator[str]:
        """The text lines of log files and their rotated copies, oldest first.

        Rotated copies (``access.log.1``, ``access.log.2.gz``…) are read when the
        window reaches them: a copy last modified more than :data:`MTIME_MARGIN`
        before ``start`` cannot hold a line of the window and is skipped.

        Args:
            files: Live log files (see :meth:`files`).
            counts: Counters completed while reading (lines, invalid, files…).
            start: Start of the window, or ``None`` to read everything.
            progress: Called with the number of lines read so far, every 65,536 lines.
            what: What the files are, for the error message (``access log``).

        Raises:
            SourceError: No file exists for the source, or one cannot be read.
        """
        chains = [rotation_chain(f) for f in files]
        if not any(chains):
            names = ", ".join(str(f) for f in files) or "(none configured)"
            raise SourceError(f"no {what} found: {names} does not exist", path=names)
        floor = None if start is None else (start - MTIME_MARGIN).timestamp()
        for chain in chains:
            selected: list[Path] = []
            for path in chain:  # newest first
                try:
                    mtime = path.stat().st_mtime
                except OSError as exc:
                    raise SourceError(
                        f"cannot read {path}: {exc.strerror}", path=str(path)
                    ) from exc
                if floor is not None and mtime < floor:
                    break
                selected.append(path)
            for path in reversed(selected):
                for line in iter_lines(path, counts):
                    if progress is not None and not counts.lines & 0xFFFF:
                        progress(counts.lines)
                    yield line

    def read_access(
        self,
        files: Sequence[Path],
        counts: LineCounts,
        *,
        start: dt.datetime | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Iterator[AccessRecord | None]:
        """Parse access-log lines from files and their rotated copies, oldest first.

        Lines dated before ``start`` are skipped from their ``[time]`` alone
        (counted in ``counts.before``); see :meth:`read_lines` for the files read.

        Yields:
            One record per text line, or ``None`` for a line that is not an access-log line.

        Raises:
            SourceError: No file exists for the source, or one cannot be read.
        """
        for line in self.read_lines(
            files, counts, start=start, progress=progress, what="access log"
        ):
            if start is not None and _dated_before(line, start):
                counts.before += 1
                continue
            yield parse_access_line(line)

    # -- sources as objects ------------------------------------------------------------------

    def position_store(self) -> PositionStore:
        """Where followed sources save their positions (``<state_dir>/observer``)."""
        return PositionStore(Path(self._config.agent.state_dir) / "observer")

    def _tz(self) -> dt.tzinfo:
        try:
            return zoneinfo.ZoneInfo(self._config.agent.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return dt.UTC

    @staticmethod
    def _parser(name: str, path: Path) -> Parser:
        if name in _ACCESS_SOURCES or "access" in path.name:
            return "auto" if "error" in path.name else "access"
        if name in _SYSLOG_SOURCES:
            return "syslog"
        return "auto"

    def file_source(
        self, path: str | os.PathLike[str], name: str | None = None, *, store: bool = True
    ) -> FileSource:
        """A followed file, set up from the configuration (interval, time zone, state dir).

        Args:
            path: The live log file.
            name: The source name its events carry; the path by default.
            store: Whether its position is saved in the state directory.
        """
        p = Path(path)
        return FileSource(
            p,
            name=name,
            store=self.position_store() if store else None,
            parser=self._parser(name or "", p),
            interval=self._config.modules.monitoring.interval,
            tz=self._tz(),
        )

    def file_sources(self) -> list[FileSource]:
        """One :class:`FileSource` per configured log file.

        Files of ``modules.monitoring.sources`` carry their source's name;
        files of ``files_to_watch`` outside every source's folder carry their
        path. Globs are expanded now: files matching later are not added.
        """
        out: list[FileSource] = []
        seen: set[Path] = set()
        for name in self.source_names():
            for path in self.files(name):
                if path not in seen:
                    seen.add(path)
                    out.append(self.file_source(path, name))
        for pattern in self._config.modules.monitoring.files_to_watch:
            paths = (
                [
                    Path(m)
                    for m in sorted(glob.glob(pattern))
                    if not is_rotated_name(os.path.basename(m))
                ]
                if glob.has_magic(pattern)
                else [Path(pattern)]
            )
            for path in paths:
                if path not in seen:
                    seen.add(path)
                    out.append(self.file_source(path))
        return out

    # -- history -----------------------------------------------------------------------------

    def read(
        self,
        source: str | Source,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> Iterator[Event | Metric]:
        """What a source holds between ``since`` and ``until``, oldest first.

        Args:
            source: A configured source name (``nginx``), an absolute file
                path, or a source object.
            since: The first instant, or None for everything.
            until: The instant after the last, or None for everything.

        Several files of one source are merged by time; inside a file, lines
        keep the file's order (a clock that jumps backwards does not reorder
        them). Nothing is saved.

        Raises:
            SourceError: The source is unknown, has no file, or one cannot be read.
        """
        if not isinstance(source, str):
            yield from source.read(since, until)
            return
        extra = [s for s in self._extra_sources if s.name == source]
        if extra:
            yield from heapq.merge(*(s.read(since, until) for s in extra), key=_when)
            return
        if not os.path.isabs(source):
            locations = self._config.modules.monitoring.sources.get(source, ())
            if locations and all(loc in _PSEUDO for loc in locations):
                raise SourceError(
                    f'the source "{source}" ({", ".join(locations)}) has no reader in this '
                    "observer; read it through its own source object"
                )
        files = self.files(source)
        if not any(rotation_chain(f) for f in files):
            names = ", ".join(str(f) for f in files) or "(none configured)"
            raise SourceError(f"no log file found for {source}: {names} does not exist", path=names)
        name = None if os.path.isabs(source) else source
        readers = [self.file_source(f, name, store=False).read(since, until) for f in files]
        if len(readers) == 1:
            yield from readers[0]
        else:
            yield from heapq.merge(*readers, key=_when)

    # -- live --------------------------------------------------------------------------------

    def default_sources(self) -> list[Source]:
        """What :meth:`follow` follows by default: the configured files and the extra sources."""
        return [*self.file_sources(), *self._extra_sources]

    async def follow(
        self,
        sources: Iterable[Source] | None = None,
        *,
        queue_size: int = QUEUE_SIZE,
        autocommit: float | None = None,
    ) -> AsyncIterator[Event | Metric]:
        """Events and metrics of all the sources as they come; until the consumer stops.

        The sources feed one bounded queue: when the consumer falls behind, they
        wait (back-pressure) and nothing is dropped. A source that fails becomes
        an ERROR event and is started again after its interval. Use
        ``contextlib.aclosing`` so that stopping early stops the sources at once.

        Args:
            sources: What to follow; :meth:`default_sources` by default.
            queue_size: Items the queue holds.
            autocommit: Without it, nothing is saved unless the consumer calls
                :meth:`commit`. With it, asking for the next item acknowledges
                the previous one, and positions are saved at most every
                ``autocommit`` seconds and at the end (at least once: after a
                crash the last seconds come again).
        """
        last: dict[int, Event] = {}
        saved_at = asyncio.get_running_loop().time()
        try:
            async for batch in self._merged(sources, queue_size, 1):
                for item in batch:
                    yield item
                    if autocommit is not None and isinstance(item, Event):
                        target = self._committer(item)
                        if target is not None:
                            last[id(target)] = item
                        now = asyncio.get_running_loop().time()
                        if now - saved_at >= autocommit:
                            saved_at = now
                            self.commit(list(last.values()))
                            last.clear()
        finally:
            if last:
                self.commit(list(last.values()))

    async def follow_batches(
        self,
        sources: Iterable[Source] | None = None,
        *,
        max_batch: int = 1000,
        queue_size: int = QUEUE_SIZE,
    ) -> AsyncIterator[list[Event | Metric]]:
        """As :meth:`follow`, what is waiting handed over at once (at least one item).

        The shape for a consumer that handles events in batches and commits
        once per batch (``observer.commit(batch, extra=...)``).
        """
        async for batch in self._merged(sources, queue_size, max_batch):
            yield batch

    async def _merged(
        self, sources: Iterable[Source] | None, queue_size: int, max_batch: int
    ) -> AsyncIterator[list[Event | Metric]]:
        chosen = list(self.default_sources() if sources is None else sources)
        self.follow_stats = stats = FollowerStats()
        self._committers = {}
        for src in chosen:
            key = src.key if isinstance(src, FileSource) else src.name
            self._committers[key] = src
        queue: asyncio.Queue[Event | Metric | _Done | _Failed] = asyncio.Queue(queue_size)
        tasks = [
            asyncio.create_task(self._pump(src, queue, stats), name=f"observer:{src.name}")
            for src in chosen
        ]
        running = len(tasks)
        try:
            while running:
                item = await queue.get()
                batch: list[Event | Metric] = []
                while True:
                    if isinstance(item, _Done):
                        running -= 1
                    elif isinstance(item, _Failed):
                        raise item.exc
                    else:
                        batch.append(item)
                    if len(batch) >= max_batch or queue.empty():
                        break
                    item = queue.get_nowait()
                if batch:
                    stats.delivered += len(batch)
                    yield batch
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _pump(
        self,
        src: Source,
        queue: asyncio.Queue[Event | Metric | _Done | _Failed],
        stats: FollowerStats,
    ) -> None:
        interval = getattr(src, "interval", self._config.modules.monitoring.interval)
        while True:
            try:
                async for item in src.follow():
                    if queue.full():
                        stats.waits += 1
                    await queue.put(item)
                    stats.queue_peak = max(stats.queue_peak, queue.qsize())
                break
            except (HFAgentError, OSError) as exc:
                stats.errors += 1
                await queue.put(
                    Event(
                        timestamp=dt.datetime.now(dt.UTC),
                        source=src.name,
                        message=f"{src.name} stopped: {exc}; starting it again in {interval:g} s",
                        severity=Severity.ERROR,
                        fields={"error": True},
                    )
                )
                await asyncio.sleep(interval)
                stats.restarts += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug in a source: the consumer must see it
                await queue.put(_Failed(exc))
                return
        await queue.put(_Done())

    def _committer(self, event: Event) -> Any:
        pos = event.fields.get("position")
        if isinstance(pos, FilePosition):
            return self._committers.get(pos.key)
        return self._committers.get(event.source)

    def commit(
        self,
        events: Event | Metric | Iterable[Event | Metric],
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Acknowledge handled events: each source resumes after its last one, even after a crash.

        Give the events of a batch (or just the last one of each source): the
        last event of each source is committed. Metrics, error events
        (``fields["error"]``) and events of sources without ``commit`` are ignored. See
        :mod:`libhfagent.observer._follow` for the exactly-once protocol.

        Args:
            events: Events handed out by :meth:`follow` or :meth:`follow_batches`.
            extra: The consumer's own progress, saved atomically with each position.
        """
        items = [events] if isinstance(events, Event | Metric) else list(events)
        last: dict[int, tuple[Any, Event]] = {}
        for item in items:
            if not isinstance(item, Event) or item.fields.get("error") is True:
                continue
            target = self._committer(item)
            commit = getattr(target, "commit", None)
            if commit is None:
                continue
            if isinstance(target, FileSource) and not isinstance(
                item.fields.get("position"), FilePosition
            ):
                continue
            last[id(target)] = (commit, item)
        for commit, item in last.values():
            if extra is None:
                commit(item)
            else:
                commit(item, extra)


def _when(item: Event | Metric) -> dt.datetime:
    return item.timestamp
