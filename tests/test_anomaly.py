"""The streaming anomaly detector, on synthetic series built here."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libhfagent.learner import AnomalyDetector

ALERT = 0.9
STEP = 300.0  # five-minute samples
# Monday 2024-01-01 00:00 UTC.
MONDAY = datetime(2024, 1, 1, tzinfo=UTC).timestamp()


def feed(detector: AnomalyDetector, points: Iterable[tuple[Any, float]]) -> list[float]:
    return [detector.update(t, v) for t, v in points]


def noise(
    n: int, *, start: float = MONDAY, level: float = 50.0, sd: float = 1.0, seed: int = 0
) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    return [(start + i * STEP, rng.gauss(level, sd)) for i in range(n)]


def leaves(state: Any) -> int:
    """How many numbers (and nulls) a state holds."""
    if isinstance(state, dict):
        return sum(leaves(v) for v in state.values())
    if isinstance(state, list):
        return sum(leaves(v) for v in state)
    return 1


# ---------------------------------------------------------------- behaviour


def test_quiet_on_gaussian_noise() -> None:
    for seed in range(3):
        scores = feed(AnomalyDetector(), noise(20_000, seed=seed))
        after_warmup = scores[1_000:]
        loud = sum(1 for s in after_warmup if s >= ALERT)
        assert loud / len(after_warmup) < 0.005, (seed, loud)


def test_quiet_on_uniform_and_heavy_tailed_noise() -> None:
    rng = random.Random(7)
    uniform = [(MONDAY + i * STEP, rng.uniform(0, 10)) for i in range(10_000)]
    scores = feed(AnomalyDetector(), uniform)[1_000:]
    assert sum(1 for s in scores if s >= ALERT) / len(scores) < 0.005
    # Counts with occasional bursts (a request rate): still few alerts.
    poisson = [
        (MONDAY + i * STEP, float(sum(rng.random() < 0.3 for _ in range(20))))
        for i in range(10_000)
    ]
    scores = feed(AnomalyDetector(), poisson)[1_000:]
    assert sum(1 for s in scores if s >= ALERT) / len(scores) < 0.005


def test_spike_is_flagged() -> None:
    points = noise(3_000)
    t, _ = points[2_500]
    points[2_500] = (t, 50.0 + 12.0)
    scores = feed(AnomalyDetector(), points)
    assert scores[2_500] >= ALERT
    assert max(scores[2_400:2_500]) < ALERT
    assert max(scores[2_510:]) < ALERT


def test_dip_is_flagged() -> None:
    points = noise(3_000)
    t, _ = points[2_000]
    points[2_000] = (t, 50.0 - 12.0)
    scores = feed(AnomalyDetector(), points)
    assert scores[2_000] >= ALERT


def test_level_shift_is_flagged_then_absorbed() -> None:
    points = noise(3_000) + noise(3_000, start=MONDAY + 3_000 * STEP, level=65.0, seed=1)
    scores = feed(AnomalyDetector(), points)
    assert max(scores[3_000:3_010]) >= ALERT
    assert max(scores[3_100:]) < ALERT
    assert sum(1 for s in scores[3_000:] if s >= ALERT) <= 3


def test_slow_drift_raises_no_storm() -> None:
    rng = random.Random(3)
    points = [(MONDAY + i * STEP, 50.0 + 0.002 * i + rng.gauss(0, 1)) for i in range(20_000)]
    scores = feed(AnomalyDetector(), points)[1_000:]
    assert sum(1 for s in scores if s >= ALERT) / len(scores) < 0.005


def weekly_load(
    weeks: int, *, extra_day: int | None = None, extra_week: int = -1, zone: ZoneInfo | None = None
) -> list[tuple[Any, float]]:
    """Ten-minute samples: 50 +- 1, plus 30 on Monday 09:00-17:00 (local time)."""
    rng = random.Random(11)
    zone = zone or ZoneInfo("UTC")
    start = datetime(2024, 1, 1, tzinfo=zone)
    points: list[tuple[Any, float]] = []
    for i in range(weeks * 7 * 144):
        when = start + timedelta(minutes=10 * i)
        local = when.astimezone(zone)
        week, weekday = i // (7 * 144), local.weekday()
        busy = weekday == 0 or (week == extra_week and weekday == extra_day)
        value = rng.gauss(50.0, 1.0) + (30.0 if busy and 9 <= local.hour < 17 else 0.0)
        points.append((when, value))
    return points


def max_by_day(
    points: Sequence[tuple[Any, float]], scores: Sequence[float], week: int
) -> list[float]:
    per_day = 144
    base = week * 7 * per_day
    return [max(scores[base + d * per_day : base + (d + 1) * per_day]) for d in range(7)]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris"])
def test_weekly_pattern_is_learned(zone: str) -> None:
    tz = ZoneInfo(zone)
    points = weekly_load(7, extra_day=2, extra_week=6, zone=tz)
    scores = feed(AnomalyDetector(), points)
    # After four weeks, a normal week is quiet, Mondays included ...
    for week in (4, 5):
        assert max(max_by_day(points, scores, week)) < ALERT, week
    # ... and the Monday load on a Wednesday is not.
    days = max_by_day(points, scores, 6)
    assert days[0] < ALERT
    assert days[2] >= ALERT


def test_daily_pattern_missing_bump_is_flagged() -> None:
    rng = random.Random(5)
    points = []
    for i in range(12 * 288):
        hour = (i % 288) / 12
        bump = 40.0 if 8 <= hour < 18 and i // 288 != 10 else 0.0
        points.append((MONDAY + i * STEP, 20.0 + bump + rng.gauss(0, 1)))
    scores = feed(AnomalyDetector(), points)
    day = 288
    assert max(scores[10 * day : 11 * day]) >= ALERT
    assert max(scores[5 * day : 10 * day]) < ALERT


# --------------------------------------------------------------- bad input


def test_nan_and_inf_are_ignored() -> None:
    detector = AnomalyDetector()
    feed(detector, noise(500))
    before = detector.to_state()
    t = MONDAY + 500 * STEP
    for bad in (math.nan, math.inf, -math.inf):
        assert detector.update(t, bad) == 0.0
    assert detector.to_state() == before
    assert detector.update(t, 50.0) < ALERT


def test_out_of_order_timestamps_are_ignored() -> None:
    detector = AnomalyDetector()
    feed(detector, noise(500))
    before = detector.to_state()
    assert detector.update(MONDAY + 495 * STEP, 1_000.0) == 0.0
    assert detector.to_state() == before
    # The same instant again is a measurement like any other.
    last = MONDAY + 499 * STEP
    assert 0.0 <= detector.update(last, 50.0) <= 1.0
    assert detector.to_state()["count"] == before["count"] + 1


def test_a_stale_observation_from_long_ago_is_ignored() -> None:
    reference = AnomalyDetector()
    detector = AnomalyDetector()
    points = noise(1_000)
    feed(reference, points[:600])
    feed(detector, points[:600])
    assert detector.update(MONDAY - 86_400.0, 1_000.0) == 0.0
    assert feed(detector, points[600:]) == feed(reference, points[600:])


def test_clock_jumping_far_back_restarts_the_timeline() -> None:
    detector = AnomalyDetector()
    feed(detector, noise(2_000))
    back = MONDAY - 30 * 86_400.0
    scores = feed(detector, noise(500, start=back, seed=4))
    assert max(scores) < ALERT
    assert detector.to_state()["last"] == back + 499 * STEP


def test_huge_gap_raises_no_storm() -> None:
    detector = AnomalyDetector()
    feed(detector, noise(3_000))
    later = MONDAY + 3_000 * STEP + 40 * 86_400.0
    scores = feed(detector, noise(3_000, start=later, seed=2))
    assert max(scores) < ALERT


def test_metric_that_returns_at_a_new_level_alerts_once_at_most() -> None:
    detector = AnomalyDetector()
    feed(detector, noise(3_000))
    later = MONDAY + 3_000 * STEP + 2 * 86_400.0
    scores = feed(detector, noise(3_000, start=later, level=80.0, seed=2))
    assert sum(1 for s in scores if s >= ALERT) <= 2
    assert max(scores[100:]) < ALERT


def test_intermittent_metric() -> None:
    # Reported for an hour, silent for five, and so on: no alert storm.
    rng = random.Random(9)
    points = []
    t = MONDAY
    for _ in range(300):
        for _ in range(12):
            points.append((t, rng.gauss(10.0, 1.0)))
            t += STEP
        t += 5 * 3_600.0
    scores = feed(AnomalyDetector(), points)[600:]
    assert sum(1 for s in scores if s >= ALERT) / len(scores) < 0.005


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        AnomalyDetector().update(datetime(2024, 1, 1), 1.0)


def test_non_numbers_are_refused() -> None:
    detector = AnomalyDetector()
    with pytest.raises(TypeError, match="timestamp"):
        detector.update("yesterday", 1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="value"):
        detector.update(MONDAY, "high")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="value"):
        detector.update(MONDAY, "12.5")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="value"):
        detector.update(MONDAY, None)  # type: ignore[arg-type]
    assert detector.to_state() == AnomalyDetector().to_state()


def test_numbers_beyond_floats_are_ignored() -> None:
    detector = AnomalyDetector()
    feed(detector, noise(300))
    before = detector.to_state()
    assert detector.update(MONDAY + 300 * STEP, 10**400) == 0.0
    assert detector.update(10**400, 1.0) == 0.0
    assert detector.update(MONDAY + 300 * STEP, 1e200) == 0.0
    assert detector.to_state() == before


def test_aware_datetimes_and_posix_seconds_agree_in_utc() -> None:
    points = noise(3_000)
    a = feed(AnomalyDetector(), points)
    b = feed(AnomalyDetector(), [(datetime.fromtimestamp(t, UTC), v) for t, v in points])
    assert a == b


@pytest.mark.parametrize(
    "kwargs",
    [
        {"memory": 10},
        {"memory": 1.5},
        {"warmup": -1},
        {"season_cycles": 0},
        {"refractory": 0},
        {"refractory": math.inf},
        {"max_gap": -5.0},
        {"max_gap": math.nan},
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        AnomalyDetector(**kwargs)


# ------------------------------------------------------------------ bounds


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=-1e6, max_value=1e6),
            st.one_of(
                st.floats(allow_nan=True, allow_infinity=True),
                st.floats(min_value=-1e12, max_value=1e12),
            ),
        ),
        max_size=400,
    )
)
def test_scores_stay_in_the_unit_interval(steps: list[tuple[float, float]]) -> None:
    detector = AnomalyDetector(warmup=0)
    t = MONDAY
    for dt, value in steps:
        t += dt
        s = detector.update(t, value)
        assert 0.0 <= s <= 1.0


def test_scores_stay_in_the_unit_interval_on_wild_series() -> None:
    rng = random.Random(13)
    detector = AnomalyDetector(warmup=10)
    t = MONDAY
    for i in range(20_000):
        t += rng.choice([0.0, 1.0, STEP, STEP, STEP, 86_400.0 * 3]) if i % 97 else -STEP
        kind = i % 5
        value = {
            0: rng.gauss(0, 1),
            1: 1e9 * rng.random(),
            2: 0.0,
            3: -1e-9 * rng.random(),
            4: rng.choice([math.nan, 5.0, math.inf, 1e300, -1e300]),
        }[kind]
        s = detector.update(t, value)
        assert 0.0 <= s <= 1.0


def test_state_does_not_grow_with_the_stream() -> None:
    detector = AnomalyDetector(memory=1_000)
    feed(detector, noise(2_000))
    first = leaves(detector.to_state())
    feed(detector, noise(30_000, start=MONDAY + 2_000 * STEP, seed=3))
    assert leaves(detector.to_state()) == first
    # The default memory holds a few thousand numbers, whatever the length.
    big = AnomalyDetector()
    feed(big, noise(12_000))
    size = leaves(big.to_state())
    feed(big, noise(12_000, start=MONDAY + 12_000 * STEP, seed=5))
    assert leaves(big.to_state()) == size < 3_000


# ------------------------------------------------------------------- state


def test_state_round_trip_continues_identically() -> None:
    points = weekly_load(4)
    stamps = [(t.timestamp(), v) for t, v in points]
    split = len(stamps) // 2 + 17
    original = AnomalyDetector()
    feed(original, stamps[:split])
    saved = json.dumps(original.to_state(), allow_nan=False)
    restored = AnomalyDetector.from_state(json.loads(saved))
    assert restored.to_state() == original.to_state()
    rest = stamps[split:]
    rest[100] = (rest[100][0], 500.0)  # something to score
    assert feed(restored, rest) == feed(original, rest)


def test_state_round_trip_keeps_parameters_and_gaps() -> None:
    detector = AnomalyDetector(
        memory=500, warmup=3, season_cycles=4, refractory=50.0, max_gap=7_200.0
    )
    feed(detector, noise(50))
    feed(detector, noise(10, start=MONDAY + 86_400.0))  # a gap: quiet period running
    state = json.loads(json.dumps(detector.to_state(), allow_nan=False))
    assert state["params"] == {
        "memory": 500,
        "warmup": 3,
        "season_cycles": 4,
        "refractory": 50.0,
        "max_gap": 7_200.0,
    }
    restored = AnomalyDetector.from_state(state)
    more = noise(700, start=MONDAY + 86_400.0 + 10 * STEP, seed=8)
    assert feed(restored, more) == feed(detector, more)


def test_fresh_state_round_trips() -> None:
    state = json.loads(json.dumps(AnomalyDetector().to_state(), allow_nan=False))
    restored = AnomalyDetector.from_state(state)
    assert feed(restored, noise(300)) == feed(AnomalyDetector(), noise(300))


@pytest.mark.parametrize(
    "state",
    [{}, {"version": 99}, {"version": 1}, {"version": 1, "params": {"memory": 1}}, [], None],
)
def test_bad_state_is_refused(state: Any) -> None:
    with pytest.raises(ValueError, match="state"):
        AnomalyDetector.from_state(state)
