"""Scheduled jobs through the engine: the daily cleanup across DST, approval, timeout.

Every job runs for real as ``python -m libhfagent ask --json TASK`` in a child
process (interpreter, policy, copy-on-write preview as root, audit); only the
engine's clock is injected, so that the nights around the daylight-saving
changes of Europe/Paris pass in seconds. The children read the real time, which
is why the old files are dated from the real now.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import time
import zoneinfo
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import psutil
import pytest
from conftest import CliRunner

from libhfagent._errors import ModelError
from libhfagent.config import Config
from libhfagent.daemon._engine import Engine, JobRun
from libhfagent.executor._audit import AuditLog

pytestmark = pytest.mark.system  # the previews mount an overlay: root

UTC = dt.UTC
PARIS = zoneinfo.ZoneInfo("Europe/Paris")
DAY = 86400
CLEANUP = "nettoie les fichiers temporaires de plus de 7 jours dans {folder}"


class Clock:
    """The engine's clock, moved by the test."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


class Notices:
    """What the engine told its listeners (the D-Bus signals), in order."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, name: str, body: Mapping[str, Any]) -> None:
        self.items.append((name, json.loads(json.dumps(body, default=str))))

    def named(self, name: str) -> list[dict[str, Any]]:
        return [body for n, body in self.items if n == name]


def make_config(
    tmp_path: Path,
    jobs: list[dict[str, str]],
    *,
    user_mode: str = "interactive",
    sandbox: str = "strict",
    sources: Mapping[str, list[str]] | None = None,
    state: str = "state",
    nlp_model: str | None = None,
) -> Config:
    data: dict[str, Any] = {
        "agent": {
            "timezone": "Europe/Paris",
            "state_dir": str(tmp_path / state),
            "language": "en",
            "user_mode": user_mode,
        },
        "security": {"sandbox_level": sandbox},
        "modules": {
            "scheduler": {"jobs": jobs},
            # Alerts reach the listeners; no desktop or journal of the host is touched.
            "notifications": {"desktop": False, "journal": False},
        },
    }
    if sources is not None:
        data["modules"]["monitoring"] = {"sources": dict(sources)}
    if nlp_model is not None:
        data["modules"]["nlp"] = {"model": nlp_model}
    return Config.from_text(json.dumps(data), env={})


def cleanup_job(folder: Path, name: str = "nightly-cleanup") -> dict[str, str]:
    return {"name": name, "cron": "0 2 * * *", "task": CLEANUP.format(folder=folder)}


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A folder (under /tmp: a change root of the default policy) with old and new files."""
    root = tmp_path / "scratch"
    root.mkdir()
    old = time.time() - 30 * DAY
    for i in range(5):
        path = root / f"old-{i}.tmp"
        path.write_bytes(os.urandom(512 + i))
        os.utime(path, (old, old))
    for i in range(3):
        (root / f"new-{i}.tmp").write_bytes(os.urandom(256 + i))
    return root


OLD = [f"old-{i}.tmp" for i in range(5)]
NEW = [f"new-{i}.tmp" for i in range(3)]


@contextlib.contextmanager
def running(
    config: Config, clock: Clock, *, job_timeout: float = 120.0
) -> Iterator[tuple[Engine, Notices]]:
    notices = Notices()
    engine = Engine(config, sources=[], clock=clock, listeners=[notices], job_timeout=job_timeout)
    try:
        yield engine, notices
    finally:
        engine.learner.close()


async def walk(
    engine: Engine, clock: Clock, start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, JobRun]]:
    """Move the clock minute by minute; at each minute start the due jobs, wait for them."""
    runs: list[tuple[dt.datetime, JobRun]] = []
    clock.now = start
    while clock.now < end:
        tasks = engine.run_due()
        if tasks:
            at = clock.now
            runs += [(at, run) for run in await asyncio.gather(*tasks)]
        clock.now += dt.timedelta(minutes=1)
    return runs


def local(when: dt.datetime) -> str:
    return when.astimezone(PARIS).strftime("%Y-%m-%d %H:%M %Z")


def runs_json(config: Config) -> dict[str, str]:
    path = Path(config.agent.state_dir) / "scheduler" / "runs.json"
    saved: dict[str, str] = json.loads(path.read_text())
    return saved


