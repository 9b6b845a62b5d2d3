"""Read-only probes: disk usage, big or old files, processes, ports, services, disk health.

Each probe returns a JSON-ready report; :func:`render_probe` turns it into text in
the request's language. Tree walks are bounded.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import re
import shutil
import stat
import subprocess
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._errors import ExecutionError, RequestError
from .._i18n import fmt_int, translator

if TYPE_CHECKING:
    from ..learner._disks import DiskRisk

__all__ = ["check_probe_args", "render_probe", "run_probe"]

#: Entries looked at by one scan, at most.
SCAN_LIMIT = 500_000


def _count(args: Mapping[str, Any], default: int) -> int:
    value = args.get("count", default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
        raise RequestError(f"count: expected a whole number between 1 and 1000, got {value!r}")
    return value


def check_probe_args(action: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """A probe's arguments, checked and normalised.

    Raises:
        RequestError: An argument cannot be used.
    """
    from ._actions import _number, check_path, check_unit

    out: dict[str, Any] = {}
    if action in ("disk.usage", "files.find"):
        out["path"] = check_path(args.get("path", "/"), "path")
    if action == "files.find":
        for key in ("size", "older_than"):
            value = _number(args, key)
            if value is not None:
                out[key] = int(value)
        out["count"] = _count(args, 20)
    elif action == "process.top":
        metric = args.get("metric", "cpu")
        if metric not in ("cpu", "memory"):
            raise RequestError(f"metric: expected cpu or memory, got {metric!r}")
        out = {"metric": metric, "count": _count(args, 10)}
    elif action == "network.listening":
        port = args.get("port")
        if port is not None:
            if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
                raise RequestError(f"port: expected a port number (1-65535), got {port!r}")
            out["port"] = port
    elif action == "service.status":
        out["service"] = check_unit(args.get("service"))
    elif action == "disk.health":
        device = args.get("device")
        if device is not None:
            if not isinstance(device, str) or not re.fullmatch(
                r"(/dev/)?[A-Za-z0-9_-]{1,64}", device
            ):
                raise RequestError(f"device: expected a block device like sda, got {device!r}")
            out["device"] = device.removeprefix("/dev/")
    return out


def run_probe(action: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """Run a probe on checked arguments; its JSON-ready report."""
    return {
        "disk.usage": disk_usage,
        "files.find": find_files,
        "process.top": process_top,
        "network.listening": listening,
        "service.status": service_status,
        "disk.health": disk_health,
    }[action](args)


def _scan(root: str, *, limit: int = SCAN_LIMIT) -> tuple[list[tuple[str, os.stat_result]], bool]:
    """Files under ``root`` on its filesystem, at most ``limit`` entries; (files, complete)."""
    files: list[tuple[str, os.stat_result]] = []
    try:
        dev = os.lstat(root).st_dev
    except OSError as exc:
        raise RequestError(f"path: cannot read {root}: {exc.strerror}") from exc
    stack, seen = [root], 0
    while stack:
        top = stack.pop()
        try:
            it = os.scandir(top)
        except OSError:
            continue
        with it:
            for entry in it:
                seen += 1
                if seen > limit:
                    return files, False
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    if st.st_dev == dev:
                        stack.append(entry.path)
                elif stat.S_ISREG(st.st_mode):
                    files.append((entry.path, st))
    return files, True


def disk_usage(args: Mapping[str, Any]) -> dict[str, Any]:
    """Free space of each filesystem and the biggest folders directly under ``path``."""
    from ..observer._system import take_snapshot

    root = args["path"]
    snapshot = take_snapshot(cpu_interval=0.0)
    mounts = [
        {
            "mount": d.mount,
            "device": d.device,
            "total": d.total,
            "used": d.used,
            "free": d.free,
            "percent": d.percent,
        }
        for d in snapshot.disks
    ]
    files, complete = _scan(root)
    sizes: dict[str, int] = {}
    prefix = root.rstrip("/") + "/"
    for path, st in files:
        rest = path[len(prefix) :]
        head = prefix + rest.split("/", 1)[0]
        sizes[head] = sizes.get(head, 0) + st.st_blocks * 512
    biggest = sorted(sizes.items(), key=lambda kv: -kv[1])[:10]
    return {
        "path": root,
        "mounts": mounts,
        "biggest": [[p, s] for p, s in biggest],
        "scanned": len(files),
        "complete": complete,
    }


def find_files(args: Mapping[str, Any]) -> dict[str, Any]:
    """The biggest (or, with only an age, the oldest) files under ``path`` that match."""
    now = time.time()
    files, complete = _scan(args["path"])
    size, older = args.get("size"), args.get("older_than")
    chosen = [
        (p, st)
        for p, st in files
        if (size is None or st.st_size >= size) and (older is None or st.st_mtime <= now - older)
    ]
    count = args.get("count", 20)
    if size is None and older is not None:
        top = heapq.nsmallest(count, chosen, key=lambda f: f[1].st_mtime)
    else:
        top = heapq.nlargest(count, chosen, key=lambda f: f[1].st_size)
    return {
        "path": args["path"],
        "matched": len(chosen),
        "bytes": sum(st.st_size for _, st in chosen),
        "files": [{"path": p, "size": st.st_size, "mtime": int(st.st_mtime)} for p, st in top],
        "complete": complete,
    }


def process_top(args: Mapping[str, Any]) -> dict[str, Any]:
    """The heaviest processes by CPU (sampled over 0.3 s) or resident memory."""
    import psutil

    procs = list(psutil.process_iter(["pid", "name", "username", "memory_info"]))
    if args["metric"] == "cpu":
        for p in procs:
            with contextlib.suppress(psutil.Error):
                p.cpu_percent(None)
        time.sleep(0.3)
    rows = []
    for p in procs:
        try:
            cpu = p.cpu_percent(None) if args["metric"] == "cpu" else 0.0
            mem = p.info["memory_info"].rss if p.info["memory_info"] else 0
        except psutil.Error:
            continue
        rows.append(
            {
                "pid": p.pid,
                "name": p.info["name"],
                "user": p.info["username"],
                "cpu": cpu,
                "rss": mem,
            }
        )
    key = "cpu" if args["metric"] == "cpu" else "rss"
    rows.sort(key=lambda r: -r[key])
    return {"metric": args["metric"], "processes": rows[: args["count"]]}


def listening(args: Mapping[str, Any]) -> dict[str, Any]:
    """Listening TCP sockets and bound UDP sockets, with their processes."""
    import psutil

    names: dict[int, str] = {}
    rows = []
    for conn in psutil.net_connections(kind="inet"):
        tcp = conn.type == 1
        if tcp and conn.status != psutil.CONN_LISTEN:
            continue
        if not tcp and conn.raddr:
            continue
        port = conn.laddr.port if conn.laddr else 0
        if args.get("port") is not None and port != args["port"]:
            continue
        name = ""
        if conn.pid:
            if conn.pid not in names:
                try:
                    names[conn.pid] = psutil.Process(conn.pid).name()
                except psutil.Error:
                    names[conn.pid] = ""
            name = names[conn.pid]
        rows.append(
            {
                "proto": "tcp" if tcp else "udp",
                "address": conn.laddr.ip if conn.laddr else "",
                "port": port,
                "pid": conn.pid,
                "process": name,
            }
        )
    rows.sort(key=lambda r: (r["port"], r["proto"], r["address"]))
    return {"sockets": rows}


def service_status(args: Mapping[str, Any]) -> dict[str, Any]:
    """A unit's state from systemd over D-Bus, else from ``systemctl show``."""
    from ._systemd import Systemd, parse_systemctl_show

    unit = args["service"]
    try:
        return {**Systemd().unit_state(unit).to_dict(), "via": "dbus"}
    except ExecutionError as exc:
        argv = [
            "systemctl",
            "show",
            unit,
            "--no-pager",
            "-p",
            "Id,LoadState,ActiveState,SubState,UnitFileState,RequiredBy,WantedBy,BoundBy",
        ]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            raise exc from None
        if proc.returncode != 0 or "ActiveState=" not in proc.stdout:
            raise ExecutionError(
                f"service.status: systemd cannot be reached: {exc}; "
                f"systemctl: {proc.stderr.strip()[:200]}"
            ) from None
        return {**parse_systemctl_show(unit, proc.stdout).to_dict(), "via": "systemctl"}


