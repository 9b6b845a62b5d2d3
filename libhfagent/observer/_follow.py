"""Following a log file like ``tail -F``, across rotations and restarts, exactly once.

Where a file source is (its *position*)
---------------------------------------
A position is the file being read (device and inode, or for a ``.gz`` copy
the offset in its decompressed text), the offset just after the last line
handed out, and the SHA-256 of up to :data:`TAIL_BYTES` bytes before that
offset. The checksum recognises the file again when its inode changed (a
``.gz`` made from it, a ``copytruncate`` copy) and tells a file that was
replaced under the same inode (truncated, or a new file reusing a freed inode).

Finding a position again
------------------------
The live file and its rotated copies (:func:`rotation_chain`) are looked at,
newest first: the file with the position's inode whose bytes before the offset
still match, else any file whose bytes before the offset match (a ``.gz`` is
decompressed up to the offset). Reading resumes there; then every newer file is
read from its start, the live file last. When no file holds the position (it
was deleted), the files modified after it are read. A ``.gz`` copy whose
beginning is the same as a plain file's in the list is a copy being compressed
and is left out.

The commit protocol (exactly once across ``kill -9``)
-----------------------------------------------------
``follow()`` never saves a position by itself. The consumer acknowledges with
:meth:`FileSource.commit` the last event it has fully handled; that event's
position is written atomically (:class:`PositionStore`) together with the
consumer's ``extra`` document. After a crash, ``follow()`` resumes just after
the last committed event, so:

- a consumer that commits after handling is *at least once* (events handled
  but not committed come again);
- a consumer that records its own progress in ``extra`` (the length of its
  output file, the id of its last database row) and on start undoes what goes
  beyond it (:attr:`FileSource.committed_extra`) is *exactly once*: nothing
  lost, nothing twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import gzip
import hashlib
import os
import zlib
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import attrs

from .._errors import SourceError
from ._access import parse_access_line
from ._events import Event, Severity
from ._files import rotation_chain
from ._inotify import DirectoryWatch
from ._lines import MAX_LINE, TAIL_BYTES, LineSplitter, RawLine, decode_line
from ._state import PositionStore
from ._syslog import parse_syslog_line

__all__ = ["FilePosition", "FileSource", "FollowStats"]

CHUNK = 1 << 16
"""Bytes read at once."""

_VERSION = 1
_HEAD = 1024
#: A rotated copy last written this long before ``since`` is still read.
_MTIME_MARGIN = dt.timedelta(hours=1)

Parser = Literal["auto", "access", "syslog", "none"]
Start = Literal["beginning", "end"]


@attrs.frozen(slots=True)
class FilePosition:
    """Where a line of a followed file ends; what :meth:`FileSource.commit` saves.

    Attributes:
        key: The position key of the source that read it.
        file: The file the line was read from (the live file or a rotated copy).
        device: The device of that file.
        inode: The inode of that file.
        offset: The offset just after the line (in the decompressed text of a ``.gz``).
        tail: Up to :data:`TAIL_BYTES` bytes ending at ``offset``.
        compressed: Whether the file is a ``.gz``.
        mtime: The file's modification time when the line was read.
        previous: The fingerprint of the file read before this one (see
            :func:`fingerprint`), or ``""``: where to go on from when this
            file is deleted before it is finished.
    """

    key: str
    file: str
    device: int
    inode: int
    offset: int
    tail: bytes = attrs.field(repr=False)
    compressed: bool = False
    mtime: float = 0.0
    previous: str = ""


@attrs.frozen(slots=True)
class _Mark:
    """A position as saved: the tail is only known by its length and checksum."""

    device: int
    inode: int
    offset: int
    tail_len: int
    tail_sha256: str
    mtime: float
    previous: str = ""

    @classmethod
    def of(cls, pos: FilePosition) -> _Mark:
        return cls(
            pos.device,
            pos.inode,
            pos.offset,
            len(pos.tail),
            hashlib.sha256(pos.tail).hexdigest(),
            pos.mtime,
            pos.previous,
        )


@attrs.define
class FollowStats:
    """What following a file met, for the agent's own health report.

    Attributes:
        lines: Lines handed out.
        bytes: Bytes read.
        invalid: Lines with bytes that are not UTF-8 (replaced by U+FFFD).
        nul: Lines with NUL bytes.
        truncated: Lines longer than the limit, cut off with a marker.
        truncated_bytes: Bytes cut off those lines.
        rotations: Rotations seen (rename, copytruncate, deletion).
        truncations: Times the file was found shorter than the position (copytruncate).
        unmatched: Times a saved position was found in no file (files read by date).
        damaged: Compressed copies that ended early or are corrupt.
        errors: Failures to read (permission denied…), each retried.
        commits: Positions saved.
    """

    lines: int = 0
    bytes: int = 0
    invalid: int = 0
    nul: int = 0
    truncated: int = 0
    truncated_bytes: int = 0
    rotations: int = 0
    truncations: int = 0
    unmatched: int = 0
    damaged: int = 0
    errors: int = 0
    commits: int = 0


@attrs.frozen
class _File:
    path: Path
    device: int
    inode: int
    size: int
    mtime: float
    compressed: bool
    live: bool


@attrs.define
class _Segment:
    """A file to read from ``start``; what it must hold to be the file that was planned."""

    file: _File
    start: int = 0
    #: Length and SHA-256 of the bytes before ``start`` (when ``start`` > 0).
    tail_len: int = 0
    tail_sha256: str = ""
    #: The file's first bytes when it was planned (when ``start`` is 0).
    head: bytes = b""


class _Reader:
    """One open file of the chain, read forward from an offset."""

    def __init__(self, seg: _Segment, *, max_line: int) -> None:
        self.file = seg.file
        self.name = str(seg.file.path)
        self.fd = os.open(seg.file.path, os.O_RDONLY | os.O_CLOEXEC)
        self.gz: gzip.GzipFile | None = None
        self._raw: Any = None
        self.expect_head = seg.head if seg.start == 0 else b""
        self.valid = True
        try:
            st = os.fstat(self.fd)
            self.device, self.inode, self.mtime = st.st_dev, st.st_ino, st.st_mtime
            if seg.file.compressed and st.st_size != seg.file.size:
                self.valid = False  # still being written when it was planned
            context = b""
            if seg.file.compressed:
                self._raw = os.fdopen(os.dup(self.fd), "rb")
                self.gz = gzip.GzipFile(fileobj=self._raw, mode="rb")
                context = _skip(self.gz, seg.start)
            elif seg.start:
                n = min(TAIL_BYTES, seg.start)
                context = os.pread(self.fd, n, seg.start - n)
            if seg.start and seg.tail_sha256:
                mine = context[len(context) - seg.tail_len :] if seg.tail_len else b""
                self.valid = self.valid and hashlib.sha256(mine).hexdigest() == seg.tail_sha256
            self.splitter = LineSplitter(offset=seg.start, context=context, max_line=max_line)
        except BaseException:
            self.close()
            raise

    def same_file(self) -> bool:
        """Whether the file opened is the one planned (same inode, same bytes)."""
        return self.valid and (self.device, self.inode) == (self.file.device, self.file.inode)

    def head(self) -> bytes:
        """The first bytes of the file (decompressed)."""
        if self.file.compressed:
            with os.fdopen(os.dup(self.fd), "rb") as raw, gzip.GzipFile(fileobj=raw) as stream:
                try:
                    return stream.read(_HEAD)
                except (EOFError, gzip.BadGzipFile, zlib.error):
                    return b""
        return os.pread(self.fd, _HEAD, 0)

    def starts_as_planned(self, chunk: bytes) -> bool:
        """Whether the first bytes read are those seen when planning (not truncated since)."""
        head, self.expect_head = self.expect_head, b""
        return chunk[: len(head)] == head

    def read(self) -> bytes:
        """The next bytes, ``b""`` at the end (damage in a ``.gz`` raises ``EOFError``…)."""
        if self.gz is not None:
            return self.gz.read(CHUNK)
        return os.pread(self.fd, CHUNK, self.splitter.read_offset)

    def close(self) -> None:
        if self.gz is not None:
            self.gz.close()
            self.gz = None
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _skip(stream: gzip.GzipFile, offset: int) -> bytes:
    """Read ``stream`` up to ``offset``; the last bytes before it (short when it ends first)."""
    left = offset
    last = b""
    while left > 0:
        data = stream.read(min(left, CHUNK))
        if not data:
            raise EOFError("file shorter than the position")
        left -= len(data)
        last = (last + data)[-TAIL_BYTES:]
    return last


def _bytes_before(f: _File, offset: int, n: int) -> bytes | None:
    """The ``n`` bytes before ``offset`` in ``f`` (decompressed), or None when it is shorter."""
    try:
        if f.compressed:
            with gzip.open(f.path, "rb") as stream:
                last = _skip(stream, offset)
            return last[-n:] if n else b""
        if f.size < offset:
            return None
        fd = os.open(f.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            data = os.pread(fd, n, offset - n)
        finally:
            os.close(fd)
        return data if len(data) == n else None
    except (EOFError, gzip.BadGzipFile, zlib.error, FileNotFoundError):
        return None


def _head(f: _File) -> bytes:
    try:
        if f.compressed:
            with gzip.open(f.path, "rb") as stream:
                return stream.read(_HEAD)
        with open(f.path, "rb") as handle:
            return handle.read(_HEAD)
    except (EOFError, gzip.BadGzipFile, zlib.error, FileNotFoundError):
        return b""


def fingerprint(head: bytes) -> str:
    """What identifies a finished file: the length and SHA-256 of its first bytes (up to 1 KiB)."""
    return f"{len(head)}:{hashlib.sha256(head).hexdigest()}" if head else ""


def _last_newline_end(path: Path, size: int) -> int:
    """The offset after the last ``\\n`` before ``size`` (0 when there is none)."""
    with open(path, "rb") as handle:
        pos = size
        while pos > 0:
            step = min(pos, 65536)
            handle.seek(pos - step)
            i = handle.read(step).rfind(b"\n")
            if i >= 0:
                return pos - step + i + 1
            pos -= step
    return 0


def _reason(exc: OSError | SourceError) -> str:
    if isinstance(exc, SourceError):
        return str(exc)
    if exc.errno == errno.EACCES or exc.errno == errno.EPERM:
        return f"cannot read {exc.filename}: permission denied"
    return f"cannot read {exc.filename}: {exc.strerror or exc}"


class FileSource:
    """A log file and its rotated copies: history (``read``) and ``tail -F`` (``follow``).

    Lines are split on ``\\n``; invalid UTF-8 is replaced and counted; a line
    longer than ``max_line`` bytes is cut with ``…[truncated N bytes]`` and
    counted; the last line is handed out only once its ``\\n`` is written (or
    when the file is rotated away). Each event's timestamp is the line's own
    (access-log or syslog format) when it has one, else the time it was read
    (``follow``) or the previous line's time (``read``). See the module
    documentation for positions and the commit protocol.

    Args:
        path: The live log file.
        name: The source name the events carry (``nginx``); the path by default.
        store: Where positions are saved; without one, ``follow`` starts
            afresh each time and ``commit`` keeps the position in memory only.
        key: The position's key in the store; ``name:path`` by default.
        parser: How lines are read: ``access`` (nginx/Apache), ``syslog``,
            ``auto`` (both tried), ``none`` (the read time, no fields).
        start: Where ``follow`` starts when no position is saved:
            ``end`` (the current end of the live file, as ``tail -F``) or
            ``beginning`` (the oldest rotated copy).
        interval: Seconds between two looks at the file when inotify is not
            available (and the longest wait otherwise); also the retry delay
            after an error.
        use_inotify: False to poll.
        max_line: Bytes of a line kept.
        tz: The zone of syslog times written without an offset.
        host: The host the events carry.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        name: str | None = None,
        store: PositionStore | None = None,
        key: str | None = None,
        parser: Parser = "auto",
        start: Start = "end",
        interval: float = 1.0,
        use_inotify: bool = True,
        max_line: int = MAX_LINE,
        tz: dt.tzinfo = dt.UTC,
        host: str = "",
    ) -> None:
        self.path = Path(os.path.abspath(path))
        self.name = name or str(self.path)
        self.key = key or f"{self.name}:{self.path}"
        self.store = store
        self.parser = parser
        self.start = start
        self.interval = interval
        self.use_inotify = use_inotify
        self.max_line = max_line
        self.tz = tz
        self.host = host
        self.stats = FollowStats()
        self.watch_mode = ""
        self._committed: FilePosition | _Mark | None = None
        self._extra: dict[str, Any] = {}
        self._loaded = False
        self._emitted: _Mark | None = None
        self._known: set[tuple[int, int, int, float, int, str]] = set()
        self._previous = ""
        self._last_parser = 0

    # -- positions -------------------------------------------------------------------------

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self.store is None:
            return
        doc = self.store.load(self.key)
        if doc is None:
            return
        try:
            if doc.get("version") != _VERSION:
                raise KeyError("version")
            self._committed = _Mark(
                int(doc["device"]),
                int(doc["inode"]),
                int(doc["offset"]),
                int(doc["tail_len"]),
                str(doc["tail_sha256"]),
                float(doc["mtime"]),
                str(doc.get("previous", "")),
            )
            extra = doc.get("extra", {})
            self._extra = dict(extra) if isinstance(extra, dict) else {}
        except (KeyError, TypeError, ValueError) as exc:
            where = self.store.directory
            raise SourceError(
                f"{where}: the saved position of {self.path} is not one this version "
                f"writes ({exc}); delete it to start from the end of the file",
                path=str(self.path),
            ) from exc

    @property
    def committed_extra(self) -> Mapping[str, Any]:
        """The ``extra`` document saved with the last committed position (``{}`` if none)."""
        self._load()
        return dict(self._extra)

    def commit(self, event: Event | FilePosition, extra: Mapping[str, Any] | None = None) -> None:
        """Acknowledge an event: ``follow`` resumes after it from now on, even after a crash.

        Args:
            event: The last event handled (one this source produced), or its position.
            extra: The consumer's own progress, saved atomically with the position
                and read back with :attr:`committed_extra`.

        Raises:
            ValueError: The event carries no position of this source.
        """
        pos = event if isinstance(event, FilePosition) else event.fields.get("position")
        if not isinstance(pos, FilePosition) or pos.key != self.key:
            raise ValueError(f"the event was not read by the file source {self.key}")
        self._load()
        self._committed = pos
        self._extra = dict(extra or {})
        self.stats.commits += 1
        if self.store is not None:
            mark = _Mark.of(pos)
            self.store.save(
                self.key,
                {
                    "version": _VERSION,
                    "path": str(self.path),
                    "file": pos.file,
                    "device": mark.device,
                    "inode": mark.inode,
                    "offset": mark.offset,
                    "tail_len": mark.tail_len,
                    "tail_sha256": mark.tail_sha256,
                    "compressed": pos.compressed,
                    "mtime": mark.mtime,
                    "previous": mark.previous,
                    "extra": self._extra,
                },
            )

    # -- finding files ---------------------------------------------------------------------

    def _snapshot(self) -> list[_File]:
        """The live file and its rotated copies, newest first, as one consistent look."""
        previous: list[tuple[Path, int, int]] | None = None
        files: list[_File] = []
        for _ in range(20):
            files = []
            chain = rotation_chain(self.path)
            names = {p.name for p in chain}
            for path in chain:
                if path.name.endswith(".gz") and path.name[:-3] in names:
                    continue  # being compressed from the plain file, which is still there
                try:
                    st = os.stat(path)
                except FileNotFoundError:
                    continue
                files.append(
                    _File(
                        path,
                        st.st_dev,
                        st.st_ino,
                        st.st_size,
                        st.st_mtime,
                        path.name.endswith(".gz"),
                        path == self.path,
                    )
                )
            ids = [(f.path, f.device, f.inode) for f in files]
            if ids == previous:
                break
            previous = ids
        return files

    def _holds(self, f: _File, mark: _Mark) -> bool:
        memo = (f.device, f.inode, f.size, f.mtime, mark.offset, mark.tail_sha256)
        if memo in self._known:
            return True
        data = _bytes_before(f, mark.offset, mark.tail_len)
        return data is not None and hashlib.sha256(data).hexdigest() == mark.tail_sha256

    def _locate(self, mark: _Mark | None, *, fresh: bool = False) -> list[_Segment]:
        """The files to read, oldest first, to go on from ``mark``.

        Without a mark, a ``fresh`` start follows ``start``; later (the file did
        not exist at first) everything is read.
        """
        files = self._snapshot()
        if mark is None:
            if self.start == "end" and fresh:
                segs = []
                for f in files:
                    if f.live:
                        end = _last_newline_end(f.path, f.size)
                        before = _bytes_before(f, end, min(end, TAIL_BYTES)) or b""
                        sha = hashlib.sha256(before).hexdigest()
                        segs.append(_Segment(f, end, len(before), sha))
                return segs
            return self._dedupe([_Segment(f) for f in reversed(files)])
        found = next(
            (
                i
                for i, f in enumerate(files)
                if (f.device, f.inode) == (mark.device, mark.inode) and self._holds(f, mark)
            ),
            None,
        )
        if found is None and mark.offset > 0:
            found = next((i for i, f in enumerate(files) if self._holds(f, mark)), None)
        if found is None:
            # Gone (deleted): go on after the file read before it, else by date.
            self.stats.unmatched += 1
            prev_i = None
            if mark.previous:
                prev_i = next(
                    (i for i, f in enumerate(files) if fingerprint(_head(f)) == mark.previous), None
                )
            if prev_i is not None:
                segs = [_Segment(f) for f in reversed(files[:prev_i])]
            else:
                segs = [_Segment(f) for f in reversed(files) if f.live or f.mtime > mark.mtime]
        else:
            first = files[found]
            segs = [_Segment(first, mark.offset, mark.tail_len, mark.tail_sha256)]
            segs += [_Segment(f) for f in reversed(files[:found])]
        return self._dedupe(segs)

    @staticmethod
    def _dedupe(segs: list[_Segment]) -> list[_Segment]:
        """Leave out the copies being made of a newer file in the list.

        A ``.gz`` being compressed from ``.1``, or a ``copytruncate`` copy
        being written, starts like the file it is made from: of files that
        start alike only the newest is read (a copy that is complete is read
        after its source was truncated, and then they no longer start alike).
        A position in the copy moves to the newer file.
        """
        for seg in segs:
            seg.head = _head(seg.file)
        out: list[_Segment] = []
        for i, seg in enumerate(segs):
            twin = None
            for newer in segs[i + 1 :]:
                n = min(len(seg.head), len(newer.head))
                if n and seg.head[:n] == newer.head[:n]:
                    twin = newer
                    break
            if twin is None:
                out.append(seg)
            elif seg.start and twin.start == 0:
                twin.start, twin.tail_len, twin.tail_sha256 = (
                    seg.start,
                    seg.tail_len,
                    seg.tail_sha256,
                )
        return out

    # -- events ----------------------------------------------------------------------------

    def _event(
        self, raw: RawLine, reader: _Reader, when: dt.datetime
    ) -> tuple[Event, dt.datetime | None]:
        stats = self.stats
        stats.lines += 1
        data = raw.data
        invalid = False
        if raw.dropped or b"\x00" in data or data.endswith(b"\r"):
            text, invalid, nul = decode_line(data, raw.dropped)
            stats.nul += nul
            if raw.dropped:
                stats.truncated += 1
                stats.truncated_bytes += raw.dropped
        else:
            try:
                text = data.decode()
            except UnicodeDecodeError:
                text, invalid, _ = decode_line(data)
        if invalid:
            stats.invalid += 1
        position = FilePosition(
            self.key,
            reader.name,
            reader.device,
            reader.inode,
            raw.end,
            raw.tail,
            reader.gz is not None,
            reader.mtime,
            self._previous,
        )
        fields: dict[str, Any] = {"file": position.file, "offset": raw.end, "position": position}
        if raw.dropped:
            fields["truncated_bytes"] = raw.dropped
        if invalid:
            fields["invalid_utf8"] = True
        stamp, severity, host = self._parse(text, when, fields)
        event = Event(
            timestamp=stamp or when,
            source=self.name,
            message=text,
            severity=severity,
            host=host or self.host,
            fields=fields,
        )
        return event, stamp

    def _parse(
        self, text: str, now: dt.datetime, fields: dict[str, Any]
    ) -> tuple[dt.datetime | None, Severity, str]:
        if self.parser == "none":
            return None, Severity.INFO, ""
        order = (0, 1) if self.parser == "auto" else (0,) if self.parser == "access" else (1,)
        if self.parser == "auto" and self._last_parser == 1:
            order = (1, 0)
        for kind in order:
            if kind == 0:
                rec = parse_access_line(text)
                if rec is not None:
                    self._last_parser = 0
                    fields.update(
                        client=rec.client,
                        method=rec.method,
                        path=rec.path,
                        query=rec.query,
                        status=rec.status,
                        size=rec.size,
                        user=rec.user,
                        referer=rec.referer,
                        user_agent=rec.user_agent,
                    )
                    if rec.vhost is not None:
                        fields["vhost"] = rec.vhost
                    sev = (
                        Severity.ERROR
                        if rec.status >= 500
                        else Severity.WARNING
                        if rec.status >= 400
                        else Severity.INFO
                    )
                    return rec.time, sev, ""
            else:
                sys_rec = parse_syslog_line(text, now=now, tz=self.tz)
                if sys_rec is not None:
                    self._last_parser = 1
                    fields.update(app=sys_rec.app, pid=sys_rec.pid, facility=sys_rec.facility)
                    sev = (
                        Severity(sys_rec.severity)
                        if sys_rec.severity is not None
                        else Severity.INFO
                    )
                    return sys_rec.time, sev, sys_rec.host or ""
        return None, Severity.INFO, ""

    def _error(self, message: str) -> Event:
        self.stats.errors += 1
        return Event(
            timestamp=dt.datetime.now(dt.UTC),
            source=self.name,
            message=message,
            severity=Severity.ERROR,
            host=self.host,
            fields={"file": str(self.path), "error": True},
        )

    # -- history ---------------------------------------------------------------------------

    def read(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> Iterator[Event]:
        """The lines of the file and its rotated copies from ``since`` to ``until``, oldest first.

        Files are read in rotation order (oldest copy first) and lines in file
        order, so a clock that jumps backwards in the log does not reorder
        them. A line without a time takes the previous line's (or, first in
        its file, the file's modification time). Rotated copies last written
        more than an hour before ``since`` are not opened. Nothing is saved.

        Raises:
            SourceError: The file or one of its copies cannot be read.
        """
        floor = None if since is None else (since - _MTIME_MARGIN).timestamp()
        files = self._snapshot()
        selected = [f for f in files if floor is None or f.live or f.mtime >= floor]
        for f in reversed(selected):
            try:
                reader = _Reader(_Segment(f), max_line=self.max_line)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise SourceError(_reason(exc), path=str(f.path)) from exc
            try:
                last = dt.datetime.fromtimestamp(reader.mtime, dt.UTC)
                while True:
                    try:
                        chunk = reader.read()
                    except (EOFError, gzip.BadGzipFile, zlib.error):
                        self.stats.damaged += 1
                        break
                    except OSError as exc:
                        raise SourceError(_reason(exc), path=str(f.path)) from exc
                    if not chunk:
                        tail = reader.splitter.flush()
                        raws = [tail] if tail is not None else []
                    else:
                        self.stats.bytes += len(chunk)
                        raws = reader.splitter.feed(chunk)
                    for raw in raws:
                        event, stamp = self._event(raw, reader, last)
                        if stamp is not None:
                            last = stamp
                        else:
                            event = attrs.evolve(event, timestamp=last)
                        if since is not None and event.timestamp < since:
                            continue
                        if until is not None and event.timestamp >= until:
                            continue
                        yield event
                    if not chunk:
                        break
            finally:
                reader.close()

    # -- following -------------------------------------------------------------------------

    async def follow(self) -> AsyncIterator[Event]:
        """Events of lines as they are written, from the last committed position; until cancelled.

        Permission denied and other read errors become ERROR events (once per
        distinct error) and are retried every ``interval`` seconds.
        """
        watch = DirectoryWatch(
            self.path.parent, self.path.name, self.interval, use_inotify=self.use_inotify
        )
        watch.start()
        self.watch_mode = watch.mode
        reader: _Reader | None = None
        plan: list[_Segment] = []
        last_error = ""
        fresh = True
        planned_now = False
        try:
            self._load()
            committed = self._committed
            self._emitted = (
                _Mark.of(committed) if isinstance(committed, FilePosition) else committed
            )
            self._previous = self._emitted.previous if self._emitted is not None else ""
            while True:
                try:
                    if reader is None:
                        if plan and plan[0].file.live and not planned_now:
                            plan = []  # look again just before opening the live file
                        planned_now = False
                        if not plan:
                            plan = self._locate(self._emitted, fresh=fresh)
                            planned_now = True
                            fresh = False
                            if not plan:
                                await watch.wait()
                                continue
                        seg = plan.pop(0)
                        try:
                            reader = _Reader(seg, max_line=self.max_line)
                        except (FileNotFoundError, EOFError, gzip.BadGzipFile, zlib.error):
                            plan = []
                            continue
                        if not reader.same_file():
                            reader.close()
                            reader = None
                            plan = []
                            continue
                    last_error = ""
                    when = dt.datetime.now(dt.UTC)
                    try:
                        chunk = reader.read()
                    except (EOFError, gzip.BadGzipFile, zlib.error):
                        # A damaged copy: what could be read was; its broken last line is not.
                        self.stats.damaged += 1
                        self._mark_reader(reader)
                        reader.close()
                        reader = None
                        if not plan:
                            await watch.wait()
                        continue
                    if reader.expect_head and not reader.starts_as_planned(chunk):
                        # Replaced or truncated since it was planned: look again.
                        reader.close()
                        reader = None
                        plan = []
                        continue
                    if chunk and reader.file.live and not self._still_ours(reader):
                        # Truncated and written again since the last read (copytruncate).
                        self.stats.truncations += 1
                        self._mark_reader(reader)
                        reader.close()
                        reader = None
                        plan = []
                        continue
                    if chunk:
                        self.stats.bytes += len(chunk)
                        for raw in reader.splitter.feed(chunk):
                            yield self._event(raw, reader, when)[0]
                        await asyncio.sleep(0)
                        continue
                    if not reader.file.live:
                        # A rotated copy is over: its last line is complete.
                        tail = reader.splitter.flush()
                        if tail is not None:
                            yield self._event(tail, reader, when)[0]
                        self._finish(reader)
                        reader.close()
                        reader = None
                        if not plan:
                            await watch.wait()
                        continue
                    change = self._live_change(reader)
                    if change == "rotated":
                        # Read the rest of the old file through its descriptor (it may be gone).
                        self.stats.rotations += 1
                        while chunk := reader.read():
                            self.stats.bytes += len(chunk)
                            for raw in reader.splitter.feed(chunk):
                                yield self._event(raw, reader, when)[0]
                        tail = reader.splitter.flush()
                        if tail is not None:
                            yield self._event(tail, reader, when)[0]
                        self._finish(reader)
                        reader.close()
                        reader = None
                        plan = []
                    elif change == "truncated":
                        # copytruncate: the rest is in the copy, found again by its content.
                        self.stats.truncations += 1
                        self._mark_reader(reader)
                        reader.close()
                        reader = None
                        plan = []
                    else:
                        await watch.wait()
                except (OSError, SourceError) as exc:
                    if reader is not None:
                        self._mark_reader(reader)
                        reader.close()
                        reader = None
                    plan = []
                    message = _reason(exc) + f"; retrying every {self.interval:g} s"
                    if message != last_error:
                        last_error = message
                        yield self._error(message)
                    else:
                        self.stats.errors += 1
                    await watch.wait()
        finally:
            if reader is not None:
                reader.close()
            watch.close()

    def _live_change(self, reader: _Reader) -> str:
        """``same``, ``rotated`` (another file has the name) or ``truncated``."""
        st = os.fstat(reader.fd)
        reader.mtime = st.st_mtime
        if st.st_size < reader.splitter.read_offset or not self._still_ours(reader):
            return "truncated"
        try:
            named = os.stat(self.path)
        except FileNotFoundError:
            return "same"  # deleted or renamed, not re-created yet: keep reading it
        if (named.st_dev, named.st_ino) != (reader.device, reader.inode):
            return "rotated"
        return "same"

    @staticmethod
    def _still_ours(reader: _Reader) -> bool:
        """Whether the bytes before the read offset are still those read there."""
        last = reader.splitter.last_bytes()
        read_to = reader.splitter.read_offset
        return not last or os.pread(reader.fd, len(last), read_to - len(last)) == last

    def _finish(self, reader: _Reader) -> None:
        """``reader``'s file is read to its end: the next ones come after it."""
        self._previous = fingerprint(reader.head())
        self._mark_reader(reader)

    def _mark_reader(self, reader: _Reader) -> None:
        """Go on from the end of the last line handed out of ``reader``."""
        sp = reader.splitter
        tail = sp.context
        sha = hashlib.sha256(tail).hexdigest()
        self._emitted = _Mark(
            reader.device, reader.inode, sp.offset, len(tail), sha, reader.mtime, self._previous
        )
        if reader.gz is not None:
            # Spare decompressing it again to find this position in it.
            st = os.fstat(reader.fd)
            if len(self._known) > 64:
                self._known.clear()
            self._known.add((st.st_dev, st.st_ino, st.st_size, st.st_mtime, sp.offset, sha))
