"""The Interpreter: a request in French or English → an intent, its entities and a plan."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Literal
from zoneinfo import ZoneInfo

from .._i18n import translator
from ..config import Config
from ._grammar import entities_for, score_intents
from ._text import detect_language, fold
from ._types import Intent, Plan, Step

__all__ = ["Interpreter"]

#: Below this confidence a request is ``unknown``: the agent never guesses.
CONFIDENCE_THRESHOLD = 0.5

#: Actions that only read the machine; the plan of every other intent changes it.
_READ_ONLY_ACTIONS = frozenset({"logs.summarize", "security.audit", "system.status"})


class Interpreter:
    """Understands administration requests and turns them into plans.

    Args:
        config: The agent configuration (default language, time zone).
        clock: Returns the current time, timezone-aware; defaults to the system clock.
    """

    def __init__(self, config: Config, *, clock: Callable[[], dt.datetime] | None = None) -> None:
        self._config = config
        self._tz = ZoneInfo(config.agent.timezone)
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))

    def interpret(self, request: str) -> Intent:
        """Find the intent and entities of a request.

        Returns:
            The intent; ``unknown`` (with a helpful ``message``) when the request
            is out of scope or not understood well enough.
        """
        lang: Literal["fr", "en"] = detect_language(request, self._config.agent.language)
        text = fold(request)
        scores = score_intents(text)
        best = max(scores, key=lambda k: scores[k]) if scores else "unknown"
        confidence = scores.get(best, 0.0)
        if not text or confidence < CONFIDENCE_THRESHOLD:
            _ = translator(lang).gettext
            message = _(
                'I did not understand this request. I can summarise logs ("summarise the '
                "nginx 404 errors of the last 24 hours\") and report the machine's health "
                '("how is this machine doing?"). Name the logs and the period, or rephrase.'
            )
            return Intent(request, lang, "unknown", confidence, {}, message)
        now = self._clock().astimezone(self._tz)
        entities = entities_for(best, text, request, now)
        return Intent(request, lang, best, confidence, entities)

    def plan(self, intent: Intent) -> Plan:
        """The steps that carry out an intent (no policy decision yet: see the Executor)."""
        if intent.intent == "unknown":
            return Plan(intent)
        args = dict(intent.entities)
        action = intent.intent
        if action == "logs.summarize":
            args.setdefault("source", "nginx" if "status" in args else "syslog")
            if args["source"] == "auth":
                # The authentication log's summary is the security scan.
                action = "security.audit"
                args = {k: v for k, v in args.items() if k == "since"}
        step = Step(action, args, changes_system=action not in _READ_ONLY_ACTIONS)
        return Plan(intent, (step,))
