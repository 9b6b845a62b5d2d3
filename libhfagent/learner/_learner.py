"""The Learner: one anomaly detector per observed series."""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import attrs

from ..config import Config
from ..observer._events import Metric
from ._anomaly import AnomalyDetector

__all__ = ["Learner", "MetricAnomaly"]


@attrs.frozen
class MetricAnomaly:
    """A metric value that stands out from what its series usually does.

    Attributes:
        metric: The measurement.
        score: Its anomaly score, in [0, 1].
    """

    metric: Metric
    score: float


def _series_key(metric: Metric) -> str:
    labels = ",".join(f"{k}={v}" for k, v in sorted(metric.labels.items()))
    return f"{metric.name}{{{labels}}}"


class Learner:
    """Learns what is normal for each metric series and flags what is not.

    Each series (a metric name and its labels) gets its own
    :class:`AnomalyDetector`; the least recently seen series is forgotten when
    more than ``max_series`` are followed, so memory stays bounded.

    Args:
        config: The agent configuration.
        threshold: Scores at or above it are anomalies.
        max_series: How many series are followed at most.
    """

    def __init__(self, config: Config, *, threshold: float = 0.9, max_series: int = 10_000) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold: expected a number in (0, 1], got {threshold}")
        if max_series < 1:
            raise ValueError(f"max_series: expected at least 1, got {max_series}")
        self._config = config
        self._threshold = threshold
        self._max_series = max_series
        self._detectors: OrderedDict[str, AnomalyDetector] = OrderedDict()

    def observe(self, metric: Metric) -> MetricAnomaly | None:
        """Learn from one measurement.

        Returns:
            The anomaly when the value stands out, else ``None``.
        """
        if not math.isfinite(metric.value):
            return None
        key = _series_key(metric)
        detector = self._detectors.get(key)
        if detector is None:
            detector = self._detectors[key] = AnomalyDetector()
            if len(self._detectors) > self._max_series:
                self._detectors.popitem(last=False)
        else:
            self._detectors.move_to_end(key)
        score = detector.update(metric.timestamp.timestamp(), metric.value)
        return MetricAnomaly(metric, score) if score >= self._threshold else None

    def series(self) -> list[str]:
        """The series followed, least recently seen first."""
        return list(self._detectors)

    def to_state(self) -> dict[str, Any]:
        """The learned state, JSON-ready (see :meth:`from_state`)."""
        return {"version": 1, "series": {k: d.to_state() for k, d in self._detectors.items()}}

    @classmethod
    def from_state(cls, config: Config, state: dict[str, Any], **kwargs: Any) -> Learner:
        """A learner that continues from a saved state."""
        learner = cls(config, **kwargs)
        for key, saved in state.get("series", {}).items():
            learner._detectors[key] = AnomalyDetector.from_state(saved)
        return learner
