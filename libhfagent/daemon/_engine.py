"""The engine: the agent running all day on one asyncio loop.

::

    sources ──► Observer.follow_batches ──► Learner ──► signals ──► runbooks
       (bounded queue, back-pressure)         │            │        (Executor: policy,
                                              │            │         preview, apply, audit)
                                   offsets committed       ├──► alerts (Notifier)
                                   after each batch        └──► listeners (D-Bus signals)
    scheduler ──► due jobs ──► ``hf-agent ask`` in a child process (timeout, kill)

- **Sources** are followed through :meth:`Observer.follow_batches`; each batch goes
  to the Learner, then the positions of the handled events are committed, at most
  every :attr:`Engine.commit_every` seconds while lines keep coming and within that
  time once they stop (a commit is a write and two fsyncs per source; a crash
  re-reads at most that much, never loses a line). A source that fails is
  restarted by the Observer after its interval; if the whole follow fails (a bug
  in a source), it is started again with an exponential back-off. The Learner's statistics are
  saved every :attr:`Engine.save_every` seconds and at stop.
- **Signals** that a runbook's trigger matches run the runbook (at most once per
  runbook and signal key in ``notifications.dedup_window``), in a worker thread;
  the others become alerts (the Notifier filters, deduplicates, rate-limits).
- **Runbook steps** whose action is an Executor action go through the policy, a
  copy-on-write preview and the audit log like any plan. A step without
  ``approval`` runs with the rights of auto mode (the runbook is the
  administrator's consent); one the policy still wants confirmed (``confirm_always``,
  a protected service, the strict sandbox) or marked ``approval`` in interactive
  mode is previewed and left waiting: ``hf-agent execute PLAN_ID`` applies it.
- **Jobs** run as ``hf-agent ask --json TASK`` in a child process of their own
  (a job that hangs is killed at :attr:`Engine.job_timeout`, a job that crashes
  takes nothing down), with the engine's configuration: interpreted, checked by
  the policy, previewed and audited like any request. In interactive mode a
  change is previewed and waits; the alert says how to apply it. A job is
  recorded as started before it runs, so a crash never runs it twice.
- **Reload** builds everything anew from the new configuration first; if any
  part refuses it, nothing changes and the error says why.

Listeners are called on the loop with ``(name, body)`` where ``name`` is one of
the D-Bus signals (``EventDetected``, ``SuggestionAdded``, ``AlertRaised``,
``PlanExecuted``) and ``body`` a JSON-ready mapping.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import signal as signals_
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from .._agent import Agent
from .._errors import ConfigError, ExecutionError, HFAgentError, PolicyDenied
from .._i18n import fmt_time, translator
from ..config import Config
from ..config._model import AlertSeverity
from ..executor import Outcome
from ..executor._actions import ACTIONS, changes_system
from ..interpreter import Intent, Plan
from ..interpreter._types import INTENTS, Step
from ..learner import Learner, Signal
from ..observer import Event, JournalSource, KmsgSource, Metric, MetricsSource, UnitSource
from ..observer._source import Source
from ._notify import Alert, Notifier
from ._runbooks import Runbook, RunbookRun, RunbookStep, StepPending, load_runbooks, run_runbook
from ._scheduler import ScheduledJob, Scheduler

__all__ = ["Engine", "EngineStats", "JobRun", "default_sources"]

log = logging.getLogger("libhfagent.engine")

Listener = Callable[[str, Mapping[str, Any]], None]

#: Signal kinds that become alerts when no runbook answers them, with their severity.
_ALERT_SEVERITY: Final[Mapping[str, str]] = {
    "disk_risk": "warning",
    "brute_force": "warning",
    "metric_anomaly": "warning",
    "metric_excursion": "info",
    "error_rate": "warning",
    "burst": "info",
    "new_template": "info",
    "suggestion_added": "info",
    "suggestion_due": "info",
}
_MAX_BACKOFF: Final = 300.0
#: The environment variable that tells a job's child process its engine's pid.
PARENT_ENV: Final = "HF_AGENT_PARENT_PID"
_OUTPUT_LIMIT: Final = 4 * 1024 * 1024


def default_sources(config: Config, observer: Any) -> list[Source]:
    """What the engine follows under ``config``: the configured files, the kernel ring
    buffer, the journal (unless rsyslog writes the same lines to ``/var/log/syslog``),
    systemd's unit states on the system bus, and the metrics.
    """
    monitoring = config.modules.monitoring
    sources: list[Source] = list(observer.file_sources())
    store = observer.position_store()
    for name, locations in monitoring.sources.items():
        if "kmsg:" in locations and os.access("/dev/kmsg", os.R_OK):
            sources.append(KmsgSource(name=name, store=store))
        if "journal:" in locations and not os.path.exists("/var/log/syslog"):
            sources.append(JournalSource(name, store=store, priority=5))
    if os.path.exists("/run/dbus/system_bus_socket") and os.path.isdir("/run/systemd/system"):
        sources.append(UnitSource())
    sources.append(
        MetricsSource(monitoring.interval, metrics=monitoring.metrics, top=0),
    )
    return sources


@attrs.define
class EngineStats:
    """What the engine did since it started."""

    events: int = 0
    metrics: int = 0
    signals: int = 0
    alerts: int = 0
    runbook_runs: int = 0
    jobs_run: int = 0
    jobs_failed: int = 0
    follow_restarts: int = 0
    reloads: int = 0
    reloads_refused: int = 0


@attrs.frozen
class JobRun:
    """One run of a scheduled job.

    Attributes:
        job: The job's name.
        scheduled: The run time it is for.
        status: ``done``, ``pending`` (a change waits for approval), ``not_understood``,
            ``failed`` or ``timeout``.
        plan_id: The previewed plan, when the task changes something.
        answer: ``hf-agent ask --json``'s object, when the task answered.
        error: What went wrong, for people.
        seconds: How long it ran.
    """

    job: str
    scheduled: dt.datetime
    status: str
    plan_id: str | None = None
    answer: Mapping[str, Any] | None = None
    error: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "job": self.job,
            "scheduled": self.scheduled.isoformat(),
            "status": self.status,
            "plan_id": self.plan_id,
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }


@attrs.frozen
class _Parts:
    """Everything built from one configuration (replaced whole on reload)."""

    config: Config
    agent: Agent
    scheduler: Scheduler
    notifier: Notifier
    runbooks: tuple[Runbook, ...]
    config_file: Path


class Engine:
    """Follows the machine, learns, answers signals with runbooks and alerts, runs jobs.

    Args:
        config: The configuration.
        sources: What to follow; :func:`default_sources` when omitted.
        clock: The current time, timezone-aware (tests move it).
        listeners: Called with each D-Bus-signal-shaped notice (see the module doc).
        notifier: Sends the alerts; built from the configuration when omitted.
        job_timeout: Seconds a scheduled job may run before it is killed.
        stop_grace: Seconds running jobs get to finish at stop before they are killed
            (and recorded as interrupted); systemd's TimeoutStopSec is 15 s.
        save_every: Seconds between two saves of the Learner's statistics.
        commit_every: Seconds between two commits of the followed positions while
            lines keep coming (0: after every batch).
        max_batch: Events handed to the Learner at once.
        queue_size: Items the follow queue holds before sources wait.

    Raises:
        ConfigError: A runbook file or the jobs file is wrong.
    """

    def __init__(
        self,
        config: Config,
        *,
        sources: Sequence[Source] | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        listeners: Iterable[Listener] = (),
        notifier: Notifier | None = None,
        job_timeout: float = 3600.0,
        stop_grace: float = 10.0,
        save_every: float = 60.0,
        commit_every: float = 1.0,
        max_batch: int = 500,
        queue_size: int = 10_000,
    ) -> None:
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._fixed_sources = list(sources) if sources is not None else None
        self._fixed_notifier = notifier
        self.listeners = list(listeners)
        self.job_timeout = job_timeout
        self.stop_grace = stop_grace
        self.save_every = save_every
        self.commit_every = commit_every
        self.max_batch = max_batch
        self.queue_size = queue_size
        self.stats = EngineStats()
        self._parts = self._build(config)
        self.learner = Learner.open(config)
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._restart_follow = asyncio.Event()
        self._jobs: dict[str, asyncio.Task[JobRun]] = {}
        self._work: set[asyncio.Future[Any]] = set()
        self._runbook_seen: dict[tuple[str, str], float] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.last_error = ""

    # -- parts -------------------------------------------------------------------------------

    def _build(self, config: Config) -> _Parts:
        runbooks = tuple(load_runbooks(config.modules.runbooks.directories))
        scheduler = Scheduler(config, clock=self._clock)
        names = {r.name for r in runbooks}
        for job in scheduler.jobs():  # the jobs file must read, its runbooks exist
            wanted = _runbook_task(job.task)
            if wanted is not None and wanted not in names:
                raise ConfigError(
                    f"scheduled job {job.name!r}: no runbook named {wanted!r} "
                    f"(runbooks: {', '.join(sorted(names))})"
                )
        notifier = self._fixed_notifier or Notifier(config, clock=self._clock)
        agent = Agent(config)  # may refuse the configuration: before anything is written
        config_file = _write_config(config)
        return _Parts(config, agent, scheduler, notifier, runbooks, config_file)

    @property
    def config(self) -> Config:
        """The configuration in force."""
        return self._parts.config

    @property
    def agent(self) -> Agent:
        """The agent answering the engine's requests (jobs run their own)."""
        return self._parts.agent

    @property
    def scheduler(self) -> Scheduler:
        """The scheduler in force."""
        return self._parts.scheduler

    @property
    def runbooks(self) -> tuple[Runbook, ...]:
        """The runbooks in force."""
        return self._parts.runbooks

    def prepare(self, config: Config) -> _Parts:
        """Build everything ``config`` needs, without using it yet (any thread).

        Raises:
            ConfigError: The configuration (or a runbook or jobs file) is refused.
        """
        try:
            return self._build(config)
        except HFAgentError:
            self.stats.reloads_refused += 1
            raise

    def swap(self, parts: _Parts) -> None:
        """Use what :meth:`prepare` built from now on (on the engine's loop).

        The sources are followed again (from their committed positions) when the
        monitoring settings changed; the scheduler looks at its jobs again; the
        Learner keeps what it learnt.
        """
        old, self._parts = self._parts, parts
        self.stats.reloads += 1
        self.last_error = ""
        if old.config.modules.monitoring != parts.config.modules.monitoring:
            self._restart_follow.set()
        self._wake.set()
        log.debug("engine parts replaced (%s)", parts.config.origin or "built-in defaults")

    def reload(self, config: Config) -> None:
        """Use ``config`` from now on; if any part refuses it, nothing changes.

        Raises:
            ConfigError: The configuration (or a runbook or jobs file) is refused.
        """
        self.swap(self.prepare(config))

    def reload_from(self, load: Callable[[], Config]) -> str:
        """Reload with what ``load`` returns; a refused configuration keeps the old one.

        Returns:
            Empty when reloaded, else why the old configuration stays (also logged).
        """
        try:
            self.reload(load())
        except HFAgentError as exc:
            self.last_error = f"reload refused, the previous configuration stays: {named(exc)}"
            log.error("%s", self.last_error)
            return self.last_error
        return ""

    def status(self) -> str:
        """One line for ``systemctl status`` (sd_notify ``STATUS=``)."""
        s = self.stats
        return (
            f"{s.events} events, {s.metrics} metrics, {s.signals} signals, "
            f"{s.alerts} alerts, {s.runbook_runs} runbooks, {s.jobs_run} jobs"
            + (f"; {self.last_error}" if self.last_error else "")
        )

    # -- running -----------------------------------------------------------------------------

    async def run(self, *, handle_signals: bool = False) -> None:
        """Run until :meth:`stop` (or SIGTERM/SIGINT with ``handle_signals``, which also
        makes SIGHUP reload the configuration file).

        On the way out the offsets are committed (after each batch, already), running
        jobs get :attr:`stop_grace` to finish (then are killed), and the Learner saves its state.
        """
        loop = self._loop = asyncio.get_running_loop()
        self._stop.clear()
        if handle_signals:
            loop.add_signal_handler(signals_.SIGTERM, self.stop)
            loop.add_signal_handler(signals_.SIGINT, self.stop)
            loop.add_signal_handler(
                signals_.SIGHUP, lambda: self.reload_from(lambda: _reread(self.config))
            )
        follow = asyncio.create_task(self._follow_forever(), name="engine:follow")
        schedule = asyncio.create_task(self._schedule_forever(), name="engine:scheduler")
        saver = asyncio.create_task(self._save_forever(), name="engine:learner")
        try:
            await self._stop.wait()
        finally:
            for task in (follow, schedule, saver):
                task.cancel()
            await asyncio.gather(follow, schedule, saver, return_exceptions=True)
            pending = [*self._jobs.values(), *self._work]
            if pending:
                await asyncio.wait(pending, timeout=min(self.stop_grace, self.job_timeout))
            jobs = [t for t in self._jobs.values() if not t.done()]
            for job_task in jobs:  # run_job kills the job's process group and records the run
                job_task.cancel()
            if jobs:
                await asyncio.gather(*jobs, return_exceptions=True)
            if handle_signals:
                for signum in (signals_.SIGTERM, signals_.SIGINT, signals_.SIGHUP):
                    loop.remove_signal_handler(signum)
            self.learner.close()
            self._loop = None

    def stop(self) -> None:
        """Ask :meth:`run` to return."""
        self._stop.set()

    # -- following ---------------------------------------------------------------------------

    def sources(self) -> list[Source]:
        """What is followed now."""
        if self._fixed_sources is not None:
            return list(self._fixed_sources)
        return default_sources(self.config, self.agent.observer)

    async def _follow_forever(self) -> None:
        delay = 1.0
        while True:
            self._restart_follow.clear()
            observer = self.agent.observer
            started = time.monotonic()
            follow = asyncio.create_task(self._follow_once(observer))
            restart = asyncio.create_task(self._restart_follow.wait())
            try:
                await asyncio.wait({follow, restart}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                restart.cancel()
                if not follow.done():
                    follow.cancel()
                    await asyncio.gather(follow, return_exceptions=True)
            if restart.done() and not restart.cancelled():
                continue  # reloaded: follow the new sources from the committed positions
            exc = follow.exception() if not follow.cancelled() else None
            if exc is None:
                return  # every source ended (fixed, finite sources)
            self.stats.follow_restarts += 1
            if time.monotonic() - started > 60:
                delay = 1.0
            log.error(
                "following the sources failed (%s: %s); starting again in %g s",
                type(exc).__name__,
                exc,
                delay,
                exc_info=exc,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF)

    async def _follow_once(self, observer: Any) -> None:
        held: dict[str, Event] = {}  # the last handled event of each source
        last = time.monotonic()
        timer: asyncio.TimerHandle | None = None

        def commit() -> None:
            nonlocal last, timer
            if timer is not None:
                timer.cancel()
                timer = None
            if held:
                observer.commit(list(held.values()))
                held.clear()
            last = time.monotonic()

        try:
            async for batch in observer.follow_batches(
                self.sources(), max_batch=self.max_batch, queue_size=self.queue_size
            ):
                self.handle_batch(batch)
                for item in batch:
                    if isinstance(item, Event) and item.fields.get("error") is not True:
                        position = item.fields.get("position")
                        held[getattr(position, "key", None) or item.source] = item
                if time.monotonic() - last >= self.commit_every:
                    commit()
                elif timer is None and held:  # lines stopped coming: commit them soon
                    timer = asyncio.get_running_loop().call_later(self.commit_every, commit)
                await asyncio.sleep(0)
        finally:
            commit()

    def handle_batch(self, batch: Iterable[Event | Metric]) -> list[Signal]:
        """Feed events and metrics to the Learner and act on its signals."""
        found: list[Signal] = []
        for item in batch:
            if isinstance(item, Metric):
                self.stats.metrics += 1
            else:
                self.stats.events += 1
                if item.fields.get("error") is True:
                    log.warning("%s", item.message)
            found += self.learner.observe(item)
        for sig in found:
            self.handle_signal(sig)
        return found

    async def _save_forever(self) -> None:
        while True:
            await asyncio.sleep(self.save_every)
            self.learner.save()

    # -- signals -----------------------------------------------------------------------------

    def handle_signal(self, sig: Signal) -> None:
        """Tell the listeners; run the runbooks it triggers, or raise an alert."""
        self.stats.signals += 1
        self._emit("EventDetected", sig.to_dict())
        if sig.kind == "suggestion_added":
            suggestion = next(
                (s for s in self.learner.suggestions() if s.id == sig.fields.get("suggestion")),
                None,
            )
            self._emit("SuggestionAdded", suggestion.to_dict() if suggestion else sig.to_dict())
        runbooks = []
        if self.config.modules.runbooks.enabled:
            runbooks = [r for r in self.runbooks if r.matches(sig.kind, sig.key)]
        for runbook in runbooks:
            self._spawn(self._runbook(runbook, sig))
        if not runbooks and sig.kind in _ALERT_SEVERITY:
            self._spawn(self.alert(_signal_alert(sig, self.config.agent.language)))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._work.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Future[Any]) -> None:
        self._work.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("engine task failed: %s", exc, exc_info=exc)

    async def wait_idle(self) -> None:
        """Wait until the runbooks, alerts and jobs started so far are finished."""
        while self._work or any(not t.done() for t in self._jobs.values()):
            await asyncio.wait([*self._work, *self._jobs.values()])

    def _emit(self, name: str, body: Mapping[str, Any]) -> None:
        for listener in self.listeners:
            try:
                listener(name, body)
            except Exception:  # a listener's bug must not stop the engine
                log.exception("listener failed on %s", name)

    async def alert(self, alert: Alert) -> dict[str, Any]:
        """Send an alert on the configured channels and tell the listeners."""
        delivery = await self._parts.notifier.send(alert)
        self.stats.alerts += 1
        body = {**alert.to_dict(), "delivery": delivery.to_dict()}
        self._emit("AlertRaised", body)
        return body

    # -- runbooks ----------------------------------------------------------------------------

    async def _runbook(self, runbook: Runbook, sig: Signal) -> RunbookRun | None:
        now = time.monotonic()
        seen = self._runbook_seen.get((runbook.name, sig.key))
        window = self.config.modules.notifications.dedup_window
        if seen is not None and now - seen < window:
            log.info("runbook %s already answered %s recently", runbook.name, sig.key)
            return None
        if len(self._runbook_seen) > 10_000:  # bounded: forget what the window forgot
            self._runbook_seen = {k: t for k, t in self._runbook_seen.items() if now - t < window}
        self._runbook_seen[(runbook.name, sig.key)] = now
        return await self.run_runbook(runbook, sig)

    async def run_runbook(
        self, runbook: Runbook, sig: Signal, *, approved: Iterable[str] = ()
    ) -> RunbookRun:
        """Run a runbook for a signal now (in a worker thread); its run is logged."""
        loop = asyncio.get_running_loop()
        parts = self._parts
        context = {
            "signal": {"kind": sig.kind, "key": sig.key, "fields": _plain(sig.fields)},
            "settings": attrs.asdict(parts.config.modules.runbooks),
            "runbook": {"name": runbook.name, "version": runbook.version},
        }
        actions = _RunbookActions(self, parts, runbook, sig, loop)
        started = time.monotonic()
        run = await asyncio.to_thread(
            run_runbook,
            runbook,
            context,
            actions.table(),
            interactive=parts.config.agent.user_mode == "interactive",
            approved=approved,
            on_pending=actions.pending,
        )
        self.stats.runbook_runs += 1
        record = {
            **run.to_dict(),
            "signal": sig.to_dict(),
            "at": self._clock().astimezone(dt.UTC).isoformat(),
            "seconds": round(time.monotonic() - started, 3),
        }
        _append_jsonl(Path(parts.config.agent.state_dir) / "runbooks" / "runs.jsonl", record)
        log.info("runbook %s for %s: %s", run.runbook, sig.key, run.status)
        if run.status != "done" and not any(
            r.action == "notify" and r.status == "done" for r in run.results
        ):  # the runbook stopped before its alert: the administrator still hears of it
            await self.alert(_stopped_alert(runbook, sig, run, parts.config.agent.language))
        return run

    # -- scheduler ---------------------------------------------------------------------------

    async def _schedule_forever(self) -> None:
        while True:
            if self.config.modules.scheduler.enabled:
                try:
                    self.run_due()
                    wait = self.scheduler.seconds_until_next()
                except HFAgentError as exc:  # a damaged jobs file: say it, try again later
                    self.last_error = str(exc)
                    log.error("scheduler: %s", exc)
                    wait = 60.0
            else:
                wait = None
            # Wake at least every minute: the wall clock may jump (suspend, NTP).
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(wait or 60.0, 60.0))

    def run_due(self) -> list[asyncio.Task[JobRun]]:
        """Start the jobs that are due now (each once); their tasks."""
        started = []
        for job, scheduled in self.scheduler.due():
            running = self._jobs.get(job.name)
            if running is not None and not running.done():
                log.warning("job %s is still running; its %s run is skipped", job.name, scheduled)
                self.scheduler.started(job)
                continue
            self.scheduler.started(job)  # before it runs: a crash never runs it twice
            task = asyncio.ensure_future(self.run_job(job, scheduled))
            self._jobs[job.name] = task
            started.append(task)
        return started

    async def run_job(self, job: ScheduledJob, scheduled: dt.datetime | None = None) -> JobRun:
        """Run a job's task now: ``hf-agent ask --json`` in a child process, or, for a
        task ``runbook:NAME``, that runbook (its trigger a ``schedule`` signal)."""
        scheduled = scheduled or self._clock()
        parts = self._parts
        wanted = _runbook_task(job.task)
        if wanted is not None:
            return await self._runbook_job(job, wanted, scheduled)
        argv = [
            sys.executable,
            "-m",
            "libhfagent",
            "--config",
            str(parts.config_file),
            "ask",
            "--json",
            "--",
            job.task,
        ]
        env = {k: v for k, v in os.environ.items() if k != "HF_AGENT_CONFIG"}
        env[PARENT_ENV] = str(os.getpid())  # the child dies with the engine
        start = time.monotonic()
        log.info("job %s (%s): %s", job.name, scheduled.isoformat(), job.task)
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,
            limit=_OUTPUT_LIMIT,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), self.job_timeout)
        except (TimeoutError, asyncio.CancelledError) as exc:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signals_.SIGKILL)
            await proc.wait()
            if isinstance(exc, asyncio.CancelledError):
                stopped = JobRun(
                    job.name,
                    scheduled,
                    "failed",
                    error="interrupted: the agent stopped",
                    seconds=time.monotonic() - start,
                )
                self._record_job(stopped, parts.config)
                raise
            run = JobRun(
                job.name,
                scheduled,
                "timeout",
                error=f"killed after {self.job_timeout:g} s",
                seconds=time.monotonic() - start,
            )
        else:
            run = _job_result(job, scheduled, proc.returncode, out, err, time.monotonic() - start)
        self._record_job(run, parts.config)
        await self._after_job(job, run)
        return run

    def _record_job(self, run: JobRun, config: Config) -> None:
        """Count a job's run and append it to ``<state_dir>/scheduler/history.jsonl``."""
        self.stats.jobs_run += 1
        if run.status in ("failed", "timeout", "not_understood"):
            self.stats.jobs_failed += 1
        _append_jsonl(Path(config.agent.state_dir) / "scheduler" / "history.jsonl", run.to_dict())

    async def _runbook_job(self, job: ScheduledJob, name: str, scheduled: dt.datetime) -> JobRun:
        start = time.monotonic()
        runbook = next((r for r in self.runbooks if r.name == name), None)
        if runbook is None:
            run = JobRun(job.name, scheduled, "failed", error=f"no runbook named {name!r}")
        else:
            sig = Signal("schedule", name, scheduled, 1.0, {"job": job.name})
            done = await self.run_runbook(runbook, sig)
            last = done.results[-1] if done.results else None
            pending = last.output if last and isinstance(last.output, Mapping) else {}
            run = JobRun(
                job.name,
                scheduled,
                done.status,
                plan_id=pending.get("plan_id") if done.status == "pending" else None,
                answer=done.to_dict(),
                error=_short(last.output) if last and done.status == "failed" else "",
                seconds=time.monotonic() - start,
            )
        self._record_job(run, self.config)
        return run  # the runbook raised its own alerts

    async def _after_job(self, job: ScheduledJob, run: JobRun) -> None:
        _ = translator(self.config.agent.language).gettext
        applied = (run.answer or {}).get("outcome", {}).get("applied") or []
        if run.plan_id and applied:
            self._emit("PlanExecuted", {"plan_id": run.plan_id, **(run.answer or {})["outcome"]})
        values = {"name": job.name, "task": job.task, "plan": run.plan_id, "error": run.error}
        if run.status == "pending":
            alert = Alert(
                title=_("Job %(name)s: a change waits for your approval") % values,
                body=_("Task: %(task)s\nTo apply it: hf-agent execute %(plan)s") % values
                + "\n\n"
                + str((run.answer or {}).get("text", "")),
                severity="warning",
                source=f"scheduler.{job.name}",
                fields={"job": job.name, "plan_id": run.plan_id},
            )
        elif run.status in ("failed", "timeout", "not_understood"):
            title = _("Job %(name)s failed") % values
            if run.status == "timeout":
                title = _("Job %(name)s was stopped: it ran longer than %(seconds)s s") % {
                    **values,
                    "seconds": f"{self.job_timeout:g}",
                }
            alert = Alert(
                title=title,
                body=_("Task: %(task)s\n%(error)s") % values,
                severity="warning",
                source=f"scheduler.{job.name}",
                fields={"job": job.name, "status": run.status},
            )
        else:
            log.info("job %s done in %.1f s", job.name, run.seconds)
            return
        await self.alert(alert)


