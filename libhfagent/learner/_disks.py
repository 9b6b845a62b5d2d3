"""Disk health: a risk level per disk, with the evidence that set it.

Three kinds of evidence, each fed by the caller (pure: values in, values out):

- kernel messages (:func:`libhfagent.observer._kernel.parse_kernel_message`):
  I/O and medium errors, ATA/SCSI/NVMe timeouts and resets, filesystem errors;
- latency from /proc/diskstats (await in ms, utilisation in %): a recent level
  well above the disk's own usual level (a slow baseline that does not follow
  the rise) is "rising latency";
- SMART (``smartctl -j`` JSON): overall assessment, reallocated, pending and
  uncorrectable sectors, NVMe critical warnings, media errors and wear.

Levels, from the evidence within ``window`` seconds (SMART counts stay until
the next report):

========= ==============================================================
critical  SMART says FAILED; a medium error; 3 I/O errors or more; a
          filesystem remounted read-only; I/O errors with rising latency
warning   an I/O error; 2 timeouts/resets or more; pending or uncorrectable
          sectors; an NVMe critical warning or media errors; rising latency
          with a timeout or reset; wear at 90 % or more
watch     one timeout or reset; rising latency alone; reallocated sectors
ok        nothing of the above
========= ==============================================================
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import deque
from collections.abc import Mapping
from typing import Any

import attrs

from ..observer._kernel import KernelEvent

__all__ = ["DiskHealth", "DiskRisk", "read_smart"]

LEVELS = ("ok", "watch", "warning", "critical")
_DISK_KINDS = {
    "io_error",
    "medium_error",
    "ata_error",
    "ata_timeout",
    "ata_reset",
    "scsi_error",
    "nvme_timeout",
    "nvme_reset",
    "fs_error",
}
_TIMEOUTS = {"ata_timeout", "ata_reset", "scsi_error", "nvme_timeout", "nvme_reset", "ata_error"}
_FAST = 0.3  # weight of a sample in the recent latency
_SLOW = 0.01  # weight of a sample in the usual latency
_WARMUP = 30  # samples before latency is judged
_RISE = 3.0  # recent / usual that counts as rising ...
_RISE_MS = 20.0  # ... and at least this many ms above usual


@attrs.frozen
class DiskRisk:
    """A disk's risk level and why.

    Attributes:
        disk: The disk (``sda``, ``nvme0n1``, or an ATA port ``ata1`` when the
            kernel names only the port).
        level: ``ok``, ``watch``, ``warning`` or ``critical``.
        evidence: What was seen, oldest first: ``{"at", "kind", "text"}``.
        at: When the level was computed (POSIX seconds).
    """

    disk: str
    level: str
    evidence: tuple[Mapping[str, Any], ...]
    at: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "disk": self.disk,
            "level": self.level,
            "at": self.at,
            "evidence": [dict(e) for e in self.evidence],
        }


@attrs.define
class _Disk:
    kernel: deque[tuple[float, str, str]] = attrs.field(factory=lambda: deque(maxlen=200))
    recent: float = 0.0
    usual: float = 0.0
    samples: int = 0
    rising_since: float | None = None
    last_await: float = 0.0
    smart: dict[str, Any] = attrs.field(factory=dict)
    level: str = "ok"


class DiskHealth:
    """Risk levels per disk from kernel messages, latency and SMART.

    Args:
        window: Seconds that kernel evidence counts for.
    """

    def __init__(self, *, window: float = 86_400.0) -> None:
        self.window = window
        self._disks: dict[str, _Disk] = {}

    def kernel(self, at: float, event: KernelEvent) -> DiskRisk | None:
        """Learn from one parsed kernel message.

        Returns:
            The disk's risk when its level changed, else None.
        """
        if event.kind not in _DISK_KINDS:
            return None
        disk = event.disk or event.device
        if not disk:
            return None
        text = event.kind.replace("_", " ")
        if event.sector is not None:
            text += f", sector {event.sector}"
        if event.operation:
            text += f" ({event.operation})"
        if event.detail.get("action") == "remount_ro":
            text = "filesystem remounted read-only"
        self._disks.setdefault(disk, _Disk()).kernel.append((at, event.kind, text))
        return self._update(disk, at)

    def latency(
        self, at: float, disk: str, await_ms: float, util_percent: float
    ) -> DiskRisk | None:
        """Learn from one diskstats sample (await in ms, utilisation in %)."""
        if not (await_ms >= 0 and util_percent >= 0):  # NaN or negative: ignore
            return None
        state = self._disks.setdefault(disk, _Disk())
        state.last_await = await_ms
        if state.samples == 0:
            state.recent = state.usual = await_ms
        state.recent += _FAST * (await_ms - state.recent)
        rising = (
            state.samples >= _WARMUP
            and state.recent >= _RISE * state.usual
            and state.recent - state.usual >= _RISE_MS
        )
        if rising:
            if state.rising_since is None:
                state.rising_since = at
        else:
            state.rising_since = None
            state.usual += _SLOW * (await_ms - state.usual)
        state.samples += 1
        return self._update(disk, at)

    def smart(self, at: float, disk: str, report: Mapping[str, Any]) -> DiskRisk | None:
        """Learn from one ``smartctl -j -a`` report of ``disk``."""
        self._disks.setdefault(disk, _Disk()).smart = _smart_facts(report)
        return self._update(disk, at)

    def risks(self, at: float | None = None) -> list[DiskRisk]:
        """Every disk's current risk, the most at risk first."""
        found = [self._risk(d, at) for d in self._disks]
        return sorted(found, key=lambda r: (-LEVELS.index(r.level), r.disk))

    def to_state(self) -> dict[str, Any]:
        """JSON-ready state."""
        return {
            "version": 1,
            "disks": {
                name: {
                    "kernel": [list(k) for k in d.kernel],
                    "latency": [d.recent, d.usual, d.samples, d.rising_since, d.last_await],
                    "smart": d.smart,
                    "level": d.level,
                }
                for name, d in self._disks.items()
            },
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], **kwargs: Any) -> DiskHealth:
        """Continue from :meth:`to_state`'s output."""
        if state.get("version") != 1:
            raise ValueError(f"disk state version {state.get('version')!r} not supported")
        health = cls(**kwargs)
        for name, saved in state["disks"].items():
            disk = _Disk()
            disk.kernel.extend((float(t), str(k), str(x)) for t, k, x in saved["kernel"])
            disk.recent, disk.usual, disk.samples, disk.rising_since, disk.last_await = saved[
                "latency"
            ]
            disk.smart = dict(saved["smart"])
            disk.level = str(saved["level"])
            health._disks[name] = disk
        return health

    def _update(self, disk: str, at: float) -> DiskRisk | None:
        risk = self._risk(disk, at)
        state = self._disks[disk]
        if risk.level == state.level:
            return None
        state.level = risk.level
        return risk

    def _risk(self, disk: str, at: float | None) -> DiskRisk:
        state = self._disks[disk]
        now = at if at is not None else max((t for t, _, _ in state.kernel), default=0.0)
        recent = [(t, k, x) for t, k, x in state.kernel if now - t <= self.window]
        kinds = [k for _, k, _ in recent]
        io = kinds.count("io_error")
        timeouts = sum(k in _TIMEOUTS for k in kinds)
        readonly = any(x == "filesystem remounted read-only" for _, _, x in recent)
        rising = state.rising_since is not None
        smart = state.smart
        evidence = [{"at": t, "kind": k, "text": x} for t, k, x in recent]
        if rising:
            evidence.append(
                {
                    "at": state.rising_since,
                    "kind": "latency",
                    "text": f"await {state.recent:.0f} ms vs usual {state.usual:.0f} ms",
                }
            )
        for key, value in sorted(smart.items()):
            if key != "passed" and value:
                evidence.append({"at": now, "kind": "smart", "text": f"{key} {value}"})
        if smart.get("passed") is False:
            evidence.append({"at": now, "kind": "smart", "text": "SMART overall assessment FAILED"})
        if (
            smart.get("passed") is False
            or "medium_error" in kinds
            or io >= 3
            or readonly
            or (io and rising)
        ):
            level = "critical"
        elif (
            io
            or timeouts >= 2
            or smart.get("pending_sectors")
            or smart.get("uncorrectable_sectors")
            or smart.get("nvme_critical_warning")
            or smart.get("media_errors")
            or (rising and timeouts)
            or smart.get("percentage_used", 0) >= 90
        ):
            level = "warning"
        elif timeouts or rising or smart.get("reallocated_sectors") or "fs_error" in kinds:
            level = "watch"
        else:
            level = "ok"
        return DiskRisk(disk, level, tuple(evidence), now)


