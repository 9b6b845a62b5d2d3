"""libhfagent: an offline-first Linux administration agent.

Four composable objects — :class:`Observer`, :class:`Interpreter`,
:class:`Learner`, :class:`Executor` — and :class:`Agent`, which composes them
under one :class:`Config`. Importing the package does nothing else: no bus, no
model, no environment read.
"""

from ._agent import Agent as Agent
from ._agent import Answer as Answer
from ._errors import AuditError as AuditError
from ._errors import ConfigError as ConfigError
from ._errors import ExecutionError as ExecutionError
from ._errors import HFAgentError as HFAgentError
from ._errors import InvalidInputError as InvalidInputError
from ._errors import ModelError as ModelError
from ._errors import NotAuthorized as NotAuthorized
from ._errors import PolicyDenied as PolicyDenied
from ._errors import RequestError as RequestError
from ._errors import SourceError as SourceError
from ._version import __version__ as __version__
from .config import Config as Config
from .executor import Executor as Executor
from .interpreter import Interpreter as Interpreter
from .learner import Learner as Learner
from .observer import Observer as Observer

__all__ = [
    "Agent",
    "Answer",
    "AuditError",
    "Config",
    "ConfigError",
    "ExecutionError",
    "Executor",
    "HFAgentError",
    "Interpreter",
    "InvalidInputError",
    "Learner",
    "ModelError",
    "NotAuthorized",
    "Observer",
    "PolicyDenied",
    "RequestError",
    "SourceError",
]