class _RunbookActions:
    """The step functions of one runbook run (they run in a worker thread)."""

    def __init__(
        self,
        engine: Engine,
        parts: _Parts,
        runbook: Runbook,
        sig: Signal,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.engine = engine
        self.parts = parts
        self.runbook = runbook
        self.sig = sig
        self.loop = loop
        self.lang = parts.config.agent.language
        self.actor = {
            "runbook": f"{runbook.name}@{runbook.version}",
            "signal": sig.key,
            "uid": os.getuid(),
        }

    def table(self) -> dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], Any]]:
        out: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], Any]] = {
            action: self._executor_step(action) for action in ACTIONS
        }
        out["notify"] = self.notify
        out["request"] = self.request
        out["execute"] = self.execute
        return out

    # Executor actions -----------------------------------------------------------------

    def _steps(self, action: str, args: Mapping[str, Any]) -> list[Step]:
        settings = self.parts.config.modules.runbooks
        args = dict(args)
        if action == "web.maintenance":
            args.setdefault("flag", settings.maintenance_flag)
            args.setdefault("service", settings.web_service)
        if action == "backup.sync" and "sources" in args:
            sources = [s for s in (args.pop("sources") or []) if s]
            if not sources:
                raise ExecutionError("backup.sync: no backup_paths configured")
            dest = str(args.pop("destination") or "")
            return [
                Step(
                    action,
                    {
                        **args,
                        "source": s,
                        "destination": dest
                        if len(sources) == 1
                        else os.path.join(dest, os.path.basename(s.rstrip("/"))),
                    },
                )
                for s in sources
            ]
        return [Step(action, args)]

    def _plan(self, action: str, args: Mapping[str, Any], step_id: str) -> Plan:
        intent = Intent(
            request=f"runbook {self.runbook.name}@{self.runbook.version}: {step_id}",
            lang=self.lang,
            intent=action if action in INTENTS else "unknown",
            confidence=1.0,
        )
        return Plan(intent, tuple(self._steps(action, args)))

    def _executor_step(self, action: str) -> Callable[[Mapping[str, Any], Mapping[str, Any]], Any]:
        def run(args: Mapping[str, Any], ctx: Mapping[str, Any]) -> Any:
            return self.apply(action, args, ctx["current_step"], preapproved=True)

        return run

    def apply(
        self, action: str, args: Mapping[str, Any], step_id: str, *, preapproved: bool
    ) -> dict[str, Any]:
        executor = self.parts.agent.executor
        plan = self._plan(action, args, step_id)
        reviewed = executor.review(plan)
        denied = [s for s in reviewed.steps if s.decision == "deny"]
        if denied:
            raise PolicyDenied(f"{action}: refused by the policy: {denied[0].reason}")
        if not any(s.changes_system for s in reviewed.steps):
            outcome = executor.run(plan)
            return {"reports": [dict(r.report) for r in outcome.results]}
        previewed = executor.preview(plan)
        if previewed is None:
            return {"applied": False}
        if previewed.refused:
            raise PolicyDenied(f"{action}: refused after its preview: {previewed.refused}")
        wanted = {"plan_id": previewed.plan_id, "preview": previewed.to_dict()["preview"]}
        if not preapproved or (previewed.needs_confirmation and not self._auto_allows(plan)):
            raise StepPending({**wanted, "execute": f"hf-agent execute {previewed.plan_id}"})
        outcome = executor.apply(previewed.plan_id, actor=self.actor)
        if outcome.failed:
            raise ExecutionError(outcome.failed)
        summary = [
            f"{a} " + ", ".join(f"{k}={_short(v, 120)}" for k, v in step_args.items())
            for a, step_args in previewed.steps
        ] + [f"plan {previewed.plan_id}: {len(outcome.results)} step(s) applied, audited"]
        self._executed(previewed.plan_id, outcome)
        return {**wanted, "outcome": outcome.to_dict(), "summary": summary}

    def _executed(self, plan_id: str, outcome: Outcome) -> None:
        """Tell the listeners (on the engine's loop) that a plan was applied."""
        self.loop.call_soon_threadsafe(
            self.engine._emit, "PlanExecuted", {"plan_id": plan_id, **outcome.to_dict()}
        )

    def _auto_allows(self, plan: Plan) -> bool:
        """Whether the policy would allow every step in auto mode (the runbook's consent)."""
        policy = self.parts.agent.executor.policy
        config = self.parts.config
        return all(
            str(
                policy.decide(
                    step,
                    confidence=1.0,
                    sandbox_level=config.security.sandbox_level,
                    user_mode="auto",
                ).decision
            )
            == "allow"
            for step in plan.steps
        )

    def pending(self, step: RunbookStep, args: Mapping[str, Any], ctx: Mapping[str, Any]) -> Any:
        """A step waiting for approval: previewed when it changes the machine."""
        if step.action in ACTIONS and changes_system(step.action, args):
            try:
                return self.apply(step.action, args, step.id, preapproved=False)
            except StepPending as waiting:
                return waiting.output
        if step.action == "execute":
            plan_id = args.get("plan_id")
            return {"plan_id": plan_id, "execute": f"hf-agent execute {plan_id}"}
        return {"approve": step.id}

    # Other actions -----------------------------------------------------------------------

    def notify(self, args: Mapping[str, Any], ctx: Mapping[str, Any]) -> Any:
        alert = _runbook_alert(
            self.runbook, self.sig, args, ctx, self.lang, self.engine.scheduler.tz
        )
        future = asyncio.run_coroutine_threadsafe(self.engine.alert(alert), self.loop)
        body = future.result(timeout=120)
        return body["delivery"]

    def request(self, args: Mapping[str, Any], ctx: Mapping[str, Any]) -> Any:
        text = str(args.get("request") or "")
        answer = self.parts.agent.ask(text, apply=bool(args.get("apply", False)))
        if args.get("apply", False):
            return {**answer.to_dict()["outcome"], "text": answer.text}
        previewed = answer.previewed
        return {
            "intent": answer.plan.intent.intent,
            "plan_id": previewed.plan_id if previewed else None,
            "refused": previewed.refused if previewed else "",
            "reports": [dict(r.report) for r in answer.outcome.results],
            "preview": previewed.to_dict()["preview"] if previewed else None,
        }

    def execute(self, args: Mapping[str, Any], ctx: Mapping[str, Any]) -> Any:
        plan_id = str(args.get("plan_id") or "")
        if not plan_id:
            raise ExecutionError("execute: no plan to apply (the plan step made none)")
        outcome = self.parts.agent.executor.apply(plan_id, actor=self.actor)
        if outcome.failed:
            raise ExecutionError(outcome.failed)
        self._executed(plan_id, outcome)
        return outcome.to_dict()


