"""Typed actions: checked arguments, what each touches, how it runs and how it is undone.

No action ever builds a shell string: external programs run from argv lists, and
every entity (path, unit name, size, duration, cron expression) is checked before
anything runs. Bad input raises :class:`~libhfagent._errors.RequestError` and
changes nothing.
"""

from __future__ import annotations

import fnmatch
import gzip
import os
import re
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs

from .._errors import ExecutionError, RequestError

__all__ = [
    "ACTIONS",
    "Action",
    "ActionContext",
    "ActionResult",
    "Touches",
    "check_path",
    "check_unit",
    "get_action",
]

#: Characters refused in any path: shell metacharacters and control characters.
#: Nothing here reaches a shell, but such a path is never a sane cleanup target.
_BAD_PATH_CHARS = re.compile(r"[\x00-\x1f\x7f;|&$`<>]")
#: systemd unit names: ASCII letters, digits, ``:-_.\@`` (systemd.unit(5)).
_UNIT = re.compile(r"[A-Za-z0-9:_.\\@-]{1,250}")
_UNIT_SUFFIXES = (".service", ".socket", ".timer", ".target", ".mount", ".path")
#: Never a target of a file action, whatever the policy says (defence in depth).
_NEVER_TOUCHED = (
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/proc",
    "/sbin",
    "/sys",
    "/usr",
    "/var/lib/dpkg",
)
#: Bound of every tree walk (files looked at).
MAX_WALK = 2_000_000


def check_path(value: Any, key: str = "path", *, final_link: bool = False) -> str:
    """An absolute, normalised path without symbolic links, or :class:`RequestError`.

    Refuses control characters (NUL, newline), shell metacharacters, relative
    paths, ``..`` and ``.`` components, and paths that go through a symbolic
    link (``/tmp/x`` → ``/etc``): the real path must be given.
    """
    if not isinstance(value, str) or not value:
        raise RequestError(f"{key}: expected an absolute path, got {value!r}")
    if _BAD_PATH_CHARS.search(value):
        raise RequestError(
            f"{key}: {value!r} contains a control or shell character (; | & $ ` < > or a "
            "newline); give a plain absolute path"
        )
    if not value.startswith("/"):
        raise RequestError(f"{key}: {value!r} is not an absolute path")
    parts = value.split("/")
    if ".." in parts or "." in parts:
        raise RequestError(f"{key}: {value!r} contains '..' or '.'; give the normalised path")
    norm = os.path.normpath(value)
    if norm.startswith("//"):
        norm = "/" + norm.lstrip("/")
    head, tail = os.path.split(norm)
    real = os.path.join(os.path.realpath(head), tail) if final_link else os.path.realpath(norm)
    if real != norm:
        raise RequestError(
            f"{key}: {value!r} goes through a symbolic link (it leads to {real}); "
            "give the real path"
        )
    return norm


def _check_changeable(path: str, key: str, *, final_link: bool = False) -> str:
    path = check_path(path, key, final_link=final_link)
    for root in _NEVER_TOUCHED:
        if path == root or path.startswith(root + "/"):
            raise RequestError(f"{key}: {path} is under {root}, which file actions never touch")
    if path in ("/", "/home", "/root", "/var", "/var/lib"):
        raise RequestError(f"{key}: {path} is a system root, which file actions never touch")
    return path


def check_unit(value: Any) -> str:
    """A systemd unit name (``.service`` added when it has no suffix), or :class:`RequestError`."""
    if not isinstance(value, str) or not _UNIT.fullmatch(value) or value.startswith("-"):
        raise RequestError(
            f"service: {value!r} is not a systemd unit name (letters, digits and :-_.\\@ only)"
        )
    return value if value.endswith(_UNIT_SUFFIXES) else value + ".service"


def _number(args: Mapping[str, Any], key: str, *, minimum: float = 0) -> float | None:
    value = args.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise RequestError(f"{key}: expected a number ≥ {minimum:g}, got {value!r}")
    return float(value)


