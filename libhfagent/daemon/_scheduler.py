"""The scheduler: cron jobs whose task is a request.

Jobs come from the configuration (``modules.scheduler.jobs``) and from
``schedule.add`` requests (kept in ``<state_dir>/scheduler/jobs.json``). Cron
expressions are read in ``agent.timezone`` with cronsim, which handles daylight
saving time: a 02:30 job runs once on the night the clocks go back, and at
03:00 on the night 02:30 does not exist.

Runs are recorded in ``<state_dir>/scheduler/runs.json`` *before* the task
starts (at most once: a crash during a run does not run it again at restart),
and a run missed while the agent was down runs once when it starts.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import attrs
import cronsim

from .._atomic import write_atomic
from .._errors import ConfigError, RequestError
from ..config import Config

__all__ = [
    "ScheduledJob",
    "Scheduler",
    "check_cron",
    "check_job_name",
    "jobs_file",
    "read_requested",
    "write_requested",
]

Origin = Literal["config", "request"]
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@attrs.frozen
class ScheduledJob:
    """A recurring task.

    Attributes:
        name: Unique among the jobs.
        cron: Five-field cron expression, in the agent's time zone.
        task: The request to run (French or English), e.g. "clean /tmp and /var/log".
        origin: ``config`` (from ``hf-agent.json``) or ``request`` (added by ``schedule.add``).
        created: When a request added it (ISO 8601), empty for configured jobs.
    """

    name: str
    cron: str
    task: str
    origin: Origin = "config"
    created: str = ""


def check_cron(expression: str) -> str:
    """The expression if cronsim accepts it as a five-field cron expression.

    Raises:
        RequestError: It is not one (the message says why).
    """
    fields = expression.split()
    if len(fields) != 5:
        raise RequestError(
            f"invalid cron expression {expression!r}: expected 5 fields "
            f"(minute hour day month weekday), got {len(fields)}"
        )
    try:
        cronsim.CronSim(expression, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    except cronsim.CronSimError as exc:
        raise RequestError(f"invalid cron expression {expression!r}: {exc}") from exc
    return " ".join(fields)


def check_job_name(name: str) -> str:
    """``name`` if it is a valid job name.

    Raises:
        RequestError: It is not.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise RequestError(
            f"invalid job name {name!r}: letters, digits, '.', '_' and '-', at most 64"
        )
    return name


def jobs_file(state_dir: str | os.PathLike[str]) -> Path:
    """Where the jobs added by requests are kept."""
    return Path(state_dir) / "scheduler" / "jobs.json"


def read_requested(state_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The job records added by requests (``name``, ``cron``, ``task``, ``created``…)."""
    saved = _read_json(jobs_file(state_dir), {"jobs": []})
    jobs = saved.get("jobs", []) if isinstance(saved, dict) else None
    if not isinstance(jobs, list) or not all(isinstance(j, dict) for j in jobs):
        raise ConfigError(f'{jobs_file(state_dir)}: expected {{"jobs": [...]}}')
    return jobs


def write_requested(state_dir: str | os.PathLike[str], jobs: list[dict[str, Any]]) -> None:
    """Replace the job records added by requests, atomically."""
    _write_json(jobs_file(state_dir), {"jobs": jobs})


def _write_json(path: Path, value: Any) -> None:
    """Replace ``path`` atomically and durably (its folder private)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, json.dumps(value, indent=1, sort_keys=True), mode=0o644)


def _read_json(path: Path, default: Any) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return default
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not JSON (line {exc.lineno}): {exc.msg}") from exc


