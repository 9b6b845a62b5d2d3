"""Copy-on-write preview: the real actions run over throw-away overlayfs upper directories.

The preview runs in a child process in private mount, network and PID namespaces
(``unshare``). There every writable filesystem the actions may touch (in strict
mode: every real writable filesystem) is an overlayfs mount whose upper directory
lives on a tmpfs; the others are bound read-only. The child chroots into that
copy of the machine, runs the actions for real, then reads the upper directories:
whiteouts are deleted files, opaque directories replaced ones, plain files are
created or modified. Nothing reaches the real filesystems, and everything started
there dies with the PID namespace.

Run as a module (``python -m libhfagent.executor._preview``) it is that child.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import attrs

from .._errors import ExecutionError, NotAuthorized

__all__ = [
    "Mount",
    "Preview",
    "PreviewEntry",
    "StepPreview",
    "diff_upper",
    "entries_digest",
    "parse_mountinfo",
    "run_preview",
    "select_overlays",
]

#: Filesystems that hold no files of the machine's own (kernel interfaces, devices).
PSEUDO_FSTYPES = frozenset(
    {
        "autofs",
        "binfmt_misc",
        "bpf",
        "cgroup",
        "cgroup2",
        "configfs",
        "debugfs",
        "devpts",
        "devtmpfs",
        "efivarfs",
        "fusectl",
        "hugetlbfs",
        "mqueue",
        "nsfs",
        "proc",
        "pstore",
        "rpc_pipefs",
        "securityfs",
        "selinuxfs",
        "sysfs",
        "tracefs",
    }
)
#: Pseudo filesystems left writable inside the preview (device nodes, terminals).
_WRITABLE_PSEUDO = frozenset({"devtmpfs", "devpts", "mqueue"})

Change = Literal["deleted", "created", "modified"]


@attrs.frozen
class Mount:
    """One line of ``/proc/self/mountinfo``."""

    mountpoint: str
    fstype: str
    source: str
    writable: bool


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal ``\\040``…"""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) + 0 and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[Mount]:
    """The mounts of a ``/proc/PID/mountinfo`` text, in order (proc(5))."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 10 or "-" not in fields[6:]:
            continue
        sep = fields.index("-", 6)
        options = fields[5].split(",")
        mounts.append(
            Mount(
                mountpoint=_unescape(fields[4]),
                fstype=fields[sep + 1],
                source=_unescape(fields[sep + 2]),
                writable="rw" in options,
            )
        )
    return mounts


def visible_mounts(mounts: Sequence[Mount], *, exclude: str | None = None) -> list[Mount]:
    """The top mount at each mount point, parents first; those under ``exclude`` left out."""
    top: dict[str, Mount] = {}
    for m in mounts:
        if exclude and (m.mountpoint == exclude or m.mountpoint.startswith(exclude + "/")):
            continue
        top.pop(m.mountpoint, None)
        top[m.mountpoint] = m
    return sorted(
        top.values(), key=lambda m: (m.mountpoint != "/", m.mountpoint.count("/"), m.mountpoint)
    )


def _holds(mountpoint: str, path: str) -> bool:
    return mountpoint == "/" or path == mountpoint or path.startswith(mountpoint + "/")


def select_overlays(mounts: Sequence[Mount], touched: Iterable[str], *, strict: bool) -> list[str]:
    """The mount points to overlay.

    Strict: every real writable filesystem. Otherwise: the filesystems holding a
    touched path, and those mounted below one.
    """
    real = [
        m
        for m in mounts
        if m.writable
        and m.fstype not in PSEUDO_FSTYPES
        and not m.mountpoint.startswith(("/proc/", "/sys/", "/dev/"))
        and m.mountpoint not in ("/proc", "/sys", "/dev")
    ]
    if strict:
        return [m.mountpoint for m in real]
    chosen: set[str] = set()
    for path in touched:
        holders = [m for m in real if _holds(m.mountpoint, path)]
        if holders:
            chosen.add(max(holders, key=lambda m: len(m.mountpoint)).mountpoint)
        chosen.update(m.mountpoint for m in real if _holds(path, m.mountpoint))
    return [m.mountpoint for m in real if m.mountpoint in chosen]


@attrs.frozen
class PreviewEntry:
    """One file the plan would change.

    Attributes:
        path: The file.
        change: ``deleted``, ``created`` or ``modified``.
        kind: ``file``, ``dir``, ``symlink`` or ``other``.
        size_before: Its size now (deleted, modified), in bytes.
        size_after: Its size after (created, modified), in bytes.
        mtime_ns: Its modification time now (deleted, modified).
        inode: Its inode now (deleted, modified).
    """

    path: str
    change: Change
    kind: str
    size_before: int | None = None
    size_after: int | None = None
    mtime_ns: int | None = None
    inode: int | None = None

    def key(self) -> list[Any]:
        """What the digest covers: the file as it is now, and the change."""
        if self.change == "created":
            return [self.path, self.change, self.kind, self.size_after]
        return [
            self.path,
            self.change,
            self.kind,
            self.size_before,
            self.size_after,
            self.mtime_ns,
            self.inode,
        ]

    @property
    def freed(self) -> int:
        """Bytes this change frees (negative when it takes space); directories count 0."""
        if self.kind == "dir":
            return 0
        return (self.size_before or 0) - (self.size_after or 0)


@attrs.frozen
class StepPreview:
    """How one step was previewed.

    Attributes:
        action: The step's action id.
        args: Its concrete arguments.
        simulated: Whether it really ran over the overlay.
        report: What it reported there (simulated), or what is known instead
            (unit state and dependents, the ``apt-get -s`` list).
        error: Why it failed in the preview (empty when it did not).
    """

    action: str
    args: Mapping[str, Any]
    simulated: bool
    report: Mapping[str, Any] = attrs.field(factory=dict)
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "action": self.action,
            "args": dict(self.args),
            "simulated": self.simulated,
            "report": dict(self.report),
            "error": self.error,
        }


def entries_digest(entries: Iterable[PreviewEntry], steps: Iterable[StepPreview] = ()) -> str:
    """SHA-256 of the canonical entry list (and of the steps that were not simulated)."""
    canon = {
        "entries": [e.key() for e in sorted(entries, key=lambda e: (e.path, e.change))],
        "not_simulated": [[s.action, dict(s.args)] for s in steps if not s.simulated],
    }
    text = json.dumps(canon, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


@attrs.frozen
class Preview:
    """The exact changes a plan would make, as seen over the overlay.

    Attributes:
        entries: The files deleted, created and modified, by path.
        steps: How each step was previewed.
        mode: ``strict`` (every writable filesystem overlaid) or ``permissive``.
        overlaid: The mount points that were overlaid.
        seconds: How long the preview took.
        digest: SHA-256 of the canonical entry list.
    """

    entries: tuple[PreviewEntry, ...]
    steps: tuple[StepPreview, ...]
    mode: str = "strict"
    overlaid: tuple[str, ...] = ()
    seconds: float = 0.0
    digest: str = ""

    @property
    def deleted(self) -> int:
        """Files (not directories) deleted."""
        return sum(1 for e in self.entries if e.change == "deleted" and e.kind != "dir")

    @property
    def created(self) -> int:
        """Files (not directories) created."""
        return sum(1 for e in self.entries if e.change == "created" and e.kind != "dir")

    @property
    def modified(self) -> int:
        """Files modified."""
        return sum(1 for e in self.entries if e.change == "modified")

    @property
    def bytes_freed(self) -> int:
        """Net bytes freed (deleted and shrunk minus created and grown)."""
        return sum(e.freed for e in self.entries)

    @property
    def complete(self) -> bool:
        """Whether every step was simulated without error."""
        return all(s.simulated and not s.error for s in self.steps)

    @property
    def failed(self) -> str:
        """The first step error of the preview (empty when none)."""
        return next((f"{s.action}: {s.error}" for s in self.steps if s.error), "")

    def totals(self) -> dict[str, int]:
        """The counts and bytes freed."""
        return {
            "deleted": self.deleted,
            "created": self.created,
            "modified": self.modified,
            "bytes_freed": self.bytes_freed,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what the plan file keeps and ``--json`` prints)."""
        return {
            "digest": self.digest,
            "mode": self.mode,
            "overlaid": list(self.overlaid),
            "seconds": round(self.seconds, 3),
            "totals": self.totals(),
            "steps": [s.to_dict() for s in self.steps],
            "entries": [attrs.asdict(e) for e in self.entries],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preview:
        """The inverse of :meth:`to_dict`."""
        return cls(
            entries=tuple(PreviewEntry(**e) for e in data["entries"]),
            steps=tuple(StepPreview(**s) for s in data["steps"]),
            mode=data.get("mode", "strict"),
            overlaid=tuple(data.get("overlaid", ())),
            seconds=float(data.get("seconds", 0.0)),
            digest=data["digest"],
        )


# --- reading an upper directory ----------------------------------------------------------


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "other"


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def _deleted(path: str, st: os.stat_result) -> PreviewEntry:
    return PreviewEntry(
        path,
        "deleted",
        _kind(st.st_mode),
        size_before=None if stat.S_ISDIR(st.st_mode) else st.st_size,
        mtime_ns=st.st_mtime_ns,
        inode=st.st_ino,
    )


def _deleted_tree(path: str, st: os.stat_result, out: list[PreviewEntry]) -> None:
    """A lower file, or a lower directory and everything under it, deleted."""
    out.append(_deleted(path, st))
    if not stat.S_ISDIR(st.st_mode):
        return
    try:
        with os.scandir(path) as it:
            children = list(it)
    except OSError:
        return
    for child in children:
        cst = _lstat(child.path)
        if cst is not None:
            _deleted_tree(child.path, cst, out)


def _is_opaque(path: str) -> bool:
    for name in ("trusted.overlay.opaque", "user.overlay.opaque"):
        try:
            if os.getxattr(path, name, follow_symlinks=False) in (b"y", b"x"):
                return True
        except OSError:
            continue
    return False


def diff_upper(upper: str, lower_root: str) -> list[PreviewEntry]:
    """The changes recorded in an overlayfs upper directory over ``lower_root``.

    The lower files are read at their real paths (``lower_root`` + relative path).
    """
    out: list[PreviewEntry] = []
    stack = [""]
    base = lower_root.rstrip("/")
    while stack:
        rel = stack.pop()
        updir = os.path.join(upper, rel) if rel else upper
        try:
            with os.scandir(updir) as it:
                entries = list(it)
        except OSError:
            continue
        if rel:
            real_dir = f"{base}/{rel}"
            dst = _lstat(real_dir)
            if dst is not None and stat.S_ISDIR(dst.st_mode) and _is_opaque(updir):
                names = {e.name for e in entries}
                try:
                    with os.scandir(real_dir) as it:
                        lower_children = [c for c in it if c.name not in names]
                except OSError:
                    lower_children = []
                for child in lower_children:
                    cst = _lstat(child.path)
                    if cst is not None:
                        _deleted_tree(child.path, cst, out)
        for entry in entries:
            r = f"{rel}/{entry.name}" if rel else entry.name
            real = f"{base}/{r}"
            st = entry.stat(follow_symlinks=False)
            lower = _lstat(real)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                if lower is not None:
                    _deleted_tree(real, lower, out)
                continue
            if stat.S_ISDIR(st.st_mode):
                if lower is None or not stat.S_ISDIR(lower.st_mode):
                    if lower is not None:
                        _deleted_tree(real, lower, out)
                    out.append(PreviewEntry(real, "created", "dir"))
                stack.append(r)
                continue
            size = st.st_size
            if lower is None:
                out.append(PreviewEntry(real, "created", _kind(st.st_mode), size_after=size))
                continue
            if stat.S_ISDIR(lower.st_mode):
                _deleted_tree(real, lower, out)
                out.append(PreviewEntry(real, "created", _kind(st.st_mode), size_after=size))
                continue
            same = (
                lower.st_size == size
                and lower.st_mtime_ns == st.st_mtime_ns
                and lower.st_mode == st.st_mode
                and (lower.st_uid, lower.st_gid) == (st.st_uid, st.st_gid)
            )
            if not same:
                out.append(
                    PreviewEntry(
                        real,
                        "modified",
                        _kind(st.st_mode),
                        size_before=lower.st_size,
                        size_after=size,
                        mtime_ns=lower.st_mtime_ns,
                        inode=lower.st_ino,
                    )
                )
    return out


# --- the parent side -------------------------------------------------------------------


def run_preview(
    steps: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    state_dir: Path,
    touched: Iterable[str],
    strict: bool = True,
    known: Mapping[int, Mapping[str, Any]] | None = None,
    simulable: Sequence[bool] | None = None,
    now: float | None = None,
    timeout: float = 3600.0,
) -> Preview:
    """Run ``steps`` over the overlay and return the changes they made there.

    Args:
        steps: ``(action, concrete args)`` in order.
        state_dir: The agent's state directory (seen by the actions).
        touched: The paths the steps may change (permissive mode overlays their filesystems).
        strict: Overlay every real writable filesystem.
        known: For steps that cannot be simulated (by index): what is known instead.
        simulable: Which steps can run over the overlay (all by default).
        now: The time the actions see (defaults to now).
        timeout: Seconds before the preview is abandoned.

    Raises:
        NotAuthorized: Not running as root.
        ExecutionError: The sandbox could not be set up.
    """
    if os.geteuid() != 0:
        raise NotAuthorized(
            "the preview needs root: it runs the actions over overlayfs mounts in a private "
            "mount namespace, which only root may create; nothing was changed. Run the "
            "command as root (sudo hf-agent …)"
        )
    started = time.perf_counter()
    simulable = list(simulable) if simulable is not None else [True] * len(steps)
    known = known or {}
    mounts = parse_mountinfo(Path("/proc/self/mountinfo").read_text(encoding="utf-8"))
    touched = [*touched, str(state_dir)]
    overlaid = select_overlays(visible_mounts(mounts), touched, strict=strict)
    scratch = tempfile.mkdtemp(prefix="hf-agent-preview.")
    job = {
        "scratch": scratch,
        "overlay": overlaid,
        "state_dir": str(state_dir),
        "now": time.time() if now is None else now,
        "steps": [
            {"action": a, "args": dict(args)} if simulable[i] else None
            for i, (a, args) in enumerate(steps)
        ],
    }
    package_parent = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    argv = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--net",
        "--pid",
        "--fork",
        "--kill-child",
        "--",
        sys.executable,
        "-m",
        "libhfagent.executor._preview",
    ]
    try:
        proc = subprocess.run(
            argv,
            input=json.dumps(job),
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ExecutionError(f"preview: the actions did not finish within {timeout:g} s") from exc
    except FileNotFoundError as exc:
        raise ExecutionError("preview: unshare (util-linux) is not installed") from exc
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(scratch)
    if proc.returncode != 0:
        raise ExecutionError(
            f"preview: the sandbox failed (exit {proc.returncode}): "
            + (proc.stderr.strip()[-800:] or "no message")
        )
    try:
        result = json.loads(proc.stdout)
    except ValueError as exc:
        raise ExecutionError(
            f"preview: unreadable result from the sandbox: {proc.stdout[:200]!r}"
        ) from exc
    step_previews = []
    for i, (action, args) in enumerate(steps):
        if simulable[i]:
            ran = result["steps"][i]
            if ran is None:  # not reached: an earlier step failed
                step_previews.append(
                    StepPreview(action, dict(args), True, {}, "not run: an earlier step failed")
                )
            else:
                step_previews.append(
                    StepPreview(
                        action, dict(args), True, ran.get("report", {}), ran.get("error", "")
                    )
                )
        else:
            step_previews.append(StepPreview(action, dict(args), False, dict(known.get(i, {}))))
    entries = tuple(
        sorted(
            (PreviewEntry(**e) for e in result["entries"]),
            key=lambda e: (e.path, e.change),
        )
    )
    return Preview(
        entries=entries,
        steps=tuple(step_previews),
        mode="strict" if strict else "permissive",
        overlaid=tuple(overlaid),
        seconds=time.perf_counter() - started,
        digest=entries_digest(entries, step_previews),
    )


# --- the child side (in the namespaces) --------------------------------------------------

_MS_RDONLY, _MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 1, 32, 4096, 16384, 1 << 18


def _enc(text: str | None) -> bytes | None:
    return None if text is None else text.encode("utf-8", "surrogateescape")


def _mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None
) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(_enc(source), _enc(target), _enc(fstype), ctypes.c_ulong(flags), _enc(data)) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {fstype or 'bind'} {source} on {target}: {os.strerror(errno)}")