# -- texts -----------------------------------------------------------------------------------


def _signal_alert(sig: Signal, lang: str) -> Alert:
    _ = translator(lang).gettext
    f = dict(sig.fields)
    severity = _ALERT_SEVERITY.get(sig.kind, "info")
    if sig.kind == "disk_risk":
        levels = {"critical": "critical", "warning": "warning"}
        severity = levels.get(str(f.get("level")), "info")  # "watch": worth a look only
        title = _("Disk %(disk)s shows signs of failure (%(level)s)") % {
            "disk": f.get("disk", "?"),
            "level": f.get("level", "?"),
        }
    elif sig.kind == "brute_force":
        title = _("SSH brute force from %(ip)s: %(failures)s failures") % {
            "ip": f.get("ip", "?"),
            "failures": f.get("failures", "?"),
        }
    elif sig.kind in ("metric_anomaly", "metric_excursion"):
        title = _("Unusual value of %(series)s") % {"series": sig.key.split(":", 1)[-1]}
    elif sig.kind in ("suggestion_added", "suggestion_due"):
        title = _("New suggestion: %(action)s after %(trigger)s") % {
            "action": f.get("action", "?"),
            "trigger": sig.key,
        }
    else:
        title = _("%(kind)s: %(key)s") % {"kind": sig.kind, "key": sig.key}
    body = "\n".join(f"{k}: {_short(v)}" for k, v in f.items())
    return Alert(
        title=title,
        body=body,
        severity=severity,  # type: ignore[arg-type]
        source=f"learner.{sig.kind}",
        key=f"{sig.kind}:{sig.key}",
        fields=f,
        at=sig.at,
    )


