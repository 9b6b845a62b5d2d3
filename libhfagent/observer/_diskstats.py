"""Disk latency and utilisation from ``/proc/diskstats``, computed as iostat does.

Pure functions: :func:`parse_diskstats` takes the file's text, :func:`disk_rates`
takes two samples and the seconds between them. The formulas are sysstat's
(``iostat -x``): ``r_await = Δread_ms / Δreads``, ``await = (Δread_ms + Δwrite_ms +
Δdiscard_ms) / (Δreads + Δwrites + Δdiscards)``, ``%util = Δio_ms / elapsed_ms × 100``
(at most 100), sectors of 512 bytes.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from .._errors import SourceError

__all__ = ["DiskCounters", "DiskRates", "all_disk_rates", "disk_rates", "parse_diskstats"]

SECTOR_BYTES = 512
"""``/proc/diskstats`` counts sectors of 512 bytes whatever the device's sector size."""

_MIN_FIELDS = 14  # major, minor, name and the 11 counters of kernels before 4.18
_WRAP32 = 1 << 32
_WRAP64 = 1 << 64


@attrs.frozen(slots=True)
class DiskCounters:
    """One line of ``/proc/diskstats``: a device's counters since boot.

    Times are milliseconds. ``discards*`` are 0 on kernels before 4.18.

    Attributes:
        major: Device major number.
        minor: Device minor number.
        name: Device name (``sda``, ``nvme0n1p2``).
        reads: Reads completed.
        reads_merged: Adjacent reads merged.
        sectors_read: Sectors read.
        read_ms: Time spent by all reads.
        writes: Writes completed.
        writes_merged: Adjacent writes merged.
        sectors_written: Sectors written.
        write_ms: Time spent by all writes.
        in_flight: I/Os in progress now.
        io_ms: Time the device had I/O in progress (the base of ``%util``).
        weighted_ms: Time of all I/Os, weighted by their number (queue size).
        discards: Discards completed.
        discards_merged: Adjacent discards merged.
        sectors_discarded: Sectors discarded.
        discard_ms: Time spent by all discards.
    """

    major: int
    minor: int
    name: str
    reads: int
    reads_merged: int
    sectors_read: int
    read_ms: int
    writes: int
    writes_merged: int
    sectors_written: int
    write_ms: int
    in_flight: int
    io_ms: int
    weighted_ms: int
    discards: int = 0
    discards_merged: int = 0
    sectors_discarded: int = 0
    discard_ms: int = 0

    @property
    def idle(self) -> bool:
        """Whether the device never did any I/O (iostat leaves such devices out)."""
        return self.reads == 0 and self.writes == 0 and self.discards == 0


@attrs.frozen(slots=True)
class DiskRates:
    """What a device did between two samples, as ``iostat -x`` shows it.

    Attributes:
        r_await_ms: Mean time of a read (queue and service), ms.
        w_await_ms: Mean time of a write, ms.
        await_ms: Mean time of an I/O (reads, writes and discards), ms.
        util_percent: Share of the time the device was busy, 0 to 100.
        read_iops: Reads completed per second.
        write_iops: Writes completed per second.
        read_bytes_s: Bytes read per second.
        write_bytes_s: Bytes written per second.
    """

    r_await_ms: float
    w_await_ms: float
    await_ms: float
    util_percent: float
    read_iops: float
    write_iops: float
    read_bytes_s: float
    write_bytes_s: float


def parse_diskstats(text: str, origin: str = "/proc/diskstats") -> dict[str, DiskCounters]:
    """Read the text of ``/proc/diskstats``.

    Args:
        text: The file's content.
        origin: The file name, for error messages.

    Returns:
        Device name to its counters, in file order.

    Raises:
        SourceError: A line has fewer than 14 fields or a counter that is not a
            non-negative integer (a truncated read); the message names the line.
    """
    devices: dict[str, DiskCounters] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < _MIN_FIELDS:
            raise SourceError(
                f"{origin}, line {number}: expected at least {_MIN_FIELDS} fields, "
                f"got {len(fields)} ({line.strip()!r}); the file was read truncated, "
                "or this is not /proc/diskstats",
                path=origin,
            )
        numbers = fields[:2] + fields[3:18]
        if not all(value.isascii() and value.isdigit() for value in numbers):
            raise SourceError(
                f"{origin}, line {number}: a counter is not a non-negative integer "
                f"({line.strip()!r})",
                path=origin,
            )
        values = [int(value) for value in numbers]
        counters = values[2:] + [0] * (15 - len(values[2:]))
        devices[fields[2]] = DiskCounters(values[0], values[1], fields[2], *counters)
    return devices


def _delta(before: int, after: int) -> int:
    """``after - before`` for a counter that may have wrapped (32 or 64 bits)."""
    if after >= before:
        return after - before
    return after + (_WRAP32 if before < _WRAP32 else _WRAP64) - before


def disk_rates(before: DiskCounters, after: DiskCounters, elapsed: float) -> DiskRates:
    """Rates of one device between two samples ``elapsed`` seconds apart.

    Counters that went backwards are taken to have wrapped at 32 bits (the
    millisecond counters of the kernel are 32-bit) or 64 bits.

    Raises:
        ValueError: ``elapsed`` is not positive, or the samples are of two
            different devices.
    """
    if not elapsed > 0:
        raise ValueError(f"elapsed must be positive, got {elapsed!r}")
    if (before.major, before.minor, before.name) != (after.major, after.minor, after.name):
        raise ValueError(f"samples of different devices: {before.name} and {after.name}")
    reads = _delta(before.reads, after.reads)
    writes = _delta(before.writes, after.writes)
    discards = _delta(before.discards, after.discards)
    read_ms = _delta(before.read_ms, after.read_ms)
    write_ms = _delta(before.write_ms, after.write_ms)
    discard_ms = _delta(before.discard_ms, after.discard_ms)
    ios = reads + writes + discards
    util = _delta(before.io_ms, after.io_ms) / (elapsed * 1000.0) * 100.0
    return DiskRates(
        r_await_ms=read_ms / reads if reads else 0.0,
        w_await_ms=write_ms / writes if writes else 0.0,
        await_ms=(read_ms + write_ms + discard_ms) / ios if ios else 0.0,
        util_percent=min(util, 100.0),
        read_iops=reads / elapsed,
        write_iops=writes / elapsed,
        read_bytes_s=_delta(before.sectors_read, after.sectors_read) * SECTOR_BYTES / elapsed,
        write_bytes_s=(
            _delta(before.sectors_written, after.sectors_written) * SECTOR_BYTES / elapsed
        ),
    )


def all_disk_rates(
    before: Mapping[str, DiskCounters],
    after: Mapping[str, DiskCounters],
    elapsed: float,
    devices: frozenset[str] | None = None,
) -> dict[str, DiskRates]:
    """Rates of every device present in both samples, by name.

    A device that appeared or disappeared between the samples, or whose
    numbers changed (another device under the same name), is left out until it
    has two samples; so is one that never did any I/O.

    Args:
        before: The earlier sample.
        after: The later sample.
        elapsed: Seconds between them.
        devices: Names to keep (the whole disks, say); None keeps every device,
            partitions included.
    """
    rates: dict[str, DiskRates] = {}
    for name, current in after.items():
        previous = before.get(name)
        if previous is None or (devices is not None and name not in devices) or current.idle:
            continue
        if (previous.major, previous.minor) != (current.major, current.minor):
            continue
        rates[name] = disk_rates(previous, current, elapsed)
    return rates
