"""Read-only probes that use what the Learner learnt: resources.optimize and disk.health."""

from __future__ import annotations

import datetime as dt
import os
import random
import zoneinfo
from pathlib import Path
from typing import Any, Literal

import psutil
import pytest

from libhfagent.config import Config
from libhfagent.executor import Executor
from libhfagent.executor._probes import disk_health, render_probe
from libhfagent.interpreter._types import Intent, Plan, Step
from libhfagent.learner import Learner
from libhfagent.observer._events import Event, Metric
from libhfagent.observer._kernel import parse_kernel_message

pytestmark = pytest.mark.system


def _config(tmp_path: Path) -> Config:
    return Config.from_text(
        '{"agent": {"state_dir": "%s", "language": "en", "timezone": "Europe/Paris"}}'
        % (tmp_path / "state")
    )


def _plan(intent: str, action: str, args: dict[str, Any], lang: Literal["fr", "en"] = "en") -> Plan:
    return Plan(Intent("request", lang, intent, 0.95, {}), (Step(action, args),))


def _seed_usage(config: Config, days: int = 15) -> None:
    """Office-hours load: busy on weekdays 10-18, idle otherwise, every 10 minutes."""
    tz = zoneinfo.ZoneInfo("Europe/Paris")
    monday = dt.datetime(2024, 3, 4, tzinfo=tz)
    rng = random.Random(7)
    learner = Learner.open(config)
    try:
        for step in range(days * 24 * 6):
            t = monday + dt.timedelta(minutes=10 * step)
            busy = t.weekday() < 5 and 10 <= t.hour < 18
            learner.observe(Metric("cpu_load", (80 if busy else 5) + rng.uniform(-3, 3), t))
            learner.observe(Metric("memory_usage", (60 if busy else 20) + rng.uniform(-2, 2), t))
    finally:
        learner.close()


def test_resources_optimize_reports_periods_from_the_learnt_state(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _seed_usage(config)
    executor = Executor(config)
    plan = executor.review(_plan("resources.optimize", "resources.optimize", {}))
    assert plan.steps[0].decision == "allow"
    outcome = executor.run(plan)
    assert not outcome.skipped
    (result,) = outcome.results
    assert result.action == "resources.optimize" and not result.applied
    report = result.report
    assert report["enough_history"] and report["days"] >= 14
    assert len(report["periods"]) == 2
    assert report["periods"][0]["windows"] == [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "from": 10, "to": 18}
    ]
    assert sum(p["hours"] for p in report["periods"]) == 168
    # The current size is matched against this machine's CPUs and memory.
    learner = Learner.open(config)
    try:
        expected = learner.advise(
            vcpus=float(os.cpu_count() or 1), memory_gib=psutil.virtual_memory().total / 2**30
        )
    finally:
        learner.close()
    assert report["current"]["name"] == expected.current.name
    assert report["saving"] == round(expected.saving, 4)
    assert "Current size:" in result.text
    assert report["current"]["name"] in result.text
    assert result.text == report["text"]
    # The learner's state was closed and kept: a second run gives the same advice.
    again = executor.run(plan).results[0]
    assert again.report["periods"] == report["periods"]


def test_resources_optimize_in_french_and_without_history(tmp_path: Path) -> None:
    config = _config(tmp_path)
    executor = Executor(config)
    outcome = executor.run(_plan("resources.optimize", "resources.optimize", {}, lang="fr"))
    (result,) = outcome.results
    assert result.report["enough_history"] is False
    assert result.report["periods"] == []
    assert result.text  # the "not enough history" sentence, in the request's language
    assert (tmp_path / "state" / "learner.sqlite").exists()
    _seed_usage(config)
    text = executor.run(_plan("resources.optimize", "resources.optimize", {}, lang="fr")).results
    english = executor.run(_plan("resources.optimize", "resources.optimize", {})).results
    assert text[0].report["periods"] == english[0].report["periods"]


def test_disk_health_returns_a_level_per_whole_disk_without_raising() -> None:
    report = disk_health({})
    whole = sorted(n for n in os.listdir("/sys/block") if not n.startswith(("loop", "ram", "zram")))
    assert isinstance(report["risks"], list)
    assert sorted(r["disk"] for r in report["risks"]) == whole
    assert all(r["level"] in ("ok", "watch", "warning", "critical") for r in report["risks"])
    assert isinstance(report["disks"], list) and isinstance(report["smart"], dict)
    text = render_probe("disk.health", report, "en")
    assert all(f"{d}: risk level" in text for d in whole)


def test_disk_health_without_smartctl_and_with_an_unknown_device(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    report = disk_health({})
    assert report["smart"] == {}
    assert isinstance(report["risks"], list)
    assert disk_health({"device": "nosuchdisk0"})["risks"] == []


def test_disk_health_includes_what_the_learner_learnt(tmp_path: Path) -> None:
    config = _config(tmp_path)
    learner = Learner.open(config)
    try:
        now = dt.datetime.now(dt.UTC)
        for i in range(3):
            message = f"blk_update_request: I/O error, dev sdz, sector {1000 + i} op 0x0:(READ)"
            assert parse_kernel_message(message) is not None
            learner.observe(Event(now - dt.timedelta(seconds=60 - i), "kernel", message))
        risks = learner.disk_risks()
        assert risks and risks[0].disk == "sdz" and risks[0].level == "critical"
    finally:
        learner.close()
    executor = Executor(config)
    outcome = executor.run(_plan("disk.health", "disk.health", {}))
    (result,) = outcome.results
    learnt = [r for r in result.report["risks"] if r["disk"] == "sdz"]
    assert learnt and learnt[0]["level"] == "critical" and learnt[0]["sources"] == ["learner"]
    assert any("sector 1000" in e["text"] for e in learnt[0]["evidence"])
    assert result.report["healthy"] is False
    assert "sdz: risk level critical" in result.text
    only = executor.run(_plan("disk.health", "disk.health", {"device": "sdz"})).results[0]
    assert [r["disk"] for r in only.report["risks"]] == ["sdz"]


def test_disk_health_survives_an_unreadable_learner_state(tmp_path: Path) -> None:
    config = _config(tmp_path)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "learner.sqlite").write_bytes(b"not a database at all" * 100)
    outcome = Executor(config).run(_plan("disk.health", "disk.health", {}))
    assert isinstance(outcome.results[0].report["risks"], list)
