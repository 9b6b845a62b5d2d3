"""A snapshot of the machine's health: load, CPU, memory, disks (psutil and /proc)."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import attrs

__all__ = ["DiskUsage", "SystemSnapshot", "take_snapshot"]

# Pseudo and image filesystems that say nothing about free space.
_SKIP_FSTYPES = frozenset({"squashfs", "overlay", "tmpfs", "devtmpfs", "iso9660", "nsfs", "ramfs"})


@attrs.frozen
class DiskUsage:
    """Space on one mounted filesystem."""

    mount: str
    device: str
    fstype: str
    total: int
    used: int
    free: int
    percent: float


@attrs.frozen
class SystemSnapshot:
    """The machine's health at one moment.

    Attributes:
        time: When it was taken.
        hostname: The machine's name.
        uptime: Seconds since boot.
        cpu_count: Logical CPUs.
        cpu_percent: CPU use over the sampling interval, in percent.
        load: 1, 5 and 15-minute load averages.
        memory_total: Bytes of RAM.
        memory_available: Bytes of RAM available without swapping.
        memory_percent: RAM in use, in percent.
        swap_total: Bytes of swap.
        swap_percent: Swap in use, in percent.
        disks: Real filesystems, fullest first.
    """

    time: dt.datetime
    hostname: str
    uptime: float
    cpu_count: int
    cpu_percent: float
    load: tuple[float, float, float]
    memory_total: int
    memory_available: int
    memory_percent: float
    swap_total: int
    swap_percent: float
    disks: tuple[DiskUsage, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return attrs.asdict(self, value_serializer=_serialize)


def _serialize(inst: object, field: object, value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def take_snapshot(cpu_interval: float = 0.2) -> SystemSnapshot:
    """Measure the machine now (blocks ``cpu_interval`` seconds to sample the CPU)."""
    import psutil

    now = dt.datetime.now(dt.UTC)
    mem = psutil.virtual_memory()
    swap = psutil.swap_memory()
    disks: list[DiskUsage] = []
    seen: set[str] = set()
    for part in psutil.disk_partitions(all=False):
        if part.fstype in _SKIP_FSTYPES or part.device in seen:
            continue
        try:
            usage = psutil.disk_usage(part.mountpoint)
        except OSError:
            continue
        seen.add(part.device)
        disks.append(
            DiskUsage(
                part.mountpoint,
                part.device,
                part.fstype,
                usage.total,
                usage.used,
                usage.free,
                usage.percent,
            )
        )
    disks.sort(key=lambda d: -d.percent)
    load = os.getloadavg()
    return SystemSnapshot(
        time=now,
        hostname=os.uname().nodename,
        uptime=max(0.0, now.timestamp() - psutil.boot_time()),
        cpu_count=psutil.cpu_count() or 1,
        cpu_percent=psutil.cpu_percent(interval=cpu_interval),
        load=(load[0], load[1], load[2]),
        memory_total=mem.total,
        memory_available=mem.available,
        memory_percent=mem.percent,
        swap_total=swap.total,
        swap_percent=swap.percent,
        disks=tuple(disks),
    )