def _raw(table: list[Any], attribute: int) -> int:
    for row in table:
        if isinstance(row, dict) and row.get("id") == attribute:
            raw = row.get("raw", {})
            value = raw.get("value") if isinstance(raw, dict) else None
            return int(value) if isinstance(value, int) else 0
    return 0


def _smart_facts(report: Mapping[str, Any]) -> dict[str, Any]:
    """The facts that matter in a ``smartctl -j -a`` report (ATA or NVMe)."""
    facts: dict[str, Any] = {}
    status = report.get("smart_status")
    if isinstance(status, dict) and isinstance(status.get("passed"), bool):
        facts["passed"] = status["passed"]
    table = report.get("ata_smart_attributes", {})
    rows = table.get("table", []) if isinstance(table, dict) else []
    if isinstance(rows, list):
        facts["reallocated_sectors"] = _raw(rows, 5)
        facts["pending_sectors"] = _raw(rows, 197)
        facts["uncorrectable_sectors"] = _raw(rows, 198)
    nvme = report.get("nvme_smart_health_information_log")
    if isinstance(nvme, dict):
        for key, name in (
            ("critical_warning", "nvme_critical_warning"),
            ("media_errors", "media_errors"),
            ("percentage_used", "percentage_used"),
        ):
            if isinstance(nvme.get(key), int):
                facts[name] = nvme[key]
    return facts


def read_smart(device: str, *, timeout: float = 30.0) -> dict[str, Any] | None:
    """``smartctl -j -a /dev/DEVICE`` as a dict, or None when smartctl is missing or says nothing.

    The device name is checked (letters, digits, ``-``) before it reaches argv.
    """
    name = device.removeprefix("/dev/")
    if not name or not all(c.isalnum() or c == "-" for c in name):
        raise ValueError(f"not a block device name: {device!r}")
    smartctl = shutil.which("smartctl")
    if smartctl is None:
        return None
    try:
        done = subprocess.run(
            [smartctl, "-j", "-a", f"/dev/{name}"],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        report = json.loads(done.stdout or b"{}")
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None
    return report if isinstance(report, dict) and report.get("device") else None
