"""Usage profiles (hour of the week) and right-sizing advice.

A :class:`UsageProfile` keeps, for each of the 168 hours of the week, a
histogram of a percentage metric (CPU or memory use) in 1 % bins: memory is
fixed (168 × 101 counters) whatever the history, and percentiles are exact to
the bin. :func:`advise` turns the CPU and memory profiles into a sizing plan
over a user-editable catalogue of instance sizes, and shows its arithmetic.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from .._errors import ConfigError

__all__ = [
    "Advice",
    "InstanceSize",
    "UsageProfile",
    "advise",
    "load_catalogue",
]

HOURS_PER_WEEK = 168
_BINS = 101
_STATE_VERSION = 1


class UsageProfile:
    """Hour-of-week histograms of one percentage metric.

    Args:
        name: The metric (``cpu``, ``memory``).
        tz: The time zone whose hours make the week (the agent's).
    """

    def __init__(self, name: str, tz: dt.tzinfo = dt.UTC) -> None:
        self.name = name
        self.tz = tz
        self._bins = [[0] * _BINS for _ in range(HOURS_PER_WEEK)]
        self._first: float | None = None
        self._last: float | None = None

    def add(self, timestamp: dt.datetime, percent: float) -> None:
        """Count one sample (a percentage; values outside [0, 100] are clamped, NaN ignored)."""
        if not math.isfinite(percent):
            return
        local = timestamp.astimezone(self.tz)
        slot = local.weekday() * 24 + local.hour
        self._bins[slot][min(100, max(0, round(percent)))] += 1
        ts = timestamp.timestamp()
        self._first = ts if self._first is None else min(self._first, ts)
        self._last = ts if self._last is None else max(self._last, ts)

    @property
    def days(self) -> float:
        """Days between the first and the last sample."""
        if self._first is None or self._last is None:
            return 0.0
        return (self._last - self._first) / 86_400

    def samples(self, slot: int) -> int:
        """Samples counted in one hour of the week (0 = Monday 00:00)."""
        return sum(self._bins[slot])

    def percentile(self, slot: int, q: float) -> float | None:
        """The ``q``-th percentile (0–100) of one hour of the week, or None without samples."""
        counts = self._bins[slot]
        total = sum(counts)
        if total == 0:
            return None
        rank = max(1, math.ceil(q / 100 * total))
        seen = 0
        for value, count in enumerate(counts):
            seen += count
            if seen >= rank:
                return float(value)
        return 100.0  # pragma: no cover - rank <= total

    def to_state(self) -> dict[str, Any]:
        """JSON-ready state; the sparse bins only."""
        return {
            "version": _STATE_VERSION,
            "name": self.name,
            "first": self._first,
            "last": self._last,
            "bins": {
                str(slot): {str(v): c for v, c in enumerate(row) if c}
                for slot, row in enumerate(self._bins)
                if any(row)
            },
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], tz: dt.tzinfo = dt.UTC) -> UsageProfile:
        """A profile that continues from :meth:`to_state`'s output."""
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"profile state version {state.get('version')!r} not supported")
        profile = cls(str(state["name"]), tz)
        profile._first = state["first"]
        profile._last = state["last"]
        for slot, row in state["bins"].items():
            for value, count in row.items():
                profile._bins[int(slot)][int(value)] = int(count)
        return profile


@attrs.frozen
class InstanceSize:
    """One size of the catalogue.

    Attributes:
        name: Its name (``m.large``).
        vcpus: Virtual CPUs.
        memory_gib: Memory in GiB.
        price: Relative price per hour (any unit, the same for all sizes).
    """

    name: str
    vcpus: float
    memory_gib: float
    price: float