class Scheduler:
    """Which jobs are due, when the next ones are, and what ran.

    Args:
        config: The configuration (jobs, time zone, state directory).
        clock: Returns the current time, timezone-aware (injectable for tests).
    """

    def __init__(self, config: Config, *, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.config = config
        self.tz = zoneinfo.ZoneInfo(config.agent.timezone)
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._dir = Path(config.agent.state_dir) / "scheduler"
        self._jobs_path = jobs_file(config.agent.state_dir)
        self._runs_path = self._dir / "runs.json"

    # -- jobs ----------------------------------------------------------------

    def jobs(self) -> list[ScheduledJob]:
        """The configured jobs, then the jobs added by requests."""
        configured = [
            ScheduledJob(j.name, j.cron, j.task) for j in self.config.modules.scheduler.jobs
        ]
        return configured + self._requested()

    def _requested(self) -> list[ScheduledJob]:
        jobs = []
        for index, item in enumerate(read_requested(self.config.agent.state_dir)):
            try:
                jobs.append(
                    ScheduledJob(
                        str(item["name"]),
                        str(item["cron"]),
                        str(item["task"]),
                        "request",
                        str(item.get("created", "")),
                    )
                )
            except (KeyError, TypeError) as exc:
                raise ConfigError(f"{self._jobs_path}: jobs[{index}]: missing {exc}") from exc
        return jobs

    def get(self, name: str) -> ScheduledJob:
        """The job called ``name``.

        Raises:
            RequestError: There is none.
        """
        for job in self.jobs():
            if job.name == name:
                return job
        names = ", ".join(j.name for j in self.jobs()) or "none"
        raise RequestError(f"no scheduled job named {name!r} (jobs: {names})")

    def add(self, name: str, cron: str, task: str) -> ScheduledJob:
        """Add a job (as a ``schedule.add`` request does); persisted at once.

        Raises:
            RequestError: Bad name, cron expression or task, or the name is taken.
        """
        check_job_name(name)
        cron = check_cron(cron)
        task = task.strip()
        if not task or "\0" in task or len(task) > 1000:
            raise RequestError("the task must be a request of 1 to 1000 characters")
        if any(j.name == name for j in self.jobs()):
            raise RequestError(f"a scheduled job named {name!r} already exists")
        created = self._clock().astimezone(dt.UTC).isoformat()
        job = ScheduledJob(name, cron, task, "request", created)
        saved = [*read_requested(self.config.agent.state_dir), attrs.asdict(job)]
        write_requested(self.config.agent.state_dir, saved)
        self._record(name, self._clock())  # its first run is the next one, not a missed one
        return job

    def remove(self, name: str) -> ScheduledJob:
        """Remove a job added by a request.

        Raises:
            RequestError: No such job, or it comes from the configuration file.
        """
        job = self.get(name)
        if job.origin == "config":
            raise RequestError(
                f"job {name!r} comes from the configuration file; remove it there "
                f"({self.config.origin or 'hf-agent.json'})"
            )
        kept = [j for j in read_requested(self.config.agent.state_dir) if j.get("name") != name]
        write_requested(self.config.agent.state_dir, kept)
        return job

    # -- time ----------------------------------------------------------------

    def next_run(self, job: ScheduledJob, after: dt.datetime | None = None) -> dt.datetime:
        """The first run strictly after ``after`` (default: now), in the agent's time zone."""
        start = (after or self._clock()).astimezone(self.tz)
        return next(cronsim.CronSim(job.cron, start))

    def last_runs(self) -> dict[str, dt.datetime]:
        """When each job last started (or was first seen), by name."""
        saved = _read_json(self._runs_path, {})
        return {name: dt.datetime.fromisoformat(value) for name, value in saved.items()}

    def due(self) -> list[tuple[ScheduledJob, dt.datetime]]:
        """The jobs to run now, each with the run time it is for.

        A job never seen before is not due: it is recorded as seen now, and
        runs at its next time. A job whose next run (after its last) has
        passed is due once, however many runs were missed.
        """
        now = self._clock()
        last = self.last_runs()
        found = []
        for job in self.jobs():
            seen = last.get(job.name)
            if seen is None:
                self._record(job.name, now)
                continue
            scheduled = self.next_run(job, seen)
            if scheduled <= now:
                found.append((job, scheduled))
        return found

    def seconds_until_next(self) -> float | None:
        """Seconds until the earliest next run, or None without jobs."""
        now = self._clock()
        last = self.last_runs()
        times = [self.next_run(j, max(last.get(j.name, now), now)) for j in self.jobs()]
        if not times:
            return None
        return max(0.0, (min(times) - now).total_seconds())

    def started(self, job: ScheduledJob, at: dt.datetime | None = None) -> None:
        """Record that ``job`` starts now (call before running it: at most once)."""
        self._record(job.name, at or self._clock())

    def _record(self, name: str, at: dt.datetime) -> None:
        saved = _read_json(self._runs_path, {})
        saved[name] = at.astimezone(dt.UTC).isoformat()
        names = {j.name for j in self.jobs()}
        _write_json(self._runs_path, {k: v for k, v in saved.items() if k in names or k == name})

    def to_list(self) -> list[dict[str, Any]]:
        """``hf-agent schedule list --json``: name, cron, task, next_run (ISO 8601), origin."""
        now = self._clock()
        return [
            {
                "name": job.name,
                "cron": job.cron,
                "task": job.task,
                "next_run": self.next_run(job, now).isoformat(),
                "origin": job.origin,
            }
            for job in self.jobs()
        ]