def history(config: Config) -> list[dict[str, Any]]:
    path = Path(config.agent.state_dir) / "scheduler" / "history.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


# -- 1. the daily cleanup across the DST changes ---------------------------------------------


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        pytest.param(
            dt.datetime(2027, 3, 26, 12, tzinfo=UTC),
            # 28 March 2027: 02:00 does not exist in Paris (02:00 CET -> 03:00 CEST);
            # cronsim runs the job at 03:00 CEST, the first minute of the day after 02:00.
            ["2027-03-27 02:00 CET", "2027-03-28 03:00 CEST", "2027-03-29 02:00 CEST"],
            id="spring-forward",
        ),
        pytest.param(
            dt.datetime(2027, 10, 29, 12, tzinfo=UTC),
            # 31 October 2027: 02:00 happens twice (CEST, then CET an hour later): once.
            ["2027-10-30 02:00 CEST", "2027-10-31 02:00 CEST", "2027-11-01 02:00 CET"],
            id="fall-back",
        ),
    ],
)
def test_daily_cleanup_runs_once_a_night_at_two_paris_time_across_dst(
    tmp_path: Path, scratch: Path, start: dt.datetime, expected: list[str]
) -> None:
    clock = Clock(start)
    config = make_config(tmp_path, [cleanup_job(scratch)])
    with running(config, clock) as (engine, notices):
        assert engine.run_due() == []  # first sight: recorded in runs.json, not run
        assert runs_json(config) == {"nightly-cleanup": start.isoformat()}
        runs = asyncio.run(walk(engine, clock, start, start + dt.timedelta(days=3)))

    assert [local(at) for at, _ in runs] == expected
    # Each run started at the minute it was for, and is for that night's 02:00 (03:00).
    assert [local(run.scheduled) for _, run in runs] == expected
    # (Compared in UTC: Python never finds an ambiguous local time, 02:00 CEST on the
    # fall-back night, equal to a time of another zone.)
    assert [run.scheduled.astimezone(UTC) for _, run in runs] == [at for at, _ in runs]
    if start.month == 10:  # 02:00 CET on the fall-back night (01:00 UTC) had no run
        assert dt.datetime(2027, 10, 31, 1, 0, tzinfo=UTC) not in [at for at, _ in runs]
    # Interactive mode: every night the cleanup is interpreted, reviewed, previewed
    # and left waiting for approval; nothing is deleted silently.
    for _, run in runs:
        assert run.status == "pending", run
        assert run.plan_id
        assert run.answer is not None and run.answer["intent"] == "disk.cleanup"
        assert run.answer["steps"][0]["action"] == "files.delete"
        assert run.answer["steps"][0]["args"]["paths"] == [str(scratch)]
        assert run.answer["preview"] is not None
    assert sorted(p.name for p in scratch.iterdir()) == sorted(OLD + NEW)
    # runs.json holds the last start; the history one line per run.
    assert runs_json(config) == {"nightly-cleanup": runs[-1][0].astimezone(UTC).isoformat()}
    assert [(h["job"], h["status"]) for h in history(config)] == [
        ("nightly-cleanup", "pending")
    ] * 3
    assert [dt.datetime.fromisoformat(h["scheduled"]).astimezone(UTC) for h in history(config)] == [
        at for at, _ in runs
    ]
    assert engine.stats.jobs_run == 3 and engine.stats.jobs_failed == 0
    assert len(notices.named("AlertRaised")) == 3
    assert notices.named("PlanExecuted") == []


# -- 2. interactive mode waits for approval --------------------------------------------------