def _runbook_alert(
    runbook: Runbook,
    sig: Signal,
    args: Mapping[str, Any],
    ctx: Mapping[str, Any],
    lang: str,
    tz: dt.tzinfo = dt.UTC,
) -> Alert:
    """The runbook's alert with the full report: evidence, actions taken, what to do next."""
    _ = translator(lang).gettext
    title = str(runbook.title.get(lang) or runbook.title.get("en") or runbook.name)
    lines = [_("Signal: %(kind)s %(key)s") % {"kind": sig.kind, "key": sig.key}, ""]
    lines.append(_("Evidence:"))
    extra = {
        k: v for k, v in args.items() if k not in ("severity", "title", "next") and v is not None
    }
    shown = {**dict(sig.fields), **extra}
    for key, value in shown.items():
        if isinstance(value, list | tuple):
            lines.append(f"- {key}:")
            lines += [f"    {_evidence(v, lang, tz)}" for v in value[:30]]
            if len(value) > 30:
                lines.append(f"    … +{len(value) - 30}")
        elif key not in ("at", "score"):
            lines.append(f"- {key}: {_short(value)}")
    lines += ["", _("Actions taken:")]
    done = ctx.get("steps", {})
    if not done:
        lines.append("- " + _("none"))
    for step_id, output in done.items():
        summary = output.get("summary") if isinstance(output, Mapping) else None
        if summary:
            lines += [f"- {step_id}: {line}" for line in summary]
        else:
            lines.append(f"- {step_id}: {_short(output)}")
    advice = args.get("next")
    if isinstance(advice, Mapping):
        advice = advice.get(lang) or advice.get("en")
    if advice:
        lines += ["", _("What to do next:"), str(advice)]
    severity = str(args.get("severity") or "warning")
    flat = {k: v for k, v in extra.items() if not isinstance(v, list | tuple | Mapping)}
    return Alert(
        title=title,
        body="\n".join(lines),
        severity=severity,  # type: ignore[arg-type]
        source=f"runbook.{runbook.name}",
        key=f"runbook.{runbook.name}:{sig.key}",
        fields={"runbook": f"{runbook.name}@{runbook.version}", "signal": sig.key, **flat},
        at=sig.at,
    )


