"""The systemd journal as a source of events (systemd-python's ``journal.Reader``).

History (:meth:`JournalSource.read`) seeks by wall-clock time; the live stream
(:meth:`JournalSource.follow`) resumes from a saved cursor.

Commit protocol (the file sources', see :mod:`libhfagent.observer._follow`):
``follow`` yields events and saves nothing by itself. The consumer calls
:meth:`JournalSource.commit` with the last event it has handled (directly, or
through ``Observer.commit``); that event's cursor is written atomically to the
:class:`~libhfagent.observer._state.PositionStore`, with the consumer's ``extra``
document. After a restart, ``follow`` seeks to the saved cursor and skips the
entry it names, so a committed event is never emitted twice and an event that was
yielded but not committed is emitted again: nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from .._errors import SourceError
from ._events import Event, Metric, Severity
from ._state import PositionStore

__all__ = ["JournalSource", "journal_entry_event"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _identity(value: Any) -> Any:
    return value


# Raw values for what we convert ourselves; other fields get systemd-python's
# defaults (UTF-8 text, bytes when they are not UTF-8).
_CONVERTERS = {
    "MESSAGE": _identity,
    "__REALTIME_TIMESTAMP": _identity,
    "__MONOTONIC_TIMESTAMP": _identity,
    "__CURSOR": _identity,
}


def _first(value: Any) -> Any:
    """The first value of a field logged several times in one entry."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _text(value: Any) -> str | None:
    value = _first(value)
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _severity(value: Any) -> Severity:
    text = _text(value)
    if text is not None and len(text) == 1 and "0" <= text <= "7":
        return Severity(int(text))
    return Severity.INFO


def _pid(value: Any) -> int | None:
    text = _text(value)
    if text is not None and text.isascii() and text.isdigit() and len(text) < 11:
        return int(text)
    return None


def _realtime(value: Any) -> dt.datetime:
    value = _first(value)
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    try:
        micros = int(value) if isinstance(value, int | str | bytes) else 0
        return _EPOCH + dt.timedelta(microseconds=micros)
    except (ValueError, OverflowError):
        return _EPOCH  # a corrupt time: the epoch, plainly wrong rather than plausible


def _micros(when: dt.datetime) -> int:
    if when.tzinfo is None:
        raise ValueError(f"time must be timezone-aware, got {when!r}")
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def journal_entry_event(entry: Mapping[str, Any], source: str) -> Event:
    """Turn one journal entry (as ``journal.Reader`` returns it) into an :class:`Event`.

    Never raises on odd entries: a missing ``MESSAGE`` gives ``""``, a message that
    is not UTF-8 is decoded with replacement characters, a missing or invalid
    ``PRIORITY`` gives ``INFO``.

    Args:
        entry: Field name to value; ``__REALTIME_TIMESTAMP`` in microseconds or as a
            datetime, ``MESSAGE`` as bytes or text.
        source: The source name for the event.

    Returns:
        The event; ``fields`` holds ``cursor`` and, when the entry has them,
        ``unit`` (``_SYSTEMD_UNIT``), ``about_unit`` (``UNIT`` in systemd's own
        messages about a unit: ``Started ssh.service``), ``identifier``
        (``SYSLOG_IDENTIFIER``) and ``pid`` (``_PID``).
    """
    fields: dict[str, Any] = {"cursor": _text(entry.get("__CURSOR"))}
    unit = _text(entry.get("_SYSTEMD_UNIT"))
    if unit is not None:
        fields["unit"] = unit
    about = _text(entry.get("UNIT"))
    if about is not None and _text(entry.get("_PID")) == "1":
        fields["about_unit"] = about
    identifier = _text(entry.get("SYSLOG_IDENTIFIER"))
    if identifier is not None:
        fields["identifier"] = identifier
    pid = _pid(entry.get("_PID"))
    if pid is not None:
        fields["pid"] = pid
    return Event(
        timestamp=_realtime(entry.get("__REALTIME_TIMESTAMP", 0)),
        source=source,
        message=_text(entry.get("MESSAGE")) or "",
        severity=_severity(entry.get("PRIORITY")),
        host=_text(entry.get("_HOSTNAME")) or "",
        fields=fields,
    )


