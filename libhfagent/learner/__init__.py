"""The Learner: statistics over the observed streams, and what stands out in them."""

from ._anomaly import AnomalyDetector as AnomalyDetector
from ._associations import AssociationMiner as AssociationMiner
from ._associations import Evidence as Evidence
from ._associations import Pattern as Pattern
from ._bruteforce import BruteForceDetector as BruteForceDetector
from ._bruteforce import Offender as Offender
from ._disks import DiskHealth as DiskHealth
from ._disks import DiskRisk as DiskRisk
from ._learner import Learner as Learner
from ._learner import action_of as action_of
from ._logs import LogAnomaly as LogAnomaly
from ._logs import LogRates as LogRates
from ._profiles import Advice as Advice
from ._profiles import InstanceSize as InstanceSize
from ._profiles import UsageProfile as UsageProfile
from ._profiles import advise as advise
from ._profiles import load_catalogue as load_catalogue
from ._store import LearnerStore as LearnerStore
from ._suggestions import Signal as Signal
from ._suggestions import Suggestion as Suggestion

__all__ = [
    "Advice",
    "AnomalyDetector",
    "AssociationMiner",
    "BruteForceDetector",
    "DiskHealth",
    "DiskRisk",
    "Evidence",
    "InstanceSize",
    "Learner",
    "LearnerStore",
    "LogAnomaly",
    "LogRates",
    "Offender",
    "Pattern",
    "Signal",
    "Suggestion",
    "UsageProfile",
    "action_of",
    "advise",
    "load_catalogue",
]
