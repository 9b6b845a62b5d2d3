"""The scheduler: cron in the agent's time zone across DST, missed runs, at most once."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import CliRunner

from libhfagent import Config, ConfigError, RequestError
from libhfagent.daemon import Scheduler

UTC = dt.UTC


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def config(tmp_path: Path, jobs: list[dict[str, str]], tz: str = "Europe/Paris") -> Config:
    data = {
        "agent": {"timezone": tz, "state_dir": str(tmp_path / "state")},
        "modules": {"scheduler": {"jobs": jobs}},
    }
    return Config.from_text(json.dumps(data), env={})


CLEANUP = {"name": "cleanup", "cron": "0 2 * * *", "task": "nettoie /tmp et /var/log"}


def run_days(scheduler: Scheduler, clock: Clock, start: dt.datetime, days: int) -> list[str]:
    """Step the clock minute by minute; start every due job; return the local run times."""
    runs = []
    clock.now = start
    end = start + dt.timedelta(days=days)
    while clock.now < end:
        for job, _scheduled in scheduler.due():
            scheduler.started(job)
            runs.append(clock.now.astimezone(scheduler.tz).strftime("%Y-%m-%d %H:%M %Z"))
        clock.now += dt.timedelta(minutes=1)
    return runs


def test_daily_job_runs_at_two_local_time_across_both_dst_changes(tmp_path: Path) -> None:
    clock = Clock(dt.datetime(2026, 3, 27, 12, tzinfo=UTC))
    scheduler = Scheduler(config(tmp_path, [CLEANUP]), clock=clock)
    spring = run_days(scheduler, clock, dt.datetime(2026, 3, 27, 12, tzinfo=UTC), 4)
    # 29 March: 02:00 does not exist in Paris; the run comes at 03:00 CEST, once.
    assert spring == [
        "2026-03-28 02:00 CET",
        "2026-03-29 03:00 CEST",
        "2026-03-30 02:00 CEST",
        "2026-03-31 02:00 CEST",
    ]
    half_past = {**CLEANUP, "cron": "30 2 * * *"}
    clock2 = Clock(dt.datetime(2026, 10, 23, 12, tzinfo=UTC))
    scheduler2 = Scheduler(config(tmp_path / "b", [half_past]), clock=clock2)
    autumn = run_days(scheduler2, clock2, dt.datetime(2026, 10, 23, 12, tzinfo=UTC), 4)
    # 25 October: 02:30 happens twice in Paris; the job runs once.
    assert autumn == [
        "2026-10-24 02:30 CEST",
        "2026-10-25 02:30 CEST",
        "2026-10-26 02:30 CET",
        "2026-10-27 02:30 CET",
    ]


def test_a_run_missed_while_down_runs_once_at_start_and_a_crash_does_not_rerun(
    tmp_path: Path,
) -> None:
    clock = Clock(dt.datetime(2026, 11, 2, 0, 0, tzinfo=UTC))
    scheduler = Scheduler(config(tmp_path, [CLEANUP]), clock=clock)
    assert scheduler.due() == []  # first sight: recorded, not due
    clock.now = dt.datetime(2026, 11, 5, 9, 0, tzinfo=UTC)  # down for three nights
    restarted = Scheduler(config(tmp_path, [CLEANUP]), clock=clock)
    ((job, scheduled),) = restarted.due()
    assert job.name == "cleanup"
    assert scheduled == dt.datetime(2026, 11, 2, 2, 0, tzinfo=restarted.tz)
    restarted.started(job)
    # The agent dies during the run (kill -9) and restarts: not run a second time.
    again = Scheduler(config(tmp_path, [CLEANUP]), clock=clock)
    assert again.due() == []
    assert again.next_run(job) == dt.datetime(2026, 11, 6, 2, 0, tzinfo=again.tz)
    assert again.seconds_until_next() == pytest.approx((17 - 1) * 3600 + 0, abs=3600)


def test_jobs_added_by_requests_persist_and_can_be_removed(tmp_path: Path) -> None:
    clock = Clock(dt.datetime(2026, 11, 2, 10, 0, tzinfo=UTC))
    cfg = config(tmp_path, [CLEANUP])
    scheduler = Scheduler(cfg, clock=clock)
    job = scheduler.add("restart-nginx", "0 3 * * 0", "restart nginx")
    assert job.origin == "request"
    listed = Scheduler(cfg, clock=clock).to_list()
    assert [j["name"] for j in listed] == ["cleanup", "restart-nginx"]
    assert listed[1]["next_run"] == "2026-11-08T03:00:00+01:00"  # Sunday 03:00 Paris
    with pytest.raises(RequestError, match="already exists"):
        scheduler.add("restart-nginx", "0 3 * * 0", "restart nginx")
    with pytest.raises(RequestError, match="invalid cron"):
        scheduler.add("x", "61 * * * *", "t")
    with pytest.raises(RequestError, match="5 fields"):
        scheduler.add("x", "* * *", "t")
    with pytest.raises(RequestError, match="invalid job name"):
        scheduler.add("../x", "* * * * *", "t")
    with pytest.raises(RequestError, match="configuration file"):
        scheduler.remove("cleanup")
    scheduler.remove("restart-nginx")
    assert [j.name for j in Scheduler(cfg, clock=clock).jobs()] == ["cleanup"]
    with pytest.raises(RequestError, match="no scheduled job named 'nope'"):
        scheduler.get("nope")


def test_a_damaged_jobs_file_is_a_clear_error(tmp_path: Path) -> None:
    cfg = config(tmp_path, [])
    path = tmp_path / "state" / "scheduler" / "jobs.json"
    path.parent.mkdir(parents=True)
    path.write_text("{broken")
    with pytest.raises(ConfigError, match=r"jobs\.json: not JSON"):
        Scheduler(cfg).jobs()


def test_cli_schedule_list_add_remove(
    cli: CliRunner, write_config: Callable[[dict[str, Any]], Path]
) -> None:
    path = write_config({"modules": {"scheduler": {"jobs": [CLEANUP]}}})
    done = cli(
        "--config",
        str(path),
        "schedule",
        "add",
        "weekly",
        "--cron",
        "0 3 * * 0",
        "--task",
        "every sunday restart nginx",
    )
    assert done.returncode == 0, done.stderr
    done = cli("--config", str(path), "schedule", "list", "--json")
    jobs = json.loads(done.stdout)
    assert isinstance(jobs, list) and [j["name"] for j in jobs] == ["cleanup", "weekly"]
    assert set(jobs[0]) >= {"name", "cron", "task", "next_run"}
    assert dt.datetime.fromisoformat(jobs[0]["next_run"]).tzinfo is not None
    done = cli("--config", str(path), "schedule", "remove", "cleanup")
    assert done.returncode == 2 and "configuration file" in done.stderr
    done = cli("--config", str(path), "schedule", "remove", "weekly")
    assert done.returncode == 0
    done = cli("--config", str(path), "schedule", "add", "bad", "--cron", "* *", "--task", "x")
    assert done.returncode == 2 and "5 fields" in done.stderr