class JournalSource:
    """Entries of the systemd journal, optionally filtered, as events.

    Args:
        name: The source name (events carry it; the saved cursor is kept under it).
        units: Keep entries of these units (``_SYSTEMD_UNIT``, and systemd's own
            messages about them: ``_PID=1`` with ``UNIT``); empty keeps all.
        priority: Keep entries at least this severe (``PRIORITY`` 0 to this value,
            as ``journalctl -p``); ``None`` keeps all.
        identifiers: Keep entries with these ``SYSLOG_IDENTIFIER`` values; empty
            keeps all.
        files: Read these journal files instead of the system journal.
        directory: Read the journal files in this folder instead of the system journal.
        store: Where committed cursors are saved; without one they are kept in
            memory only (a new source starts from ``start`` again).
        start: Where :meth:`follow` begins when no cursor is saved: ``"end"``
            (only new entries) or ``"beginning"`` (every entry held).
        poll_interval: Seconds between checks for new entries when the journal
            offers no change notification (explicit ``files``), and the longest
            wait otherwise.

    Raises:
        SourceError: Both ``files`` and ``directory`` are given, or ``priority``
            is not 0 to 7.
    """

    def __init__(
        self,
        name: str,
        *,
        units: Iterable[str] = (),
        priority: int | None = None,
        identifiers: Iterable[str] = (),
        files: Iterable[str | os.PathLike[str]] | None = None,
        directory: str | os.PathLike[str] | None = None,
        store: PositionStore | None = None,
        start: Literal["end", "beginning"] = "end",
        poll_interval: float = 1.0,
    ) -> None:
        if files is not None and directory is not None:
            raise SourceError(f"journal source {name!r}: give files or directory, not both")
        if priority is not None and not 0 <= int(priority) <= 7:
            raise SourceError(
                f"journal source {name!r}: priority must be 0 (emerg) to 7 (debug), "
                f"got {priority!r}"
            )
        if start not in ("end", "beginning"):
            raise SourceError(
                f"journal source {name!r}: start must be 'end' or 'beginning', got {start!r}"
            )
        self.name = name
        self.units = tuple(units)
        self.priority = None if priority is None else int(priority)
        self.identifiers = tuple(identifiers)
        self.files = None if files is None else tuple(str(Path(f)) for f in files)
        self.directory = None if directory is None else str(Path(directory))
        self.store = store
        self.start = start
        self.poll_interval = poll_interval
        self._committed: dict[str, Any] | None = None

    @property
    def position_key(self) -> str:
        """The key of the saved cursor in the position store."""
        return f"journal-{self.name}"

    def _open(self) -> Any:
        from systemd import journal

        what = self.files or self.directory or "the system journal"
        if self.files is not None:
            missing = [f for f in self.files if not os.path.exists(f)]
            if missing:
                raise SourceError(
                    f"journal source {self.name!r}: {', '.join(missing)} does not exist",
                    path=missing[0],
                )
        try:
            if self.files is not None:
                reader = journal.Reader(files=list(self.files), converters=_CONVERTERS)
            elif self.directory is not None:
                reader = journal.Reader(path=self.directory, converters=_CONVERTERS)
            else:
                reader = journal.Reader(converters=_CONVERTERS)
        except OSError as exc:
            raise SourceError(
                f"journal source {self.name!r}: cannot open {what}: "
                f"{exc.strerror or exc} (is the agent in the systemd-journal group?)",
                path=self.directory or (self.files[0] if self.files else None),
            ) from exc
        self._add_matches(reader)
        return reader

    def _add_matches(self, reader: Any) -> None:
        groups = 0
        if self.units:
            reader.add_match(*(f"_SYSTEMD_UNIT={u}" for u in self.units))
            reader.add_disjunction()
            reader.add_match("_PID=1", *(f"UNIT={u}" for u in self.units))
            groups += 1
        if self.priority is not None:
            if groups:
                reader.add_conjunction()
            reader.add_match(*(f"PRIORITY={p}" for p in range(self.priority + 1)))
            groups += 1
        if self.identifiers:
            if groups:
                reader.add_conjunction()
            reader.add_match(*(f"SYSLOG_IDENTIFIER={i}" for i in self.identifiers))

    def read(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> Iterator[Event | Metric]:
        """Entries from ``since`` (included) to ``until`` (excluded), oldest first.

        Raises:
            SourceError: The journal cannot be opened.
        """
        reader = self._open()
        try:
            if since is not None:
                reader.seek_realtime(_micros(since))
            else:
                reader.seek_head()
            stop = None if until is None else _micros(until)
            while True:
                entry = reader.get_next()
                if not entry:
                    return
                stamp = entry.get("__REALTIME_TIMESTAMP", 0)
                if stop is not None and isinstance(stamp, int) and stamp >= stop:
                    return
                yield journal_entry_event(entry, self.name)
        finally:
            reader.close()

    def _load(self) -> dict[str, Any]:
        if self._committed is None:
            saved = self.store.load(self.position_key) if self.store is not None else None
            self._committed = dict(saved) if saved is not None else {}
        return self._committed

    def saved_cursor(self) -> str | None:
        """The cursor of the last committed event, or None."""
        cursor = self._load().get("cursor")
        return cursor if isinstance(cursor, str) and cursor else None

    @property
    def committed_extra(self) -> Mapping[str, Any]:
        """The ``extra`` document saved with the last committed cursor (``{}`` if none)."""
        extra = self._load().get("extra")
        return dict(extra) if isinstance(extra, dict) else {}

    def commit(self, event: Event, extra: Mapping[str, Any] | None = None) -> None:
        """Acknowledge an event: :meth:`follow` resumes after it from now on, even after a crash.

        Args:
            event: The last event handled (one this source yielded).
            extra: The consumer's own progress, saved atomically with the cursor and
                read back with :attr:`committed_extra`.

        Raises:
            ValueError: The event carries no journal cursor of this source.
        """
        cursor = event.fields.get("cursor")
        if event.source != self.name or not isinstance(cursor, str) or not cursor:
            raise ValueError(f"the event was not read by the journal source {self.name!r}")
        document: dict[str, Any] = {"cursor": cursor, "extra": dict(extra or {})}
        if self.store is not None:
            self.store.save(self.position_key, document)
        self._committed = document

    def _position(self, reader: Any) -> Mapping[str, Any] | None:
        """Seek to where following resumes; return an entry to emit first, if any."""
        cursor = self.saved_cursor()
        if cursor is not None:
            try:
                reader.seek_cursor(cursor)
            except (OSError, ValueError):
                cursor = None
            else:
                entry = reader.get_next()
                if entry and not reader.test_cursor(cursor):
                    # The saved entry is gone (vacuumed): this one comes after it.
                    return dict(entry)
                return None
        if self.start == "beginning":
            reader.seek_head()
        else:
            reader.seek_tail()
            reader.get_previous()
        return None

    async def follow(self) -> AsyncIterator[Event | Metric]:
        """New entries as they come, from the committed cursor; runs until cancelled.

        See the module docstring for the commit protocol.

        Raises:
            SourceError: The journal cannot be opened.
        """
        reader = self._open()
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        fd: int | None = None
        try:
            if self.files is None:
                try:
                    fd = reader.fileno()
                except OSError:
                    fd = None
            if fd is not None:
                loop.add_reader(fd, wake.set)
            first = self._position(reader)
            if first is not None:
                yield journal_entry_event(first, self.name)
            while True:
                entry = reader.get_next()
                if entry:
                    yield journal_entry_event(entry, self.name)
                    continue
                wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self.poll_interval)
                if fd is not None:
                    reader.process()
        finally:
            if fd is not None:
                loop.remove_reader(fd)
            reader.close()
