"""Undo: quarantined files come back byte-identical with mode, owner and times."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from libhfagent._errors import ExecutionError, RequestError
from libhfagent.config import Config
from libhfagent.executor import Executor
from libhfagent.executor._quarantine import Quarantine
from libhfagent.interpreter._types import Intent, Plan, Step

DAY = 86400


def plan_of(*steps: tuple[str, dict[str, Any]]) -> Plan:
    return Plan(
        Intent("move the old logs aside", "en", "disk.cleanup", 0.95, {}),
        tuple(Step(a, args, changes_system=True) for a, args in steps),
    )


def snapshot(root: Path) -> dict[str, tuple[str, int, int, int, int]]:
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if stat.S_ISDIR(st.st_mode):
            continue
        content = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
        out[str(path)] = (
            hashlib.sha256(content).hexdigest(),
            st.st_mode,
            st.st_uid,
            st.st_gid,
            st.st_mtime_ns,
        )
    return out


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "logs"
    (root / "nested").mkdir(parents=True)
    old = time.time() - 40 * DAY
    for i, mode in enumerate((0o600, 0o644, 0o640)):
        path = root / ("nested" if i == 2 else "") / f"old{i}.log"
        path.write_bytes(os.urandom(5000 * (i + 1)))
        os.chmod(path, mode)
        os.chown(path, 1000 + i, 2000 + i)
        os.utime(path, ns=(int(old * 1e9) + 123, int(old * 1e9) + 456789 * (i + 1)))
    (root / "link.log").symlink_to("nested/old2.log")
    os.utime(root / "link.log", (old, old), follow_symlinks=False)
    return root


@pytest.mark.system
def test_quarantine_then_undo_restores_byte_identical_files(tmp_path: Path, tree: Path) -> None:
    state = tmp_path / "state"
    executor = Executor(Config.from_text(json.dumps({"agent": {"state_dir": str(state)}})))
    before = snapshot(tree)
    previewed = executor.preview(
        plan_of(("files.quarantine", {"paths": [str(tree)], "older_than": 7 * DAY}))
    )
    assert previewed is not None
    assert previewed.preview.deleted == 4, previewed.preview.steps
    assert snapshot(tree) == before
    outcome = executor.apply(previewed.plan_id)
    assert not outcome.failed
    assert snapshot(tree) == {}
    box = state / "quarantine" / previewed.plan_id
    manifest = json.loads((box / "manifest.json").read_text())["files"]
    assert sorted(e["path"] for e in manifest) == sorted(before)
    assert stat.S_IMODE(box.stat().st_mode) == 0o700
    for entry in manifest:
        assert set(entry) >= {"path", "mode", "uid", "gid", "mtime_ns", "sha256"}

    report = executor.undo(previewed.plan_id)
    assert report.not_undone == ()
    assert report.undone == (("files.quarantine", "4 files restored from quarantine"),)
    assert snapshot(tree) == before
    assert not box.exists()
    assert executor.plans.load(previewed.plan_id).state == "undone"
    with pytest.raises(RequestError, match="nothing to undo"):
        executor.undo(previewed.plan_id)


def test_an_altered_quarantined_copy_is_not_restored(tmp_path: Path, tree: Path) -> None:
    box = Quarantine(tmp_path / "state", "00000000000000aa")
    moved = box.put([str(tree / "old0.log"), str(tree / "old1.log")])
    assert [m.path for m in moved] == [str(tree / "old0.log"), str(tree / "old1.log")]
    stored = box.dir / "files" / moved[0].stored
    stored.write_bytes(b"tampered")
    with pytest.raises(ExecutionError) as info:
        box.restore()
    assert "SHA-256 differs" in str(info.value) and "1 files restored" in str(info.value)
    assert not (tree / "old0.log").exists()
    assert (tree / "old1.log").exists()
    # What was not restored stays listed.
    assert [e.path for e in box.manifest()] == [str(tree / "old0.log")]


def test_a_taken_place_is_not_overwritten(tmp_path: Path, tree: Path) -> None:
    box = Quarantine(tmp_path / "state", "00000000000000bb")
    box.put([str(tree / "old0.log")])
    (tree / "old0.log").write_text("a new file with the same name")
    with pytest.raises(ExecutionError, match="exists there again"):
        box.restore()
    assert (tree / "old0.log").read_text() == "a new file with the same name"


@pytest.mark.system
def test_undo_says_what_cannot_be_undone(tmp_path: Path, tree: Path, cli: Any) -> None:
    state = tmp_path / "state"
    conf = tmp_path / "hf-agent.json"
    conf.write_text(json.dumps({"agent": {"state_dir": str(state), "language": "fr"}}))
    executor = Executor(Config.load(str(conf)))
    plan = Plan(
        Intent("compresse et supprime", "fr", "disk.cleanup", 0.95, {}),
        (
            Step("files.compress", {"paths": [str(tree / "nested")]}, changes_system=True),
            Step(
                "files.delete",
                {"paths": [str(tree)], "patterns": ["old0.log"]},
                changes_system=True,
            ),
            Step(
                "schedule.add", {"cron": "0 3 * * *", "task": "nettoie /tmp"}, changes_system=True
            ),
        ),
    )
    content = (tree / "nested" / "old2.log").read_bytes()
    previewed = executor.preview(plan)
    assert previewed is not None
    assert not executor.apply(previewed.plan_id).failed
    assert not (tree / "old0.log").exists()
    assert (tree / "nested" / "old2.log.gz").exists()
    proc = cli("--config", str(conf), "undo", "--json", previewed.plan_id)
    assert proc.returncode == 1  # something could not be undone
    report = json.loads(proc.stdout)
    assert report["undone"] == [
        ["schedule.add", "job 'nettoie-tmp' removed"],
        ["files.compress", "1 files decompressed"],
    ]
    assert report["not_undone"] == [
        ["files.delete", "files.delete: cannot be undone (none: deletion is final)"]
    ]
    assert "Non annulé" in report["text"] or "Not undone" in report["text"]
    assert (tree / "nested" / "old2.log").read_bytes() == content
    jobs = json.loads((state / "scheduler" / "jobs.json").read_text())["jobs"]
    assert jobs == []