#: Kernel messages about a failing disk that the kernel-message parser may not name.
_IO_ERROR = re.compile(
    r"I/O error|critical medium error|ata\d+.*(?:failed command|error)|"
    r"blk_update_request|\bUNC\b|Unrecovered read error"
)
#: Kinds of :func:`parse_kernel_message` events that concern a disk.
_DISK_KINDS = frozenset(
    {
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
)
#: Kernel ring buffer records read at most.
_KMSG_RECORDS = 100_000


def _kmsg_errors(limit: int = 50) -> list[str]:
    """The last ``limit`` kernel messages about a failing disk still in the ring buffer."""
    from ..observer._kernel import parse_kernel_message

    lines: list[str] = []
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return lines
    try:
        for _record in range(_KMSG_RECORDS):
            try:
                record = os.read(fd, 8192).decode("utf-8", "replace")
            except BlockingIOError:
                break
            except OSError:  # EPIPE: the record was overwritten; read on
                continue
            message = record.split(";", 1)[-1].split("\n", 1)[0]
            event = parse_kernel_message(message)
            if (event is not None and event.kind in _DISK_KINDS) or _IO_ERROR.search(message):
                lines.append(message)
    finally:
        os.close(fd)
    return lines[-limit:]


#: Whole disks whose SMART report is read, at most (one ``smartctl`` run each).
MAX_SMART_DISKS = 16
#: Seconds one ``smartctl`` run may take.
SMART_TIMEOUT = 10.0
_LEVELS = ("ok", "watch", "warning", "critical")


def _whole_disks(device: str | None = None) -> list[str]:
    """The whole disks in /sys/block (loop, ram and zram devices left out), sorted."""
    try:
        names = sorted(os.listdir("/sys/block"))
    except OSError:
        return []
    disks = [n for n in names if not n.startswith(("loop", "ram", "zram"))]
    if device is not None:
        disks = [n for n in disks if n == device]
    return disks[:MAX_SMART_DISKS]


def _smart_levels(disks: Sequence[str], now: float) -> tuple[dict[str, Any], list[DiskRisk]]:
    """SMART reports of ``disks`` (when ``smartctl`` is present) and the level they give."""
    from ..learner._disks import DiskHealth, read_smart

    reports: dict[str, Any] = {}
    risks: list[DiskRisk] = []
    if shutil.which("smartctl") is None:
        return reports, risks
    health = DiskHealth()
    for disk in disks:
        try:
            report = read_smart(disk, timeout=SMART_TIMEOUT)
        except (ValueError, OSError):
            continue
        if report is None:
            continue
        status = report.get("smart_status")
        reports[disk] = {
            "passed": status.get("passed") if isinstance(status, dict) else None,
            "model": report.get("model_name") or report.get("model_family"),
        }
        health.smart(now, disk, report)
    risks = [r for r in health.risks(now) if r.disk in reports]
    return reports, risks


def disk_health(args: Mapping[str, Any], *, learned: Sequence[DiskRisk] = ()) -> dict[str, Any]:
    """Evidence about disks and a risk level per disk.

    Evidence: kernel I/O errors now in the ring buffer, /proc/diskstats latencies,
    ``smartctl -j -a`` of each whole disk when smartctl is present, and what the
    Learner learnt (``learned``: kernel messages and rising latency over time).

    Args:
        args: Checked arguments (``device`` limits the report to one disk).
        learned: The Learner's risks (:meth:`Learner.disk_risks`).
    """
    now = time.time()
    evidence: list[dict[str, Any]] = []
    device = args.get("device")
    for message in _kmsg_errors():
        if device is None or device in message:
            evidence.append({"source": "kmsg", "message": message})
    disks: list[dict[str, Any]] = []
    try:
        with open("/proc/diskstats", encoding="ascii") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 14 or parts[2].startswith(("loop", "ram", "zram")):
                    continue
                name = parts[2]
                if device is not None and name != device:
                    continue
                reads, read_ms, writes, write_ms = (int(parts[i]) for i in (3, 6, 7, 10))
                disks.append(
                    {
                        "device": name,
                        "reads": reads,
                        "writes": writes,
                        "read_latency_ms": round(read_ms / reads, 3) if reads else 0.0,
                        "write_latency_ms": round(write_ms / writes, 3) if writes else 0.0,
                    }
                )
    except (OSError, ValueError):
        pass
    whole = _whole_disks(device)
    smart, smart_risks = _smart_levels(whole, now)
    for disk in disks:
        if disk["device"] in smart and smart[disk["device"]]["passed"] is not None:
            disk["smart_passed"] = smart[disk["device"]]["passed"]
    levels: dict[str, dict[str, Any]] = {
        d: {"disk": d, "level": "ok", "sources": [], "evidence": []} for d in whole
    }
    for source, risks in (("learner", learned), ("smart", smart_risks)):
        for risk in risks:
            if device is not None and risk.disk != device:
                continue
            entry = levels.setdefault(
                risk.disk, {"disk": risk.disk, "level": "ok", "sources": [], "evidence": []}
            )
            if _LEVELS.index(risk.level) > _LEVELS.index(entry["level"]):
                entry["level"] = risk.level
            entry["sources"].append(source)
            entry["evidence"] += [{**dict(e), "source": source} for e in risk.evidence]
            if risk.level != "ok":
                evidence += [
                    {"source": source, "message": f"{risk.disk}: {e.get('text', '')}"}
                    for e in risk.evidence
                ]
    risks_out = sorted(levels.values(), key=lambda r: (-_LEVELS.index(r["level"]), r["disk"]))
    return {
        "disks": disks,
        "risks": risks_out,
        "smart": smart,
        "evidence": evidence,
        "healthy": not evidence and all(r["level"] == "ok" for r in risks_out),
    }


def _size(n: float, lang: str) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            from .._i18n import fmt_decimal

            return f"{fmt_decimal(n / scale, lang, 1)} {unit}"
    return f"{fmt_int(int(n), lang)} B"


def render_probe(action: str, report: Mapping[str, Any], lang: str) -> str:
    """A probe's report as text in ``lang``."""
    _ = translator(lang).gettext
    lines: list[str] = []
    if action == "disk.usage":
        for m in report["mounts"]:
            lines.append(
                _("%(mount)s: %(free)s free of %(total)s (%(percent)s%% used)")
                % {
                    "mount": m["mount"],
                    "free": _size(m["free"], lang),
                    "total": _size(m["total"], lang),
                    "percent": fmt_int(round(m["percent"]), lang),
                }
            )
        if report["biggest"]:
            lines.append(_("Biggest under %(path)s:") % {"path": report["path"]})
            lines += [f"  {_size(s, lang):>10}  {p}" for p, s in report["biggest"]]
    elif action == "files.find":
        lines.append(
            _("%(count)s files match under %(path)s (%(size)s).")
            % {
                "count": fmt_int(report["matched"], lang),
                "path": report["path"],
                "size": _size(report["bytes"], lang),
            }
        )
        lines += [f"  {_size(f['size'], lang):>10}  {f['path']}" for f in report["files"]]
    elif action == "process.top":
        for p in report["processes"]:
            value = f"{p['cpu']:.1f} % CPU" if report["metric"] == "cpu" else _size(p["rss"], lang)
            lines.append(f"  {p['pid']:>7}  {value:>12}  {p['name']} ({p['user']})")
    elif action == "network.listening":
        if not report["sockets"]:
            lines.append(_("No listening socket."))
        for s in report["sockets"]:
            lines.append(
                f"  {s['proto']} {s['address']}:{s['port']}  {s['process'] or '?'}"
                + (f" ({s['pid']})" if s["pid"] else "")
            )
    elif action == "service.status":
        lines.append(
            _("%(name)s is %(active)s (%(sub)s), %(file)s.")
            % {
                "name": report["name"],
                "active": report["active_state"],
                "sub": report["sub_state"],
                "file": report["unit_file_state"] or report["load_state"],
            }
        )
        if report["dependents"]:
            lines.append(
                _("Depending on it: %(units)s") % {"units": ", ".join(report["dependents"])}
            )
    elif action == "disk.health":
        if report["healthy"]:
            lines.append(_("No sign of a failing disk (kernel messages, SMART)."))
        else:
            lines.append(_("Signs of a failing disk:"))
            lines += [f"  [{e['source']}] {e['message']}" for e in report["evidence"]]
        names = {"ok": _("ok"), "watch": _("watch"), "warning": _("warning")}
        names["critical"] = _("critical")
        for r in report.get("risks", []):
            lines.append(
                "  "
                + _("%(disk)s: risk level %(level)s")
                % {"disk": r["disk"], "level": names.get(r["level"], r["level"])}
            )
        for d in report["disks"]:
            lines.append(
                f"  {d['device']}: "
                + _("read latency %(r)s ms, write latency %(w)s ms")
                % {"r": d["read_latency_ms"], "w": d["write_latency_ms"]}
            )
    return "\n".join(lines)