def _paths(args: Mapping[str, Any], *, changeable: bool = True) -> list[str]:
    raw = args.get("paths", args.get("path"))
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list | tuple) or not raw:
        raise RequestError(f"paths: expected a list of absolute paths, got {raw!r}")
    check = _check_changeable if changeable else check_path
    return sorted({check(p, "paths") for p in raw})


@attrs.frozen
class Touches:
    """What an action may change or read: paths and systemd units."""

    paths: tuple[str, ...] = ()
    units: tuple[str, ...] = ()


@attrs.frozen
class ActionContext:
    """Where and for which plan an action runs.

    Attributes:
        state_dir: The agent's state directory (quarantine, plans, jobs).
        plan_id: The plan being applied (``preview`` while previewing).
        now: The current time, seconds since the epoch.
        previewing: Whether the action runs inside the copy-on-write preview.
    """

    state_dir: Path
    plan_id: str
    now: float = attrs.field(factory=time.time)
    previewing: bool = False


@attrs.frozen
class ActionResult:
    """What one action did.

    Attributes:
        report: JSON-ready facts (counts, files, the program's output).
        undo: What undoing needs (a quarantine manifest, the unit's previous state).
    """

    report: Mapping[str, Any] = attrs.field(factory=dict)
    undo: Mapping[str, Any] = attrs.field(factory=dict)


