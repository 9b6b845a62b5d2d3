"""NAB corpus loading and scoring, as numenta/NAB's ``sweeper.py`` does it.

This is a re-implementation of the scoring of the Numenta Anomaly Benchmark
(NAB v1.1, ``nab/sweeper.py``, ``nab/optimizer.py`` and ``Runner.normalize``):

* every row of every file gets a *sweep score*: inside a labelled window, the
  scaled sigmoid of its relative position in the window (normalised so that
  the window's first row is worth ``tpWeight``); outside, the scaled sigmoid
  of its distance past the preceding window times ``fpWeight`` (``-fpWeight``
  when no window precedes it);
* rows of the probationary period (``min(floor(0.15 * n), 0.15 * 5000)``) are
  not scored;
* for a threshold, a row is a detection when its anomaly score is ``>=`` the
  threshold; a window is worth the best (= earliest) detection inside it, or
  ``-fnWeight`` when it holds none; detections outside windows add their
  (negative) sweep scores;
* the threshold is swept over every distinct anomaly score of the whole
  corpus and the best corpus total is kept, per profile;
* the final score is ``100 * (raw - null) / (perfect - null)`` where
  ``perfect`` is the number of windows times ``tpWeight`` and ``null`` is the
  raw score of the null detector (no detection at all).

Only the standard library is used here; nothing is imported from NAB.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

PROBATION_PERCENT = 0.15


@dataclass(frozen=True)
class DataFile:
    """One NAB series with its labels.

    Attributes:
        name: path relative to ``data/``, e.g. ``realKnownCause/nyc_taxi.csv``.
        timestamps: the rows' timestamps (naive, as in the files).
        posix: the same instants as POSIX seconds, reading the files as UTC.
        values: the rows' values.
        windows: the labelled windows as ``(first_row, last_row)`` inclusive.
    """

    name: str
    timestamps: list[datetime]
    posix: list[float]
    values: list[float]
    windows: list[tuple[int, int]]


@dataclass(frozen=True)
class CostMatrix:
    """The weights of one NAB application profile."""

    tp: float
    fp: float
    fn: float


@dataclass(frozen=True)
class SweepPoint:
    """One scorable row: its anomaly score, its sweep score and its window id."""

    score: float
    sweep: float
    window: int  # -1 outside any window


@dataclass(frozen=True)
class ProfileResult:
    """The outcome of the threshold sweep for one detector and one profile."""

    threshold: float
    raw: float
    null: float
    perfect: float
    tp: int
    fp: int
    fn: int
    detected: int = 0

    @property
    def normalized(self) -> float:
        """The NAB score against this sweep's own no-detection row (see :func:`normalize`)."""
        return normalize(self.raw, self.null, self.perfect)


def normalize(raw: float, null: float, perfect: float) -> float:
    """``Runner.normalize``: 100 for the perfect detector, 0 for the null detector."""
    return 100.0 * (raw - null) / (perfect - null)


