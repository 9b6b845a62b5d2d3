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
from ..observer._syslog import parse_syslog_line
from ..observer._system import take_snapshot
from ..reports import (
    AccessSummary,
    SecuritySummary,
    render_access,
    render_security,
    render_system,
    summarize_access,
    summarize_auth,
)

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


#: Sources whose logs are web access logs.
_WEB_SOURCES = frozenset({"nginx", "apache"})

#: Actions that read the machine and never change it.
READ_ONLY_ACTIONS = frozenset({"logs.summarize", "security.audit", "system.status"})


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
            source = str(args.get("source", "nginx"))
            if source not in _WEB_SOURCES and not source.startswith("/"):
                raise RequestError(
                    f'summaries of the "{source}" logs are not available yet: web access '
                    "logs (nginx, apache, or a log path) and the SSH authentication log are"
                )
            summary = self.summarize_logs(
                str(args.get("source", "nginx")),
                since=args.get("since"),
                status=args.get("status"),
                files=args.get("files"),
            )
            text = render_access(summary, lang)
            return StepResult(step.action, {**summary.to_dict(), "text": text}, text)
        if step.action == "security.audit":
            scan = self.scan_security(since=args.get("since"))
            text = render_security(scan, lang)
            return StepResult(step.action, {**scan.to_dict(), "text": text}, text)
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
        self._check_since(since)
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

    def scan_security(
        self,
        *,
        since: float | None = None,
        files: list[str] | None = None,
        max_retry: int = 5,
        find_time: float = 600.0,
        ignore_successful: bool = False,
    ) -> SecuritySummary:
        """Find the SSH authentication failures and the sources that cross the threshold.

        Args:
            since: Look-back window in seconds; ``None`` reads the whole log.
            files: Authentication logs to read instead of the ``auth`` source's.
            max_retry: Failures within ``find_time`` that make an offender (fail2ban: 5).
            find_time: The threshold's window, in seconds (fail2ban: 600).
            ignore_successful: Do not report sources that also logged in successfully.

        Raises:
            SourceError: No authentication log exists, or one cannot be read.
            RequestError: An argument is out of range.
        """
        self._check_since(since)
        if max_retry < 1 or find_time <= 0:
            raise RequestError(
                f"threshold: expected at least 1 failure within a positive time, "
                f"got {max_retry} within {find_time} s"
            )
        end = self._clock().astimezone(self._tz)
        start = None if since is None else end - dt.timedelta(seconds=since)
        paths = (
            self._observer.files("auth")
            if files is None
            else [self._observer.files(f)[0] for f in files]
        )
        counts = LineCounts()
        lines = self._observer.read_lines(
            paths, counts, start=start, progress=self._progress, what="authentication log"
        )
        records = (parse_syslog_line(line, now=end, tz=self._tz) for line in lines)
        return summarize_auth(
            records,
            source="auth" if files is None else files[0],
            end=end,
            start=start,
            max_retry=max_retry,
            find_time=find_time,
            ignore_successful=ignore_successful,
            counts=counts,
        )

    @staticmethod
    def _check_since(since: float | None) -> None:
        if since is not None and not 0 < since <= 10 * 365 * 86400:
            raise RequestError(
                f"since: expected a number of seconds between 1 and ten years, got {since}"
            )
