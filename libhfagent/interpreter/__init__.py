"""Interpreter: French and English requests → intents, entities and plans; reports."""

from ._embedding import Encoder as Encoder
from ._embedding import load_encoder as load_encoder
from ._embedding import prepare as prepare
from ._interpreter import Interpreter as Interpreter
from ._redact import redact as redact
from ._text import detect_language as detect_language
from ._types import INTENTS as INTENTS
from ._types import Intent as Intent
from ._types import Plan as Plan
from ._types import Step as Step

__all__ = [
    "INTENTS",
    "Encoder",
    "Intent",
    "Interpreter",
    "Plan",
    "Step",
    "detect_language",
    "load_encoder",
    "prepare",
    "redact",
]
