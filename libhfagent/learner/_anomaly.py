"""Streaming anomaly score for one metric.

The detector asks one question of every new observation: *has this metric
ever looked like this, within what it remembers?*  It follows several views of
the stream at once -- the value itself, its mean and its floor over the last
few observations, its short-term level against the long-term one, and its
residual against the hour-of-day and hour-of-week profiles -- and remembers,
for each view, the highest and the lowest it has been over the last
``memory`` observations (as the extremes of blocks of ``memory // 100``
observations, so memory stays fixed).  An observation is anomalous when a
view leaves that remembered range; how far it leaves it, as a fraction of the
range, makes the score.

Everything is O(1) per observation and the state is a fixed number of floats,
whatever the length of the stream.
"""

from __future__ import annotations

import math
import numbers
from array import array
from datetime import datetime
from typing import Any

__all__ = ["AnomalyDetector"]

_DAY = 86_400.0
_WEEK = 7 * _DAY
_HOUR = 3_600.0
#: 1970-01-01 was a Thursday: shifting by 3 days puts Monday 00:00 at 0.
_WEEK_SHIFT = 3 * _DAY

_STATE_VERSION = 1

# The views, in the order they are scored, and their weights: a view's
# novelty is multiplied by its weight before the views are compared.  Tuned
# once on the whole NAB corpus (one configuration for every series).
_VALUE, _MEAN24, _MIN24, _MIN6, _LEVEL, _DAILY, _WEEKLY = range(7)
_VIEW_NAMES = ("value", "mean24", "min24", "min6", "level", "daily", "weekly")
_WEIGHTS = (1.0, 0.2, 0.2, 0.1, 0.03, 0.15, 0.2)

_BLOCKS = 100  # blocks of extremes remembered per view
_VIEW_WARMUP = 200  # observations a view must have seen before it scores
_LONG_RATE = 0.002  # EW rate of the long-term level and spread ("level" view)
_LEVEL_START = 200  # observations before the "level" view starts
_SEASON_RATE = 0.05  # EW rate of a seasonal slot's profile, per observation
_BASE_RATE = 0.002  # EW rate of the slow baseline the profiles are relative to
_GATE_RATE = 0.01  # EW rate of the "does the profile explain the data" test
_GATE_RATIO = 0.5  # the profile must halve the recent spread ...
_AMP_RATE = 0.001  # ... or its amplitude must dwarf the long-term residual:
_AMP_RATIO = 20.0
_FLOOR = 0.02  # a derived view's range counts as at least 2% of the value range
_SUPPRESS = 0.3  # factor on scores that do not beat the recent peak
_SCALE = 0.008  # novelty (fraction of the range) that maps to a score of 0.5
_MAX_VISITS = 1_000_000  # seasonal visit counters stop there
_GAP_FACTOR = 12.0  # a gap is longer than this many typical intervals ...
_MIN_GAP = _HOUR  # ... and than an hour
_GAP_QUIET = 6  # observations learned without scoring after a gap
_CLOCK_RESET = 6  # observations in a row from far in the past: the clock went back
_MAX_ABS = 1e100  # larger values are taken for garbage, like NaN