def _esc(path: str) -> str:
    return path.replace("\\", "\\\\").replace(",", "\\,").replace(":", "\\:")


def _setup(job: Mapping[str, Any]) -> tuple[str, list[tuple[str, str]]]:
    """Mount the tmpfs, the overlays and the read-only binds; the root and (upper, lower) pairs."""
    scratch = job["scratch"]
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE, None)
    _mount("hf-agent-preview", scratch, "tmpfs", 0, "mode=0700")
    root = os.path.join(scratch, "root")
    os.mkdir(root)
    overlays = set(job["overlay"])
    mounts = visible_mounts(
        parse_mountinfo(Path("/proc/self/mountinfo").read_text(encoding="utf-8")), exclude=scratch
    )
    uppers: list[tuple[str, str]] = []
    for i, m in enumerate(mounts):
        mp = m.mountpoint
        if mp != "/" and (mp == "/proc" or mp.startswith("/proc/")):
            if mp == "/proc":
                _mount("proc", root + "/proc", "proc", 0, None)
            continue
        target = root if mp == "/" else root + mp
        if mp != "/" and not os.path.isdir(target) and not os.path.exists(target):
            continue
        if mp in overlays and os.path.isdir(mp):
            upper, work = f"{scratch}/u{i}", f"{scratch}/w{i}"
            os.mkdir(upper)
            os.mkdir(work)
            _mount(
                "overlay",
                target,
                "overlay",
                0,
                f"lowerdir={_esc(mp)},upperdir={_esc(upper)},workdir={_esc(work)},"
                "redirect_dir=off,metacopy=off",
            )
            uppers.append((upper, mp))
            continue
        try:
            _mount(mp, target, None, _MS_BIND, None)
            if m.fstype not in _WRITABLE_PSEUDO:
                _mount(None, target, None, _MS_BIND | _MS_REMOUNT | _MS_RDONLY, None)
        except OSError:
            if mp == "/":
                raise
    return root, uppers