def _evidence(item: Any, lang: str, tz: dt.tzinfo) -> str:
    """One piece of evidence: ``Nov 2, 03:00 io error, sector 8 (read)``."""
    if isinstance(item, Mapping) and "text" in item:
        at = item.get("at")
        when = ""
        if isinstance(at, int | float):
            when = fmt_time(dt.datetime.fromtimestamp(at, tz), lang) + " "
        return when + str(item["text"])
    return _short(item)


def _stopped_alert(runbook: Runbook, sig: Signal, run: RunbookRun, lang: str) -> Alert:
    """A runbook that failed or waits before its own alert."""
    _ = translator(lang).gettext
    last = run.results[-1]
    title = str(runbook.title.get(lang) or runbook.title.get("en") or runbook.name)
    values = {"runbook": runbook.name, "step": last.id}
    if last.status == "pending":
        head = _("Runbook %(runbook)s waits for your approval at step %(step)s") % values
        output = last.output if isinstance(last.output, Mapping) else {}
        if output.get("execute"):
            head += "\n" + _("To approve it: %(command)s") % {"command": output["execute"]}
    else:
        head = _("Runbook %(runbook)s stopped at step %(step)s: %(error)s") % {
            **values,
            "error": _short(last.output),
        }
    lines = [head, "", _("Signal: %(kind)s %(key)s") % {"kind": sig.kind, "key": sig.key}]
    lines += [f"- {r.id} ({r.action}): {r.status}" for r in run.results]
    severity: AlertSeverity = "critical" if sig.fields.get("level") == "critical" else "warning"
    return Alert(
        title=title,
        body="\n".join(lines),
        severity=severity,
        source=f"runbook.{runbook.name}",
        key=f"runbook.{runbook.name}:{sig.key}:{last.status}",
        fields={"runbook": run.runbook, "signal": sig.key, "status": run.status, "step": last.id},
        at=sig.at,
    )


