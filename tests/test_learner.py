"""The Learner: metric anomalies, log anomalies, event → action suggestions, state on disk."""

from __future__ import annotations

import datetime as dt
import math
import random
from pathlib import Path

import pytest

from libhfagent import Config, Learner, RequestError
from libhfagent.learner import LearnerStore, Signal
from libhfagent.observer import Event, Metric, Severity

T0 = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)  # a Monday


def metric(name: str, minutes: float, value: float, **labels: str) -> Metric:
    return Metric(name, value, T0 + dt.timedelta(minutes=minutes), labels)


def restart(minutes: float, unit: str = "apache2") -> Event:
    """systemd's journal record of a restart job, as the journal source maps it."""
    return Event(
        T0 + dt.timedelta(minutes=minutes),
        "journal",
        f"Stopped {unit}.service - The Apache HTTP Server.",
        fields={"JOB_TYPE": "restart", "UNIT": f"{unit}.service", "JOB_RESULT": "done"},
    )


def kinds(signals: list[Signal]) -> list[str]:
    return [s.kind for s in signals]


def test_each_series_is_learned_apart_and_a_spike_stands_out() -> None:
    learner = Learner(Config())
    rng = random.Random(7)
    flagged = []
    for i in range(3 * 24 * 60 // 5):  # three days, one point every 5 minutes
        for mount, base in (("/", 40.0), ("/var", 70.0)):
            flagged += learner.observe(
                metric("disk_space", 5 * i, base + rng.gauss(0, 0.5), mount=mount)
            )
    assert learner.series() == ["disk_space{mount=/}", "disk_space{mount=/var}"]
    assert len(flagged) <= 3, flagged  # quiet on noise
    signals = learner.observe(metric("disk_space", 5 * 865, 99.0, mount="/"))
    assert kinds(signals) == ["metric_anomaly", "metric_excursion"]
    spike = signals[0]
    assert spike.score >= 0.9
    assert spike.key == "metric:disk_space{mount=/}:high"
    assert spike.fields["labels"] == {"mount": "/"} and spike.fields["value"] == 99.0


def test_bad_values_neither_crash_nor_storm() -> None:
    learner = Learner(Config())
    rng = random.Random(1)
    signals = []
    for i in range(2000):
        signals += learner.observe(metric("cpu_load", i, 30 + rng.gauss(0, 1)))
    assert learner.observe(metric("cpu_load", 2001, math.nan)) == []
    assert learner.observe(metric("cpu_load", 2002, math.inf)) == []
    # Out of order, a huge gap, then the metric disappears: at most a few signals.
    signals += learner.observe(metric("cpu_load", 1500, 30.0))
    for i in range(200):
        signals += learner.observe(metric("cpu_load", 60 * 24 * 30 + i, 30 + rng.gauss(0, 1)))
    assert len(signals) <= 4, signals


def test_memory_is_bounded_by_max_series() -> None:
    learner = Learner(Config(), max_series=3)
    for i in range(10):
        learner.observe(metric("cpu_load", i, 1.0, cpu=str(i)))
    assert learner.series() == ["cpu_load{cpu=7}", "cpu_load{cpu=8}", "cpu_load{cpu=9}"]


def memory_then_restart(learner: Learner, days: int, seed: int = 5) -> list[Signal]:
    """Memory flat at 40 % with noise; every other day it climbs to 90 % and apache2
    is restarted 10 minutes later; one point a minute."""
    rng = random.Random(seed)
    signals: list[Signal] = []
    for day in range(days):
        climb = day >= 3 and day % 2 == 1
        for minute in range(24 * 60):
            t = day * 24 * 60 + minute
            high = climb and 14 * 60 <= minute < 14 * 60 + 10
            value = (90.0 if high else 40.0) + rng.gauss(0, 0.5)
            signals += learner.observe(metric("memory_usage", t, value))
            if climb and minute == 14 * 60 + 10:
                signals += learner.observe(restart(t))
    return signals


def test_a_repeated_pattern_becomes_a_suggestion_with_its_evidence() -> None:
    learner = Learner(Config())
    signals = memory_then_restart(learner, 10)
    added = [s for s in signals if s.kind == "suggestion_added"]
    assert len(added) == 1
    (suggestion,) = learner.suggestions()
    assert suggestion.trigger == "metric:memory_usage{}:high"
    assert suggestion.action == "service.restart:apache2"
    assert len(suggestion.evidence) >= 3
    # Every climb was followed by a restart; the one episode without is the
    # detector's own warm-up (an early anomaly on the same trigger).
    assert suggestion.confidence >= 0.75 and suggestion.lift > 10
    assert all(0 <= e.lead <= 15 * 60 for e in suggestion.evidence)
    assert suggestion.step() == ("service.restart", {"service": "apache2"})
    assert "apache2" in suggestion.text("en") and "redémarré" in suggestion.text("fr")
    data = suggestion.to_dict("fr")
    assert data["support"] == len(suggestion.evidence) and len(data["evidence"]) == data["support"]
    # The next climb proposes the restart before anyone acts.
    due = [s for s in signals if s.kind == "suggestion_due"]
    assert due and due[-1].fields["suggestion"] == suggestion.id and not due[-1].fields["auto"]


def test_replies_reject_accept_automate_expected() -> None:
    learner = Learner(Config(), automate_after=2)
    memory_then_restart(learner, 10)
    (suggestion,) = learner.suggestions()
    with pytest.raises(RequestError, match="after 2"):
        learner.reply(suggestion.id, "automate")
    learner.reply(suggestion.id, "accept")
    assert learner.reply(suggestion.id, "accept").accepted_runs == 2
    assert learner.reply(suggestion.id, "automate").status == "automated"
    with pytest.raises(RequestError, match="expected one of"):
        learner.reply(suggestion.id, "maybe")
    with pytest.raises(RequestError, match="no suggestion"):
        learner.reply("nope", "accept")
    # Automated: the next climb says the action may run on its own.
    later = memory_then_restart(learner, 12, seed=9)
    assert any(s.kind == "suggestion_due" and s.fields["auto"] for s in later)
    # "Expected": the trigger is silenced, the suggestion stops.
    assert learner.reply(suggestion.id, "expected").status == "rejected"
    quiet = memory_then_restart(learner, 14, seed=11)
    assert not any(s.key == suggestion.trigger for s in quiet)


def test_a_rejected_suggestion_is_not_proposed_again() -> None:
    learner = Learner(Config())
    memory_then_restart(learner, 10)
    (suggestion,) = learner.suggestions()
    learner.reply(suggestion.id, "reject")
    later = memory_then_restart(learner, 12, seed=3)
    assert not any(s.kind in ("suggestion_due", "suggestion_added") for s in later)
    assert learner.suggestions("rejected") == [learner.suggestions()[0]]


def test_state_survives_a_restart(tmp_path: Path) -> None:
    config = Config.from_text('{"agent": {"state_dir": "%s"}}' % (tmp_path / "state"))
    first = Learner.open(config)
    memory_then_restart(first, 10)
    (suggestion,) = first.suggestions()
    first.reply(suggestion.id, "accept")
    first.close()
    second = Learner.open(config)
    assert second.suggestions() == first.suggestions()
    assert second.series() == ["memory_usage{}"]
    # Learning continues where it stopped: same signals as a learner never stopped.
    twin = Learner(Config())
    memory_then_restart(twin, 10)
    twin.reply(suggestion.id, "accept")
    rng = random.Random(2)
    for i in range(300):
        m = metric("memory_usage", 10 * 24 * 60 + i, 40 + rng.gauss(0, 0.5))
        assert kinds(second.observe(m)) == kinds(twin.observe(m))
    second.close()
    assert (tmp_path / "state" / "learner.sqlite").stat().st_mode & 0o077 == 0


def test_a_store_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "learner.sqlite"
    path.write_text("not a database at all, just text" * 100)
    with pytest.raises(Exception, match="learner"):
        Learner(Config(), store=LearnerStore(path))


def log(minutes: float, message: str, severity: Severity = Severity.INFO) -> Event:
    return Event(T0 + dt.timedelta(minutes=minutes), "nginx-error", message, severity)


def test_log_bursts_new_templates_and_error_rates() -> None:
    learner = Learner(Config(), warmup=3600)
    rng = random.Random(4)
    signals: list[Signal] = []
    for minute in range(3 * 60):
        for _ in range(rng.randint(2, 4)):
            signals += learner.observe(
                log(minute + rng.random(), f"GET /page/{rng.randint(1, 99)} ok")
            )
    assert signals == []  # steady traffic: nothing
    for i in range(200):  # one minute with a burst of one kind of error
        signals += learner.observe(
            log(3 * 60 + i / 300, f"upstream timed out ({i}) while reading", Severity.ERROR)
        )
    signals += learner.observe(log(3 * 60 + 1.5, "GET /page/3 ok"))
    found = set(kinds(signals))
    assert {"new_template", "burst", "error_rate"} <= found, signals
    burst = next(s for s in signals if s.kind == "burst")
    assert burst.fields["count"] == 200 and burst.key.startswith("log:nginx-error:")


def test_unit_state_changes_are_admin_actions() -> None:
    from libhfagent.learner import action_of
    from libhfagent.learner._learner import _UnitMemory

    units = _UnitMemory()

    def change(minutes: float, state: str, previous: str) -> str | None:
        fields = {"unit": "nginx.service", "active_state": state, "previous_active_state": previous}
        return action_of(
            Event(T0 + dt.timedelta(minutes=minutes), "units", "", fields=fields), units
        )

    assert change(0, "deactivating", "active") is None
    assert change(0.5, "activating", "inactive") == "service.restart:nginx"
    assert change(60, "inactive", "active") is None
    assert change(70, "active", "inactive") == "service.start:nginx"
    audit = Event(T0, "audit", "", fields={"action": "service.restart", "service": "ssh"})
    assert action_of(audit) == "service.restart:ssh"
    login = Event(T0, "auth", "Accepted password", fields={"outcome": "accepted", "user": "alice"})
    assert action_of(login) == "login:alice"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 0}, "threshold"),
        ({"max_series": 0}, "max_series"),
        ({"automate_after": -1}, "automate"),
    ],
)
def test_bad_settings(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Learner(Config(), **kwargs)  # type: ignore[arg-type]


def test_ssh_brute_force_is_signalled_as_it_happens() -> None:
    learner = Learner(Config())
    signals: list[Signal] = []
    for i in range(6):
        line = (
            f"Nov  2 10:00:{i:02d} web sshd[{100 + i}]: Failed password for invalid user "
            f"admin{i} from 203.0.113.9 port {40000 + i} ssh2"
        )
        signals += learner.observe(Event(T0 + dt.timedelta(seconds=i), "auth", line))
    brute = [s for s in signals if s.kind == "brute_force"]
    assert len(brute) == 1 and brute[0].key == "ssh:203.0.113.9"
    assert brute[0].fields["failures"] == 5 and brute[0].at == T0 + dt.timedelta(seconds=4)
    # A journal entry (identifier and pid as fields) counts the same way.
    journal = Event(
        T0,
        "journal",
        "Failed password for root from 198.51.100.7 port 5 ssh2",
        fields={"identifier": "sshd", "pid": 7},
    )
    assert learner.observe(journal) == []