def _run_steps(job: Mapping[str, Any], root: str) -> list[Any]:
    """Fork, chroot into the overlay and run the steps there; their reports."""
    from ._actions import ActionContext, get_action

    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked child
        status = 0
        try:
            os.close(read_fd)
            os.chroot(root)
            os.chdir("/")
            ctx = ActionContext(Path(job["state_dir"]), "preview", job["now"], previewing=True)
            reports: list[Any] = []
            failed = False
            for step in job["steps"]:
                if step is None or failed:
                    reports.append(None)
                    continue
                try:
                    action = get_action(step["action"])
                    res = action.run(action.check(step["args"]), ctx)
                    reports.append({"report": dict(res.report)})
                except Exception as exc:  # the preview reports every failure
                    reports.append({"error": str(exc) or type(exc).__name__})
                    failed = True
            with os.fdopen(write_fd, "w") as out:
                json.dump(reports, out)
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        text = pipe.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not text:
        raise RuntimeError("the actions' process in the preview failed")
    results: list[Any] = json.loads(text)
    return results


def _child_main() -> int:
    sys.dont_write_bytecode = True
    job = json.load(sys.stdin)
    try:
        root, uppers = _setup(job)
        results = _run_steps(job, root)
    except (OSError, RuntimeError) as exc:
        sys.stderr.write(f"{exc}\n")
        return 3
    entries: list[PreviewEntry] = []
    for upper, lower in uppers:
        entries.extend(diff_upper(upper, lower))
    scratch = job["scratch"]
    entries = [e for e in entries if not (e.path == scratch or e.path.startswith(scratch + "/"))]
    json.dump({"steps": results, "entries": [attrs.asdict(e) for e in entries]}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())