def _short(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else json.dumps(_plain(value), default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=_default))


def _default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


# -- files -----------------------------------------------------------------------------------


def named(exc: HFAgentError) -> str:
    """The error's text, prefixed with its file when the error knows it and does not say it
    (configuration errors carry ``origin``; the command line names it the same way)."""
    origin = getattr(exc, "origin", None)
    return f"{origin}: {exc}" if origin and origin not in str(exc) else str(exc)


def die_with_parent() -> None:
    """In a job's child (``$HF_AGENT_PARENT_PID`` set): be killed when the engine dies,
    even by ``kill -9``, so that no job outlives it (``PR_SET_PDEATHSIG``).

    Called by the command line at start; exits at once if the engine is gone already.
    """
    parent = os.environ.get(PARENT_ENV, "")
    if not parent.isdigit():
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signals_.SIGKILL, 0, 0, 0)
    if os.getppid() != int(parent):  # it died before prctl took effect
        os._exit(1)


def _runbook_task(task: str) -> str | None:
    """The runbook a job's task names (``runbook:security-updates``), if any."""
    head, sep, name = task.partition(":")
    return name.strip() if sep and head.strip().lower() == "runbook" else None


def _write_config(config: Config) -> Path:
    """The configuration as the jobs' child processes read it (root-only file)."""
    from .._atomic import write_atomic

    folder = Path(config.agent.state_dir) / "engine"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / "config.json"
    write_atomic(path, json.dumps(config.to_dict(), indent=1, sort_keys=True), mode=0o600)
    return path


