"""Kernel messages from /dev/kmsg, as typed events, without duplicates across restarts.

A /dev/kmsg record is one header line and optional dictionary lines (see the
kernel's Documentation/ABI/testing/dev-kmsg)::

    6,339,5140900,-;NET: Registered protocol family 10
     SUBSYSTEM=net
     DEVICE=+net:lo

The header holds the syslog priority, a sequence number that grows by one per
record since boot, the time in microseconds since boot and flags; bytes that are
not printable are written ``\\xNN``. Each ``read()`` of /dev/kmsg returns one
record; a reader too slow for the ring buffer gets ``EPIPE`` once and continues
with the oldest record still held.

Commit protocol (the file sources', see :mod:`libhfagent.observer._follow`):
:meth:`KmsgSource.follow` yields events and saves nothing by itself; the consumer
calls :meth:`KmsgSource.commit` with the last event it has handled (directly, or
through ``Observer.commit``), which saves the boot id and the event's sequence
number atomically, with the consumer's ``extra`` document. After a restart in the same boot,
records up to that number are skipped; after a reboot, reading starts over from
the first record of the new boot. Records the kernel overwrote before they were
read (a gap in the sequence numbers) are reported as one ``lost`` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import errno
import os
import re
import socket
import stat
import time
import types
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from .._errors import SourceError
from ._events import Event, Metric, Severity
from ._kernel import KernelEvent, parse_kernel_message
from ._state import PositionStore

__all__ = ["KmsgRecord", "KmsgSource", "ata_port_disks", "kmsg_event", "parse_kmsg_record"]

BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"
_READ_SIZE = 16384  # larger than the longest record the kernel writes (8 KiB)
_HEADER = re.compile(r"(\d{1,4}),(\d{1,20}),(-?\d{1,20}),([^,;]{0,8})(?:,[^;]{0,256})?;")
_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")
_EMPTY: Mapping[str, str] = types.MappingProxyType({})


def _freeze(value: Mapping[str, str]) -> Mapping[str, str]:
    return types.MappingProxyType(dict(value))


@attrs.frozen(slots=True)
class KmsgRecord:
    """One /dev/kmsg record.

    Attributes:
        facility: The syslog facility (0 for the kernel, 1 for messages written
            to /dev/kmsg by programs).
        severity: The syslog severity, 0 (emergency) to 7 (debug).
        seq: The sequence number, one more per record since boot.
        usec: Microseconds since boot (the kernel's monotonic clock).
        flags: ``-``, or ``c``/``+`` for a continued message.
        message: The text, ``\\xNN`` escapes decoded (UTF-8, invalid bytes replaced).
        properties: The dictionary lines (``SUBSYSTEM``, ``DEVICE``…).
    """

    facility: int
    severity: int
    seq: int
    usec: int
    flags: str
    message: str
    properties: Mapping[str, str] = attrs.field(default=_EMPTY, converter=_freeze)


def _unescape(text: str) -> str:
    if "\\x" not in text:
        return text
    out = bytearray()
    pos = 0
    for m in _ESCAPE.finditer(text):
        out += text[pos : m.start()].encode("utf-8", "surrogateescape")
        out.append(int(m.group(1), 16))
        pos = m.end()
    out += text[pos:].encode("utf-8", "surrogateescape")
    return out.decode("utf-8", "replace")


def parse_kmsg_record(record: str | bytes) -> KmsgRecord | None:
    """Parse one /dev/kmsg record (header line and dictionary lines).

    Args:
        record: What one ``read()`` of /dev/kmsg returned, or the same text from a
            file; a trailing newline is allowed.

    Returns:
        The record, or ``None`` when the text is not a kmsg record.
    """
    if isinstance(record, bytes):
        record = record.decode("utf-8", "replace")
    m = _HEADER.match(record)
    if m is None:
        return None
    pri, seq, usec = int(m.group(1)), int(m.group(2)), int(m.group(3))
    body = record[m.end() :]
    message, _, rest = body.partition("\n")
    properties: dict[str, str] = {}
    for line in rest.split("\n"):
        if line.startswith(" "):
            key, sep, value = line[1:].partition("=")
            if sep and key:
                properties[key] = _unescape(value)
    return KmsgRecord(
        pri >> 3, pri & 7, seq, max(usec, 0), m.group(4), _unescape(message), properties
    )


def ata_port_disks(port: str, sysfs: str | os.PathLike[str] = "/sys") -> list[str]:
    """The disks behind an ATA port (``ata1`` → ``["sda"]``), read from sysfs.

    Args:
        port: The port name as the kernel logs it (``ata1``).
        sysfs: Where sysfs is mounted.

    Returns:
        Block device names, sorted; empty when the port is unknown.
    """
    if re.fullmatch(r"ata\d{1,4}", port) is None:
        return []
    base = Path(sysfs) / "class" / "ata_port" / port / "device"
    try:
        return sorted({p.name for p in base.glob("host*/target*/*/block/*")})
    except OSError:
        return []


def kmsg_event(
    record: KmsgRecord,
    *,
    source: str,
    boot_time: dt.datetime,
    boot_id: str,
    host: str = "",
    kernel: KernelEvent | None = None,
) -> Event:
    """Turn a record into an :class:`Event`.

    Args:
        record: The record.
        source: The source name.
        boot_time: When the machine booted (wall clock), timezone-aware.
        boot_id: The boot the record belongs to.
        host: The machine's name.
        kernel: What :func:`parse_kernel_message` recognised in the message, if any.

    Returns:
        The event; ``fields`` holds ``seq``, ``boot_id``, ``facility``, the
        record's dictionary (``SUBSYSTEM``, ``DEVICE``) and, for a recognised
        message, ``kind`` and those of ``device``, ``disk``, ``pid``, ``process``,
        ``sector``, ``operation`` that are known, plus its ``detail`` values.
    """
    fields: dict[str, Any] = {"seq": record.seq, "boot_id": boot_id, "facility": record.facility}
    fields.update(record.properties)
    if kernel is not None:
        fields.update(kernel.detail)
        fields["kind"] = kernel.kind
        for name in ("device", "disk", "pid", "process", "sector", "operation"):
            value = getattr(kernel, name)
            if value is not None:
                fields[name] = value
    return Event(
        timestamp=boot_time + dt.timedelta(microseconds=record.usec),
        source=source,
        message=record.message,
        severity=Severity(record.severity),
        host=host,
        fields=fields,
    )


class KmsgSource:
    """The kernel's ring buffer (/dev/kmsg), or a file of records, as events.

    Args:
        path: /dev/kmsg, or a file holding one record per line (dictionary lines,
            starting with a space, follow their record), as tests write.
        name: The source name (events carry it; the position is kept under it).
        store: Where committed positions are saved; without one they are kept in
            memory only.
        boot_id: The current boot id; read from /proc when ``None``.
        boot_time: When the machine booted; now minus the monotonic clock when
            ``None``.
        host: The machine's name for events; the host name when ``None``.
        sysfs: Where sysfs is, to name the disk behind an ATA port.
        poll_interval: Seconds between checks of a plain file for new records, and
            the longest wait on /dev/kmsg.

    Attributes:
        lost: Records overwritten before they were read (gaps in sequence numbers).
        overruns: Times /dev/kmsg said records were overwritten (``EPIPE``).
        malformed: Records that could not be parsed (skipped).
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = "/dev/kmsg",
        *,
        name: str = "kernel",
        store: PositionStore | None = None,
        boot_id: str | None = None,
        boot_time: dt.datetime | None = None,
        host: str | None = None,
        sysfs: str | os.PathLike[str] = "/sys",
        poll_interval: float = 1.0,
    ) -> None:
        if boot_time is not None and boot_time.tzinfo is None:
            raise SourceError(f"kmsg source {name!r}: boot_time must be timezone-aware")
        self.name = name
        self.path = str(path)
        self.store = store
        self.host = socket.gethostname() if host is None else host
        self.sysfs = sysfs
        self.poll_interval = poll_interval
        self._boot_id = boot_id
        self._boot_time = boot_time
        self.lost = 0
        self.overruns = 0
        self.malformed = 0
        self._committed: dict[str, Any] | None = None

    @property
    def position_key(self) -> str:
        """The key of the saved position in the position store."""
        return f"kmsg-{self.name}"

    def boot_id(self) -> str:
        """The id of the current boot.

        Raises:
            SourceError: It was not given and /proc cannot be read.
        """
        if self._boot_id is None:
            try:
                self._boot_id = Path(BOOT_ID_PATH).read_text().strip()
            except OSError as exc:
                raise SourceError(
                    f"cannot read the boot id from {BOOT_ID_PATH}: {exc.strerror} "
                    "(is /proc mounted?)",
                    path=BOOT_ID_PATH,
                ) from exc
        return self._boot_id

    def boot_time(self) -> dt.datetime:
        """When the machine booted, on the wall clock (fixed at the first call)."""
        if self._boot_time is None:
            uptime = time.clock_gettime(time.CLOCK_MONOTONIC)
            self._boot_time = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=uptime)
        return self._boot_time

    def _is_device(self) -> bool:
        try:
            return stat.S_ISCHR(os.stat(self.path).st_mode)
        except OSError as exc:
            raise self._error("cannot open", exc) from exc

    def _error(self, what: str, exc: OSError) -> SourceError:
        hint = ""
        if exc.errno in (errno.EACCES, errno.EPERM):
            hint = " (reading the kernel log needs root or CAP_SYSLOG)"
        return SourceError(
            f"kmsg source {self.name!r}: {what} {self.path}: {exc.strerror}{hint}", path=self.path
        )

    def _open_device(self) -> int:
        try:
            return os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise self._error("cannot open", exc) from exc

    def _device_records(self, fd: int) -> Iterator[bytes]:
        """Records available now on /dev/kmsg."""
        while True:
            try:
                data = os.read(fd, _READ_SIZE)
            except BlockingIOError:
                return
            except BrokenPipeError:
                self.overruns += 1
                continue
            except InterruptedError:
                continue
            except OSError as exc:
                raise self._error("cannot read", exc) from exc
            if not data:
                return
            yield data

    def _event(self, record: KmsgRecord) -> Event:
        kernel = parse_kernel_message(record.message) if record.facility == 0 else None
        if kernel is not None and kernel.disk is None and kernel.device is not None:
            disks = ata_port_disks(kernel.device, self.sysfs)
            if disks:
                kernel = attrs.evolve(kernel, disk=",".join(disks))
        return kmsg_event(
            record,
            source=self.name,
            boot_time=self.boot_time(),
            boot_id=self.boot_id(),
            host=self.host,
            kernel=kernel,
        )

    def _parse(self, raw: bytes) -> KmsgRecord | None:
        record = parse_kmsg_record(raw)
        if record is None:
            self.malformed += 1
        return record

    def read(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> Iterator[Event | Metric]:
        """Records held now from ``since`` (included) to ``until`` (excluded), oldest first.

        Raises:
            SourceError: The device or file cannot be read.
        """
        for record in self._snapshot():
            event = self._event(record)
            if since is not None and event.timestamp < since:
                continue
            if until is not None and event.timestamp >= until:
                continue
            yield event

    def _snapshot(self) -> Iterator[KmsgRecord]:
        if self._is_device():
            fd = self._open_device()
            try:
                for raw in self._device_records(fd):
                    record = self._parse(raw)
                    if record is not None:
                        yield record
            finally:
                os.close(fd)
            return
        reader = _FileRecords(self.path)
        try:
            chunks = reader.poll(final=True)
        except OSError as exc:
            raise self._error("cannot read", exc) from exc
        for raw in chunks:
            record = self._parse(raw)
            if record is not None:
                yield record

    def _load(self) -> dict[str, Any]:
        if self._committed is None:
            saved = self.store.load(self.position_key) if self.store is not None else None
            self._committed = dict(saved) if saved is not None else {}
        return self._committed

    def saved_position(self) -> tuple[str, int] | None:
        """The boot id and sequence number of the last committed event, or None."""
        saved = self._load()
        boot, seq = saved.get("boot_id"), saved.get("seq")
        if isinstance(boot, str) and isinstance(seq, int) and not isinstance(seq, bool):
            return boot, seq
        return None

    @property
    def committed_extra(self) -> Mapping[str, Any]:
        """The ``extra`` document saved with the last committed position (``{}`` if none)."""
        extra = self._load().get("extra")
        return dict(extra) if isinstance(extra, dict) else {}

    def commit(self, event: Event, extra: Mapping[str, Any] | None = None) -> None:
        """Acknowledge an event: :meth:`follow` resumes after it from now on, even after a crash.

        Args:
            event: The last event handled (one this source yielded).
            extra: The consumer's own progress, saved atomically with the position
                and read back with :attr:`committed_extra`.

        Raises:
            ValueError: The event carries no kernel sequence number of this source.
        """
        seq, boot = event.fields.get("seq"), event.fields.get("boot_id")
        if (
            event.source != self.name
            or not isinstance(seq, int)
            or isinstance(seq, bool)
            or not isinstance(boot, str)
        ):
            raise ValueError(f"the event was not read by the kmsg source {self.name!r}")
        document: dict[str, Any] = {"boot_id": boot, "seq": seq, "extra": dict(extra or {})}
        if self.store is not None:
            self.store.save(self.position_key, document)
        self._committed = document

    def _lost_event(self, record: KmsgRecord, count: int) -> Event:
        return Event(
            timestamp=self.boot_time() + dt.timedelta(microseconds=record.usec),
            source=self.name,
            message=(
                f"{count} kernel messages were overwritten in the ring buffer "
                "before they could be read"
            ),
            severity=Severity.WARNING,
            host=self.host,
            fields={
                "kind": "lost",
                "lost": count,
                "seq": record.seq - 1,
                "boot_id": self.boot_id(),
            },
        )

    async def follow(self) -> AsyncIterator[Event | Metric]:
        """New records as they come, after the committed position; runs until cancelled.

        See the module docstring for the commit protocol.

        Raises:
            SourceError: The device or file cannot be read.
        """
        boot = self.boot_id()
        saved = self.saved_position()
        last: int | None = saved[1] if saved is not None and saved[0] == boot else None
        device = self._is_device()
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        fd: int | None = None
        files: _FileRecords | None = None
        if device:
            fd = self._open_device()
            loop.add_reader(fd, wake.set)
        else:
            files = _FileRecords(self.path)
        try:
            while True:
                if fd is not None:
                    chunks: list[bytes] | Iterator[bytes] = self._device_records(fd)
                elif files is not None:
                    try:
                        chunks = files.poll(final=False)
                    except OSError as exc:
                        raise self._error("cannot read", exc) from exc
                else:  # pragma: no cover - one of the two is always set
                    chunks = []
                for raw in chunks:
                    record = self._parse(raw)
                    if record is None or (last is not None and record.seq <= last):
                        continue
                    if last is not None and record.seq > last + 1:
                        gap = record.seq - last - 1
                        self.lost += gap
                        last = record.seq
                        yield self._lost_event(record, gap)
                    last = record.seq
                    yield self._event(record)
                wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self.poll_interval)
        finally:
            if fd is not None:
                loop.remove_reader(fd)
                os.close(fd)


class _FileRecords:
    """Records from a plain file, read as it grows: one record per line plus its
    dictionary lines (which start with a space)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.offset = 0
        self.pending = b""

    def poll(self, *, final: bool) -> list[bytes]:
        """Whole records written since the last call.

        A record is complete once its line ends; its dictionary lines are taken
        when they were written with it (or, with ``final``, at the end of the file).
        """
        with open(self.path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size < self.offset:  # truncated: start over
                self.offset, self.pending = 0, b""
            fh.seek(self.offset)
            data = fh.read()
        self.offset += len(data)
        data = self.pending + data
        end = data.rfind(b"\n") + 1
        if final:
            end = len(data)
        self.pending = data[end:]
        records: list[bytes] = []
        for line in data[:end].splitlines():
            if line.startswith(b" ") and records:
                records[-1] += b"\n" + line
            elif line.strip():
                records.append(line)
        return records
