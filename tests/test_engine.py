"""The engine: signals to runbooks or alerts, listeners, reload, follow restarts, stop."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from libhfagent import Config, ConfigError, Learner
from libhfagent.daemon import Alert, Delivery
from libhfagent.daemon._engine import Engine, _runbook_task
from libhfagent.daemon._scheduler import ScheduledJob
from libhfagent.learner import Signal
from libhfagent.observer import Event, FileSource
from libhfagent.observer._state import PositionStore

T0 = dt.datetime(2026, 11, 2, 3, 0, tzinfo=dt.UTC)


class Recorder:
    """A notifier that keeps the alerts (the Notifier's channels are tested in test_notify)."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    async def send(self, alert: Alert) -> Delivery:
        self.alerts.append(alert)
        return Delivery(alert, ())


def config(tmp_path: Path, **modules: Any) -> Config:
    data = {
        "agent": {"state_dir": str(tmp_path / "state"), "timezone": "UTC", "language": "en"},
        "modules": {"notifications": {"desktop": False, "journal": False}, **modules},
    }
    return Config.from_text(json.dumps(data))


def notify_runbook(folder: Path, name: str = "disk-failure", **extra: Any) -> Path:
    """A local runbook replacing a shipped one: it only notifies."""
    folder.mkdir(parents=True, exist_ok=True)
    book = {
        "name": name,
        "version": 7,
        "title": {"en": "Disk failing (local)", "fr": "Disque en panne (local)"},
        "trigger": {"signal": "disk_risk", "key": "disk:*:critical"},
        "steps": [
            {
                "id": "alert",
                "action": "notify",
                "args": {
                    "severity": "critical",
                    "disk": "${signal.fields.disk}",
                    "next": {"en": "Replace ${signal.fields.disk}.", "fr": "Remplacez-le."},
                },
            }
        ],
        **extra,
    }
    path = folder / f"{name}.json"
    path.write_text(json.dumps(book))
    return path


def io_errors(count: int, disk: str = "sda") -> list[Event]:
    return [
        Event(
            T0 + dt.timedelta(seconds=i),
            "kernel",
            f"blk_update_request: I/O error, dev {disk}, sector {8 * i} op 0x0:(READ) flags 0x0",
        )
        for i in range(count)
    ]


async def settle(engine: Engine) -> None:
    await engine.wait_idle()


def test_a_critical_disk_runs_its_runbook_and_the_alert_carries_the_full_report(
    tmp_path: Path,
) -> None:
    notify_runbook(tmp_path / "books")
    recorder = Recorder()
    notices: list[tuple[str, dict[str, Any]]] = []

    async def main() -> Engine:
        engine = Engine(
            config(tmp_path, runbooks={"directories": [str(tmp_path / "books")]}),
            notifier=recorder,  # type: ignore[arg-type]
            listeners=[lambda name, body: notices.append((name, dict(body)))],
        )
        signals = engine.handle_batch(io_errors(3))
        await settle(engine)
        assert [s.key for s in signals] == ["disk:sda:warning", "disk:sda:critical"]
        return engine

    engine = asyncio.run(main())
    # warning: no runbook → an alert of its own; critical: the runbook's alert only.
    assert [a.source for a in recorder.alerts] == ["learner.disk_risk", "runbook.disk-failure"]
    report = recorder.alerts[1]
    assert report.severity == "critical" and report.title == "Disk failing (local)"
    assert "Evidence:" in report.body and "io error, sector 16 (read)" in report.body
    assert "What to do next:\nReplace sda." in report.body
    names = [n for n, _ in notices]
    assert names.count("EventDetected") == 2 and names.count("AlertRaised") == 2
    runs = (tmp_path / "state" / "runbooks" / "runs.jsonl").read_text().splitlines()
    (run,) = [json.loads(line) for line in runs]
    assert run["runbook"] == "disk-failure@7" and run["status"] == "done"
    assert run["signal"]["key"] == "disk:sda:critical"
    assert engine.stats.signals == 2 and engine.stats.runbook_runs == 1


def test_the_same_signal_within_the_dedup_window_runs_a_runbook_once(tmp_path: Path) -> None:
    notify_runbook(tmp_path / "books")
    recorder = Recorder()

    async def main() -> Engine:
        engine = Engine(
            config(tmp_path, runbooks={"directories": [str(tmp_path / "books")]}),
            notifier=recorder,  # type: ignore[arg-type]
        )
        sig = Signal("disk_risk", "disk:sdb:critical", T0, 1.0, {"disk": "sdb"})
        engine.handle_signal(sig)
        engine.handle_signal(sig)
        await settle(engine)
        return engine

    engine = asyncio.run(main())
    assert engine.stats.runbook_runs == 1 and len(recorder.alerts) == 1


def test_a_runbook_that_stops_still_tells_the_administrator_where(tmp_path: Path) -> None:
    folder = tmp_path / "books"
    path = notify_runbook(folder)
    book = json.loads(path.read_text())
    book["steps"].insert(0, {"id": "nothing", "action": "no.such.action"})
    path.write_text(json.dumps(book))
    recorder = Recorder()

    async def main() -> None:
        engine = Engine(
            config(tmp_path, runbooks={"directories": [str(folder)]}),
            notifier=recorder,  # type: ignore[arg-type]
        )
        engine.handle_signal(
            Signal("disk_risk", "disk:sdc:critical", T0, 1.0, {"level": "critical"})
        )
        await settle(engine)

    asyncio.run(main())
    (alert,) = recorder.alerts
    assert alert.severity == "critical"
    assert "stopped at step nothing" in alert.body and "unknown action" in alert.body


def test_without_runbooks_signals_become_alerts_and_a_failing_listener_stops_nothing(
    tmp_path: Path,
) -> None:
    recorder = Recorder()

    def broken(name: str, body: Any) -> None:
        raise RuntimeError("listener bug")

    async def main() -> Engine:
        engine = Engine(
            config(tmp_path, runbooks={"enabled": False}),
            notifier=recorder,  # type: ignore[arg-type]
            listeners=[broken],
        )
        engine.handle_batch(io_errors(3, "sdd"))
        await settle(engine)
        return engine

    asyncio.run(main())
    assert [a.severity for a in recorder.alerts] == ["warning", "critical"]
    assert recorder.alerts[1].title == "Disk sdd shows signs of failure (critical)"


def test_a_refused_reload_keeps_everything_and_says_why(tmp_path: Path) -> None:
    folder = tmp_path / "books"
    good = config(tmp_path, runbooks={"directories": [str(folder)]})
    notify_runbook(folder)
    engine = Engine(good, notifier=Recorder())  # type: ignore[arg-type]
    assert {r.version for r in engine.runbooks if r.name == "disk-failure"} == {7}
    (folder / "broken.json").write_text('{"name": "broken", "version": 0}')
    why = engine.reload_from(lambda: config(tmp_path, runbooks={"directories": [str(folder)]}))
    assert "reload refused, the previous configuration stays" in why
    assert "broken.json" in why and "version" in why
    assert engine.config is good and engine.stats.reloads_refused == 1
    assert why in engine.status()
    (folder / "broken.json").unlink()
    jobs = {"jobs": [{"name": "patch", "cron": "0 4 * * 0", "task": "runbook:no-such-book"}]}
    with pytest.raises(ConfigError, match="no runbook named 'no-such-book'"):
        engine.reload(config(tmp_path, scheduler=jobs))
    assert engine.config is good
    fixed = config(tmp_path, runbooks={"directories": [str(folder)]}, scheduler={"jobs": []})
    assert engine.reload_from(lambda: fixed) == ""
    assert engine.config is fixed and engine.stats.reloads == 1
    assert (tmp_path / "state" / "engine" / "config.json").stat().st_mode & 0o777 == 0o600


def test_runbook_tasks_are_recognised() -> None:
    assert _runbook_task("runbook:security-updates") == "security-updates"
    assert _runbook_task("Runbook: disk-full") == "disk-full"
    assert _runbook_task("nettoie /tmp") is None
    assert _runbook_task("clean runbook:x files") is None


def test_a_runbook_job_runs_the_runbook_with_a_schedule_signal(tmp_path: Path) -> None:
    folder = tmp_path / "books"
    notify_runbook(folder, "weekly", trigger={"signal": "schedule", "key": "weekly"})
    recorder = Recorder()

    async def main() -> Any:
        engine = Engine(
            config(tmp_path, runbooks={"directories": [str(folder)]}),
            notifier=recorder,  # type: ignore[arg-type]
        )
        return await engine.run_job(ScheduledJob("w", "0 4 * * 0", "runbook:weekly"), T0)

    run = asyncio.run(main())
    assert run.status == "done" and run.answer["runbook"] == "weekly@7"
    (alert,) = recorder.alerts
    assert "Signal: schedule weekly" in alert.body
    history = (tmp_path / "state" / "scheduler" / "history.jsonl").read_text().splitlines()
    assert json.loads(history[0])["status"] == "done"


class FlakySource:
    """Fails with a bug the first time it is followed, then yields its events."""

    name = "flaky"

    def __init__(self, events: list[Event]) -> None:
        self.events = events
        self.starts = 0

    def read(self, since: Any = None, until: Any = None) -> Any:
        return iter(())

    async def follow(self) -> AsyncIterator[Event]:
        self.starts += 1
        if self.starts == 1:
            raise RuntimeError("a bug in a source")
        for event in self.events:
            yield event


def test_a_source_that_crashes_is_followed_again_and_offsets_are_committed(
    tmp_path: Path,
) -> None:
    log = tmp_path / "kern.log"
    lines = [f"Nov  2 03:00:0{i} host kernel: line {i}\n" for i in range(5)]
    log.write_text("".join(lines))
    store = PositionStore(tmp_path / "positions")
    flaky = FlakySource(io_errors(3, "sde"))
    recorder = Recorder()

    async def main() -> Engine:
        files = FileSource(log, name="kernel-file", store=store, parser="syslog", start="beginning")
        engine = Engine(
            config(tmp_path, runbooks={"enabled": False}),
            sources=[files, flaky],
            notifier=recorder,  # type: ignore[arg-type]
        )
        task = asyncio.create_task(engine.run())
        for _ in range(500):
            await asyncio.sleep(0.02)
            if engine.stats.events >= 8 and engine.stats.follow_restarts:
                break
        await settle(engine)
        engine.stop()
        await task
        return engine

    engine = asyncio.run(main())
    assert flaky.starts == 2 and engine.stats.follow_restarts == 1
    assert engine.stats.events >= 8
    assert [a.severity for a in recorder.alerts] == ["warning", "critical"]
    saved = store.load(FileSource(log, name="kernel-file", store=store).key)
    assert saved is not None and saved["offset"] == log.stat().st_size
    # Stopping saved the Learner: a new one knows the disk is at risk.
    learner = Learner.open(engine.config)
    assert [r.disk for r in learner.disk_risks()] == ["sde"]
    learner.close()


def test_a_job_child_dies_with_its_engine_even_on_kill_9(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    child_code = (
        "from libhfagent.daemon._engine import die_with_parent; die_with_parent(); "
        "import time; time.sleep(120)"
    )
    parent_code = (
        "import os, subprocess, sys, time\n"
        f"env = dict(os.environ, HF_AGENT_PARENT_PID=str(os.getpid()))\n"
        f"child = subprocess.Popen([sys.executable, '-c', {child_code!r}], env=env)\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child = psutil.Process(int(parent.stdout.readline()))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "die_with_parent" in " ".join(child.cmdline()):
        if child.status() == psutil.STATUS_SLEEPING and child.cpu_times().user > 0.05:
            break  # past the import and the prctl: sleeping
        time.sleep(0.05)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    parent.stdout.close()
    try:
        child.wait(timeout=10)  # not our child: psutil polls until it is gone
        assert not child.is_running()
    finally:
        if child.is_running():
            child.kill()


@pytest.mark.system
def test_a_request_step_previews_its_plan_and_applies_nothing(tmp_path: Path) -> None:
    import os
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix="hfa-engine-", dir="/tmp"))  # a change root
    old = scratch / "old.log"
    old.write_text("x" * 100)
    month_ago = T0.timestamp() - 40 * 86400
    os.utime(old, (month_ago, month_ago))
    folder = tmp_path / "books"
    folder.mkdir()
    (folder / "tidy.json").write_text(
        json.dumps(
            {
                "name": "tidy",
                "version": 1,
                "trigger": {"signal": "schedule", "key": "tidy"},
                "steps": [
                    {
                        "id": "plan",
                        "action": "request",
                        "args": {
                            "request": f"nettoie les fichiers de plus de 7 jours dans {scratch}",
                            "apply": False,
                        },
                    },
                    {"id": "alert", "action": "notify", "args": {"plan": "${steps.plan.plan_id}"}},
                ],
            }
        )
    )
    recorder = Recorder()

    async def main() -> Any:
        engine = Engine(
            config(tmp_path, runbooks={"directories": [str(folder)]}),
            notifier=recorder,  # type: ignore[arg-type]
        )
        return await engine.run_job(ScheduledJob("t", "0 4 * * *", "runbook:tidy"), T0)

    try:
        run = asyncio.run(main())
        assert run.status == "done"
        plan = run.answer["steps"][0]["output"]
        assert plan["intent"] == "disk.cleanup" and plan["plan_id"] and not plan["refused"]
        assert str(old) in json.dumps(plan["preview"])
        assert old.exists()  # previewed, not applied
        (alert,) = recorder.alerts
        assert alert.fields["plan"] == plan["plan_id"]
    finally:
        old.unlink(missing_ok=True)
        scratch.rmdir()