def _reread(current: Config) -> Config:
    """The configuration file read again (the same file as at start)."""
    return Config.load(current.origin) if current.origin else Config.load()


def _append_jsonl(path: Path, record: Mapping[str, Any]) -> None:
    """Append one JSON line durably (a history: runs of jobs and runbooks)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    line = json.dumps(_plain(record), sort_keys=True, ensure_ascii=False) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _job_result(
    job: ScheduledJob,
    scheduled: dt.datetime,
    returncode: int | None,
    out: bytes,
    err: bytes,
    seconds: float,
) -> JobRun:
    try:
        answer = json.loads(out.decode("utf-8", "replace") or "null")
    except json.JSONDecodeError:
        answer = None
    message = err.decode("utf-8", "replace").strip()[-2000:]
    if not isinstance(answer, dict):
        return JobRun(
            job.name,
            scheduled,
            "failed",
            error=message or f"exit status {returncode}",
            seconds=seconds,
        )
    outcome = answer.get("outcome") or {}
    refused = outcome.get("refused") or ""
    if answer.get("intent") == "unknown":
        status = "not_understood"
    elif outcome.get("failed") or refused:
        status = "failed"
    elif outcome.get("pending"):
        status = "pending"
    else:
        status = "done"
    return JobRun(
        job.name,
        scheduled,
        status,
        plan_id=outcome.get("plan_id"),
        answer=answer,
        error=str(outcome.get("failed") or refused or message if status != "done" else ""),
        seconds=seconds,
    )
