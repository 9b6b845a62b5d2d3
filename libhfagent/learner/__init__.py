"""The Learner: statistics over the observed streams, and what stands out in them."""

from ._anomaly import AnomalyDetector as AnomalyDetector
from ._bruteforce import BruteForceDetector as BruteForceDetector
from ._bruteforce import Offender as Offender
from ._learner import Learner as Learner
from ._learner import MetricAnomaly as MetricAnomaly

__all__ = ["AnomalyDetector", "BruteForceDetector", "Learner", "MetricAnomaly", "Offender"]
