"""Applying exactly the preview: refused when the files changed, stopped at the first failure."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from libhfagent._errors import AuditError, ExecutionError, RequestError
from libhfagent.config import Config
from libhfagent.executor import Executor
from libhfagent.executor._executor import PreviewOutdated, _audit_for
from libhfagent.executor._plans import PlanStore
from libhfagent.interpreter._types import Intent, Plan, Step

pytestmark = pytest.mark.system
DAY = 86400


def plan_of(*steps: tuple[str, dict[str, Any]]) -> Plan:
    return Plan(
        Intent("free space in the logs", "en", "disk.cleanup", 0.95, {}),
        tuple(Step(a, args, changes_system=True) for a, args in steps),
    )


def config_for(tmp_path: Path, **agent: Any) -> Config:
    data = {"agent": {"state_dir": str(tmp_path / "state"), "language": "en", **agent}}
    return Config.from_text(json.dumps(data))


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    root = tmp_path / "logs"
    root.mkdir()
    old = time.time() - 30 * DAY
    for i in range(20):
        path = root / f"app.log.{i}"
        path.write_bytes(os.urandom(1000 + i))
        os.utime(path, (old, old))
    (root / "app.log").write_text("current")
    return root


def audit_records(state: Path) -> list[dict[str, Any]]:
    path = state / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_apply_runs_the_previewed_files_only(tmp_path: Path, logs: Path) -> None:
    executor = Executor(config_for(tmp_path))
    previewed = executor.preview(
        plan_of(
            (
                "files.delete",
                {"paths": [str(logs)], "patterns": ["*.[0-9]*"], "older_than": 7 * DAY},
            )
        )
    )
    assert previewed is not None
    # A file that would match now but was not in the preview is not deleted.
    late = logs / "app.log.99"
    late.write_text("arrived after the preview")
    os.utime(late, (time.time() - 30 * DAY,) * 2)
    outcome = executor.apply(previewed.plan_id)
    assert outcome.to_dict()["applied"] == ["files.delete"] and not outcome.failed
    assert sorted(p.name for p in logs.iterdir()) == ["app.log", "app.log.99"]
    # The plan id is the hash of the canonical plan and the preview's digest.
    record = executor.plans.load(previewed.plan_id)
    assert record.state == "applied"
    with pytest.raises(RequestError, match="applied already"):
        executor.apply(previewed.plan_id)


def test_apply_is_refused_when_a_file_changed_after_the_preview(tmp_path: Path, logs: Path) -> None:
    executor = Executor(config_for(tmp_path))
    previewed = executor.preview(
        plan_of(("files.delete", {"paths": [str(logs)], "older_than": 7 * DAY}))
    )
    assert previewed is not None
    changed = logs / "app.log.3"
    old = changed.stat()
    with changed.open("ab") as f:
        f.write(b"one more line\n")
    os.utime(changed, ns=(old.st_atime_ns, old.st_mtime_ns))
    replaced = logs / "app.log.4"
    replaced.unlink()
    replaced.write_bytes(b"x" * 1004)
    before = sorted(p.name for p in logs.iterdir())
    with pytest.raises(PreviewOutdated) as info:
        executor.apply(previewed.plan_id)
    message = str(info.value)
    assert "app.log.3: size 1003 → 1017 bytes" in message
    # Replaced: another inode, or (ext4 may reuse the number) another mtime.
    assert "app.log.4: replaced by another file" in message or "app.log.4: modified" in message
    assert "Preview it again" in message
    assert sorted(p.name for p in logs.iterdir()) == before
    assert executor.plans.load(previewed.plan_id).state == "previewed"


def test_a_failure_stops_the_plan_and_is_audited(tmp_path: Path, logs: Path) -> None:
    executor = Executor(config_for(tmp_path))
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "a.log").write_text("a")
    plan = plan_of(
        ("files.delete", {"paths": [str(locked)]}),
        ("files.delete", {"paths": [str(logs)], "older_than": 7 * DAY}),
    )
    previewed = executor.preview(plan)
    assert previewed is not None and previewed.preview.complete
    subprocess.run(["chattr", "+i", str(locked)], check=True)
    try:
        outcome = executor.apply(previewed.plan_id)
    finally:
        subprocess.run(["chattr", "-i", str(locked)], check=True)
    assert "cannot delete" in outcome.failed and "Operation not permitted" in outcome.failed
    assert outcome.results == ()
    assert (locked / "a.log").exists()
    assert len(list(logs.iterdir())) == 21  # the second step never ran
    assert executor.plans.load(previewed.plan_id).state == "failed"
    records = audit_records(tmp_path / "state")
    if records:  # the fallback JSON-lines log (the signed log has its own reader)
        assert [(r["event"], r.get("outcome")) for r in records] == [
            ("apply", None),
            ("outcome", "failed"),
        ]
        assert records[0]["plan_id"] == previewed.plan_id
        assert records[0]["preview_digest"] == previewed.preview.digest


def test_nothing_runs_when_the_audit_record_cannot_be_written(tmp_path: Path, logs: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the audit folder should be")
    executor = Executor(config_for(tmp_path), audit=_audit_for(blocker / "state"))
    previewed = executor.preview(plan_of(("files.delete", {"paths": [str(logs)]})))
    assert previewed is not None
    with pytest.raises(AuditError):
        executor.apply(previewed.plan_id)
    assert len(list(logs.iterdir())) == 21


def test_a_tampered_plan_file_is_refused(tmp_path: Path, logs: Path) -> None:
    executor = Executor(config_for(tmp_path))
    previewed = executor.preview(
        plan_of(("files.delete", {"paths": [str(logs)], "older_than": DAY}))
    )
    assert previewed is not None
    path = PlanStore(tmp_path / "state").path(previewed.plan_id)
    data = json.loads(path.read_text())
    data["canonical"] = data["canonical"].replace(str(logs), "/var/log")
    path.write_text(json.dumps(data))
    with pytest.raises(RequestError, match="altered"):
        executor.apply(previewed.plan_id)
    with pytest.raises(RequestError, match="16 hexadecimal"):
        executor.apply("../../etc/passwd")
    assert len(list(logs.iterdir())) == 21


def test_a_failed_preview_cannot_be_applied(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_text("a")
    (tmp_path / "a.log.gz").write_text("there already")
    executor = Executor(config_for(tmp_path))
    previewed = executor.preview(
        plan_of(("files.compress", {"paths": [str(tmp_path)], "patterns": ["a.log"]}))
    )
    assert previewed is not None and "already exists" in previewed.preview.failed
    with pytest.raises(ExecutionError, match="preview failed"):
        executor.apply(previewed.plan_id)


def conf_file(tmp_path: Path, **agent: Any) -> Path:
    path = tmp_path / "hf-agent.json"
    data = {"agent": {"state_dir": str(tmp_path / "state"), "language": "en", **agent}}
    path.write_text(json.dumps(data))
    return path


def test_cli_execute_applies_and_previews_again_when_outdated(
    tmp_path: Path, logs: Path, cli: Any
) -> None:
    conf = conf_file(tmp_path)
    executor = Executor(Config.load(str(conf)))
    previewed = executor.preview(
        plan_of(("files.delete", {"paths": [str(logs)], "older_than": DAY}))
    )
    assert previewed is not None
    (logs / "app.log.0").write_text("changed")
    os.utime(logs / "app.log.0", (time.time() - 30 * DAY,) * 2)
    refused = cli("--config", str(conf), "execute", "--json", previewed.plan_id)
    assert refused.returncode == 1
    out = json.loads(refused.stdout)
    assert out["changes"] == [f"{logs}/app.log.0: size 1000 → 7 bytes"]
    new_id = out["new"]["plan_id"] if out["new"] else None
    assert len(list(logs.iterdir())) == 21
    # The re-preview comes from the request text: its id is usable when the interpreter
    # plans that request; the original plan can be previewed again through the library.
    again = executor.preview(plan_of(("files.delete", {"paths": [str(logs)], "older_than": DAY})))
    assert again is not None and again.plan_id != previewed.plan_id
    assert new_id is None or len(new_id) == 16
    done = cli("--config", str(conf), "execute", again.plan_id)
    assert done.returncode == 0, done.stderr
    assert "Applied: files.delete." in done.stdout
    assert f"hf-agent undo {again.plan_id}" in done.stdout
    assert [p.name for p in logs.iterdir()] == ["app.log"]


def test_cli_ask_without_a_terminal_prints_the_plan_id(tmp_path: Path, cli: Any) -> None:
    conf = conf_file(tmp_path)
    proc = cli("--config", str(conf), "ask", "--json", "install security updates")
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["intent"] == "packages.update"
    pending = answer["outcome"]["pending"]
    assert pending and len(pending) == 16 and answer["outcome"]["applied"] == []
    assert f"hf-agent execute {pending}" in answer["text"]
    assert answer["preview"]["steps"][0]["simulated"] is False
    human = cli("--config", str(conf), "ask", "install security updates")
    assert human.returncode == 0, human.stderr
    assert "cannot be simulated" in human.stdout
    assert f"hf-agent execute {pending}" in human.stdout
