"""The Learner: statistics over the observed streams, and what stands out in them."""

from ._anomaly import AnomalyDetector as AnomalyDetector
from ._learner import Learner as Learner
from ._learner import MetricAnomaly as MetricAnomaly

__all__ = ["AnomalyDetector", "Learner", "MetricAnomaly"]
