"""The Agent: the four objects composed to answer requests.

``ask``: interpret → plan → the policy's review → read-only steps run → the steps
that change the machine previewed over a copy-on-write overlay → applied when the
mode allows it (auto mode within the policy, or ``yes``), else kept under a plan id
to confirm → report in the request's language.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import attrs

from .config import Config
from .executor import Executor, Outcome
from .executor._executor import PreviewedPlan, UndoReport
from .executor._render import render_outcome, render_preview
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
        previewed: The preview of the steps that change the machine, kept under
            its plan id (``None`` when there are none).
        applied: What applying the previewed plan did (``None`` when it was not
            applied: it waits for a confirmation, ``hf-agent execute PLAN_ID``).
    """

    @property
    def pending(self) -> str | None:
        """The plan id waiting for a confirmation, if any."""
        if self.previewed is not None and self.applied is None and not self.previewed.refused:
            return self.previewed.plan_id
        return None

    plan: Plan
    outcome: Outcome
    text: str
    previewed: PreviewedPlan | None = None
    applied: Outcome | None = None

    @property
    def understood(self) -> bool:
        """Whether the request was understood (its intent is not ``unknown``)."""
        return self.plan.intent.intent != "unknown"

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``hf-agent ask --json``: the plan plus report, outcome and text."""
        out = self.plan.to_dict()
        reports = [dict(r.report) for r in self.outcome.results]
        out["report"] = reports[0] if len(reports) == 1 else (reports or None)
        outcome = self.outcome.to_dict()
        if self.applied is not None:
            applied = self.applied.to_dict()
            outcome["applied"] = applied["applied"]
            outcome["ran"] = outcome["ran"] + applied["ran"]
            outcome["failed"] = applied["failed"]
            outcome["skipped"] = [
                s for s in outcome["skipped"] if s["action"] not in applied["applied"]
            ]
        outcome["plan_id"] = self.previewed.plan_id if self.previewed else None
        outcome["refused"] = self.previewed.refused if self.previewed else ""
        outcome["pending"] = self.pending
        out["outcome"] = outcome
        out["preview"] = self.previewed.to_dict()["preview"] if self.previewed else None
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

    def ask(self, request: str, *, yes: bool = False, apply: bool = True) -> Answer:
        """Interpret, plan, run what reads, preview what changes, apply when allowed.

        The steps that change the machine are applied when ``yes`` is given (what the
        policy denies never is), or in auto mode when the policy allows every one of
        them; otherwise the preview is kept under its plan id, to confirm with
        :meth:`execute`. With ``apply`` false nothing is applied in any mode.

        Raises:
            SourceError: A log the request needs is missing or unreadable.
            RequestError: The request's values cannot be used.
            NotAuthorized: A change must be previewed and the preview needs root.
        """
        plan = self.plan(request)
        outcome = self.executor.run(plan)
        lang = plan.intent.lang
        if plan.intent.intent == "unknown":
            return Answer(plan, outcome, plan.intent.message)
        parts = [r.text for r in outcome.results if r.text]
        previewed = None
        applied = None
        if any(s.changes_system and s.decision != "deny" for s in plan.steps):
            previewed = self.executor.preview(plan)
        if previewed is not None:
            parts.append(render_preview(previewed, lang))
            auto = self.config.agent.user_mode == "auto" and not previewed.needs_confirmation
            if previewed.refused:  # over a policy limit once the preview counted the files
                parts.append(_denied_text(f"plan {previewed.plan_id}", previewed.refused, lang))
            elif apply and (yes or auto) and not previewed.preview.failed:
                applied = self.executor.apply(previewed.plan_id)
                parts.append(render_outcome(applied, lang))
            else:
                parts.append(_pending_text(previewed, lang))
        denied = [s for s in plan.steps if s.decision == "deny"]
        parts += [_denied_text(s.action, s.reason, lang) for s in denied]
        return Answer(plan, outcome, "\n\n".join(p for p in parts if p), previewed, applied)

    def execute(self, plan_id: str) -> Outcome:
        """Apply exactly a previewed plan (see :meth:`Executor.apply`)."""
        return self.executor.apply(plan_id)

    async def run(self, *, handle_signals: bool = True, **options: Any) -> None:
        """Run all day under this agent's configuration: follow the sources, learn,
        answer signals with runbooks and alerts, run the scheduled jobs.

        Until SIGTERM or SIGINT (SIGHUP reloads the configuration file); see
        :class:`libhfagent.daemon.Engine` for ``options`` (sources, clock, listeners…).
        """
        from .daemon._engine import Engine

        await Engine(self.config, **options).run(handle_signals=handle_signals)

    def undo(self, plan_id: str) -> UndoReport:
        """Reverse what an applied plan did, where it can be (see :meth:`Executor.undo`)."""
        return self.executor.undo(plan_id)


def _pending_text(previewed: PreviewedPlan, lang: str) -> str:
    from ._i18n import translator

    _ = translator(lang).gettext
    if previewed.preview.failed:
        return _("Plan %(plan_id)s was not applied: its preview failed.") % {
            "plan_id": previewed.plan_id
        }
    return _(
        "Plan %(plan_id)s is waiting for your confirmation. "
        "To apply it: hf-agent execute %(plan_id)s"
    ) % {"plan_id": previewed.plan_id}


def _denied_text(action: str, reason: str, lang: str) -> str:
    from ._i18n import translator

    _ = translator(lang).gettext
    return _("Refused: %(action)s (%(reason)s)") % {"action": action, "reason": reason}