class Action:
    """One typed action. Subclasses set the class attributes and override the methods.

    Attributes:
        id: The action id of plan steps.
        changes_system: Whether running it changes the machine.
        simulable: Whether the copy-on-write preview can run it for real.
        undo: How it is undone (an English msgid; the CLI translates it).
    """

    id: ClassVar[str] = ""
    changes_system: ClassVar[bool] = True
    simulable: ClassVar[bool] = True
    undo: ClassVar[str] = "none"

    @property
    def reads_or_changes(self) -> str:
        """``changes`` or ``reads``."""
        return "changes" if self.changes_system else "reads"

    def check(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """The arguments checked and normalised.

        Raises:
            RequestError: An argument is missing, of the wrong type or refused.
        """
        return dict(args)

    def touches(self, args: Mapping[str, Any]) -> Touches:
        """The paths and units the action may change (or read, for probes)."""
        return Touches()

    def resolve(self, args: Mapping[str, Any], ctx: ActionContext) -> dict[str, Any]:
        """The concrete arguments to preview and apply (file selections made explicit)."""
        return dict(args)

    def run(self, args: Mapping[str, Any], ctx: ActionContext) -> ActionResult:
        """Do it.

        Raises:
            ExecutionError: It failed; what was done before the failure is in the message.
        """
        raise NotImplementedError

    def revert(self, args: Mapping[str, Any], undo: Mapping[str, Any], ctx: ActionContext) -> str:
        """Undo what :meth:`run` did; returns what was done.

        Raises:
            ExecutionError: It cannot be undone (the message says why).
        """
        raise ExecutionError(f"{self.id}: cannot be undone ({self.undo})")


def _run_argv(argv: Sequence[str], *, timeout: float = 600, what: str = "") -> str:
    """Run a program from an argv list; its stdout, or :class:`ExecutionError`."""
    try:
        proc = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"},
        )
    except FileNotFoundError as exc:
        raise ExecutionError(f"{what or argv[0]}: {argv[0]} is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise ExecutionError(f"{what or argv[0]}: no answer within {timeout:g} s") from exc
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ExecutionError(
            f"{what or argv[0]}: {' '.join(argv)} failed (exit {proc.returncode}): "
            + " / ".join(detail)
        )
    return proc.stdout + proc.stderr


# --- file selections ----------------------------------------------------------------


def walk_files(
    roots: Sequence[str], *, limit: int = MAX_WALK
) -> Iterator[tuple[str, os.stat_result]]:
    """Regular files and symbolic links under ``roots`` (never followed), with their lstat.

    Raises:
        RequestError: More than ``limit`` entries.
    """
    seen = 0
    stack = list(reversed(roots))
    while stack:
        top = stack.pop()
        try:
            st = os.lstat(top)
        except FileNotFoundError:
            continue
        if not stat.S_ISDIR(st.st_mode):
            if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
                yield top, st
            continue
        try:
            entries = sorted(os.scandir(top), key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for entry in entries:
            seen += 1
            if seen > limit:
                raise RequestError(
                    f"paths: more than {limit} entries under {', '.join(roots)}; narrow the path"
                )
            if entry.is_dir(follow_symlinks=False):
                subdirs.append(entry.path)
            elif entry.is_file(follow_symlinks=False) or entry.is_symlink():
                yield entry.path, entry.stat(follow_symlinks=False)
        stack.extend(reversed(subdirs))


def _selection(args: Mapping[str, Any]) -> dict[str, Any]:
    """The selection arguments of the file actions, checked."""
    out: dict[str, Any] = {"paths": _paths(args)}
    patterns = args.get("patterns")
    if patterns is not None:
        if not isinstance(patterns, list | tuple) or not all(
            isinstance(p, str) and p and "/" not in p and "\x00" not in p for p in patterns
        ):
            raise RequestError(
                f"patterns: expected file-name patterns like '*.gz', got {patterns!r}"
            )
        out["patterns"] = list(patterns)
    for key in ("older_than", "size"):
        value = _number(args, key)
        if value is not None:
            out[key] = int(value)
    if "files" in args:
        files = args["files"]
        if not isinstance(files, list | tuple):
            raise RequestError("files: expected a list of paths")
        roots = out["paths"]
        checked = []
        for f in files:
            # The files of a resolved selection are checked like user paths, and must lie
            # under the selection's roots.
            path = _check_changeable(f, "files", final_link=True)
            if not any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots):
                raise RequestError(f"files: {path} is not under {', '.join(roots)}")
            checked.append(path)
        out["files"] = sorted(set(checked))
    return out


def _select(args: Mapping[str, Any], now: float, *, regular_only: bool = False) -> list[str]:
    patterns = args.get("patterns")
    older = args.get("older_than")
    size = args.get("size")
    chosen = []
    for path, st in walk_files(args["paths"]):
        if regular_only and not stat.S_ISREG(st.st_mode):
            continue
        name = os.path.basename(path)
        if patterns and not any(fnmatch.fnmatchcase(name, p) for p in patterns):
            continue
        if older is not None and st.st_mtime > now - older:
            continue
        if size is not None and st.st_size < size:
            continue
        chosen.append(path)
    return chosen


class _FileAction(Action):
    regular_only: ClassVar[bool] = False

    def check(self, args: Mapping[str, Any]) -> dict[str, Any]:
        return _selection(args)

    def touches(self, args: Mapping[str, Any]) -> Touches:
        return Touches(tuple(args["paths"]))

    def resolve(self, args: Mapping[str, Any], ctx: ActionContext) -> dict[str, Any]:
        checked = self.check(args)
        if "files" not in checked:
            checked["files"] = _select(checked, ctx.now, regular_only=self.regular_only)
        return checked

    def _files(self, args: Mapping[str, Any], ctx: ActionContext) -> list[str]:
        return list(args["files"]) if "files" in args else self.resolve(args, ctx)["files"]


class DeleteFiles(_FileAction):
    """``files.delete``: delete files (a selection by pattern, age and size under paths)."""

    id = "files.delete"
    undo = "none: deletion is final"

    def run(self, args: Mapping[str, Any], ctx: ActionContext) -> ActionResult:
        deleted, freed = 0, 0
        for path in self._files(args, ctx):
            try:
                st = os.lstat(path)
                os.unlink(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise ExecutionError(
                    f"files.delete: cannot delete {path}: {exc.strerror} "
                    f"({deleted} files deleted before it)"
                ) from exc
            deleted += 1
            freed += st.st_size
        return ActionResult({"deleted": deleted, "bytes": freed})


class CompressFiles(_FileAction):
    """``files.compress``: gzip -9 files in place (``name.gz``), keeping mode, owner, mtime."""

    id = "files.compress"
    undo = "decompress the .gz files back"
    regular_only = True
    _SKIP = (".gz", ".xz", ".bz2", ".zst", ".zip", ".lz4", ".7z")

    def resolve(self, args: Mapping[str, Any], ctx: ActionContext) -> dict[str, Any]:
        out = super().resolve(args, ctx)
        out["files"] = [f for f in out["files"] if not f.endswith(self._SKIP)]
        return out

    def run(self, args: Mapping[str, Any], ctx: ActionContext) -> ActionResult:
        done: list[str] = []
        before = after = 0
        for path in self._files(args, ctx):
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            target = path + ".gz"
            if os.path.lexists(target):
                raise ExecutionError(
                    f"files.compress: {target} already exists; {len(done)} files compressed "
                    "before it"
                )
            _gzip(path, target, st)
            os.unlink(path)
            done.append(path)
            before += st.st_size
            after += os.lstat(target).st_size
        return ActionResult(
            {"compressed": len(done), "bytes_before": before, "bytes_after": after},
            {"files": done},
        )

    def revert(self, args: Mapping[str, Any], undo: Mapping[str, Any], ctx: ActionContext) -> str:
        restored = 0
        for path in undo.get("files", ()):
            source = path + ".gz"
            if os.path.lexists(path) or not os.path.exists(source):
                continue
            st = os.lstat(source)
            tmp = path + ".hf-agent-tmp"
            with gzip.open(source, "rb") as src, open(tmp, "xb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            _copy_meta(tmp, st)
            os.replace(tmp, path)
            os.unlink(source)
            restored += 1
        return f"{restored} files decompressed"


def _gzip(path: str, target: str, st: os.stat_result) -> None:
    tmp = target + ".hf-agent-tmp"
    try:
        with open(path, "rb") as src, open(tmp, "xb") as raw:
            with gzip.GzipFile(
                filename=os.path.basename(path),
                mode="wb",
                compresslevel=9,
                fileobj=raw,
                mtime=int(st.st_mtime),
            ) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            raw.flush()
            os.fsync(raw.fileno())
        _copy_meta(tmp, st)
        os.replace(tmp, target)
    except OSError as exc:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise ExecutionError(f"files.compress: cannot compress {path}: {exc.strerror}") from exc


def _copy_meta(path: str, st: os.stat_result) -> None:
    os.chmod(path, stat.S_IMODE(st.st_mode))
    if os.geteuid() == 0:
        os.chown(path, st.st_uid, st.st_gid)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


class QuarantineFiles(_FileAction):
    """``files.quarantine``: move files into ``<state_dir>/quarantine/<plan_id>/``."""

    id = "files.quarantine"
    undo = "restore from quarantine"

    def run(self, args: Mapping[str, Any], ctx: ActionContext) -> ActionResult:
        from ._quarantine import Quarantine

        box = Quarantine(ctx.state_dir, ctx.plan_id)
        moved = box.put(self._files(args, ctx))
        return ActionResult(
            {"quarantined": len(moved), "bytes": sum(e.size for e in moved), "where": str(box.dir)},
            {"quarantine": str(box.dir)},
        )

    def revert(self, args: Mapping[str, Any], undo: Mapping[str, Any], ctx: ActionContext) -> str:
        from ._quarantine import Quarantine

        restored = Quarantine(ctx.state_dir, ctx.plan_id).restore()
        return f"{len(restored)} files restored from quarantine"


# --- programs -------------------------------------------------------------------------


class VacuumJournal(Action):
    """``journal.vacuum``: ``journalctl --vacuum-size=`` / ``--vacuum-time=``."""

    id = "journal.vacuum"
    undo = "none: vacuumed journal files are deleted"

    def check(self, args: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        size = _number(args, "max_size")
        age = _number(args, "older_than", minimum=1)
        if size is not None:
            out["max_size"] = int(size)
        if age is not None:
            out["older_than"] = int(age)
        if not out:
            out["older_than"] = 30 * 86400
        if "directory" in args:
            out["directory"] = _check_changeable(args["directory"], "directory")
        return out

    def touches(self, args: Mapping[str, Any]) -> Touches:
        return Touches((args.get("directory", "/var/log/journal"),))

    def argv(self, args: Mapping[str, Any]) -> list[str]:
        """The journalctl command line."""
        argv = ["journalctl"]
        if "directory" in args:
            argv.append(f"--directory={args['directory']}")
        if "max_size" in args:
            argv.append(f"--vacuum-size={int(args['max_size'])}")
        if "older_than" in args:
            argv.append(f"--vacuum-time={int(args['older_than'])}s")
        return argv

    def run(self, args: Mapping[str, Any], ctx: ActionContext) -> ActionResult:
        out = _run_argv(self.argv(self.check(args)), what="journal.vacuum")
        return ActionResult({"output": out.strip()[-2000:]})


class CleanApt(Action):
    """``apt.clean``: ``apt-get clean`` (downloaded package files)."""

    id = "apt.clean"
    undo = "none: the package files can be downloaded again"

    def check(self, args: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "cache_dir" in args:
            out["cache_dir"] = _check_changeable(args["cache_dir"], "cache_dir")
        return out

    def touches(self, args: Mapping[str, Any]) -> Touches:
        return Touches((args.get("cache_dir", "/var/cache/apt"),))

    def argv(self, args: Mapping[str, Any]) -> list[str]:
        """The apt-get command line."""
        argv = ["apt-get"]
        if "cache_dir" in args:
            argv += ["-o", f"Dir::Cache={args['cache_dir']}"]
        return [*argv, "clean"]

    def run(self, args: Mapping[str, Any], ctx: ActionContext) -> ActionResult:
        _run_argv(self.argv(self.check(args)), what="apt.clean")
        return ActionResult({"cleaned": True})


class SyncBackup(Action):
    """``backup.sync``: ``rsync -a [--delete] SOURCE/ DESTINATION/``."""

    id = "backup.sync"
    undo = "none: the destination's previous content is not kept"

    def check(self, args: Mapping[str, Any]) -> dict[str, Any]:
        source = check_path(args.get("source", args.get("path")), "source")
        dest = _check_changeable(args.get("destination", ""), "destination")
        if dest == source or dest.startswith(source + "/") or source.startswith(dest + "/"):
            raise RequestError(f"destination: {dest} and source {source} overlap")
        return {"source": source, "destination": dest, "delete": bool(args.get("delete", False))}

    def touches(self, args: Mapping[str, Any]) -> Touches:
        return Touches((args["destination"],))

    def argv(self, args: Mapping[str, Any], *, dry_run: bool = False) -> list[str]:
        """The rsync command line."""
        argv = ["rsync", "-a"]
        if args.get("delete"):
            argv.append("--delete")
        if dry_run:
            argv += ["--dry-run", "--itemize-changes"]
        return [
            *argv,
            "--",
            args["source"].rstrip("/") + "/",
            args["destination"].rstrip("/") + "/",
        ]

    def run(self, args: Mapping[str, Any], ctx: ActionContext) -> ActionResult:
        checked = self.check(args)
        os.makedirs(checked["destination"], exist_ok=True)
        out = _run_argv(self.argv(checked), what="backup.sync", timeout=24 * 3600)
        return ActionResult({"output": out.strip()[-2000:]})


class AddSchedule(Action):
    """``schedule.add``: a job record in ``<state_dir>/scheduler/jobs.json`` (the scheduler's)."""

    id = "schedule.add"
    undo = "remove the job"

    def check(self, args: Mapping[str, Any]) -> dict[str, Any]:
        from ..daemon._scheduler import check_cron, check_job_name

        cron, task = args.get("cron"), args.get("task")
        if not isinstance(cron, str):
            raise RequestError(f"cron: expected a five-field cron expression, got {cron!r}")
        cron = check_cron(cron)
        if not isinstance(task, str) or not task.strip() or _BAD_PATH_CHARS.search(task):
            raise RequestError("task: expected the request to run, on one line")
        name = args.get("name") or re.sub(r"[^a-z0-9]+", "-", task.lower()).strip("-")[:40]
        return {"cron": cron, "task": task.strip(), "name": check_job_name(name)}

    def touches(self, args: Mapping[str, Any]) -> Touches:
        return Touches()

    def run(self, args: Mapping[str, Any], ctx: ActionContext) -> ActionResult:
        import datetime as dt

        from ..daemon._scheduler import jobs_file, read_requested, write_requested

        job = self.check(args)
        jobs = read_requested(ctx.state_dir)
        if any(j.get("name") == job["name"] for j in jobs):
            raise ExecutionError(f"schedule.add: a job named {job['name']!r} already exists")
        created = dt.datetime.fromtimestamp(ctx.now, dt.UTC).isoformat()
        jobs.append({**job, "origin": "request", "created": created, "plan_id": ctx.plan_id})
        write_requested(ctx.state_dir, jobs)
        return ActionResult(
            {"job": job, "file": str(jobs_file(ctx.state_dir))}, {"name": job["name"]}
        )

    def revert(self, args: Mapping[str, Any], undo: Mapping[str, Any], ctx: ActionContext) -> str:
        from ..daemon._scheduler import read_requested, write_requested

        kept = [j for j in read_requested(ctx.state_dir) if j.get("name") != undo.get("name")]
        write_requested(ctx.state_dir, kept)
        return f"job {undo.get('name')!r} removed"


class _ServiceAction(Action):
    simulable = False
    undo = "return the unit to its previous state"
    verb: ClassVar[str] = ""

    def check(self, args: Mapping[str, Any]) -> dict[str, Any]:
        return {"service": check_unit(args.get("service"))}

    def touches(self, args: Mapping[str, Any]) -> Touches:
        return Touches(units=(args["service"],))

    def run(self, args: Mapping[str, Any], ctx: ActionContext) -> ActionResult:
        from ._systemd import Systemd

        unit = self.check(args)["service"]
        systemd = Systemd()
        before = systemd.unit_state(unit)
        result = systemd.job(self.verb, unit)
        after = systemd.unit_state(unit)
        if result != "done":
            raise ExecutionError(
                f"{self.id}: systemd's job for {unit} ended with {result!r}; "
                f"the unit is now {after.active_state}/{after.sub_state}"
            )
        return ActionResult(
            {"service": unit, "before": before.to_dict(), "after": after.to_dict()},
            {"active_state": before.active_state},
        )

    def revert(self, args: Mapping[str, Any], undo: Mapping[str, Any], ctx: ActionContext) -> str:
        from ._systemd import Systemd

        unit = self.check(args)["service"]
        was = undo.get("active_state")
        systemd = Systemd()
        if was == "active":
            verb = "restart" if self.verb == "restart" else "start"
            if self.verb == "restart":
                return f"{unit}: a restart cannot be taken back; it is running"
        elif was in ("inactive", "failed"):
            verb = "stop"
        else:
            raise ExecutionError(f"{unit}: its previous state {was!r} cannot be restored")
        result = systemd.job(verb, unit)
        return f"{unit}: {verb} ({result})"


class RestartService(_ServiceAction):
    """``service.restart``: systemd RestartUnit, job awaited."""

    id = "service.restart"
    verb = "restart"
    undo = "none: a restart cannot be taken back"


class StartService(_ServiceAction):
    """``service.start``: systemd StartUnit, job awaited."""

    id = "service.start"
    verb = "start"


class StopService(_ServiceAction):
    """``service.stop``: systemd StopUnit, job awaited."""

    id = "service.stop"
    verb = "stop"


class UpdatePackages(Action):
    """``packages.update``: list pending updates, simulate, or apply security-only / all."""

    id = "packages.update"
    simulable = False
    undo = "none: packages are not downgraded automatically"

    def check(self, args: Mapping[str, Any]) -> dict[str, Any]:
        mode = args.get("mode", "list")
        if mode not in ("list", "security", "all"):
            raise RequestError(f"mode: expected list, security or all, got {mode!r}")
        return {"mode": mode}

    def touches(self, args: Mapping[str, Any]) -> Touches:
        return Touches(("/usr", "/etc", "/var/lib/dpkg"))

    def run(self, args: Mapping[str, Any], ctx: ActionContext) -> ActionResult:
        from ._packages import apply_argv, simulate_upgrade

        mode = self.check(args)["mode"]
        pending = simulate_upgrade()
        report: dict[str, Any] = {"mode": mode, "pending": [u.to_dict() for u in pending]}
        if mode == "list":
            return ActionResult(report)
        argv = apply_argv(pending, mode)
        if argv is None:
            report["installed"] = []
            return ActionResult(report)
        report["output"] = _run_argv(argv, what="packages.update", timeout=3600).strip()[-4000:]
        report["installed"] = [u.name for u in pending if mode == "all" or u.security]
        return ActionResult(report)


def _probe_action(action_id: str) -> type[Action]:
    class Probe(Action):
        id = action_id
        changes_system = False
        undo = "nothing to undo: it only reads"

        def check(self, args: Mapping[str, Any]) -> dict[str, Any]:
            from ._probes import check_probe_args

            return check_probe_args(action_id, args)

        def touches(self, args: Mapping[str, Any]) -> Touches:
            if "service" in args:
                return Touches(units=(args["service"],))
            return Touches((args["path"],) if "path" in args else ())

        def run(self, args: Mapping[str, Any], ctx: ActionContext) -> ActionResult:
            from ._probes import run_probe

            return ActionResult(run_probe(action_id, self.check(args)))

    Probe.__name__ = Probe.__qualname__ = "Probe_" + action_id.replace(".", "_")
    return Probe


_PROBES = (
    "disk.usage",
    "files.find",
    "process.top",
    "network.listening",
    "service.status",
    "disk.health",
)

# The runbook actions live in modules of their own, which import this one's helpers.
from ._firewall import FirewallBan  # noqa: E402
from ._web import WebMaintenance  # noqa: E402

ACTIONS: Mapping[str, Action] = {
    a.id: a
    for a in (
        DeleteFiles(),
        CompressFiles(),
        QuarantineFiles(),
        VacuumJournal(),
        CleanApt(),
        RestartService(),
        StartService(),
        StopService(),
        UpdatePackages(),
        SyncBackup(),
        AddSchedule(),
        WebMaintenance(),
        FirewallBan(),
        *(_probe_action(p)() for p in _PROBES),
    )
}
"""Every typed action the Executor runs, by action id (read-only log and status probes are
handled by the Executor itself)."""


def get_action(action_id: str) -> Action:
    """The action of an id.

    Raises:
        RequestError: No such action.
    """
    try:
        return ACTIONS[action_id]
    except KeyError:
        raise RequestError(f"{action_id}: no such action") from None


def changes_system(action_id: str, args: Mapping[str, Any]) -> bool:
    """Whether a step changes the machine (``packages.update`` in ``list`` mode does not)."""
    if action_id == "packages.update":
        return bool(args.get("mode", "list") != "list")
    action = ACTIONS.get(action_id)
    return action is not None and action.changes_system
