"""The Learner: what is normal, what stands out, and what the admins do about it.

``Learner.observe`` takes the Observer's metrics and events and returns
:class:`Signal` values:

- a metric series (name + labels) gets its own :class:`AnomalyDetector`;
  a score at or above ``threshold`` is a ``metric_anomaly`` whose trigger key
  says the series and the direction (``metric:memory_usage{}:high``); and a
  slow baseline: a value clearly above or below it starts a
  ``metric_excursion`` (same key). Anomalies say "never seen like this";
  excursions say "above its usual level again" — a climb that recurs stops
  being an anomaly but stays an excursion, which is what admins react to;
- log events are mined into templates and counted per minute
  (:class:`LogRates`): ``burst``, ``new_template``, ``error_rate``;
- admin actions seen in the events (service restarts and starts from unit
  states, the journal's job records or the agent's own audit, logins) feed the
  :class:`AssociationMiner` with the triggers that came before them; a pattern
  seen ``min_support`` times becomes a :class:`Suggestion`
  (``suggestion_added``) and, when its trigger fires again, a
  ``suggestion_due`` signal proposes the action before anyone acts;
- SSH authentication lines (the auth log or the journal) feed a
  :class:`BruteForceDetector`: ``brute_force`` when a source crosses the
  threshold (5 failures in 600 s, as fail2ban);
- kernel messages, diskstats latency and SMART reports make a risk level
  per disk (:class:`DiskHealth`): ``disk_risk`` when it rises;
- ``cpu_load`` and ``memory_usage`` build hour-of-week usage profiles for
  right-sizing advice (:meth:`Learner.advise`).

Replies (:meth:`Learner.reply`): ``accept`` counts a run the admin approved,
``reject`` stops the suggestion, ``automate`` lets it run on its own within the
policy once it was accepted ``automate_after`` times, ``expected`` silences
its trigger (a false positive). State lives in SQLite (:class:`LearnerStore`):
suggestions are written at once, learned statistics every ``save_every``
observations and on :meth:`close`.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import zoneinfo
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs

from .._errors import RequestError
from ..config import Config
from ..observer._auth import parse_auth_message
from ..observer._events import Event, Metric, Severity
from ..observer._kernel import parse_kernel_message
from ..observer._syslog import parse_syslog_line
from ..observer._templates import TemplateMiner
from ._anomaly import AnomalyDetector
from ._associations import AssociationMiner
from ._bruteforce import BruteForceDetector
from ._disks import DiskHealth, DiskRisk
from ._logs import LogRates
from ._profiles import Advice, InstanceSize, UsageProfile, advise, load_catalogue
from ._store import LearnerStore
from ._suggestions import REPLIES, Signal, Status, Suggestion, suggestion_id

__all__ = ["Learner", "action_of"]

_BASE_RATE = 0.01
_BASE_WARMUP = 30
_RESTART_GAP = 120.0  # a start this soon after a stop is a restart
_PROFILES = {"cpu_load": "cpu", "memory_usage": "memory"}


def _series_key(metric: Metric) -> str:
    labels = ",".join(f"{k}={v}" for k, v in sorted(metric.labels.items()))
    return f"{metric.name}{{{labels}}}"


def _unit_name(unit: str) -> str:
    return unit.removesuffix(".service")


class _Baseline:
    """A series' usual level (slow exponentially weighted mean and deviation), and
    whether the series is now clearly above or below it (an *excursion*).

    The level does not follow the series during an excursion, so a climb that
    lasts stays a climb; it needs ``_BASE_WARMUP`` values before judging.
    """

    __slots__ = ("mean", "n", "state", "var")

    def __init__(self, value: float) -> None:
        self.mean = value
        self.var = 0.0
        self.n = 1
        self.state = ""

    def step(self, value: float) -> str | None:
        """Learn ``value``; returns ``high``/``low`` when an excursion starts."""
        margin = max(4.0 * math.sqrt(self.var), 0.05 * abs(self.mean), 1e-9)
        state = ""
        if self.n >= _BASE_WARMUP:
            if value > self.mean + margin:
                state = "high"
            elif value < self.mean - margin:
                state = "low"
        started = state if state and state != self.state else None
        self.state = state
        if not state:
            delta = value - self.mean
            self.mean += _BASE_RATE * delta
            self.var = (1 - _BASE_RATE) * (self.var + _BASE_RATE * delta * delta)
            self.n += 1
        return started

    def to_state(self) -> list[Any]:
        return [self.mean, self.var, self.n, self.state]

    @classmethod
    def from_state(cls, state: list[Any]) -> _Baseline:
        base = cls(float(state[0]))
        base.var, base.n, base.state = float(state[1]), int(state[2]), str(state[3])
        return base


class _UnitMemory:
    """When each unit last went down, to tell a restart from a start."""

    def __init__(self) -> None:
        self.stopped: OrderedDict[str, float] = OrderedDict()

    def action(self, unit: str, state: str, previous: str, at: float) -> str | None:
        if state in ("deactivating", "inactive", "failed") and previous in ("active", "reloading"):
            self.stopped[unit] = at
            if len(self.stopped) > 1000:
                self.stopped.popitem(last=False)
            return None
        if state in ("activating", "active") and previous in ("inactive", "failed", "deactivating"):
            down = self.stopped.pop(unit, None)
            kind = "restart" if down is not None and at - down <= _RESTART_GAP else "start"
            return f"service.{kind}:{_unit_name(unit)}"
        return None


def action_of(event: Event, units: _UnitMemory | None = None) -> str | None:
    """The admin action an event shows, as an action key, or None.

    Recognised: the agent's own executed steps (fields ``action`` and
    ``service``/``target``), systemd's job records in the journal (fields
    ``JOB_TYPE`` and ``UNIT``), unit state changes from the unit source
    (``unit``, ``active_state``, ``previous_active_state``), and successful
    SSH logins (``auth`` events with ``outcome == "accepted"``).
    """
    fields = event.fields
    action = fields.get("action")
    if isinstance(action, str) and action.startswith("service."):
        target = fields.get("service") or fields.get("target")
        return f"{action}:{_unit_name(str(target))}" if target else None
    job, unit = fields.get("JOB_TYPE") or fields.get("job_type"), fields.get("UNIT")
    if isinstance(job, str) and isinstance(unit, str) and job in ("restart", "start", "stop"):
        result = fields.get("JOB_RESULT", "done")
        return f"service.{job}:{_unit_name(unit)}" if result == "done" else None
    state, unit = fields.get("active_state"), fields.get("unit")
    if units is not None and isinstance(state, str) and isinstance(unit, str):
        previous = str(fields.get("previous_active_state") or fields.get("previous") or "")
        return units.action(unit, state, previous, event.timestamp.timestamp())
    if fields.get("outcome") == "accepted" and fields.get("user"):
        return f"login:{fields['user']}"
    return None


class Learner:
    """Learns what is normal on the machine and what its administrators do about it.

    Args:
        config: The agent configuration (time zone for the usage profiles).
        threshold: Metric anomaly scores at or above it are signals.
        max_series: Metric series followed at most (least recently seen forgotten).
        store: Where state persists (see :meth:`open`); None keeps it in memory.
        window: Seconds before an action in which a trigger counts as its cause.
        min_support: Occurrences before a pattern becomes a suggestion.
        min_confidence: Share of a trigger's occurrences the action must follow.
        automate_after: Accepted runs before a suggestion may be automated.
        warmup: Seconds of a log source before new templates and bursts are signals.
        save_every: Observations between two saves of the learned statistics.
    """

    def __init__(
        self,
        config: Config,
        *,
        threshold: float = 0.9,
        max_series: int = 10_000,
        store: LearnerStore | None = None,
        window: float = 1200.0,
        min_support: int = 3,
        min_confidence: float = 0.5,
        automate_after: int = 3,
        warmup: float = 3600.0,
        save_every: int = 10_000,
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold: expected a number in (0, 1], got {threshold}")
        if max_series < 1:
            raise ValueError(f"max_series: expected at least 1, got {max_series}")
        if automate_after < 0:
            raise ValueError(f"automate_after: expected 0 or more, got {automate_after}")
        self._config = config
        self._threshold = threshold
        self._max_series = max_series
        self._store = store
        self._automate_after = automate_after
        self._save_every = save_every
        self._unsaved = 0
        self._detectors: OrderedDict[str, AnomalyDetector] = OrderedDict()
        self._baselines: dict[str, _Baseline] = {}
        self._miner = AssociationMiner(
            window=window, min_support=min_support, min_confidence=min_confidence
        )
        self._templates = TemplateMiner()
        self._rates = LogRates(warmup=warmup)
        self._units = _UnitMemory()
        self._disks = DiskHealth()
        self._disk_util: dict[str, float] = {}
        self._ssh = BruteForceDetector()
        tz = zoneinfo.ZoneInfo(config.agent.timezone)
        self._profiles = {name: UsageProfile(name, tz) for name in _PROFILES.values()}
        self._suggestions: dict[str, Suggestion] = {}
        self._expected: set[str] = set()
        if store is not None:
            self._load(store)

    # -- construction --------------------------------------------------------

    @classmethod
    def open(cls, config: Config, **kwargs: Any) -> Learner:
        """A learner whose state lives in ``<agent.state_dir>/learner.sqlite``."""
        store = LearnerStore(Path(config.agent.state_dir) / "learner.sqlite")
        return cls(config, store=store, **kwargs)

    def _load(self, store: LearnerStore) -> None:
        states = store.load_states()
        if "metrics" in states:
            for key, saved in states["metrics"]["series"].items():
                self._detectors[key] = AnomalyDetector.from_state(saved)
            self._baselines = {
                k: _Baseline.from_state(v) for k, v in states["metrics"]["baselines"].items()
            }
        if "associations" in states:
            self._miner = AssociationMiner.from_state(
                states["associations"],
                min_support=self._miner.min_support,
                min_confidence=self._miner.min_confidence,
            )
        if "templates" in states:
            self._templates = TemplateMiner.from_state(states["templates"])
        if "disks" in states:
            self._disks = DiskHealth.from_state(states["disks"])
        if "log_rates" in states:
            self._rates = LogRates.from_state(states["log_rates"], warmup=self._rates.warmup)
        for name, profile in self._profiles.items():
            if f"profile:{name}" in states:
                self._profiles[name] = UsageProfile.from_state(
                    states[f"profile:{name}"], profile.tz
                )
        self._expected = set(states.get("expected", []))
        for saved in store.load_suggestions():
            suggestion = Suggestion.from_state(saved)
            self._suggestions[suggestion.id] = suggestion

    # -- input ---------------------------------------------------------------

    def observe(self, item: Metric | Event) -> list[Signal]:
        """Learn from one metric or event.

        Returns:
            The signals it raised, often none.
        """
        signals = self._metric(item) if isinstance(item, Metric) else self._event(item)
        self._unsaved += 1
        if self._store is not None and self._unsaved >= self._save_every:
            self.save()
        return signals

    def observe_all(self, items: Iterable[Metric | Event]) -> list[Signal]:
        """:meth:`observe` each item; all the signals, in order."""
        return [s for item in items for s in self.observe(item)]

    def _metric(self, metric: Metric) -> list[Signal]:
        if not math.isfinite(metric.value):
            return []
        key = _series_key(metric)
        detector = self._detectors.get(key)
        if detector is None:
            detector = self._detectors[key] = AnomalyDetector()
            if len(self._detectors) > self._max_series:
                old, _ = self._detectors.popitem(last=False)
                self._baselines.pop(old, None)
        else:
            self._detectors.move_to_end(key)
        profile = _PROFILES.get(metric.name)
        if profile is not None and not metric.labels:
            self._profiles[profile].add(metric.timestamp, metric.value)
        signals = self._disk_latency(metric)
        score = detector.update(metric.timestamp.timestamp(), metric.value)
        baseline = self._baselines.get(key)
        if baseline is None:
            baseline = self._baselines[key] = _Baseline(metric.value)
            excursion = None
        else:
            excursion = baseline.step(metric.value)
        fields = {
            "metric": metric.name,
            "labels": dict(metric.labels),
            "value": metric.value,
            "usual": baseline.mean,
        }
        if score >= self._threshold:
            direction = "high" if metric.value >= baseline.mean else "low"
            key_dir = f"metric:{key}:{direction}"
            signals += self._trigger("metric_anomaly", key_dir, metric.timestamp, score, fields)
        if excursion is not None:
            key_dir = f"metric:{key}:{excursion}"
            signals += self._trigger("metric_excursion", key_dir, metric.timestamp, 0.0, fields)
        return signals

    def _disk_latency(self, metric: Metric) -> list[Signal]:
        """Feed a disk's await and utilisation to the disk health (rising latency)."""
        device = metric.labels.get("device")
        if metric.name not in ("disk_await_ms", "disk_util") or not device:
            return []
        if metric.name == "disk_util":
            self._disk_util[device] = metric.value
            return []
        at = metric.timestamp.timestamp()
        risk = self._disks.latency(at, device, metric.value, self._disk_util.get(device, 0.0))
        if risk is None or risk.level == "ok":
            return []
        key = f"disk:{risk.disk}:{risk.level}"
        return self._trigger("disk_risk", key, metric.timestamp, 1.0, risk.to_dict())

    def _event(self, event: Event) -> list[Signal]:
        signals: list[Signal] = []
        action = action_of(event, self._units)
        at = event.timestamp.timestamp()
        if action is not None:
            for pattern in self._miner.action(action, at):
                known = self._suggestions.get(suggestion_id(pattern.trigger, pattern.action))
                if known is None:
                    suggestion = Suggestion.from_pattern(pattern, time.time())
                    self._put(suggestion)
                    signals.append(
                        Signal(
                            "suggestion_added",
                            pattern.trigger,
                            event.timestamp,
                            pattern.confidence,
                            {"suggestion": suggestion.id, "action": pattern.action},
                        )
                    )
                elif known.status != "rejected":
                    self._put(known.refreshed(pattern))
            return signals
        if not event.message or event.source in ("units", "metrics"):
            return signals
        signals += self._auth(event)
        if event.source == "kernel" or "kind" in event.fields:
            kernel = parse_kernel_message(event.message)
            named = event.fields.get("disk")
            if kernel is not None and kernel.disk is None and isinstance(named, str) and named:
                kernel = attrs.evolve(kernel, disk=named)  # the source named the port's disk
            risk = self._disks.kernel(at, kernel) if kernel is not None else None
            if risk is not None and risk.level != "ok":
                key = f"disk:{risk.disk}:{risk.level}"
                signals += self._trigger("disk_risk", key, event.timestamp, 1.0, risk.to_dict())
        if event.template_id is not None:
            template_id, is_new = event.template_id, bool(event.fields.get("template_new"))
        else:
            template = self._templates.add(event.message)
            template_id, is_new = template.id, template.is_new
        is_error = event.severity <= Severity.ERROR
        for anomaly in self._rates.add(
            event.source, at, template_id, is_new=is_new, is_error=is_error
        ):
            when = dt.datetime.fromtimestamp(anomaly.at, dt.UTC)
            fields = {
                "source": anomaly.source,
                "template": anomaly.template_id,
                "count": anomaly.count,
                "expected": anomaly.expected,
            }
            signals.extend(self._trigger(anomaly.kind, anomaly.key, when, anomaly.score, fields))
        return signals

    def _auth(self, event: Event) -> list[Signal]:
        """SSH brute force, as it happens (fail2ban's 5 failures in 600 s by default)."""
        fields = event.fields
        record = None
        if event.source == "auth" or "app" in fields:  # a syslog line (file source)
            record = parse_syslog_line(event.message, now=event.timestamp, tz=dt.UTC)
        app: object
        if record is not None:
            app, pid, message = record.app, record.pid, record.message
        else:  # the journal: the identifier and pid are fields, the message is bare
            app = fields.get("identifier") or fields.get("SYSLOG_IDENTIFIER")
            pid, message = fields.get("pid"), event.message
        if not isinstance(app, str):
            return []
        if not app.startswith("sshd"):
            return []
        parsed = parse_auth_message(app, pid if isinstance(pid, int) else None, message)
        if parsed is None:
            return []
        offender = self._ssh.feed(event.timestamp, parsed, log_host=event.host or None)
        if offender is None:
            return []
        details = {
            "ip": offender.ip,
            "failures": offender.failures,
            "first": offender.first.isoformat(),
            "last": offender.last.isoformat(),
        }
        return self._trigger("brute_force", f"ssh:{offender.ip}", event.timestamp, 1.0, details)

    def _trigger(
        self, kind: str, key: str, at: dt.datetime, score: float, fields: dict[str, Any]
    ) -> list[Signal]:
        if key in self._expected:
            return []
        signals = [Signal(kind, key, at, score, fields)]
        if self._miner.trigger(key, at.timestamp()):
            for suggestion in self._suggestions.values():
                if suggestion.trigger != key or suggestion.status == "rejected":
                    continue
                auto = suggestion.status == "automated"
                signals.append(
                    Signal(
                        "suggestion_due",
                        key,
                        at,
                        suggestion.confidence,
                        {"suggestion": suggestion.id, "action": suggestion.action, "auto": auto},
                    )
                )
        return signals

    def disk_risks(self) -> list[DiskRisk]:
        """Every disk's risk level with its evidence, the most at risk first."""
        return self._disks.risks()

    def smart_report(
        self, disk: str, report: dict[str, Any], at: float | None = None
    ) -> list[Signal]:
        """Learn from a ``smartctl -j`` report of ``disk`` (see :func:`read_smart`)."""
        when = time.time() if at is None else at
        risk = self._disks.smart(when, disk, report)
        if risk is None or risk.level == "ok":
            return []
        stamp = dt.datetime.fromtimestamp(when, dt.UTC)
        return self._trigger("disk_risk", f"disk:{disk}:{risk.level}", stamp, 1.0, risk.to_dict())

    # -- suggestions ---------------------------------------------------------

    def suggestions(self, status: str | None = None) -> list[Suggestion]:
        """The suggestions, most confident first; only those with ``status`` when given."""
        found = [s for s in self._suggestions.values() if status is None or s.status == status]
        return sorted(found, key=lambda s: (-s.confidence, -len(s.evidence), s.id))

    def reply(self, suggestion_id: str, reply: str) -> Suggestion:
        """Record an administrator's answer to a suggestion.

        Args:
            suggestion_id: The suggestion's id.
            reply: ``accept`` (one approved run), ``reject`` (stop suggesting it),
                ``automate`` (run it on its own within the policy; needs
                ``automate_after`` accepted runs) or ``expected`` (its trigger is
                normal here: stop signalling it).

        Raises:
            RequestError: Unknown id or reply, or automation asked too early.
        """
        suggestion = self._suggestions.get(suggestion_id)
        if suggestion is None:
            raise RequestError(f"no suggestion with id {suggestion_id!r}")
        if reply not in REPLIES:
            raise RequestError(f"reply: expected one of {', '.join(REPLIES)}, got {reply!r}")
        now = time.time()
        if reply == "accept":
            status: Status = "automated" if suggestion.status == "automated" else "accepted"
            changed = _evolve(suggestion, status, now, accepted_runs=suggestion.accepted_runs + 1)
        elif reply == "reject":
            changed = _evolve(suggestion, "rejected", now)
        elif reply == "automate":
            if suggestion.status == "rejected":
                raise RequestError(
                    f"suggestion {suggestion_id} was rejected; it cannot be automated"
                )
            if suggestion.accepted_runs < self._automate_after:
                raise RequestError(
                    f"suggestion {suggestion_id} was accepted {suggestion.accepted_runs} times; "
                    f"it can be automated after {self._automate_after}"
                )
            changed = _evolve(suggestion, "automated", now)
        else:
            self.mark_expected(suggestion.trigger)
            changed = _evolve(suggestion, "rejected", now)
        self._put(changed)
        return changed

    def mark_expected(self, trigger: str) -> None:
        """Silence a trigger: it is normal on this machine (a false positive)."""
        self._expected.add(trigger)
        if self._store is not None:
            self._store.save_states({"expected": sorted(self._expected)})

    def _put(self, suggestion: Suggestion) -> None:
        self._suggestions[suggestion.id] = suggestion
        if self._store is not None:
            self._store.save_suggestion(suggestion.id, suggestion.to_state(), suggestion.updated)

    # -- usage profiles ------------------------------------------------------

    def advise(
        self,
        *,
        vcpus: float,
        memory_gib: float,
        catalogue: tuple[InstanceSize, ...] | None = None,
        target: float = 0.7,
        min_days: float = 14.0,
    ) -> Advice:
        """Right-sizing advice from the CPU and memory usage profiles."""
        return advise(
            self._profiles["cpu"],
            self._profiles["memory"],
            vcpus=vcpus,
            memory_gib=memory_gib,
            catalogue=catalogue or load_catalogue(),
            target=target,
            min_days=min_days,
        )

    # -- state ---------------------------------------------------------------

    def series(self) -> list[str]:
        """The metric series followed, least recently seen first."""
        return list(self._detectors)

    def to_state(self) -> dict[str, Any]:
        """The learned statistics, JSON-ready (suggestions are saved one by one)."""
        return {
            "metrics": {
                "version": 1,
                "series": {k: d.to_state() for k, d in self._detectors.items()},
                "baselines": {k: b.to_state() for k, b in self._baselines.items()},
            },
            "associations": self._miner.to_state(),
            "templates": self._templates.to_state(),
            "log_rates": self._rates.to_state(),
            "disks": self._disks.to_state(),
            "expected": sorted(self._expected),
            **{f"profile:{n}": p.to_state() for n, p in self._profiles.items()},
        }

    def save(self) -> None:
        """Write the learned statistics to the store (no-op without one)."""
        if self._store is not None:
            self._store.save_states(self.to_state())
        self._unsaved = 0

    def close(self) -> None:
        """Save and close the store."""
        if self._store is not None:
            self.save()
            self._store.close()
            self._store = None


def _evolve(suggestion: Suggestion, status: Status, now: float, **changes: Any) -> Suggestion:
    return attrs.evolve(suggestion, status=status, updated=now, **changes)
