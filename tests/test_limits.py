"""The policy's limits checked against what the preview really changes, step by step."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from libhfagent._errors import PolicyDenied
from libhfagent.config import Config
from libhfagent.executor import Executor, _policy
from libhfagent.executor._policy import Policy
from libhfagent.interpreter._types import Intent, Plan, Step

pytestmark = pytest.mark.system
DAY = 86400


@pytest.fixture(autouse=True)
def _no_system_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(_policy, "OVERRIDE_PATH", str(tmp_path / "absent.json"))


def _config(tmp_path: Path) -> Config:
    return Config.from_text(
        '{"agent": {"state_dir": "%s", "language": "en"}}' % (tmp_path / "state")
    )


def _old_files(root: Path, count: int, size: int = 100) -> list[Path]:
    root.mkdir(parents=True)
    old = time.time() - 30 * DAY
    paths = []
    for i in range(count):
        path = root / f"f{i}.log"
        path.write_bytes(b"x" * size)
        os.utime(path, (old, old))
        paths.append(path)
    return paths


def _executor(tmp_path: Path, limits: dict[str, Any]) -> Executor:
    override = tmp_path / "permissions.json"
    override.write_text(json.dumps({"version": 1, "limits": limits}))
    config = _config(tmp_path)
    return Executor(config, policy=Policy.load(config, path=str(override)))


def _delete_plan(root: Path) -> Plan:
    return Plan(
        Intent("delete old files", "en", "disk.cleanup", 0.95, {}),
        (
            Step(
                "files.delete",
                {"paths": [str(root)], "patterns": ["*.log"], "older_than": 7 * DAY},
                changes_system=True,
            ),
        ),
    )


def test_a_delete_over_the_file_limit_is_refused_and_never_applied(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    files = _old_files(root, 12)
    executor = _executor(tmp_path, {"files.delete": {"max_files": 10}})
    previewed = executor.preview(_delete_plan(root))
    assert previewed is not None
    assert previewed.preview.deleted == 12
    assert previewed.refused == "files.delete: 12 files exceed the limit of 10"
    assert previewed.decisions[0][0] == "deny"
    assert not previewed.needs_confirmation
    data = previewed.to_dict()
    assert data["refused"] and "limit of 10" in data["steps"][0]["reason"]
    assert data["steps"][0]["decision"] == "deny"
    with pytest.raises(PolicyDenied, match=r"12 files exceed the limit of 10.*nothing was applied"):
        executor.apply(previewed.plan_id)
    assert all(p.exists() for p in files)
    kept = json.loads((tmp_path / "state" / "plans" / f"{previewed.plan_id}.json").read_text())
    assert kept["state"] == "refused"


def test_the_byte_limit_and_a_plan_within_its_limits(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    files = _old_files(root, 5, size=1000)
    executor = _executor(tmp_path, {"files.delete": {"max_files": 10, "max_bytes": 4000}})
    previewed = executor.preview(_delete_plan(root))
    assert previewed is not None
    assert previewed.refused == "files.delete: 5000 bytes exceed the limit of 4000 bytes"
    within = _executor(tmp_path, {"files.delete": {"max_files": 5, "max_bytes": 5000}})
    ok = within.preview(_delete_plan(root))
    assert ok is not None and ok.refused == "" and ok.decisions[0][0] == "confirm"
    outcome = within.apply(ok.plan_id)
    assert outcome.results[0].report == {"deleted": 5, "bytes": 5000}
    assert not any(p.exists() for p in files)


def test_limits_are_checked_again_when_the_plan_is_applied(tmp_path: Path) -> None:
    """A plan previewed within the limits is refused if the policy tightens before apply."""
    root = tmp_path / "logs"
    files = _old_files(root, 6)
    previewed = _executor(tmp_path, {}).preview(_delete_plan(root))
    assert previewed is not None and not previewed.refused
    tightened = _executor(tmp_path, {"files.delete": {"max_files": 3}})
    with pytest.raises(PolicyDenied, match="6 files exceed the limit of 3"):
        tightened.apply(previewed.plan_id)
    assert all(p.exists() for p in files)


def test_each_step_is_measured_on_its_own_files(tmp_path: Path) -> None:
    """Two steps: only the one over its own limit is refused, counted on its own files."""
    small, big = tmp_path / "small", tmp_path / "big"
    _old_files(small, 2)
    _old_files(big, 8)
    executor = _executor(
        tmp_path, {"files.delete": {"max_files": 5}, "files.quarantine": {"max_files": 5}}
    )
    plan = Plan(
        Intent("clean", "en", "disk.cleanup", 0.95, {}),
        (
            Step("files.delete", {"paths": [str(small)], "older_than": DAY}, changes_system=True),
            Step("files.quarantine", {"paths": [str(big)], "older_than": DAY}, changes_system=True),
        ),
    )
    previewed = executor.preview(plan)
    assert previewed is not None
    assert previewed.decisions[0][0] == "confirm"
    assert previewed.decisions[1] == ("deny", "files.quarantine: 8 files exceed the limit of 5")
