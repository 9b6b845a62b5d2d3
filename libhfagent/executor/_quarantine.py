"""The quarantine: files moved aside with a manifest, restorable byte for byte."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs

from .._atomic import write_atomic
from .._errors import ExecutionError

__all__ = ["Quarantine", "QuarantinedFile"]

_MANIFEST = "manifest.json"


@attrs.frozen
class QuarantinedFile:
    """One file in the quarantine, as it was before it was moved.

    Attributes:
        path: Where it was.
        stored: Its name inside the quarantine's ``files/`` folder.
        mode: Its permission bits and type.
        uid: Its owner.
        gid: Its group.
        mtime_ns: Its modification time.
        atime_ns: Its access time.
        size: Its size in bytes.
        sha256: The SHA-256 of its content (of its target, for a symbolic link).
    """

    path: str
    stored: str
    mode: int
    uid: int
    gid: int
    mtime_ns: int
    atime_ns: int
    size: int
    sha256: str


def _sha256(path: str, st: os.stat_result) -> str:
    h = hashlib.sha256()
    if stat.S_ISLNK(st.st_mode):
        h.update(os.readlink(path).encode("utf-8", "surrogateescape"))
        return h.hexdigest()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class Quarantine:
    """The quarantine folder of one plan: ``<state_dir>/quarantine/<plan_id>/``.

    Args:
        state_dir: The agent's state directory.
        plan_id: The plan that moved the files.
    """

    def __init__(self, state_dir: Path, plan_id: str) -> None:
        self.dir = Path(state_dir) / "quarantine" / plan_id
        self._files = self.dir / "files"

    def manifest(self) -> list[QuarantinedFile]:
        """The files of this quarantine (empty when there is none)."""
        try:
            data = json.loads((self.dir / _MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise ExecutionError(f"quarantine: cannot read {self.dir / _MANIFEST}: {exc}") from exc
        return [QuarantinedFile(**entry) for entry in data["files"]]

    def _write_manifest(self, entries: list[QuarantinedFile]) -> None:
        manifest = json.dumps({"files": [attrs.asdict(e) for e in entries]}, indent=1)
        write_atomic(self.dir / _MANIFEST, manifest, mode=0o644)

    def put(self, paths: Iterable[str]) -> list[QuarantinedFile]:
        """Move files into the quarantine; the manifest is written before each move.

        Raises:
            ExecutionError: A file cannot be read or moved (those moved before stay listed).
        """
        self._files.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.dir, 0o700)
        entries = self.manifest()
        moved: list[QuarantinedFile] = []
        for path in paths:
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                continue
            entry = QuarantinedFile(
                path=path,
                stored=f"{len(entries):08d}",
                mode=st.st_mode,
                uid=st.st_uid,
                gid=st.st_gid,
                mtime_ns=st.st_mtime_ns,
                atime_ns=st.st_atime_ns,
                size=st.st_size,
                sha256=_sha256(path, st),
            )
            entries.append(entry)
            self._write_manifest(entries)
            target = self._files / entry.stored
            try:
                _move(path, str(target), st)
            except OSError as exc:
                entries.pop()
                self._write_manifest(entries)
                raise ExecutionError(
                    f"files.quarantine: cannot move {path}: {exc.strerror} "
                    f"({len(moved)} files moved before it, listed in {self.dir / _MANIFEST})"
                ) from exc
            moved.append(entry)
        return moved

    def restore(self) -> list[QuarantinedFile]:
        """Put every file back where it was, with its mode, owner and times.

        Each file's SHA-256 is checked first; a file whose place is taken again is
        left in the quarantine.

        Raises:
            ExecutionError: A stored file is missing or altered, or a place is taken
                (the files restored before are said).
        """
        restored: list[QuarantinedFile] = []
        problems: list[str] = []
        remaining: list[QuarantinedFile] = []
        for entry in self.manifest():
            stored = str(self._files / entry.stored)
            try:
                st = os.lstat(stored)
            except FileNotFoundError:
                problems.append(f"{entry.path}: its copy {stored} is missing")
                continue
            if _sha256(stored, st) != entry.sha256:
                problems.append(f"{entry.path}: its copy {stored} was altered (SHA-256 differs)")
                remaining.append(entry)
                continue
            if os.path.lexists(entry.path):
                problems.append(f"{entry.path}: a file exists there again; left in {stored}")
                remaining.append(entry)
                continue
            os.makedirs(os.path.dirname(entry.path), exist_ok=True)
            _move(stored, entry.path, st)
            if not stat.S_ISLNK(entry.mode):
                os.chmod(entry.path, stat.S_IMODE(entry.mode))
            os.lchown(entry.path, entry.uid, entry.gid)
            os.utime(entry.path, ns=(entry.atime_ns, entry.mtime_ns), follow_symlinks=False)
            restored.append(entry)
        if remaining:
            self._write_manifest(remaining)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        if problems:
            raise ExecutionError(
                f"undo: {len(restored)} files restored; not restored: " + "; ".join(problems)
            )
        return restored


def _move(source: str, target: str, st: os.stat_result) -> None:
    """Rename, or copy then delete across filesystems (content, mode, owner, times kept)."""
    try:
        os.rename(source, target)
        return
    except OSError as exc:
        if exc.errno != 18:  # EXDEV
            raise
    tmp = target + ".tmp"
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(source), tmp)
    else:
        shutil.copyfile(source, tmp)
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
    os.lchown(tmp, st.st_uid, st.st_gid)
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
    os.replace(tmp, target)
    os.unlink(source)


def quarantine_manifest(state_dir: Path, plan_id: str) -> list[dict[str, Any]]:
    """The manifest of a plan's quarantine, JSON-ready."""
    return [attrs.asdict(e) for e in Quarantine(state_dir, plan_id).manifest()]
