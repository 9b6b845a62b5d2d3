"""Values the Interpreter produces: intents, plan steps and plans."""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any, Literal

import attrs

__all__ = ["INTENTS", "Decision", "Intent", "Plan", "Step"]

#: The intent ids (DESIGN.md). ``unknown`` is what a request out of scope gets.
INTENTS: tuple[str, ...] = (
    "logs.summarize",
    "disk.cleanup",
    "disk.usage",
    "files.find",
    "disk.health",
    "service.restart",
    "service.start",
    "service.stop",
    "service.status",
    "system.status",
    "process.top",
    "packages.update",
    "security.audit",
    "backup.sync",
    "schedule.add",
    "network.listening",
    "resources.optimize",
    "unknown",
)

Decision = Literal["allow", "confirm", "deny"]


def _freeze(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return types.MappingProxyType(dict(value))


@attrs.frozen
class Intent:
    """What a request asks for.

    Attributes:
        request: The request as typed.
        lang: The request's language, ``fr`` or ``en``.
        intent: One of :data:`INTENTS`.
        confidence: How sure the interpretation is, in [0, 1].
        entities: Typed values found in the request (``since`` in seconds,
            ``status`` as an int, ``source``…).
        message: For ``unknown``: what the agent can do and how to rephrase.
    """

    request: str
    lang: Literal["fr", "en"]
    intent: str = attrs.field(validator=attrs.validators.in_(INTENTS))
    confidence: float
    entities: Mapping[str, Any] = attrs.field(factory=dict, converter=_freeze)
    message: str = ""


@attrs.frozen
class Step:
    """One typed action of a plan, with the policy's verdict.

    Attributes:
        action: The action id (``logs.summarize``, ``files.delete``…).
        args: Its typed arguments.
        decision: ``allow``, ``confirm`` or ``deny``; ``None`` until the policy decided.
        reason: Why, in the request's language.
        changes_system: Whether the action changes the machine.
    """

    action: str
    args: Mapping[str, Any] = attrs.field(factory=dict, converter=_freeze)
    decision: Decision | None = None
    reason: str = ""
    changes_system: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of a step in ``hf-agent plan --json``."""
        return {
            "action": self.action,
            "args": dict(self.args),
            "decision": self.decision,
            "reason": self.reason,
        }


@attrs.frozen
class Plan:
    """An interpreted request and the steps that carry it out.

    Attributes:
        intent: The interpretation.
        steps: The actions, in order (empty for ``unknown``).
    """

    intent: Intent
    steps: tuple[Step, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``hf-agent plan --json``."""
        return {
            "request": self.intent.request,
            "lang": self.intent.lang,
            "intent": self.intent.intent,
            "confidence": round(self.intent.confidence, 3),
            "entities": dict(self.intent.entities),
            "steps": [s.to_dict() for s in self.steps],
        }
