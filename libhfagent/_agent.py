"""The Agent: the four objects composed to answer requests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import attrs

from .config import Config
from .executor import Executor, Outcome
from .interpreter import Interpreter, Plan
from .observer import Observer

__all__ = ["Agent", "Answer"]


@attrs.frozen
class Answer:
    """A request answered: its plan, what ran, and the report in the request's language.

    Attributes:
        plan: The interpreted, policy-checked plan.
        outcome: What ran and what did not.
        text: The human report.
    """

    plan: Plan
    outcome: Outcome
    text: str

    @property
    def understood(self) -> bool:
        """Whether the request was understood (its intent is not ``unknown``)."""
        return self.plan.intent.intent != "unknown"

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``hf-agent ask --json``: the plan plus report, outcome and text."""
        out = self.plan.to_dict()
        reports = [dict(r.report) for r in self.outcome.results]
        out["report"] = reports[0] if len(reports) == 1 else (reports or None)
        out["outcome"] = self.outcome.to_dict()
        out["text"] = self.text
        return out


class Agent:
    """Observer, Interpreter and Executor composed under one configuration.

    Args:
        config: The configuration; ``Config.load()`` (the usual lookup) when omitted.
        clock: Returns the current time, timezone-aware (tests fix it).
        progress: Called with the number of lines read so far during long reads.
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.config = config if config is not None else Config.load()
        self.observer = Observer(self.config)
        self.interpreter = Interpreter(self.config, clock=clock)
        self.executor = Executor(self.config, self.observer, clock=clock, progress=progress)

    def plan(self, request: str) -> Plan:
        """Interpret a request and plan it, with the policy's decisions; changes nothing."""
        intent = self.interpreter.interpret(request)
        return self.executor.review(self.interpreter.plan(intent))

    def ask(self, request: str) -> Answer:
        """Interpret, plan and run what the policy allows; report in the request's language.

        Raises:
            SourceError: A log the request needs is missing or unreadable.
            RequestError: The request's values cannot be used.
        """
        plan = self.plan(request)
        outcome = self.executor.run(plan)
        if plan.intent.intent == "unknown":
            text = plan.intent.message
        else:
            text = "\n\n".join(r.text for r in outcome.results)
        return Answer(plan, outcome, text)