class _Extremes:
    """Highest and lowest values of one view over the last ``blocks * size`` steps."""

    __slots__ = (
        "_bottom",
        "_count",
        "_cur_hi",
        "_cur_lo",
        "_filled",
        "_hi",
        "_lo",
        "_pos",
        "_size",
        "_top",
        "seen",
    )

    def __init__(self, blocks: int, size: int) -> None:
        self._size = size
        self._hi = array("d", bytes(8 * blocks))
        self._lo = array("d", bytes(8 * blocks))
        self._pos = 0
        self._filled = 0
        self._cur_hi = -math.inf
        self._cur_lo = math.inf
        self._count = 0
        self._top = -math.inf
        self._bottom = math.inf
        self.seen = 0

    def range(self) -> float:
        """Width of the remembered range (0 while empty)."""
        hi = self._top if self._top > self._cur_hi else self._cur_hi
        lo = self._bottom if self._bottom < self._cur_lo else self._cur_lo
        return hi - lo if hi >= lo else 0.0

    def step(self, v: float, floor: float) -> float:
        """Novelty of ``v`` (distance outside the range, in ranges), then remember it."""
        self.seen += 1
        hi = self._top if self._top > self._cur_hi else self._cur_hi
        lo = self._bottom if self._bottom < self._cur_lo else self._cur_lo
        novelty = 0.0
        if hi >= lo:
            width = hi - lo
            if width < floor:
                width = floor
            width += 1e-9 * abs(v) + 1e-12
            if v > hi:
                novelty = (v - hi) / width
            elif v < lo:
                novelty = (lo - v) / width
        if v > self._cur_hi:
            self._cur_hi = v
        if v < self._cur_lo:
            self._cur_lo = v
        self._count += 1
        if self._count >= self._size:
            blocks = len(self._hi)
            self._hi[self._pos] = self._cur_hi
            self._lo[self._pos] = self._cur_lo
            self._pos = (self._pos + 1) % blocks
            if self._filled < blocks:
                self._filled += 1
            self._top = max(self._hi[: self._filled])
            self._bottom = min(self._lo[: self._filled])
            self._cur_hi = -math.inf
            self._cur_lo = math.inf
            self._count = 0
        return novelty

    def to_state(self) -> dict[str, Any]:
        n = self._filled
        current = [self._cur_hi, self._cur_lo] if self._count else None
        # Oldest block first, so the ring can be rebuilt from position 0.
        start = (self._pos - n) % len(self._hi)
        order = [(start + i) % len(self._hi) for i in range(n)]
        return {
            "hi": [self._hi[i] for i in order],
            "lo": [self._lo[i] for i in order],
            "current": current,
            "count": self._count,
            "seen": self.seen,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], blocks: int, size: int) -> _Extremes:
        self = cls(blocks, size)
        hi = [float(v) for v in state["hi"]]
        lo = [float(v) for v in state["lo"]]
        if len(hi) != len(lo) or len(hi) > blocks:
            raise ValueError("state: extremes do not match the detector's memory")
        for i, (h, low) in enumerate(zip(hi, lo, strict=True)):
            self._hi[i] = h
            self._lo[i] = low
        self._filled = len(hi)
        self._pos = len(hi) % blocks
        if hi:
            self._top = max(hi)
            self._bottom = min(lo)
        self._count = int(state["count"])
        if self._count:
            self._cur_hi, self._cur_lo = (float(v) for v in state["current"])
        self.seen = int(state["seen"])
        return self