def test_interactive_job_waits_and_the_approved_plan_deletes_exactly_the_old_files(
    tmp_path: Path, scratch: Path, cli: CliRunner
) -> None:
    start = dt.datetime(2027, 3, 26, 22, tzinfo=UTC)
    clock = Clock(start)
    config = make_config(tmp_path, [cleanup_job(scratch)])
    with running(config, clock) as (engine, notices):
        engine.run_due()
        ((at, run),) = asyncio.run(walk(engine, clock, start, start + dt.timedelta(hours=4)))
        assert local(at) == "2027-03-27 02:00 CET"
        assert run.status == "pending" and run.plan_id and not run.error
        assert engine.agent.executor.plans.load(run.plan_id).state == "previewed"
        # Nothing applied: every file is still there.
        assert sorted(p.name for p in scratch.iterdir()) == sorted(OLD + NEW)
        # The administrator hears how to approve it.
        (alert,) = notices.named("AlertRaised")
        assert alert["source"] == "scheduler.nightly-cleanup"
        assert alert["severity"] == "warning"
        assert "waits for your approval" in alert["title"]
        assert f"hf-agent execute {run.plan_id}" in alert["body"]
        assert alert["fields"]["plan_id"] == run.plan_id
        assert notices.named("PlanExecuted") == []

        # Approving = the administrator's command, in a process of its own.
        done = cli(
            "--config",
            str(Path(config.agent.state_dir) / "engine" / "config.json"),
            "execute",
            "--json",
            run.plan_id,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["applied"] == ["files.delete"]
        assert sorted(p.name for p in scratch.iterdir()) == sorted(NEW)
        assert engine.agent.executor.plans.load(run.plan_id).state == "applied"

    audit = AuditLog(config.agent.state_dir, journal=False)
    assert audit.verify().ok
    applied = [r for r in audit.read() if r.get("plan_id") == run.plan_id]
    assert [r["event"] for r in applied] == ["apply", "outcome"]
    assert applied[-1]["outcome"] == "done"
    assert applied[-1]["intent"] == "disk.cleanup"


# -- 3. auto mode applies what the policy allows, after the preview --------------------------


def test_auto_mode_job_is_previewed_then_applied_without_approval(
    tmp_path: Path, scratch: Path
) -> None:
    start = dt.datetime(2027, 10, 30, 22, tzinfo=UTC)
    clock = Clock(start)
    # Auto mode and the permissive sandbox: the policy allows files.delete under /tmp.
    config = make_config(tmp_path, [cleanup_job(scratch)], user_mode="auto", sandbox="permissive")
    with running(config, clock) as (engine, notices):
        engine.run_due()
        ((at, run),) = asyncio.run(walk(engine, clock, start, start + dt.timedelta(hours=4)))
        record = engine.agent.executor.plans.load(run.plan_id or "")
    # The fall-back night: once, at the first 02:00 (CEST).
    assert local(at) == "2027-10-31 02:00 CEST"
    assert run.status == "done", run
    assert run.answer is not None
    assert run.answer["steps"][0]["decision"] == "allow"
    assert run.answer["outcome"]["applied"] == ["files.delete"]
    assert run.answer["outcome"]["pending"] is None
    assert run.answer["preview"] is not None  # previewed first
    assert record.state == "applied"
    assert sorted(p.name for p in scratch.iterdir()) == sorted(NEW)
    (executed,) = notices.named("PlanExecuted")
    assert executed["plan_id"] == run.plan_id
    assert executed["applied"] == ["files.delete"]
    assert notices.named("AlertRaised") == []  # a job that did its work is not an alert
    audit = AuditLog(config.agent.state_dir, journal=False)
    assert audit.verify().ok
    assert [r["event"] for r in audit.read() if r.get("plan_id") == run.plan_id] == [
        "apply",
        "outcome",
    ]


# -- 4. a job that hangs ---------------------------------------------------------------------


HANGS = "résume les logs nginx des dernières 24 heures"


def leftovers(before: set[int]) -> list[psutil.Process]:
    """New children of the test, and any process anywhere still running the task."""
    found = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    for proc in psutil.process_iter(["cmdline"]):
        if HANGS in (proc.info["cmdline"] or []) and proc not in found:
            found.append(proc)
    return found


def test_a_hanging_job_is_killed_at_the_timeout_and_the_next_job_runs(
    tmp_path: Path, scratch: Path
) -> None:
    fifo = tmp_path / "access.fifo"
    os.mkfifo(fifo)  # no writer ever: opening it for reading blocks for good
    log = tmp_path / "access.log"
    log.write_text('192.0.2.1 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "t"\n')
    jobs = [
        {"name": "hangs", "cron": "0 1 * * *", "task": HANGS},
        cleanup_job(scratch),
    ]
    start = dt.datetime(2027, 3, 26, 22, tzinfo=UTC)
    clock = Clock(start)
    config = make_config(tmp_path, jobs, sources={"nginx": [str(fifo)]})
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with running(config, clock, job_timeout=3.0) as (engine, notices):
        engine.run_due()
        runs = asyncio.run(walk(engine, clock, start, start + dt.timedelta(hours=4)))
        assert [(local(at), run.job) for at, run in runs] == [
            ("2027-03-27 01:00 CET", "hangs"),
            ("2027-03-27 02:00 CET", "nightly-cleanup"),
        ]
        hung, after = (run for _, run in runs)
        assert hung.status == "timeout"
        assert hung.error == "killed after 3 s"
        assert hung.seconds >= 3.0
        # The child and its process group are gone.
        assert leftovers(before) == []
        # An alert says it failed.
        (failed, pending) = notices.named("AlertRaised")
        assert failed["title"] == "Job hangs was stopped: it ran longer than 3 s"
        assert failed["fields"] == {"job": "hangs", "status": "timeout"}
        assert "killed after 3 s" in failed["body"]
        # The engine goes on: the next job ran normally.
        assert after.status == "pending" and after.plan_id
        assert pending["fields"]["plan_id"] == after.plan_id
        assert engine.stats.jobs_run == 2 and engine.stats.jobs_failed == 1
        # The same request on a regular file answers (the FIFO was the only cause).
        engine.reload(make_config(tmp_path, jobs, sources={"nginx": [str(log)]}))
        again = asyncio.run(engine.run_job(engine.scheduler.get("hangs")))
    assert again.status == "done", again
    assert again.answer is not None and again.answer["intent"] == "logs.summarize"
    assert [h["status"] for h in history(config)] == ["timeout", "pending", "done"]


# -- 5. not understood; a child that fails ---------------------------------------------------


def test_a_task_not_understood_and_children_that_fail_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = [
        {"name": "gibberish", "cron": "30 2 * * *", "task": "blah zorg quux"},
        {"name": "no-log", "cron": "45 2 * * *", "task": HANGS},
    ]
    start = dt.datetime(2027, 3, 26, 22, tzinfo=UTC)
    clock = Clock(start)
    missing = tmp_path / "nginx" / "access.log"
    config = make_config(tmp_path, jobs, sources={"nginx": [str(missing)]})
    with running(config, clock) as (engine, notices):
        engine.run_due()
        runs = asyncio.run(walk(engine, clock, start, start + dt.timedelta(hours=4)))
        (_, gibberish), (_, no_log) = runs
        assert gibberish.status == "not_understood"
        assert gibberish.plan_id is None
        assert gibberish.answer is not None and gibberish.answer["intent"] == "unknown"
        # The request is understood but its log is missing: the child says so and exits.
        assert no_log.status == "failed"
        assert no_log.answer is None
        assert no_log.error == f"hf-agent: error: no access log found: {missing} does not exist"
        alerts = notices.named("AlertRaised")
        assert [a["fields"] for a in alerts] == [
            {"job": "gibberish", "status": "not_understood"},
            {"job": "no-log", "status": "failed"},
        ]
        assert no_log.error in alerts[1]["body"]

        # The child cannot start its work: the configuration it is given is damaged.
        child_config = Path(config.agent.state_dir) / "engine" / "config.json"
        saved = child_config.read_text()
        child_config.write_text('{"agent": {')
        refused = asyncio.run(engine.run_job(engine.scheduler.get("gibberish")))
        assert refused.status == "failed"
        assert refused.answer is None
        assert refused.error.startswith(f"hf-agent: error: {child_config}: unexpected end of file")
        assert refused.error in notices.named("AlertRaised")[-1]["body"]
        child_config.write_text(saved)

        # The child dies of a signal before it answers (a crash: no JSON, no message).
        crash = tmp_path / "crash"
        crash.mkdir()
        (crash / "sitecustomize.py").write_text(
            "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"
        )
        monkeypatch.setenv("PYTHONPATH", str(crash))
        crashed = asyncio.run(engine.run_job(engine.scheduler.get("gibberish")))
        monkeypatch.delenv("PYTHONPATH")
        assert crashed.status == "failed"
        assert crashed.error == "exit status -9"
        assert notices.named("AlertRaised")[-1]["fields"] == {
            "job": "gibberish",
            "status": "failed",
        }
        assert engine.stats.jobs_run == 4 and engine.stats.jobs_failed == 4
        # The engine is unharmed: the same job answers again.
        again = asyncio.run(engine.run_job(engine.scheduler.get("gibberish")))
        assert again.status == "not_understood"
    assert [h["status"] for h in history(config)] == [
        "not_understood",
        "failed",
        "failed",
        "failed",
        "not_understood",
    ]


# -- 6. restart: at most once, a missed run once ---------------------------------------------


def test_a_restarted_engine_does_not_rerun_the_night_and_runs_a_missed_night_once(
    tmp_path: Path, scratch: Path
) -> None:
    start = dt.datetime(2027, 3, 26, 22, tzinfo=UTC)
    clock = Clock(start)
    config = make_config(tmp_path, [cleanup_job(scratch)])
    with running(config, clock) as (first, _):
        first.run_due()
        ((at, run),) = asyncio.run(walk(first, clock, start, start + dt.timedelta(hours=4)))
    assert local(at) == "2027-03-27 02:00 CET"
    assert runs_json(config) == {"nightly-cleanup": at.isoformat()}

    # Same night, a new engine on the same state directory: nothing to run.
    with running(config, clock) as (second, notices):
        assert asyncio.run(walk(second, clock, clock.now, clock.now + dt.timedelta(hours=12))) == []
        # Down for two nights (28 and 29 March), back on the 29th at noon: one run,
        # for the first missed night (28 March: 02:00 did not exist, so 03:00 CEST).
        clock.now = dt.datetime(2027, 3, 29, 10, tzinfo=UTC)
        back = clock.now
        missed = asyncio.run(walk(second, clock, back, back + dt.timedelta(hours=6)))
    assert [(local(at), local(r.scheduled), r.status) for at, r in missed] == [
        ("2027-03-29 12:00 CEST", "2027-03-28 03:00 CEST", "pending")
    ]
    assert runs_json(config) == {"nightly-cleanup": back.isoformat()}
    assert [h["scheduled"] for h in history(config)] == [
        run.scheduled.isoformat(),
        missed[0][1].scheduled.isoformat(),
    ]
    assert len(notices.named("AlertRaised")) == 1
    # The next night runs as usual.
    with running(config, clock) as (third, _):
        night = asyncio.run(
            walk(
                third,
                clock,
                dt.datetime(2027, 3, 29, 23, tzinfo=UTC),
                dt.datetime(2027, 3, 30, 2, tzinfo=UTC),
            )
        )
    assert [local(at) for at, _ in night] == ["2027-03-30 02:00 CEST"]


# -- the engine's own loop -------------------------------------------------------------------


def test_the_running_engine_starts_due_jobs_itself_and_stop_ends_a_hanging_one(
    tmp_path: Path, scratch: Path
) -> None:
    fifo = tmp_path / "access.fifo"
    os.mkfifo(fifo)
    jobs = [cleanup_job(scratch), {"name": "hangs", "cron": "0 2 * * *", "task": HANGS}]
    clock = Clock(dt.datetime(2027, 3, 26, 22, tzinfo=UTC))
    config = make_config(tmp_path, jobs, sources={"nginx": [str(fifo)]})
    before = {p.pid for p in psutil.Process().children(recursive=True)}

    async def scenario(engine: Engine) -> None:
        engine.run_due()  # both jobs seen
        clock.now = dt.datetime(2027, 3, 27, 1, 0, tzinfo=UTC)  # 02:00 CET
        runner = asyncio.create_task(engine.run())
        deadline = time.monotonic() + 120
        while not history(config) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        engine.stop()  # returns once the running jobs ended (the hanging one killed)
        await asyncio.wait_for(runner, 60)

    with running(config, clock, job_timeout=5.0) as (engine, notices):
        asyncio.run(scenario(engine))
        assert leftovers(before) == []
    statuses = {h["job"]: h["status"] for h in history(config)}
    assert statuses == {"nightly-cleanup": "pending", "hangs": "timeout"}
    assert {h["scheduled"] for h in history(config)} == {"2027-03-27T02:00:00+01:00"}
    assert runs_json(config) == {
        "nightly-cleanup": "2027-03-27T01:00:00+00:00",
        "hangs": "2027-03-27T01:00:00+00:00",
    }
    assert len(notices.named("AlertRaised")) == 2


# -- a refused reload keeps the old configuration for the jobs too --------------------------


def test_a_refused_reload_leaves_the_jobs_on_the_old_configuration(
    tmp_path: Path, scratch: Path
) -> None:
    start = dt.datetime(2027, 3, 26, 22, tzinfo=UTC)
    clock = Clock(start)
    config = make_config(tmp_path, [cleanup_job(scratch)])
    child_config = Path(config.agent.state_dir) / "engine" / "config.json"
    with running(config, clock) as (engine, _):
        engine.run_due()
        written = child_config.read_text()
        # Auto mode, but a model folder that does not exist: the Agent refuses it.
        refused = make_config(
            tmp_path,
            [cleanup_job(scratch)],
            user_mode="auto",
            sandbox="permissive",
            nlp_model=str(tmp_path / "no-such-model"),
        )
        with pytest.raises(ModelError, match="no-such-model"):
            engine.reload(refused)
        assert engine.config == config and engine.stats.reloads_refused == 1
        assert child_config.read_text() == written  # fails: the refused one was written
        ((_, run),) = asyncio.run(walk(engine, clock, start, start + dt.timedelta(hours=4)))
    assert run.status == "pending", run
    assert sorted(p.name for p in scratch.iterdir()) == sorted(OLD + NEW)


def test_a_job_still_running_at_its_next_time_is_not_started_twice(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fifo = tmp_path / "access.fifo"
    os.mkfifo(fifo)
    start = dt.datetime(2027, 3, 27, 1, 0, tzinfo=UTC)
    clock = Clock(start)
    jobs = [{"name": "every-minute", "cron": "* * * * *", "task": HANGS}]
    config = make_config(tmp_path, jobs, sources={"nginx": [str(fifo)]})
    minute = dt.timedelta(minutes=1)

    async def overlap(engine: Engine) -> list[JobRun]:
        assert engine.run_due() == []  # seen
        clock.now += minute
        (first,) = engine.run_due()
        clock.now += minute
        assert engine.run_due() == []  # the 02:02 run: the 02:01 one still runs
        runs = [await first]
        clock.now += minute
        (second,) = engine.run_due()
        runs.append(await second)
        return runs

    with running(config, clock, job_timeout=2.0) as (engine, _):
        runs = asyncio.run(overlap(engine))
    assert [(local(r.scheduled), r.status) for r in runs] == [
        ("2027-03-27 02:01 CET", "timeout"),
        ("2027-03-27 02:03 CET", "timeout"),
    ]
    assert "job every-minute is still running" in caplog.text
    assert [h["status"] for h in history(config)] == ["timeout", "timeout"]


def test_a_cleanup_over_the_policy_limit_is_reported_refused_not_pending(
    tmp_path: Path,
) -> None:
    # The default policy refuses a files.delete of more than 10 000 files after the
    # preview counted them (the child reads the machine's policy: no override here).
    crowded = tmp_path / "crowded"
    crowded.mkdir()
    old = time.time() - 30 * DAY
    for i in range(10_001):
        path = crowded / f"f{i}.tmp"
        path.touch()
        os.utime(path, (old, old))
    start = dt.datetime(2027, 3, 26, 22, tzinfo=UTC)
    clock = Clock(start)
    config = make_config(tmp_path, [cleanup_job(crowded)])
    with running(config, clock) as (engine, notices):
        engine.run_due()
        ((_, run),) = asyncio.run(walk(engine, clock, start, start + dt.timedelta(hours=4)))
    assert len(list(crowded.iterdir())) == 10_001
    assert run.answer is not None and "exceed the limit of 10000" in run.answer["text"]
    (alert,) = notices.named("AlertRaised")
    assert "hf-agent execute" not in alert["body"]  # it would be refused
    assert run.status == "failed"
    assert "10001 files exceed the limit of 10000" in run.error
