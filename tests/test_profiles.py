"""Usage profiles and right-sizing advice."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pytest

from libhfagent import Config, ConfigError, Learner
from libhfagent.learner import InstanceSize, UsageProfile, advise, load_catalogue
from libhfagent.learner._profiles import describe_slots
from libhfagent.observer import Metric

MONDAY = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)


def office_hours(weeks: int, seed: int = 1) -> tuple[UsageProfile, UsageProfile]:
    """Busy 10 h–18 h on weekdays (CPU ~80 %), idle otherwise (~5 %); one sample per 10 min."""
    rng = random.Random(seed)
    cpu, memory = UsageProfile("cpu"), UsageProfile("memory")
    for step in range(weeks * 7 * 24 * 6):
        t = MONDAY + dt.timedelta(minutes=10 * step)
        busy = t.weekday() < 5 and 10 <= t.hour < 18
        cpu.add(t, (80 if busy else 5) + rng.uniform(-3, 3))
        memory.add(t, (60 if busy else 20) + rng.uniform(-2, 2))
    return cpu, memory


def test_percentiles_are_exact_to_the_percent() -> None:
    profile = UsageProfile("cpu")
    for value in range(1, 101):
        profile.add(MONDAY + dt.timedelta(minutes=value % 60), float(value))
    assert profile.samples(0) == 100
    assert profile.percentile(0, 95) == 95.0
    assert profile.percentile(0, 50) == 50.0
    assert profile.percentile(1, 95) is None
    profile.add(MONDAY, float("nan"))
    profile.add(MONDAY, 250.0)  # clamped
    assert profile.samples(0) == 101 and profile.percentile(0, 100) == 100.0


def test_state_round_trips() -> None:
    cpu, _ = office_hours(1)
    again = UsageProfile.from_state(json.loads(json.dumps(cpu.to_state())))
    assert [again.percentile(s, 95) for s in range(168)] == [
        cpu.percentile(s, 95) for s in range(168)
    ]
    assert again.days == cpu.days


def test_office_hours_get_a_day_size_and_a_night_size_with_the_arithmetic() -> None:
    cpu, memory = office_hours(3)
    sizes = load_catalogue()
    advice = advise(cpu, memory, vcpus=4, memory_gib=16, catalogue=sizes)
    assert advice.enough_history and advice.current.name == "xl"
    busy, quiet = advice.periods
    assert len(busy.slots) == 5 * 8 and len(quiet.slots) == 168 - 40
    assert describe_slots(busy.slots) == [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "from": 10, "to": 18}
    ]
    # 83 % of 4 vCPUs at 70 % target → 4.7 vCPUs: the 8-vCPU size by day;
    # 8 % of 4 → 0.46 vCPU and 22 % of 16 GiB → 5 GiB: the 2-vCPU/8 GiB size at night.
    assert busy.size.name == "2xl" and quiet.size.name == "l"
    assert advice.advised_cost == 40 * 32 + 128 * 8
    assert advice.current_cost == 168 * 16
    assert advice.saving == pytest.approx(1 - (40 * 32 + 128 * 8) / (168 * 16))
    assert advice.to_dict()["periods"][0]["windows"][0]["from"] == 10


def test_not_enough_history_says_so() -> None:
    cpu, memory = office_hours(1)
    advice = advise(cpu, memory, vcpus=4, memory_gib=16, catalogue=load_catalogue())
    assert not advice.enough_history and advice.periods == () and advice.days < 14


def test_a_flat_load_gets_one_size() -> None:
    cpu, memory = UsageProfile("cpu"), UsageProfile("memory")
    for step in range(15 * 24):
        t = MONDAY + dt.timedelta(hours=step)
        cpu.add(t, 10.0)
        memory.add(t, 10.0)
    advice = advise(cpu, memory, vcpus=8, memory_gib=32, catalogue=load_catalogue())
    # 10 % of 8 vCPUs / 0.7 = 1.1 vCPU; 10 % of 32 GiB / 0.7 = 4.6 GiB → 2 vCPUs, 8 GiB.
    assert len(advice.periods) == 1 and advice.periods[0].size.name == "l"
    assert advice.saving == pytest.approx(1 - 8 / 32)


def test_the_learner_builds_profiles_from_metrics() -> None:
    learner = Learner(Config())
    rng = random.Random(2)
    for step in range(15 * 24 * 6):
        t = MONDAY + dt.timedelta(minutes=10 * step)
        busy = t.weekday() < 5 and 10 <= t.hour < 18
        learner.observe(Metric("cpu_load", (80 if busy else 5) + rng.uniform(-3, 3), t))
        learner.observe(Metric("memory_usage", (60 if busy else 20) + rng.uniform(-2, 2), t))
    advice = learner.advise(vcpus=4, memory_gib=16)
    assert advice.enough_history and [p.size.name for p in advice.periods] == ["2xl", "l"]


def test_catalogue_errors_name_the_file_and_entry(tmp_path: Path) -> None:
    path = tmp_path / "sizes.json"
    path.write_text(json.dumps({"sizes": [{"name": "a", "vcpus": 1, "memory_gib": 2, "price": 0}]}))
    with pytest.raises(ConfigError, match=r"sizes\.json: sizes\[0\]\.price"):
        load_catalogue(path)
    path.write_text("{")
    with pytest.raises(ConfigError, match="not JSON"):
        load_catalogue(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_catalogue(tmp_path / "missing.json")
    path.write_text(json.dumps({"sizes": [{"name": "a", "vcpus": 1, "memory_gib": 2, "price": 3}]}))
    assert load_catalogue(path) == (InstanceSize("a", 1, 2, 3),)