def load_catalogue(path: str | Path | None = None) -> tuple[InstanceSize, ...]:
    """The catalogue of instance sizes: the file at ``path``, or the one shipped.

    The file is JSON: ``{"sizes": [{"name", "vcpus", "memory_gib", "price"}, …]}``.

    Raises:
        ConfigError: The file cannot be read or a size is malformed (names the file and entry).
    """
    if path is None:
        text = resources.files(__package__).joinpath("instance_sizes.json").read_text("utf-8")
        origin = "instance_sizes.json (built in)"
    else:
        origin = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{origin}: cannot read the size catalogue: {exc.strerror}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{origin}: not JSON (line {exc.lineno}): {exc.msg}") from exc
    sizes = data.get("sizes") if isinstance(data, dict) else None
    if not isinstance(sizes, list) or not sizes:
        raise ConfigError(f'{origin}: expected {{"sizes": [...]}} with at least one size')
    found = []
    for index, entry in enumerate(sizes):
        where = f"{origin}: sizes[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ConfigError(f"{where}: expected an object with a name")
        numbers = {}
        for key in ("vcpus", "memory_gib", "price"):
            value = entry.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"{where}.{key}: expected a positive number, got {value!r}")
            numbers[key] = float(value)
        found.append(InstanceSize(entry["name"], **numbers))
    return tuple(sorted(found, key=lambda s: (s.price, s.vcpus, s.memory_gib)))


@attrs.frozen
class Period:
    """Hours of the week that share one recommended size.

    Attributes:
        size: The size for these hours.
        slots: The hours of the week (0 = Monday 00:00–01:00).
        cpu_p95: The highest 95th percentile of CPU use over these hours (% of now).
        memory_p95: The same for memory.
    """

    size: InstanceSize
    slots: tuple[int, ...]
    cpu_p95: float
    memory_p95: float


@attrs.frozen
class Advice:
    """A right-sizing recommendation and its arithmetic.

    Attributes:
        enough_history: False when the profiles cover less than ``min_days``.
        days: Days of history used.
        current: The size that matches the machine now (the closest in the catalogue).
        single: The smallest size that carries every hour's 95th percentile.
        periods: The recommended sizes by hours of the week (one or two periods).
        current_cost: Weekly cost of the current size (price × 168).
        advised_cost: Weekly cost of the periods (Σ price × hours).
        saving: 1 − advised / current (negative when the machine is too small).
        target: The utilisation a size may reach at the 95th percentile.
    """

    enough_history: bool
    days: float
    current: InstanceSize
    single: InstanceSize | None
    periods: tuple[Period, ...]
    current_cost: float
    advised_cost: float
    saving: float
    target: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""

        def size(s: InstanceSize | None) -> dict[str, Any] | None:
            return None if s is None else attrs.asdict(s)

        return {
            "enough_history": self.enough_history,
            "days": round(self.days, 2),
            "current": size(self.current),
            "single": size(self.single),
            "periods": [
                {
                    "size": size(p.size),
                    "hours": len(p.slots),
                    "windows": describe_slots(p.slots),
                    "cpu_p95": p.cpu_p95,
                    "memory_p95": p.memory_p95,
                }
                for p in self.periods
            ],
            "current_cost": round(self.current_cost, 4),
            "advised_cost": round(self.advised_cost, 4),
            "saving": round(self.saving, 4),
            "target": self.target,
        }


def _closest(sizes: Sequence[InstanceSize], vcpus: float, memory_gib: float) -> InstanceSize:
    return min(
        sizes,
        key=lambda s: abs(math.log(s.vcpus / vcpus)) + abs(math.log(s.memory_gib / memory_gib)),
    )


def _cheapest(
    sizes: Sequence[InstanceSize], vcpus: float, memory_gib: float
) -> InstanceSize | None:
    fitting = [s for s in sizes if s.vcpus >= vcpus and s.memory_gib >= memory_gib]
    return min(fitting, key=lambda s: s.price) if fitting else None


