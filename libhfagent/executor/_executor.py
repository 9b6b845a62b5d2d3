"""The Executor: the policy's verdict on each step, then running what is allowed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from .._errors import RequestError
from .._i18n import translator
from ..config import Config
from ..interpreter._types import Decision, Plan, Step
from ..observer import Observer
from ..observer._files import LineCounts
from ..observer._system import take_snapshot
from ..reports import AccessSummary, render_access, render_system, summarize_access

__all__ = ["Executor", "Outcome", "StepResult"]


@attrs.frozen
class StepResult:
    """What one step produced.

    Attributes:
        action: The step's action id.
        report: The analysis, JSON-ready (for read-only steps).
        text: The analysis as text, in the request's language.
        applied: Whether the step changed the machine.
    """

    action: str
    report: Mapping[str, Any]
    text: str
    applied: bool = False


@attrs.frozen
class Outcome:
    """The result of running a plan.

    Attributes:
        results: One result per step that ran.
        skipped: Steps that did not run (denied, or waiting for a confirmation).
    """

    results: tuple[StepResult, ...] = ()
    skipped: tuple[Step, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The ``outcome`` object of ``hf-agent ask --json``."""
        return {
            "applied": [r.action for r in self.results if r.applied],
            "ran": [r.action for r in self.results],
            "skipped": [s.to_dict() for s in self.skipped],
        }


#: Actions that read the machine and never change it.
READ_ONLY_ACTIONS = frozenset({"logs.summarize", "system.status"})


class Executor:
    """Checks plans against the policy and runs the steps it allows.

    Args:
        config: The agent configuration.
        observer: Where probes read the machine.
        clock: Returns the current time, timezone-aware.
        progress: Called with the number of lines read so far during long reads
            (the command line shows it).
    """

    def __init__(
        self,
        config: Config,
        observer: Observer | None = None,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self._config = config
        self._progress = progress
        self._observer = observer or Observer(config)
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._tz = ZoneInfo(config.agent.timezone)

    def review(self, plan: Plan) -> Plan:
        """Give each step of a plan the policy's decision and its reason."""
        _ = translator(plan.intent.lang).gettext
        steps = []
        decision: Decision
        for step in plan.steps:
            if step.action in READ_ONLY_ACTIONS:
                decision, reason = "allow", _("read-only: it changes nothing on the machine")
            else:
                decision, reason = "deny", _("no such action is available yet")
            steps.append(attrs.evolve(step, decision=decision, reason=reason))
        return attrs.evolve(plan, steps=tuple(steps))

    def run(self, plan: Plan) -> Outcome:
        """Run the steps of a plan that the policy allows.

        Raises:
            SourceError: A log source is missing or unreadable.
            RequestError: A step has arguments it cannot use.
        """
        results: list[StepResult] = []
        skipped: list[Step] = []
        # Decisions are always taken here: a plan's own verdicts are not trusted.
        for step in self.review(plan).steps:
            if step.decision != "allow" or step.action not in READ_ONLY_ACTIONS:
                skipped.append(step)
                continue
            results.append(self._probe(step, plan.intent.lang))
        return Outcome(tuple(results), tuple(skipped))

    def _probe(self, step: Step, lang: str) -> StepResult:
        args = step.args
        if step.action == "logs.summarize":
            summary = self.summarize_logs(
                str(args.get("source", "nginx")),
                since=args.get("since"),
                status=args.get("status"),
                files=args.get("files"),
            )
            text = render_access(summary, lang)
            return StepResult(step.action, {**summary.to_dict(), "text": text}, text)
        snapshot = take_snapshot()
        text = render_system(snapshot, lang, args.get("metric"))
        return StepResult(step.action, {**snapshot.to_dict(), "text": text}, text)

    def summarize_logs(
        self,
        source: str,
        *,
        since: float | None = None,
        status: int | None = None,
        files: list[str] | None = None,
        top: int = 10,
    ) -> AccessSummary:
        """Count the requests of a web source's access logs over the last ``since`` seconds.

        Args:
            source: A configured source (``nginx``, ``apache``) or an access-log path.
            since: Look-back window in seconds; ``None`` reads the whole log.
            status: Count the requests with this HTTP status as matched.
            files: Access logs to read instead of the source's configured ones.
            top: How many paths and clients to list.

        Raises:
            SourceError: No access log exists, or one cannot be read.
            RequestError: ``since`` or ``status`` is out of range.
        """
        if since is not None and not 0 < since <= 10 * 365 * 86400:
            raise RequestError(
                f"since: expected a number of seconds between 1 and ten years, got {since}"
            )
        if status is not None and not 100 <= status <= 599:
            raise RequestError(f"status: expected an HTTP status code (100-599), got {status}")
        end = self._clock().astimezone(self._tz)
        start = None if since is None else end - dt.timedelta(seconds=since)
        paths = (
            self._observer.access_files(source)
            if files is None
            else [self._observer.files(f)[0] for f in files]
        )
        counts = LineCounts()
        records = self._observer.read_access(paths, counts, start=start, progress=self._progress)
        return summarize_access(
            records,
            source=source,
            end=end,
            start=start,
            status=status,
            top=top,
            tz=self._tz,
            counts=counts,
        )
