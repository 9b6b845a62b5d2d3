"""System metrics at a fixed interval: CPU, memory, disk space, disk I/O, network, top processes.

Names (``Metric.name``) and labels:

=========================  =====================================  ==========================
name                       value                                  labels
=========================  =====================================  ==========================
``cpu_load``               CPU busy since the last sample, %      –
``load1/load5/load15``     load averages                          –
``memory_usage``           RAM in use, %                          ``total``, ``available``
                                                                  (bytes, as text)
``memory_available_bytes`` RAM available without swapping         –
``swap_usage``             swap in use, % (0 without swap)        –
``disk_space``             space used on a mount, %               ``mount``, ``device``,
                                                                  ``fstype``
``disk_free_bytes``        space left for unprivileged users      same
``disk_await_ms``          mean I/O time (iostat ``await``)       ``device``
``disk_r_await_ms``        mean read time (``r_await``)           ``device``
``disk_w_await_ms``        mean write time (``w_await``)          ``device``
``disk_util``              device busy, % (``%util``)             ``device``
``disk_read_iops`` …       reads/s, writes/s, bytes read/written  ``device``
``net_rx_bytes_s`` …       received/sent bytes/s, errors/s,       ``interface``
                           drops/s
``process_cpu``            CPU of one of the top N processes, %   ``pid``, ``name``, ``rank``
                           of one core
``process_memory_bytes``   RSS of one of the top N by memory      ``pid``, ``name``, ``rank``
=========================  =====================================  ==========================

Rates (CPU, disk I/O, network, process CPU) are over the time since the previous
sample; the first sample of a source primes them and has none. A group that cannot be
measured (``/proc/diskstats`` missing or truncated…) gives an ``Event`` of severity
``ERROR`` from source ``metrics`` instead, and the other groups are still measured.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from .._errors import SourceError
from ._diskstats import DiskCounters, all_disk_rates, parse_diskstats
from ._events import Event, Metric, Severity

if TYPE_CHECKING:
    from ..config import Config

__all__ = ["METRIC_GROUPS", "MetricsSource"]

METRIC_GROUPS: Final = ("cpu_load", "memory_usage", "disk_space", "disk_io", "network")
"""The groups ``modules.monitoring.metrics`` can name (top processes: ``top``)."""

# Filesystems that say nothing about a disk filling up.
_PSEUDO_FS: Final = frozenset(
    {
        "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs",
        "devpts", "devtmpfs", "efivarfs", "fusectl", "hugetlbfs", "iso9660", "mqueue",
        "nsfs", "overlay", "proc", "pstore", "ramfs", "rpc_pipefs", "securityfs",
        "squashfs", "sysfs", "tmpfs", "tracefs", "fuse.lxcfs", "fuse.portal",
    }
)  # fmt: skip


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def cpu_busy_percent(before: Any, after: Any) -> float:
    """CPU busy between two ``psutil.cpu_times()`` samples, in percent of all CPUs.

    Busy is everything but ``idle`` and ``iowait``; guest time, already counted in
    ``user`` and ``nice`` by Linux, is not counted twice (psutil's own rule).
    """

    def split(times: Any) -> tuple[float, float]:
        total = sum(times)
        total -= getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)
        idle = times.idle + getattr(times, "iowait", 0.0)
        return total, total - idle

    total_before, busy_before = split(before)
    total_after, busy_after = split(after)
    total = total_after - total_before
    busy = busy_after - busy_before
    if total <= 0:
        return 0.0
    return round(min(100.0, max(0.0, busy / total * 100.0)), 2)


class MetricsSource:
    """The machine's metrics every ``interval`` seconds, as :class:`Metric` values.

    Args:
        interval: Seconds between two samples in ``follow``.
        metrics: Which groups to measure (see :data:`METRIC_GROUPS`).
        mounts: Mount points whose space is reported; None for every real
            filesystem (tmpfs, overlay, squashfs and pseudo filesystems excluded).
        top: How many processes to report by CPU and by memory; 0 for none.
        host: Unused in metrics, put in error events; by default this machine's name.
        proc: Where procfs is mounted (for ``diskstats``).
        sys: Where sysfs is mounted (``block/`` names the whole disks; partitions
            are left out of the disk I/O metrics when it can be read).
        clock: Gives the timestamps (timezone-aware).
    """

    name = "metrics"

    def __init__(
        self,
        interval: float = 10.0,
        *,
        metrics: Iterable[str] = METRIC_GROUPS,
        mounts: Sequence[str] | None = None,
        top: int = 5,
        host: str | None = None,
        proc: str | os.PathLike[str] = "/proc",
        sys: str | os.PathLike[str] = "/sys",
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be positive, got {interval!r}")
        groups = tuple(metrics)
        unknown = sorted(set(groups) - set(METRIC_GROUPS))
        if unknown:
            raise ValueError(
                f"unknown metric groups {', '.join(unknown)}; known: {', '.join(METRIC_GROUPS)}"
            )
        self.interval = float(interval)
        self.metrics = groups
        self.mounts = tuple(mounts) if mounts is not None else None
        self.top = top
        self.host = host if host is not None else socket.gethostname()
        self._proc = Path(proc)
        self._sys = Path(sys)
        self._clock = clock
        self._last: float | None = None
        self._cpu: Any = None
        self._disks: dict[str, DiskCounters] | None = None
        self._net: dict[str, Any] | None = None
        self._whole_disks: frozenset[str] | None = None

    @classmethod
    def from_config(cls, config: Config, **kwargs: Any) -> MetricsSource:
        """A source for ``modules.monitoring`` (its ``interval`` and ``metrics``)."""
        monitoring = config.modules.monitoring
        return cls(monitoring.interval, metrics=monitoring.metrics, **kwargs)

    # -- Source protocol ---------------------------------------------------------------

    def read(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> Iterator[Event | Metric]:
        """One sample now (primed and taken ``min(interval, 0.5)`` seconds apart if needed).

        ``since`` and ``until`` are accepted for the Source protocol: metrics have
        no history, this is the present.
        """
        if self._last is None:
            self.collect()
            time.sleep(min(self.interval, 0.5))
        return iter(self.collect())

    async def follow(self) -> AsyncIterator[Event | Metric]:
        """A sample every ``interval`` seconds, on a fixed schedule; runs until cancelled."""
        loop = asyncio.get_running_loop()
        self.collect()
        due = loop.time()
        while True:
            due += self.interval
            now = loop.time()
            if due < now:  # the consumer fell behind: skip the missed ticks
                due = now
            await asyncio.sleep(due - now)
            for item in self.collect():
                yield item

    # -- one sample ----------------------------------------------------------------------

    def collect(self) -> list[Event | Metric]:
        """Measure every group now; rates are since the previous call (none the first time)."""
        import psutil

        now = time.monotonic()
        elapsed = now - self._last if self._last is not None else None
        self._last = now
        when = self._clock()
        out: list[Event | Metric] = []
        groups: list[tuple[str, Callable[[dt.datetime, float | None], list[Metric]]]] = [
            ("cpu_load", self._cpu_load),
            ("memory_usage", self._memory),
            ("disk_space", self._disk_space),
            ("disk_io", self._disk_io),
            ("network", self._network),
        ]
        for group, measure in groups:
            if group not in self.metrics:
                continue
            try:
                out.extend(measure(when, elapsed))
            except (OSError, SourceError, psutil.Error) as exc:
                out.append(self._error(group, exc, when))
        if self.top > 0:
            try:
                out.extend(self._processes(when, elapsed))
            except (OSError, psutil.Error) as exc:
                out.append(self._error("top", exc, when))
        return out

    def _error(self, group: str, exc: BaseException, when: dt.datetime) -> Event:
        detail = str(exc) or type(exc).__name__
        return Event(
            timestamp=when,
            source="metrics",
            message=f"cannot measure {group}: {detail}",
            severity=Severity.ERROR,
            host=self.host,
            fields={"group": group, "error": detail},
        )

    def _cpu_load(self, when: dt.datetime, elapsed: float | None) -> list[Metric]:
        import psutil

        times = psutil.cpu_times()
        out = []
        if self._cpu is not None:
            out.append(Metric("cpu_load", cpu_busy_percent(self._cpu, times), when))
        self._cpu = times
        load = os.getloadavg()
        for name, value in zip(("load1", "load5", "load15"), load, strict=True):
            out.append(Metric(name, value, when))
        return out

    def _memory(self, when: dt.datetime, elapsed: float | None) -> list[Metric]:
        import psutil

        memory = psutil.virtual_memory()
        swap = psutil.swap_memory()
        return [
            Metric(
                "memory_usage",
                memory.percent,
                when,
                {"total": str(memory.total), "available": str(memory.available)},
            ),
            Metric("memory_available_bytes", float(memory.available), when),
            Metric("swap_usage", swap.percent if swap.total else 0.0, when),
        ]

    def _disk_space(self, when: dt.datetime, elapsed: float | None) -> list[Metric]:
        import psutil

        out = []
        seen: set[str] = set()
        for part in psutil.disk_partitions(all=False):
            if self.mounts is not None:
                if part.mountpoint not in self.mounts:
                    continue
            elif part.fstype in _PSEUDO_FS or part.device in seen:
                continue
            try:
                usage = psutil.disk_usage(part.mountpoint)
            except OSError:
                continue  # unmounted meanwhile, or not ours to read
            seen.add(part.device)
            labels = {"mount": part.mountpoint, "device": part.device, "fstype": part.fstype}
            out.append(Metric("disk_space", usage.percent, when, labels))
            out.append(Metric("disk_free_bytes", float(usage.free), when, labels))
        return out

    def _disk_io(self, when: dt.datetime, elapsed: float | None) -> list[Metric]:
        path = self._proc / "diskstats"
        try:
            text = path.read_text(encoding="ascii", errors="replace")
        except OSError as exc:
            self._disks = None  # no rate across a gap
            raise SourceError(
                f"cannot read {path}: {exc.strerror}; disk latency needs procfs", path=str(path)
            ) from exc
        previous, self._disks = self._disks, None
        current = parse_diskstats(text, str(path))
        self._disks = current
        if previous is None or not elapsed:
            return []
        if self._whole_disks is None:
            self._whole_disks = _whole_disks(self._sys / "block")
        rates = all_disk_rates(previous, current, elapsed, self._whole_disks or None)
        out = []
        for device, r in rates.items():
            labels = {"device": device}
            out += [
                Metric("disk_await_ms", r.await_ms, when, labels),
                Metric("disk_r_await_ms", r.r_await_ms, when, labels),
                Metric("disk_w_await_ms", r.w_await_ms, when, labels),
                Metric("disk_util", r.util_percent, when, labels),
                Metric("disk_read_iops", r.read_iops, when, labels),
                Metric("disk_write_iops", r.write_iops, when, labels),
                Metric("disk_read_bytes_s", r.read_bytes_s, when, labels),
                Metric("disk_write_bytes_s", r.write_bytes_s, when, labels),
            ]
        return out

    def _network(self, when: dt.datetime, elapsed: float | None) -> list[Metric]:
        import psutil

        current = psutil.net_io_counters(pernic=True)
        previous, self._net = self._net, current
        if previous is None or not elapsed:
            return []
        out = []
        for interface, now in current.items():
            before = previous.get(interface)
            if before is None or interface == "lo":
                continue
            labels = {"interface": interface}
            for name, attribute in (
                ("net_rx_bytes_s", "bytes_recv"),
                ("net_tx_bytes_s", "bytes_sent"),
                ("net_rx_errors_s", "errin"),
                ("net_tx_errors_s", "errout"),
                ("net_rx_drops_s", "dropin"),
                ("net_tx_drops_s", "dropout"),
            ):
                delta = getattr(now, attribute) - getattr(before, attribute)
                out.append(Metric(name, max(0, delta) / elapsed, when, labels))
        return out

    def _processes(self, when: dt.datetime, elapsed: float | None) -> list[Metric]:
        import psutil

        rows = []
        # process_iter keeps its Process objects between calls, so cpu_percent(None)
        # measures since the previous sample (0.0 the first time a process is seen).
        for process in psutil.process_iter(["name", "cpu_percent", "memory_info"]):
            info = process.info
            memory = info.get("memory_info")
            rows.append(
                (
                    process.pid,
                    str(info.get("name") or ""),
                    float(info.get("cpu_percent") or 0.0),
                    int(memory.rss) if memory is not None else 0,
                )
            )
        out = []
        if elapsed:
            by_cpu = sorted(rows, key=lambda r: (-r[2], r[0]))[: self.top]
            for rank, (pid, name, cpu, _) in enumerate(by_cpu, start=1):
                labels = {"pid": str(pid), "name": name, "rank": str(rank)}
                out.append(Metric("process_cpu", cpu, when, labels))
        by_memory = sorted(rows, key=lambda r: (-r[3], r[0]))[: self.top]
        for rank, (pid, name, _, rss) in enumerate(by_memory, start=1):
            labels = {"pid": str(pid), "name": name, "rank": str(rank)}
            out.append(Metric("process_memory_bytes", float(rss), when, labels))
        return out


def _whole_disks(sys_block: Path) -> frozenset[str]:
    """Names of whole disks (``/sys/block``: no partitions); empty when unreadable."""
    try:
        return frozenset(os.listdir(sys_block))
    except OSError:
        return frozenset()