def load_corpus(data_dir: Path) -> list[DataFile]:
    """Read every series of the corpus and its windows.

    Args:
        data_dir: the NAB root (holding ``data/``, ``labels/``, ``config/``).

    Returns:
        The files, sorted by name.

    Raises:
        FileNotFoundError: when the corpus is not there.
        ValueError: when a window limit is not a timestamp of its file.
    """
    with open(data_dir / "labels" / "combined_windows.json", encoding="utf-8") as f:
        labels: dict[str, list[list[str]]] = json.load(f)
    files = []
    for name in sorted(labels):
        timestamps: list[datetime] = []
        values: list[float] = []
        with open(data_dir / "data" / name, encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            next(reader)
            for row in reader:
                timestamps.append(datetime.fromisoformat(row[0]))
                values.append(float(row[1]))
        index: dict[datetime, int] = {}
        for i, ts in enumerate(timestamps):
            index.setdefault(ts, i)
        windows = []
        for start, end in labels[name]:
            t1, t2 = datetime.fromisoformat(start), datetime.fromisoformat(end)
            if t1 not in index or t2 not in index:
                raise ValueError(f"{name}: window [{start}, {end}] is not on the file's rows")
            # sweeper.py: the window opens at the first row equal to its start
            # and closes at the first row equal to its end.
            windows.append((index[t1], index[t2]))
        posix = [ts.replace(tzinfo=UTC).timestamp() for ts in timestamps]
        files.append(DataFile(name, timestamps, posix, values, windows))
    return files


def load_profiles(data_dir: Path) -> dict[str, CostMatrix]:
    """Read ``config/profiles.json``.

    Args:
        data_dir: the NAB root.

    Returns:
        The cost matrix of each profile, by profile name.
    """
    with open(data_dir / "config" / "profiles.json", encoding="utf-8") as f:
        raw = json.load(f)
    return {
        name: CostMatrix(
            m["CostMatrix"]["tpWeight"], m["CostMatrix"]["fpWeight"], m["CostMatrix"]["fnWeight"]
        )
        for name, m in raw.items()
    }


def probation_length(num_rows: int) -> float:
    """The number of leading rows that are not scored (``Sweeper._getProbationaryLength``)."""
    return min(math.floor(PROBATION_PERCENT * num_rows), PROBATION_PERCENT * 5000)


def scaled_sigmoid(position: float) -> float:
    """NAB's scaled sigmoid: 0.98661 at -1 (window start), 0 at 0, -1 beyond 3."""
    if position > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def sweep_points(
    data: DataFile, scores: Sequence[float], cost: CostMatrix, first_window_id: int
) -> list[SweepPoint]:
    """The scorable rows of one file (``Sweeper.calcSweepScore``).

    Args:
        data: the file.
        scores: the detector's anomaly score for each row.
        cost: the profile.
        first_window_id: the id to give this file's first window (ids must be
            unique over the corpus).

    Returns:
        One point per row after the probationary period.
    """
    if len(scores) != len(data.values):
        raise ValueError(f"{data.name}: {len(scores)} scores for {len(data.values)} rows")
    max_tp = scaled_sigmoid(-1.0)
    probation = probation_length(len(scores))
    starts = {start: k for k, (start, _) in enumerate(data.windows)}
    points = []
    cur: int | None = None
    cur_right = cur_width = 0.0
    prev_right: float | None = None
    prev_width = 0.0
    for i, score in enumerate(scores):
        if cur is None and i in starts:
            cur = starts[i]
            left, right = data.windows[cur]
            cur_right, cur_width = float(right), float(right - left + 1)
        if cur is not None:
            position = -(cur_right - i + 1) / cur_width
            sweep = scaled_sigmoid(position) * cost.tp / max_tp
        else:
            if prev_right is None:
                unweighted = -1.0
            else:
                unweighted = scaled_sigmoid(abs(prev_right - i) / (prev_width - 1))
            sweep = unweighted * cost.fp
        if i >= probation:
            points.append(SweepPoint(score, sweep, -1 if cur is None else first_window_id + cur))
        if cur is not None and i == cur_right:
            prev_right, prev_width = cur_right, cur_width
            cur = None
    return points


def best_threshold(points: list[SweepPoint], cost: CostMatrix, num_windows: int) -> ProfileResult:
    """Sweep the threshold over the corpus (``Sweeper.calcScoreByThreshold``).

    Args:
        points: the scorable rows of every file.
        cost: the profile.
        num_windows: the number of labelled windows of the corpus (perfect score).

    Returns:
        The best threshold and its raw score, with the null (no detection) score.
    """
    ordered = sorted(points, key=lambda p: p.score, reverse=True)
    window_parts: dict[int, float] = {p.window: -cost.fn for p in ordered if p.window >= 0}
    null = -cost.fn * len(window_parts)
    total = null  # sum of the window parts and of the false positives' sweep scores
    tp = fp = detected = 0
    fn = sum(1 for p in ordered if p.window >= 0)
    perfect = cost.tp * num_windows
    best = ProfileResult(1.1, null, null, perfect, tp, fp, fn, detected)
    cur_threshold = 1.1
    for p in ordered:
        if p.score != cur_threshold:
            if total > best.raw:
                best = ProfileResult(cur_threshold, total, null, perfect, tp, fp, fn, detected)
            cur_threshold = p.score
        if p.window >= 0:
            tp += 1
            fn -= 1
            old = window_parts[p.window]
            if p.sweep > old:
                if old == -cost.fn:
                    detected += 1
                window_parts[p.window] = p.sweep
                total += p.sweep - old
        else:
            fp += 1
            total += p.sweep
    if total > best.raw:
        best = ProfileResult(cur_threshold, total, null, perfect, tp, fp, fn, detected)
    return best


def score_corpus(
    corpus: Sequence[DataFile], scores: Sequence[Sequence[float]], cost: CostMatrix
) -> ProfileResult:
    """Score a detector's output over the whole corpus for one profile.

    Args:
        corpus: the files.
        scores: the detector's scores, one sequence per file, in corpus order.
        cost: the profile.

    Returns:
        The best threshold's result.
    """
    points: list[SweepPoint] = []
    window_id = 0
    for data, file_scores in zip(corpus, scores, strict=True):
        points.extend(sweep_points(data, file_scores, cost, window_id))
        window_id += len(data.windows)
    return best_threshold(points, cost, window_id)
