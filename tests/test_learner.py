"""The Learner: one anomaly detector per metric series."""

from __future__ import annotations

import datetime as dt
import json
import math
import random

import pytest

from libhfagent import Config, Learner
from libhfagent.observer import Metric

T0 = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)  # a Monday


def metric(name: str, minutes: int, value: float, **labels: str) -> Metric:
    return Metric(name, value, T0 + dt.timedelta(minutes=minutes), labels)


def test_each_series_is_learned_apart_and_a_spike_stands_out() -> None:
    learner = Learner(Config())
    rng = random.Random(7)
    flagged = []
    for i in range(3 * 24 * 60 // 5):  # three days, one point every 5 minutes
        for mount, base in (("/", 40.0), ("/var", 70.0)):
            hit = learner.observe(
                metric("disk_space", 5 * i, base + rng.gauss(0, 0.5), mount=mount)
            )
            if hit is not None:
                flagged.append(hit)
    assert learner.series() == ["disk_space{mount=/}", "disk_space{mount=/var}"]
    assert len(flagged) <= 3, flagged  # quiet on noise
    spike = learner.observe(metric("disk_space", 5 * 865, 99.0, mount="/"))
    assert spike is not None and spike.score >= 0.9
    assert spike.metric.labels["mount"] == "/"


def test_non_finite_values_are_ignored() -> None:
    learner = Learner(Config())
    assert learner.observe(metric("cpu_load", 0, math.nan)) is None
    assert learner.observe(metric("cpu_load", 1, math.inf)) is None
    assert learner.series() == []


def test_memory_is_bounded_by_max_series() -> None:
    learner = Learner(Config(), max_series=3)
    for i in range(10):
        learner.observe(metric("cpu_load", i, 1.0, cpu=str(i)))
    assert learner.series() == ["cpu_load{cpu=7}", "cpu_load{cpu=8}", "cpu_load{cpu=9}"]


def test_state_survives_a_restart() -> None:
    # A threshold near 0 makes every score visible.
    first = Learner(Config(), threshold=1e-12)
    rng = random.Random(3)
    values = [50 + rng.gauss(0, 2) for _ in range(600)]
    for i, v in enumerate(values[:500]):
        first.observe(metric("memory_usage", i, v))
    saved = json.loads(json.dumps(first.to_state()))
    second = Learner.from_state(Config(), saved, threshold=1e-12)
    assert second.series() == first.series()
    for i, v in enumerate(values[500:], 500):
        a = first.observe(metric("memory_usage", i, v))
        b = second.observe(metric("memory_usage", i, v))
        assert (a.score if a else 0.0) == (b.score if b else 0.0)


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"threshold": 0}, "threshold"), ({"max_series": 0}, "max_series")]
)
def test_bad_settings(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Learner(Config(), **kwargs)  # type: ignore[arg-type]