def advise(
    cpu: UsageProfile,
    memory: UsageProfile,
    *,
    vcpus: float,
    memory_gib: float,
    catalogue: Sequence[InstanceSize],
    target: float = 0.7,
    min_days: float = 14.0,
) -> Advice:
    """Recommend instance sizes by hour of the week.

    For each hour of the week, the load to carry is the 95th percentile of CPU
    and memory use (as a share of the machine now); a size fits when that load
    stays under ``target`` of its vCPUs and memory. The hours split into a busy
    and a quiet period at the largest gap between the sizes they need; each
    period gets the smallest size that fits all its hours. Hours never seen
    get the busy size (no saving is claimed on what was not observed).

    Args:
        cpu: The CPU profile (percent of the machine's CPUs).
        memory: The memory profile (percent of the machine's memory).
        vcpus: The machine's CPUs now.
        memory_gib: The machine's memory now.
        catalogue: Sizes to choose from (:func:`load_catalogue`).
        target: Utilisation allowed at the 95th percentile.
        min_days: History needed before advising.
    """
    if not 0 < target <= 1:
        raise ValueError(f"target: expected a number in (0, 1], got {target}")
    current = _closest(catalogue, vcpus, memory_gib)
    days = min(cpu.days, memory.days)
    needs: dict[int, tuple[float, float, InstanceSize | None]] = {}
    for slot in range(HOURS_PER_WEEK):
        c, m = cpu.percentile(slot, 95), memory.percentile(slot, 95)
        if c is None or m is None:
            continue
        size = _cheapest(catalogue, c / 100 * vcpus / target, m / 100 * memory_gib / target)
        needs[slot] = (c, m, size)
    enough = days >= min_days and len(needs) >= HOURS_PER_WEEK * 0.9
    largest = catalogue[-1]
    slot_size = {s: (n[2] or largest) for s, n in needs.items()}
    single = max(slot_size.values(), key=lambda s: s.price) if slot_size else None
    if not enough or single is None:
        return Advice(enough, days, current, single, (), current.price * 168, 0.0, 0.0, target)
    prices = sorted({s.price for s in slot_size.values()})
    if len(prices) == 1:
        split = prices[0]
    else:  # the largest jump in price between the sizes hours need
        split = max(itertools.pairwise(prices), key=lambda p: p[1] / p[0])[0]
    quiet = tuple(s for s, size in sorted(slot_size.items()) if size.price <= split)
    busy = tuple(s for s in range(HOURS_PER_WEEK) if s not in quiet)
    periods = []
    for slots in (busy, quiet):
        if not slots:
            continue
        seen = [slot_size[s] for s in slots if s in slot_size]
        size = max(seen, key=lambda s: s.price) if seen else single
        periods.append(
            Period(
                size,
                slots,
                max((needs[s][0] for s in slots if s in needs), default=0.0),
                max((needs[s][1] for s in slots if s in needs), default=0.0),
            )
        )
    advised = sum(p.size.price * len(p.slots) for p in periods)
    current_cost = current.price * HOURS_PER_WEEK
    return Advice(
        True,
        days,
        current,
        single,
        tuple(periods),
        current_cost,
        advised,
        1 - advised / current_cost,
        target,
    )


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def describe_slots(slots: Sequence[int]) -> list[dict[str, Any]]:
    """Group hours of the week into windows: days sharing the same hours.

    Returns:
        ``[{"days": ["mon", …], "from": 10, "to": 18}, …]`` (``to`` exclusive).
    """
    by_day: dict[int, list[tuple[int, int]]] = {}
    for day in range(7):
        hours = sorted(s % 24 for s in slots if s // 24 == day)
        runs: list[tuple[int, int]] = []
        for hour in hours:
            if runs and runs[-1][1] == hour:
                runs[-1] = (runs[-1][0], hour + 1)
            else:
                runs.append((hour, hour + 1))
        if runs:
            by_day[day] = runs
    windows: dict[tuple[tuple[int, int], ...], list[int]] = {}
    for day, runs in by_day.items():
        windows.setdefault(tuple(runs), []).append(day)
    out = []
    for day_runs, days in windows.items():
        for start, end in day_runs:
            out.append({"days": [_DAYS[d] for d in days], "from": start, "to": end})
    return sorted(out, key=lambda w: (_DAYS.index(w["days"][0]), w["from"]))