class _Season:
    """Mean deviation from the baseline for each hour of a day or of a week."""

    __slots__ = (
        "_period",
        "_shift",
        "amp_slot",
        "amplitude",
        "dev_recent",
        "profile",
        "res_long",
        "res_recent",
        "slot",
        "visits",
    )

    def __init__(self, period: float, shift: float) -> None:
        self._period = period
        self._shift = shift
        slots = int(period // _HOUR)
        self.profile = array("d", bytes(8 * slots))
        self.visits = [0] * slots
        self.slot = -1
        self.res_recent = 0.0
        self.dev_recent = 0.0
        self.res_long = 0.0
        self.amplitude = 0.0
        self.amp_slot = -1

    def step(self, wall: float, dev: float, trust: int) -> float | None:
        """Residual of ``dev`` against the profile (None while not trusted), then learn it."""
        slot = int(((wall + self._shift) % self._period) // _HOUR)
        visits = self.visits
        if slot != self.slot:
            if self.slot >= 0 and visits[self.slot] < _MAX_VISITS:
                visits[self.slot] += 1
            self.slot = slot
        profile = self.profile
        residual = dev - profile[slot]
        self.res_recent += _GATE_RATE * (abs(residual) - self.res_recent)
        self.dev_recent += _GATE_RATE * (abs(dev) - self.dev_recent)
        self.res_long += _AMP_RATE * (abs(residual) - self.res_long)
        if slot != self.amp_slot:
            trusted = [p for p, v in zip(profile, visits, strict=True) if v >= trust]
            self.amplitude = max(trusted) - min(trusted) if len(trusted) > 1 else 0.0
            self.amp_slot = slot
        seen = visits[slot]
        result = None
        if seen >= trust and (
            self.res_recent < _GATE_RATIO * self.dev_recent
            or self.amplitude > _AMP_RATIO * self.res_long
        ):
            result = residual
        profile[slot] += (_SEASON_RATE if seen else 0.5) * (dev - profile[slot])
        return result

    def to_state(self) -> dict[str, Any]:
        return {
            "profile": list(self.profile),
            "visits": list(self.visits),
            "slot": self.slot,
            "res_recent": self.res_recent,
            "dev_recent": self.dev_recent,
            "res_long": self.res_long,
            "amplitude": self.amplitude,
            "amp_slot": self.amp_slot,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], period: float, shift: float) -> _Season:
        self = cls(period, shift)
        profile = [float(v) for v in state["profile"]]
        visits = [int(v) for v in state["visits"]]
        if len(profile) != len(self.profile) or len(visits) != len(self.visits):
            raise ValueError("state: seasonal profile has the wrong number of slots")
        self.profile = array("d", profile)
        self.visits = visits
        self.slot = int(state["slot"])
        self.amp_slot = int(state["amp_slot"])
        for name in ("res_recent", "dev_recent", "res_long", "amplitude"):
            setattr(self, name, float(state[name]))
        return self


class AnomalyDetector:
    """Online anomaly score for one metric, with daily and weekly seasonality.

    Feed it one observation at a time, in time order; each call returns how
    anomalous that observation is, knowing only the past::

        detector = AnomalyDetector()
        for timestamp, value in stream:
            if detector.update(timestamp, value) >= 0.9:
                alert(timestamp, value)

    **What the score means.**  The detector follows seven views of the metric:
    the value, its mean over the last 24 observations, its minimum over the
    last 24 and the last 6 observations (a sustained high), its short-term
    level against the long-term mean (in standard deviations), and its
    residual against an hour-of-day and an hour-of-week profile.  For each view
    it remembers the extremes of the last ``memory`` observations.  The
    *novelty* of an observation is how far the furthest view lies outside its
    remembered range, as a fraction of that range (each view weighted: the
    value counts fully, the derived views from 0.03 to 0.2).  The score is
    ``n / (n + 0.008)``: 0 when every view stays within its range, 0.5 when the
    value goes 0.8 % of its range beyond anything remembered, 0.9 at 7 %,
    0.99 at 80 %.  A score that does not beat the recent peak (half-life
    ``refractory`` observations) is multiplied by 0.3, so an ongoing event
    alerts once, not at every step.

    **Choosing an alert threshold.**  On the Numenta Anomaly Benchmark the best
    threshold is about 0.5 for all three cost profiles: it catches 105 of the
    116 labelled anomalies at the price of about two unlabelled alerts per
    series and month.  0.9 reports clear breaks only (a new extreme 7 %
    beyond the remembered range, or an hour-of-week pattern broken by many
    times its usual residual); 0.97 and above, only gross ones.  On plain
    noise (Gaussian, uniform, Laplace) after the first 1000 observations,
    about 0.3 observations in 1000 score 0.5 or more and 0.05 in 1000 score
    0.9 or more.

    **Seasonality.**  A profile slot (an hour of the day, an hour of the week)
    is used once it has seen ``season_cycles`` cycles, and only while the
    profile explains the data: it must halve the recent spread of the metric,
    or its amplitude must be at least 20 times its usual residual.  Profiles
    adapt continuously (5 % per observation in their slot), so a weekly pattern
    is learned in a few weeks and never forgotten by a gap; timestamps given as
    aware ``datetime`` objects are binned in their own wall-clock time, POSIX
    seconds in UTC.

    **Bad input.**  A value that is NaN, infinite or absurd (beyond 1e100 in
    magnitude), or a timestamp earlier than the last one accepted, is ignored
    (score 0); a clock that jumps back by more than a gap (6 observations in a
    row from that far back) restarts the timeline.  After a gap longer than
    ``max_gap`` (by default 12 typical intervals, and at least an hour), the
    short-term views restart and the first 6 observations are learned without
    being scored: a metric that comes back from an outage re-learns instead of
    raising a storm of alerts (one that comes back at a level it never had is
    reported once, as such).

    **Memory and state.**  The state is a fixed set of about 1,500 numbers,
    whatever the length of the stream; :meth:`to_state` returns it as plain
    JSON-ready data and :meth:`from_state` resumes exactly where it was.  The
    weights and rates inside are one configuration for every metric, tuned
    once on the whole NAB corpus.

    Args:
        memory: How many past observations the extremes cover (rounded down to
            a multiple of 100, at least 100).
        warmup: Observations learned without being scored at the start.
        season_cycles: Cycles an hour-of-day or hour-of-week slot must have
            seen before its profile is used.
        refractory: Half-life, in observations, of the peak a new score must
            beat to be reported at full strength.
        max_gap: Seconds without data after which the detector re-learns;
            ``None`` to derive it from the typical interval.

    Raises:
        ValueError: When a parameter is out of range.
    """

    __slots__ = (
        "_base",
        "_behind",
        "_count",
        "_daily",
        "_decay",
        "_interval",
        "_last",
        "_long_mean",
        "_long_var",
        "_max_gap",
        "_memory",
        "_peak",
        "_quiet",
        "_recent",
        "_recent_len",
        "_recent_pos",
        "_refractory",
        "_season_cycles",
        "_views",
        "_warmup",
        "_weekly",
    )

    def __init__(
        self,
        *,
        memory: int = 10_000,
        warmup: int = 100,
        season_cycles: int = 2,
        refractory: float = 300.0,
        max_gap: float | None = None,
    ) -> None:
        if not isinstance(memory, int) or memory < _BLOCKS:
            raise ValueError(f"memory: expected an integer of at least {_BLOCKS}, got {memory!r}")
        if not isinstance(warmup, int) or warmup < 0:
            raise ValueError(f"warmup: expected a non-negative integer, got {warmup!r}")
        if not isinstance(season_cycles, int) or season_cycles < 1:
            raise ValueError(f"season_cycles: expected a positive integer, got {season_cycles!r}")
        if not refractory > 0 or not math.isfinite(refractory):
            raise ValueError(f"refractory: expected a positive number, got {refractory!r}")
        if max_gap is not None and (not max_gap > 0 or not math.isfinite(max_gap)):
            raise ValueError(f"max_gap: expected a positive number of seconds, got {max_gap!r}")
        self._memory = memory
        self._warmup = warmup
        self._season_cycles = season_cycles
        self._refractory = float(refractory)
        self._max_gap = None if max_gap is None else float(max_gap)
        self._decay = math.exp(-math.log(2.0) / self._refractory)
        size = memory // _BLOCKS
        self._views = [_Extremes(_BLOCKS, size) for _ in _VIEW_NAMES]
        self._daily = _Season(_DAY, 0.0)
        self._weekly = _Season(_WEEK, _WEEK_SHIFT)
        self._recent = array("d", bytes(8 * 24))  # ring of the last 24 values
        self._recent_pos = 0
        self._recent_len = 0
        self._count = 0  # observations accepted
        self._quiet = 0  # observations still to learn without scoring
        self._behind = 0  # observations in a row from before the last one, beyond a gap
        self._last: float | None = None  # POSIX time of the last accepted observation
        self._interval = 0.0  # typical interval between observations (EW)
        self._long_mean = 0.0
        self._long_var = 0.0
        self._base = 0.0
        self._peak = 0.0

    # ------------------------------------------------------------------ update

    def update(self, timestamp: datetime | float, value: float) -> float:
        """Learn one observation and score it.

        Args:
            timestamp: When it was taken: an aware ``datetime`` or POSIX
                seconds.
            value: The measurement.

        Returns:
            The anomaly score in [0, 1] (see the class documentation); 0 for an
            ignored observation.

        Raises:
            ValueError: For a naive ``datetime``.
            TypeError: For a timestamp or value that is not a number.
        """
        posix, wall = _times(timestamp)
        x = _number(value)
        if not abs(x) <= _MAX_ABS or not math.isfinite(posix):
            return 0.0  # NaN, infinite or absurd: ignored
        last = self._last
        if last is not None:
            dt = posix - last
            gap = self._gap()
            if dt < 0.0:
                if -dt <= gap:
                    return 0.0  # out of order: ignored
                self._behind += 1
                if self._behind < _CLOCK_RESET:
                    return 0.0  # a stale observation, unless the clock went back
                self._restart()  # the clock went back: a new timeline
            elif dt > gap:
                self._restart()
            elif dt > 0.0:
                if self._interval:
                    rate = 0.5 if self._count < 20 else 0.02
                    self._interval += rate * (min(dt, 10.0 * self._interval) - self._interval)
                else:
                    self._interval = dt
        self._behind = 0
        self._last = posix
        return self._learn(wall, x)

    def _gap(self) -> float:
        if self._max_gap is not None:
            return self._max_gap
        if not self._interval:
            return math.inf
        return max(_GAP_FACTOR * self._interval, _MIN_GAP)

    def _restart(self) -> None:
        self._recent_len = 0
        self._recent_pos = 0
        self._quiet = _GAP_QUIET

    def _learn(self, wall: float, x: float) -> float:
        self._count += 1
        first = self._count == 1
        views = self._views

        # The short-term views: mean and floor of the last observations.
        recent = self._recent
        recent[self._recent_pos] = x
        self._recent_pos = (self._recent_pos + 1) % 24
        if self._recent_len < 24:
            self._recent_len += 1
        n_recent = self._recent_len
        if n_recent == 24:
            last6 = [recent[(self._recent_pos - k) % 24] for k in range(1, 7)]
            feats: list[float | None] = [x, sum(recent) / 24, min(recent), min(last6)]
        else:
            last6 = [recent[(self._recent_pos - k) % 24] for k in range(1, min(n_recent, 6) + 1)]
            feats = [x, None, None, min(last6) if n_recent >= 6 else None]
        if first:
            self._long_mean = x
            self._base = x

        # Short-term level against the long-term mean, in standard deviations.
        level = None
        if self._count > _LEVEL_START:
            mean6 = sum(last6) / len(last6)
            spread = math.sqrt(self._long_var) + 1e-9 * abs(self._long_mean) + 1e-12
            level = (mean6 - self._long_mean) / spread
        d = x - self._long_mean
        self._long_mean += _LONG_RATE * d
        self._long_var = (1.0 - _LONG_RATE) * (self._long_var + _LONG_RATE * d * d)
        feats.append(level)

        # Residuals against the hour-of-day and hour-of-week profiles.
        dev = x - self._base
        feats.append(self._daily.step(wall, dev, self._season_cycles))
        feats.append(self._weekly.step(wall, dev, self._season_cycles))
        self._base += _BASE_RATE * (x - self._base)

        floor = _FLOOR * views[_VALUE].range()
        novelty = 0.0
        for i, f in enumerate(feats):
            if f is None:
                continue
            view = views[i]
            v = view.step(f, 0.0 if i == _VALUE else floor)
            if view.seen < _VIEW_WARMUP:
                continue
            v *= _WEIGHTS[i]
            if v > novelty:
                novelty = v

        s = novelty / (1.0 + novelty) if novelty < math.inf else 1.0
        out = s if s > self._peak else s * _SUPPRESS
        peak = self._peak * self._decay
        self._peak = s if s > peak else peak
        if self._quiet:
            self._quiet -= 1
            return 0.0
        if self._count <= self._warmup:
            return 0.0
        return out / (out + _SCALE * (1.0 - out))

    # ------------------------------------------------------------------- state

    def to_state(self) -> dict[str, Any]:
        """The detector's whole state, as JSON-ready plain data.

        Returns:
            A dictionary of numbers, lists and strings that
            :meth:`from_state` turns back into an identical detector.
        """
        return {
            "version": _STATE_VERSION,
            "params": {
                "memory": self._memory,
                "warmup": self._warmup,
                "season_cycles": self._season_cycles,
                "refractory": self._refractory,
                "max_gap": self._max_gap,
            },
            "count": self._count,
            "quiet": self._quiet,
            "behind": self._behind,
            "last": self._last,
            "interval": self._interval,
            "long_mean": self._long_mean,
            "long_var": self._long_var,
            "base": self._base,
            "peak": self._peak,
            "recent": list(self._recent),
            "recent_pos": self._recent_pos,
            "recent_len": self._recent_len,
            "views": {name: v.to_state() for name, v in zip(_VIEW_NAMES, self._views, strict=True)},
            "daily": self._daily.to_state(),
            "weekly": self._weekly.to_state(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> AnomalyDetector:
        """Rebuild a detector saved with :meth:`to_state`.

        Args:
            state: What :meth:`to_state` returned (possibly through JSON).

        Returns:
            A detector that continues exactly where the saved one was.

        Raises:
            ValueError: When the state is not one this version can read.
        """
        if not isinstance(state, dict) or state.get("version") != _STATE_VERSION:
            version = state.get("version") if isinstance(state, dict) else None
            raise ValueError(f"state: unsupported version {version!r} (expected {_STATE_VERSION})")
        try:
            params = state["params"]
            if not isinstance(params, dict):
                raise TypeError("params is not a mapping")
            try:
                self = cls(**params)
            except ValueError as exc:
                raise ValueError(f"state: {exc}") from None
            size = self._memory // _BLOCKS
            self._views = [
                _Extremes.from_state(state["views"][name], _BLOCKS, size) for name in _VIEW_NAMES
            ]
            self._daily = _Season.from_state(state["daily"], _DAY, 0.0)
            self._weekly = _Season.from_state(state["weekly"], _WEEK, _WEEK_SHIFT)
            recent = [float(v) for v in state["recent"]]
            self._recent_pos = int(state["recent_pos"])
            self._recent_len = int(state["recent_len"])
            if (
                len(recent) != 24
                or not 0 <= self._recent_pos < 24
                or not 0 <= self._recent_len <= 24
            ):
                raise ValueError("state: the recent values do not make a ring of 24")
            self._recent = array("d", recent)
            self._count = int(state["count"])
            self._quiet = int(state["quiet"])
            self._behind = int(state["behind"])
            self._last = None if state["last"] is None else float(state["last"])
            for name in ("interval", "long_mean", "long_var", "base", "peak"):
                setattr(self, "_" + name, float(state[name]))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"state: malformed detector state ({exc!r})") from exc
        return self


def _times(timestamp: datetime | float) -> tuple[float, float]:
    """POSIX seconds and wall-clock seconds (for the seasonal slots)."""
    if isinstance(timestamp, datetime):
        offset = timestamp.utcoffset()
        if offset is None:
            raise ValueError(
                f"timestamp: {timestamp.isoformat()} has no time zone; "
                "give an aware datetime or POSIX seconds"
            )
        posix = timestamp.timestamp()
        return posix, posix + offset.total_seconds()
    if isinstance(timestamp, bool) or not isinstance(timestamp, numbers.Real):
        raise TypeError(f"timestamp: expected a datetime or POSIX seconds, got {timestamp!r}")
    try:
        posix = float(timestamp)
    except OverflowError:
        posix = math.inf  # ignored by the caller
    return posix, posix


def _number(value: float) -> float:
    """The value as a float (an int too large for one becomes infinite)."""
    if isinstance(value, str | bytes):
        raise TypeError(f"value: expected a number, got {value!r}")
    try:
        return float(value)
    except OverflowError:
        return math.inf
    except (TypeError, ValueError):
        raise TypeError(f"value: expected a number, got {value!r}") from None
