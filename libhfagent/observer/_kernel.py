"""Kernel messages that tell of a failing disk, a full memory or a crashing program.

Pure functions: a message in, a value (or ``None``) out. They never raise on bad input.

:func:`parse_kernel_message` takes the text of one kernel message (from /dev/kmsg,
``dmesg``, or the journal's ``_TRANSPORT=kernel`` entries; a leading ``[ 12.345678]``
time is ignored) and recognises:

============== ===============================================================
kind           messages
============== ===============================================================
io_error       ``I/O error, dev sda, sector 8 op 0x0:(READ)``,
               ``blk_update_request: I/O error, dev sda, sector 8``,
               ``Buffer I/O error on dev sda1, logical block 0, async page read``,
               NVMe ``nvme0n1: Read(0x2) @ LBA 8, 1 blocks, …``, SCSI
               ``[sda] … Sense Key : Hardware Error``
medium_error   ``critical medium error, dev nvme0n1, sector 8``, ATA
               ``error: { UNC }``, SCSI ``Sense Key : Medium Error`` and
               ``Unrecovered read error``, NVMe ``Unrecovered Read Error``
ata_error      ``ata1.00: exception Emask …``, ``failed command: READ FPDMA QUEUED``,
               ``ata1.00: status: { DRDY ERR }``
ata_timeout    ``ata1.00: qc timeout (cmd 0x…)``
ata_reset      ``ata1: hard resetting link``, ``soft resetting link``,
               ``COMRESET failed``, ``limiting SATA link speed``, ``SATA link down``
scsi_error     ``sd 0:0:0:0: [sda] tag#3 FAILED Result: hostbyte=…``,
               ``timing out command``
nvme_timeout   ``nvme nvme0: I/O 123 QID 4 timeout, reset controller``
nvme_reset     ``nvme nvme0: controller is down; will reset``, ``resetting
               controller``, ``Removing after probe failure``
fs_error       ``EXT4-fs error (device sda1): …``, ``EXT4-fs (sda1): Remounting
               filesystem read-only``, ``XFS (sdb1): Metadata I/O Error …``,
               ``XFS (dm-0): Corruption detected …``, ``BTRFS error (device …)``
fs_warning     ``EXT4-fs warning (device sda1): …``, ``BTRFS warning (device …)``
oom_kill       ``Out of memory: Killed process 1234 (java) total-vm:…``,
               ``Memory cgroup out of memory: Killed process …``,
               ``oom-kill:constraint=…,task=java,pid=1234,uid=0``
oom_invoked    ``java invoked oom-killer: gfp_mask=…``
oom_reaped     ``oom_reaper: reaped process 1234 (java), now anon-rss:0kB, …``
segfault       ``app[123]: segfault at 0 ip … sp … error 4 in libc.so.6[…]``
trap           ``traps: app[123] general protection fault ip:… error:0 in …``
hung_task      ``INFO: task jbd2/sda1-8:245 blocked for more than 120 seconds.``
soft_lockup    ``watchdog: BUG: soft lockup - CPU#1 stuck for 23s! [app:123]``
============== ===============================================================
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping

import attrs

__all__ = ["KernelEvent", "disk_of", "parse_kernel_message"]

_EMPTY: Mapping[str, str] = types.MappingProxyType({})


def _freeze(value: Mapping[str, str]) -> Mapping[str, str]:
    return types.MappingProxyType(dict(value))


@attrs.frozen(slots=True)
class KernelEvent:
    """What a kernel message says happened.

    Attributes:
        kind: What happened (see the module docstring): ``io_error``,
            ``medium_error``, ``ata_error``, ``ata_timeout``, ``ata_reset``,
            ``scsi_error``, ``nvme_timeout``, ``nvme_reset``, ``fs_error``,
            ``fs_warning``, ``oom_kill``, ``oom_invoked``, ``oom_reaped``,
            ``segfault``, ``trap``, ``hung_task``, ``soft_lockup``.
        device: The device the message names (``sda1``, ``nvme0n1``, ``nvme0``,
            ``ata1``, ``dm-0``), or ``None``.
        disk: The whole disk behind ``device`` when the name tells it (``sda`` for
            ``sda1``, ``nvme0n1`` for ``nvme0n1p2``), else ``None``; an ATA port
            (``ata1``) maps to a disk only through sysfs (see ``ata_port_disks``).
        pid: The process concerned (killed, crashed, hung), or ``None``.
        process: Its name, or ``None``.
        sector: The failing sector (512-byte units), when given.
        operation: ``read``, ``write``, ``flush`` or ``discard`` when given.
        detail: Other values from the message (``filesystem``, ``command``,
            ``emask``, ``qid``, ``library``, ``anon_rss_kb``, ``memcg``…), as text.
    """

    kind: str
    device: str | None = None
    disk: str | None = None
    pid: int | None = None
    process: str | None = None
    sector: int | None = None
    operation: str | None = None
    detail: Mapping[str, str] = attrs.field(default=_EMPTY, converter=_freeze)


_STAMP = re.compile(r"\[ *\d{1,10}\.\d{1,9}\] ?")
_DISK = re.compile(
    r"(nvme\d+n\d+|mmcblk\d+|nbd\d+|loop\d+|rbd\d+|zram\d+)(?:p\d+)?"
    r"|((?:s|v|xv|h)d[a-z]{1,4})\d{0,4}"
    r"|(dm-\d+|md\d+|sr\d+|md/\w+)"
)
_BLOCK = re.compile(
    r"(?:blk_update_request: |print_req_error: )?"
    r"(I/O|critical (?:medium|target|nexus|space allocation|protection)|timeout|"
    r"recoverable transport|[a-z]{1,20}(?: [a-z]{1,20})?) error, dev ([\w/.-]{1,40}), "
    r"sector (\d{1,20})(?: op 0x[0-9a-fA-F]{1,8}:\((\w{1,20})\))?"
)
_BUFFER = re.compile(
    r"Buffer I/O error on (?:dev|device) ([\w/.-]{1,40}), logical block (\d{1,20})"
    r"(?:, (lost )?(?:async )?page (read|write))?"
)
_ATA = re.compile(r"(ata\d{1,4})(?:\.(\d{1,3}))?: (.*)", re.DOTALL)
_EMASK = re.compile(r"exception Emask (0x[0-9a-fA-F]+)(?:.*?action (0x[0-9a-fA-F]+))?( frozen)?")
_SCSI = re.compile(r"sd (\d{1,5}:\d{1,5}:\d{1,5}:\d{1,10}): \[(\w{1,32})\] (.*)", re.DOTALL)
_NVME_CTRL = re.compile(r"nvme (nvme\d{1,5}): (.*)", re.DOTALL)
_NVME_TIMEOUT = re.compile(
    r"I/O (?:tag )?(\d{1,10})(?: \([0-9a-fA-F]{1,8}\))?(?: opcode 0x[0-9a-fA-F]{1,4})?"
    r"(?: \(([\w/ ]{1,20})\))? QID (\d{1,6}) timeout"
)
_NVME_NS = re.compile(
    r"(nvme\d{1,5}n\d{1,5}): (\w{1,20})(?: Cmd)?\((0x[0-9a-fA-F]{1,4})\) @ LBA (\d{1,20}), "
    r"(\d{1,10}) blocks?, (.{1,80}?) \(sct"
)
_FS = re.compile(
    r"(EXT[234]-fs|BTRFS|F2FS-fs|XFS)(?: (error|warning|critical|info|notice|crit|emerg))?"
    r" \((?:device )?([^()\s]{1,64})\):? (.*)",
    re.DOTALL,
)
_FS_BAD = re.compile(
    r"error|read-only|corrupt|shut ?down|xfs_repair|abort|failed|inconsisten", re.IGNORECASE
)
_COMM = re.compile(r"comm (\S{1,64}):")
_OOM = re.compile(
    r"(Memory cgroup )?[Oo]ut of memory(?: \([\w ]{1,40}\))?: Kill(?:ed)? process (\d{1,10}) "
    r"\((.{0,64}?)\)(.*)",
    re.DOTALL,
)
_KB = re.compile(r"([\w-]{1,20}):(\d{1,20})kB")
_OOM_KILL = re.compile(r"oom-kill:(\S{1,4000})")
_OOM_INVOKED = re.compile(r"(.{1,64}?) invoked oom-killer: (.*)", re.DOTALL)
_OOM_REAPED = re.compile(r"oom_reaper: reaped process (\d{1,10}) \((.{0,64}?)\)")
_SEGFAULT = re.compile(
    r"(.{1,64}?)\[(\d{1,10})\]: segfault at ([0-9a-fA-F]{1,16}) ip ([0-9a-fA-F]{1,16}) "
    r"sp ([0-9a-fA-F]{1,16}) error (\d{1,4})(?: in ([^\[\s]{1,256}))?"
)
_TRAP = re.compile(
    r"traps: (.{1,64}?)\[(\d{1,10})\] (.{1,64}?) ip:?([0-9a-fA-F]{1,16})"
    r"(?:.*? in ([^\[\s]{1,256}))?",
    re.DOTALL,
)
_HUNG = re.compile(r"INFO: task (.{1,64}?):(\d{1,10}) blocked for more than (\d{1,10}) seconds")
_LOCKUP = re.compile(
    r"(?:watchdog: )?BUG: soft lockup - CPU#(\d{1,5}) stuck for (\d{1,10})s! "
    r"\[(.{1,64}):(\d{1,10})\]"
)

_OPERATIONS = {
    "READ": "read",
    "WRITE": "write",
    "FLUSH": "flush",
    "DISCARD": "discard",
    "WRITE_ZEROES": "write",
    "ZONE_APPEND": "write",
}


def disk_of(device: str | None) -> str | None:
    """The whole disk of a block device name (``sda`` for ``sda1``), or ``None``."""
    if not device:
        return None
    name = device.removeprefix("/dev/")
    m = _DISK.fullmatch(name)
    if m is None:
        return None
    return m.group(1) or m.group(2) or m.group(3)


def _operation(text: str | None) -> str | None:
    if not text:
        return None
    upper = text.upper()
    for key, value in _OPERATIONS.items():
        if upper.startswith(key):
            return value
    return None


def _block(device: str, kind: str, **kwargs: object) -> KernelEvent:
    return KernelEvent(kind, device, disk_of(device), **kwargs)  # type: ignore[arg-type]


def _ata(m: re.Match[str]) -> KernelEvent | None:
    port, link, rest = m.group(1), m.group(2), m.group(3)
    detail = {"link": f"{port}.{link}"} if link is not None else {}
    if rest.startswith("exception Emask"):
        e = _EMASK.match(rest)
        if e is not None:
            detail["emask"] = e.group(1)
            if e.group(2):
                detail["action"] = e.group(2)
            if e.group(3):
                detail["frozen"] = "yes"
        return KernelEvent("ata_error", port, detail=detail)
    if rest.startswith("failed command: "):
        command = rest[16:].strip()[:64]
        detail["command"] = command
        return KernelEvent("ata_error", port, operation=_operation(command), detail=detail)
    if rest.startswith("status: {") and "ERR" in rest:
        detail["status"] = rest[8:].strip()[:64]
        return KernelEvent("ata_error", port, detail=detail)
    if rest.startswith("error: {"):
        detail["error"] = rest[7:].strip()[:64]
        kind = "medium_error" if "UNC" in rest else "ata_error"
        return KernelEvent(kind, port, detail=detail)
    if "qc timeout" in rest or "command timeout" in rest:
        return KernelEvent("ata_timeout", port, detail=detail)
    for marker, action in (
        ("hard resetting link", "hard_reset"),
        ("soft resetting link", "soft_reset"),
        ("COMRESET failed", "comreset_failed"),
        ("limiting SATA link speed", "speed_limited"),
        ("link is slow to respond", "slow_link"),
        ("SATA link down", "link_down"),
        ("reset failed", "reset_failed"),
    ):
        if marker in rest:
            detail["action"] = action
            return KernelEvent("ata_reset", port, detail=detail)
    return None


def _scsi(m: re.Match[str]) -> KernelEvent | None:
    address, device, rest = m.group(1), m.group(2), m.group(3)
    detail = {"scsi": address}
    if "FAILED Result:" in rest:
        for key in ("hostbyte", "driverbyte"):
            km = re.search(key + r"=(\w{1,32})", rest)
            if km is not None:
                detail[key] = km.group(1)
        return _block(device, "scsi_error", detail=detail)
    if "timing out command" in rest:
        detail["error"] = "timeout"
        return _block(device, "scsi_error", detail=detail)
    if "Sense Key : " in rest:
        sense = rest.split("Sense Key : ", 1)[1].split(" [", 1)[0].strip()[:64]
        detail["sense"] = sense
        kind = "medium_error" if sense.startswith("Medium Error") else "io_error"
        return _block(device, kind, detail=detail)
    if "Add. Sense: " in rest:
        sense = rest.split("Add. Sense: ", 1)[1].strip()[:80]
        detail["sense"] = sense
        if "nrecovered read error" in sense:
            return _block(device, "medium_error", operation="read", detail=detail)
    return None


def _nvme_ctrl(m: re.Match[str]) -> KernelEvent | None:
    ctrl, rest = m.group(1), m.group(2)
    t = _NVME_TIMEOUT.match(rest)
    if t is not None:
        detail = {"command_id": t.group(1), "qid": t.group(3)}
        action = rest[t.end() :].lstrip(", ").strip()
        if action:
            detail["action"] = action[:64]
        return KernelEvent("nvme_timeout", ctrl, operation=_operation(t.group(2)), detail=detail)
    for marker in (
        "controller is down",
        "resetting controller",
        "Removing after probe failure",
        "Device not ready",
        "reset controller",
        "Abort status",
    ):
        if marker in rest:
            return KernelEvent("nvme_reset", ctrl, detail={"action": rest.strip()[:80]})
    return None


def _filesystem(m: re.Match[str]) -> KernelEvent | None:
    family, level, device, rest = m.group(1), m.group(2), m.group(3), m.group(4)
    fs = family.split("-", 1)[0].lower()
    detail = {"filesystem": fs}
    if level in ("warning", "notice", "info"):
        if level != "warning":
            return None
        kind = "fs_warning"
    elif level is not None or _FS_BAD.search(rest) is not None:
        kind = "fs_error"
    else:
        return None
    if "read-only" in rest:
        detail["action"] = "remount_ro"
    elif "shut" in rest.lower() and "down" in rest.lower():
        detail["action"] = "shutdown"
    detail["error"] = rest.strip()[:160]
    comm = _COMM.search(rest)
    return KernelEvent(
        kind,
        device,
        disk_of(device),
        process=comm.group(1) if comm is not None else None,
        detail=detail,
    )


def _oom(m: re.Match[str]) -> KernelEvent:
    detail = {"cgroup": "yes" if m.group(1) else "no"}
    for key, value in _KB.findall(m.group(4)):
        detail[key.replace("-", "_") + "_kb"] = value
    uid = re.search(r"UID:(\d{1,10})", m.group(4))
    if uid is not None:
        detail["uid"] = uid.group(1)
    return KernelEvent("oom_kill", pid=int(m.group(2)), process=m.group(3), detail=detail)


def _oom_kill(text: str) -> KernelEvent:
    values: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if sep:
            values[key] = value
    pid_text = values.get("pid", "")
    pid = (
        int(pid_text) if pid_text.isascii() and pid_text.isdigit() and len(pid_text) < 11 else None
    )
    detail: dict[str, str] = {
        k: values[k][:256] for k in ("constraint", "task_memcg", "uid", "oom_memcg") if k in values
    }
    return KernelEvent("oom_kill", pid=pid, process=values.get("task"), detail=detail)


def _parse(text: str) -> KernelEvent | None:
    stamp = _STAMP.match(text)
    if stamp is not None:
        text = text[stamp.end() :]
    text = text.rstrip("\r\n")
    if " error, dev " in text:
        m = _BLOCK.search(text)
        if m is not None:
            what = m.group(1)
            kind = "medium_error" if what == "critical medium" else "io_error"
            return _block(
                m.group(2),
                kind,
                sector=int(m.group(3)),
                operation=_operation(m.group(4)),
                detail={"error": f"{what} error"},
            )
    if text.startswith("Buffer I/O error"):
        m = _BUFFER.match(text)
        if m is not None:
            return _block(
                m.group(1),
                "io_error",
                operation=_operation(m.group(4)),
                detail={"logical_block": m.group(2)},
            )
    if text.startswith("ata"):
        m = _ATA.match(text)
        return None if m is None else _ata(m)
    if text.startswith("sd "):
        m = _SCSI.match(text)
        return None if m is None else _scsi(m)
    if text.startswith("nvme "):
        m = _NVME_CTRL.match(text)
        return None if m is None else _nvme_ctrl(m)
    if text.startswith("nvme"):
        m = _NVME_NS.match(text)
        if m is not None:
            status = m.group(6)
            kind = "medium_error" if "Unrecovered" in status or "Medium" in status else "io_error"
            return _block(
                m.group(1),
                kind,
                operation=_operation(m.group(2)),
                detail={"lba": m.group(4), "blocks": m.group(5), "error": status},
            )
        return None
    if text.startswith(("EXT", "XFS", "BTRFS", "F2FS")):
        m = _FS.match(text)
        return None if m is None else _filesystem(m)
    if "ut of memory" in text:
        m = _OOM.search(text)
        if m is not None:
            return _oom(m)
    if text.startswith("oom-kill:"):
        m = _OOM_KILL.match(text)
        return None if m is None else _oom_kill(m.group(1))
    if " invoked oom-killer: " in text:
        m = _OOM_INVOKED.match(text)
        if m is not None:
            return KernelEvent("oom_invoked", process=m.group(1))
    if text.startswith("oom_reaper: "):
        m = _OOM_REAPED.match(text)
        if m is not None:
            return KernelEvent("oom_reaped", pid=int(m.group(1)), process=m.group(2))
    if "]: segfault at " in text:
        m = _SEGFAULT.match(text)
        if m is not None:
            detail = {"address": m.group(3), "ip": m.group(4), "sp": m.group(5)}
            detail["error_code"] = m.group(6)
            if m.group(7):
                detail["library"] = m.group(7)
            return KernelEvent("segfault", pid=int(m.group(2)), process=m.group(1), detail=detail)
    if text.startswith("traps: "):
        m = _TRAP.match(text)
        if m is not None:
            detail = {"trap": m.group(3), "ip": m.group(4)}
            if m.group(5):
                detail["library"] = m.group(5)
            return KernelEvent("trap", pid=int(m.group(2)), process=m.group(1), detail=detail)
    if text.startswith("INFO: task "):
        m = _HUNG.match(text)
        if m is not None:
            return KernelEvent(
                "hung_task", pid=int(m.group(2)), process=m.group(1), detail={"seconds": m.group(3)}
            )
    if "soft lockup" in text:
        m = _LOCKUP.match(text)
        if m is not None:
            return KernelEvent(
                "soft_lockup",
                pid=int(m.group(4)),
                process=m.group(3),
                detail={"cpu": m.group(1), "seconds": m.group(2)},
            )
    return None


def parse_kernel_message(message: str) -> KernelEvent | None:
    """Recognise a kernel message about a failing disk, memory or program.

    Args:
        message: The message text, with or without a leading ``[ seconds]`` time.

    Returns:
        The event, or ``None`` when the message is none of those listed in the
        module docstring.
    """
    try:
        return _parse(message)
    except (ValueError, OverflowError):
        return None
