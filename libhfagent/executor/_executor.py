"""The Executor: the policy's verdict on each step, the preview, applying it, undoing it.

Read-only steps run at once (:meth:`Executor.run`). Steps that change the machine are
previewed over a copy-on-write overlay (:meth:`Executor.preview`), which keeps the
plan under an id; :meth:`Executor.apply` then runs exactly that plan, after checking
that the files are still as previewed and writing an audit record before each step;
:meth:`Executor.undo` reverses what can be reversed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, cast
from zoneinfo import ZoneInfo

import attrs

from .._errors import AuditError, ExecutionError, HFAgentError, PolicyDenied, RequestError
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
from ._actions import ACTIONS, ActionContext, changes_system, get_action
from ._plans import PlanRecord, PlanStore, canonical_plan, changed_since, plan_id_of
from ._preview import Preview, PreviewEntry, run_preview
from ._probes import disk_health, render_probe

__all__ = [
    "Executor",
    "Outcome",
    "PreviewOutdated",
    "PreviewedPlan",
    "StepResult",
    "UndoReport",
]


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
    plan_id: str = ""
    failed: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The ``outcome`` object of ``hf-agent ask --json``."""
        return {
            "applied": [r.action for r in self.results if r.applied],
            "ran": [r.action for r in self.results],
            "skipped": [s.to_dict() for s in self.skipped],
            "plan_id": self.plan_id or None,
            "failed": self.failed or None,
        }


class PreviewOutdated(ExecutionError):
    """The files a plan concerns changed since its preview: it was not applied.

    Attributes:
        changes: What changed, one line per file.
    """

    def __init__(self, message: str, changes: Sequence[str]) -> None:
        super().__init__(message)
        self.changes = tuple(changes)


@attrs.frozen
class PreviewedPlan:
    """A plan previewed and kept under its id, ready to apply.

    Attributes:
        plan_id: ``sha256(canonical plan + preview digest)[:16]``.
        preview: The exact changes, as seen over the overlay.
        steps: The concrete steps (file selections made explicit).
        decisions: The policy's decision and reason for each step.
    """

    plan_id: str
    preview: Preview
    steps: tuple[tuple[str, Mapping[str, Any]], ...]
    decisions: tuple[tuple[str, str], ...]

    @property
    def refused(self) -> str:
        """Why the plan is refused after its preview (a limit exceeded); empty when it is not.

        A refused plan is kept under its id but is never applied.
        """
        return "; ".join(r for d, r in self.decisions if d == "deny")

    @property
    def needs_confirmation(self) -> bool:
        """Whether a step waits for a confirmation (a refused plan never runs at all)."""
        return any(d == "confirm" for d, _ in self.decisions)

    def to_dict(self, max_entries: int = 200) -> dict[str, Any]:
        """JSON-ready form (at most ``max_entries`` entries listed)."""
        data = self.preview.to_dict()
        total = len(data["entries"])
        data["entries"] = data["entries"][:max_entries]
        data["entries_total"] = total
        return {
            "plan_id": self.plan_id,
            "refused": self.refused or None,
            "steps": [
                {"action": a, "args": dict(args), "decision": d, "reason": r}
                for (a, args), (d, r) in zip(self.steps, self.decisions, strict=True)
            ],
            "preview": data,
        }


@attrs.frozen
class UndoReport:
    """What undoing a plan did.

    Attributes:
        plan_id: The plan.
        undone: ``(action, what was done)`` for each step reversed.
        not_undone: ``(action, why not)`` for each step that cannot be.
    """

    plan_id: str
    undone: tuple[tuple[str, str], ...] = ()
    not_undone: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "plan_id": self.plan_id,
            "undone": [list(u) for u in self.undone],
            "not_undone": [list(u) for u in self.not_undone],
        }


class _Decision(Protocol):
    @property
    def decision(self) -> str: ...

    @property
    def reasons(self) -> Sequence[str]: ...


class _PolicyLike(Protocol):
    def decide(
        self, step: Step, *, confidence: float, sandbox_level: str, user_mode: str
    ) -> _Decision: ...


class _AuditLike(Protocol):
    def append(self, record: Mapping[str, Any]) -> Any: ...


@attrs.frozen
class _FallbackDecision:
    decision: str
    reasons: tuple[str, ...]


class _FallbackPolicy:
    """Used until ``executor/_policy.py`` exists: read-only allowed, changes confirmed."""

    def decide(
        self, step: Step, *, confidence: float, sandbox_level: str, user_mode: str
    ) -> _FallbackDecision:
        action = ACTIONS.get(step.action)
        if step.action in READ_ONLY_ACTIONS:
            return _FallbackDecision("allow", ("read-only: it changes nothing on the machine",))
        if action is None:
            return _FallbackDecision("deny", ("no such action is available yet",))
        try:
            action.check(step.args)
        except RequestError as exc:
            return _FallbackDecision("deny", (str(exc),))
        if not changes_system(step.action, step.args):
            return _FallbackDecision("allow", ("read-only: it changes nothing on the machine",))
        if sandbox_level == "strict" or user_mode == "interactive":
            return _FallbackDecision(
                "confirm", ("it changes the machine: confirm after the preview",)
            )
        return _FallbackDecision("allow", ("permissive sandbox and auto mode",))


class _FallbackAudit:
    """Used until ``executor/_audit.py`` exists: JSON lines, fsynced before returning."""

    def __init__(self, state_dir: Path) -> None:
        self._path = Path(state_dir) / "audit.jsonl"

    def append(self, record: Mapping[str, Any]) -> Mapping[str, Any]:
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (json.dumps(dict(record), ensure_ascii=False) + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise AuditError(
                f"audit: cannot write {self._path}: {exc.strerror}; nothing was done"
            ) from exc
        return record


def _policy_for(config: Config) -> _PolicyLike:
    try:
        from . import _policy  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return _FallbackPolicy()
    policy: _PolicyLike = _policy.Policy.load(config)
    return policy


def _audit_for(state_dir: Path) -> _AuditLike:
    try:
        from . import _audit  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return _FallbackAudit(state_dir)
    audit: _AuditLike = _audit.AuditLog(state_dir)
    return audit


#: Sources whose logs are web access logs.
_WEB_SOURCES = frozenset({"nginx", "apache"})

#: Actions that read the machine and never change it, run by the Executor itself.
READ_ONLY_ACTIONS = frozenset(
    {"logs.summarize", "security.audit", "system.status", "resources.optimize"}
)


class Executor:
    """Checks plans against the policy, runs read-only steps, previews, applies and undoes.

    Args:
        config: The agent configuration.
        observer: Where probes read the machine.
        clock: Returns the current time, timezone-aware.
        progress: Called with the number of lines read so far during long reads
            (the command line shows it).
        policy: Decides on each step (default: ``Policy.load(config)``).
        audit: Where records are appended before and after each change (default:
            the audit log of the state directory).
    """

    def __init__(
        self,
        config: Config,
        observer: Observer | None = None,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        progress: Callable[[int], None] | None = None,
        policy: _PolicyLike | None = None,
        audit: _AuditLike | None = None,
    ) -> None:
        self._config = config
        self._progress = progress
        self._observer = observer or Observer(config)
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._tz = ZoneInfo(config.agent.timezone)
        self.state_dir = Path(config.agent.state_dir)
        self._policy = policy
        self._audit = audit
        self.plans = PlanStore(self.state_dir)

    @property
    def policy(self) -> _PolicyLike:
        """The policy in force."""
        if self._policy is None:
            self._policy = _policy_for(self._config)
        return self._policy

    @property
    def audit(self) -> _AuditLike:
        """The audit log."""
        if self._audit is None:
            self._audit = _audit_for(self.state_dir)
        return self._audit

    def _decide(self, step: Step, confidence: float) -> tuple[str, str]:
        verdict = self.policy.decide(
            step,
            confidence=confidence,
            sandbox_level=self._config.security.sandbox_level,
            user_mode=self._config.agent.user_mode,
        )
        return str(verdict.decision), "; ".join(verdict.reasons)

    def review(self, plan: Plan) -> Plan:
        """Give each step of a plan the policy's decision and its reason."""
        _ = translator(plan.intent.lang).gettext
        steps = []
        for step in plan.steps:
            decision, reason = self._decide(step, plan.intent.confidence)
            steps.append(
                attrs.evolve(
                    step,
                    decision=cast(Decision, decision),
                    reason=_(reason),
                    changes_system=changes_system(step.action, step.args),
                )
            )
        return attrs.evolve(plan, steps=tuple(steps))

    def run(self, plan: Plan) -> Outcome:
        """Run the read-only steps of a plan that the policy allows.

        Steps that change the machine are left in ``skipped``: they go through
        :meth:`preview` and :meth:`apply`.

        Raises:
            SourceError: A log source is missing or unreadable.
            RequestError: A step has arguments it cannot use.
        """
        results: list[StepResult] = []
        skipped: list[Step] = []
        # Decisions are always taken here: a plan's own verdicts are not trusted.
        for step in self.review(plan).steps:
            readable = step.action in READ_ONLY_ACTIONS or (
                step.action in ACTIONS and not changes_system(step.action, step.args)
            )
            if step.decision != "allow" or not readable:
                skipped.append(step)
                continue
            results.append(self._probe(step, plan.intent.lang))
        return Outcome(tuple(results), tuple(skipped))

    # -- preview, apply, undo ------------------------------------------------------------

    def preview(self, plan: Plan) -> PreviewedPlan | None:
        """Preview the steps of a plan that change the machine and keep the plan under its id.

        Denied steps are left out; ``None`` when no step is left.

        Raises:
            NotAuthorized: Not running as root (the preview needs it); nothing changed.
            RequestError: A step's arguments are refused; nothing changed.
            ExecutionError: The sandbox could not be set up.
        """
        reviewed = self.review(plan)
        now = time.time()
        ctx = ActionContext(self.state_dir, "preview", now, previewing=True)
        steps: list[tuple[str, dict[str, Any]]] = []
        decisions: list[tuple[str, str]] = []
        touched: list[str] = []
        simulable: list[bool] = []
        known: dict[int, Mapping[str, Any]] = {}
        for step in reviewed.steps:
            if step.decision == "deny" or not changes_system(step.action, step.args):
                continue
            action = get_action(step.action)
            args = action.resolve(action.check(step.args), ctx)
            index = len(steps)
            steps.append((step.action, args))
            decisions.append((str(step.decision), step.reason))
            touched.extend(action.touches(args).paths)
            simulable.append(action.simulable)
            if not action.simulable:
                known[index] = self._known(step.action, args)
        if not steps:
            return None
        preview = run_preview(
            steps,
            state_dir=self.state_dir,
            touched=touched,
            strict=self._config.security.sandbox_level == "strict",
            known=known,
            simulable=simulable,
            now=now,
        )
        for index, reasons in self._limit_refusals(steps, preview.entries).items():
            decisions[index] = ("deny", "; ".join(reasons))
        canonical = canonical_plan(plan.intent.request, plan.intent.lang, plan.intent.intent, steps)
        plan_id = plan_id_of(canonical, preview.digest)
        refused = any(d == "deny" for d, _ in decisions)
        self.plans.save(
            PlanRecord(
                plan_id,
                canonical,
                preview,
                tuple(decisions),
                state="refused" if refused else "previewed",
            )
        )
        return PreviewedPlan(plan_id, preview, tuple(steps), tuple(decisions))

    def _limit_refusals(
        self,
        steps: Sequence[tuple[str, Mapping[str, Any]]],
        entries: Sequence[PreviewEntry],
    ) -> dict[int, list[str]]:
        """The policy's limits against what the preview changes for each step.

        Returns:
            For each step that exceeds a limit (by index), the reasons.
        """
        check = getattr(self.policy, "check_limits", None)
        if check is None:
            return {}
        files, freed = _per_step(steps, entries)
        refusals: dict[int, list[str]] = {}
        for index, (action_id, _args) in enumerate(steps):
            verdict = check(action_id, files=files[index], bytes=max(freed[index], 0))
            if str(verdict.decision) == "deny":
                refusals[index] = [str(r) for r in verdict.reasons]
        return refusals

    @staticmethod
    def _known(action: str, args: Mapping[str, Any]) -> dict[str, Any]:
        """What is known of a step that cannot be simulated."""
        try:
            if action.startswith("service."):
                from ._systemd import Systemd

                return {"unit": Systemd().unit_state(args["service"]).to_dict()}
            if action == "firewall.ban":
                from ._firewall import FirewallBan

                return FirewallBan().known(args)
            if action == "packages.update":
                from ._packages import apply_argv, simulate_upgrade

                pending = simulate_upgrade()
                chosen = [u for u in pending if args["mode"] == "all" or u.security]
                return {
                    "simulation": "apt-get -s upgrade",
                    "updates": [u.to_dict() for u in chosen],
                    "command": apply_argv(pending, args["mode"]),
                }
        except HFAgentError as exc:
            return {"error": str(exc)}
        return {}

    def apply(self, plan_id: str, *, actor: Mapping[str, Any] | None = None) -> Outcome:
        """Apply exactly the plan previewed under ``plan_id``.

        The files the preview concerns must still be as previewed; the policy is
        asked again; an audit record is written before each step and its outcome
        after; the first failing step stops the plan.

        Raises:
            RequestError: No such plan, or it was applied already.
            PreviewOutdated: The files changed since the preview (nothing was done).
            PolicyDenied: The policy now denies a step (nothing was done).
            AuditError: The audit log cannot be written (the step did not run).
        """
        record = self.plans.load(plan_id)
        if record.state == "refused":
            reasons = "; ".join(r for d, r in record.decisions if d == "deny")
            raise PolicyDenied(
                f"plan {plan_id}: the policy refused it after its preview: {reasons}; "
                "nothing was applied"
            )
        if record.state != "previewed":
            raise RequestError(f"plan {plan_id}: it was {record.state} already; preview it again")
        plan = record.plan
        if record.preview.failed:
            raise ExecutionError(
                f"plan {plan_id}: its preview failed ({record.preview.failed}); "
                "it cannot be applied"
            )
        changes = changed_since(
            record.preview.entries, ignore_under=str(self.state_dir / "quarantine")
        )
        if changes:
            shown = "; ".join(changes[:10]) + (
                f"; … {len(changes) - 10} more" if len(changes) > 10 else ""
            )
            raise PreviewOutdated(
                f"plan {plan_id}: the files changed since the preview, so it was not applied: "
                f"{shown}. Preview it again.",
                changes,
            )
        confidence = 1.0
        for action_id, args in record.steps:
            decision, reason = self._decide(Step(action_id, args, changes_system=True), confidence)
            if decision == "deny":
                raise PolicyDenied(f"plan {plan_id}: the policy denies {action_id}: {reason}")
        over = self._limit_refusals(record.steps, record.preview.entries)
        if over:
            reasons = "; ".join(r for rs in over.values() for r in rs)
            raise PolicyDenied(
                f"plan {plan_id}: the policy now refuses it: {reasons}; nothing was applied"
            )
        base = {
            "actor": dict(actor or {"uid": os.getuid()}),
            "request": plan["request"],
            "intent": plan["intent"],
            "plan_id": plan_id,
            "preview_digest": record.preview.digest,
        }
        ctx = ActionContext(self.state_dir, plan_id)
        results: list[StepResult] = []
        kept: list[dict[str, Any]] = []
        failed = ""
        for index, ((action_id, args), (decision, reason)) in enumerate(
            zip(record.steps, record.decisions, strict=True)
        ):
            step_info = {
                **base,
                "step": index,
                "action": action_id,
                "args": args,
                "decision": decision,
                "reasons": [reason] if reason else [],
            }
            self.audit.append({**step_info, "event": "apply", "time": _now_iso()})
            action = get_action(action_id)
            try:
                result = action.run(action.check(args), ctx)
            except HFAgentError as exc:
                failed = f"{action_id}: {exc}"
            except OSError as exc:
                failed = f"{action_id}: {exc}"
            if failed:
                self.audit.append(
                    {
                        **step_info,
                        "event": "outcome",
                        "outcome": "failed",
                        "error": failed,
                        "time": _now_iso(),
                    }
                )
                kept.append({"action": action_id, "error": failed})
                break
            self.audit.append(
                {
                    **step_info,
                    "event": "outcome",
                    "outcome": "done",
                    "report": _jsonable(result.report),
                    "time": _now_iso(),
                }
            )
            kept.append(
                {"action": action_id, "report": _jsonable(result.report), "undo": dict(result.undo)}
            )
            results.append(StepResult(action_id, _jsonable(result.report), "", applied=True))
        self.plans.save(
            attrs.evolve(record, state="failed" if failed else "applied", results=tuple(kept))
        )
        return Outcome(tuple(results), (), plan_id=plan_id, failed=failed)

    def undo(self, plan_id: str, *, actor: Mapping[str, Any] | None = None) -> UndoReport:
        """Reverse what an applied plan did, last step first, where it can be.

        Raises:
            RequestError: No such plan, or it was not applied.
            AuditError: The audit log cannot be written (nothing was undone).
        """
        record = self.plans.load(plan_id)
        if record.state not in ("applied", "failed"):
            raise RequestError(
                f"plan {plan_id}: it is {record.state}, not applied; there is nothing to undo"
            )
        plan = record.plan
        self.audit.append(
            {
                "actor": dict(actor or {"uid": os.getuid()}),
                "request": plan["request"],
                "intent": plan["intent"],
                "plan_id": plan_id,
                "preview_digest": record.preview.digest,
                "event": "undo",
                "time": _now_iso(),
            }
        )
        ctx = ActionContext(self.state_dir, plan_id)
        undone: list[tuple[str, str]] = []
        not_undone: list[tuple[str, str]] = []
        for (action_id, args), result in reversed(
            list(zip(record.steps, record.results, strict=False))
        ):
            action = get_action(action_id)
            if "error" in result and action_id != "files.quarantine":
                not_undone.append((action_id, "it failed: " + result["error"]))
                continue
            try:
                undone.append((action_id, action.revert(args, result.get("undo", {}), ctx)))
            except HFAgentError as exc:
                not_undone.append((action_id, str(exc)))
        state = "undone" if not not_undone else record.state
        self.plans.save(attrs.evolve(record, state=state))
        report = UndoReport(plan_id, tuple(undone), tuple(not_undone))
        self.audit.append(
            {
                "plan_id": plan_id,
                "event": "outcome",
                "outcome": "undone",
                "report": report.to_dict(),
                "time": _now_iso(),
            }
        )
        return report

    # -- read-only steps ---------------------------------------------------------------------

    def _probe(self, step: Step, lang: str) -> StepResult:
        args = step.args
        if step.action in ACTIONS:
            action = ACTIONS[step.action]
            checked = action.check(args)
            if step.action == "disk.health":
                report = disk_health(checked, learned=self._learned_disk_risks())
            else:
                report = dict(action.run(checked, ActionContext(self.state_dir, "")).report)
            text = (
                _render_packages(report, lang)
                if step.action == "packages.update"
                else render_probe(step.action, report, lang)
            )
            return StepResult(step.action, {**report, "text": text}, text)
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
        if step.action == "resources.optimize":
            return self._optimize(lang)
        snapshot = take_snapshot()
        text = render_system(snapshot, lang, args.get("metric"))
        return StepResult(step.action, {**snapshot.to_dict(), "text": text}, text)

    def _optimize(self, lang: str) -> StepResult:
        """Right-sizing advice for this machine from the Learner's usage profiles.

        Raises:
            SourceError: The Learner's database cannot be opened.
        """
        import psutil

        from ..learner import Learner
        from ..reports._advice import render_advice

        learner = Learner.open(self._config)
        try:
            advice = learner.advise(
                vcpus=float(os.cpu_count() or 1),
                memory_gib=psutil.virtual_memory().total / 2**30,
            )
        finally:
            learner.close()
        text = render_advice(advice, lang)
        return StepResult("resources.optimize", {**advice.to_dict(), "text": text}, text)

    def _learned_disk_risks(self) -> list[Any]:
        """The Learner's disk risks; none when its database cannot be read."""
        from ..learner import Learner

        try:
            learner = Learner.open(self._config)
        except (HFAgentError, OSError, ValueError):
            return []
        try:
            return list(learner.disk_risks())
        except (HFAgentError, OSError, ValueError):
            return []
        finally:
            with contextlib.suppress(HFAgentError, OSError):
                learner.close()

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


def _per_step(
    steps: Sequence[tuple[str, Mapping[str, Any]]], entries: Sequence[PreviewEntry]
) -> tuple[list[int], list[int]]:
    """Files changed (directories left out) and bytes freed by each step of a preview.

    An entry belongs to the step whose explicit file selection names it, else to the
    step that touches the closest folder above it (or the file itself).
    """
    files = [0] * len(steps)
    freed = [0] * len(steps)
    selected: dict[str, int] = {}
    roots: list[tuple[str, int]] = []
    for index, (action_id, args) in enumerate(steps):
        for path in args.get("files", ()) if isinstance(args.get("files"), list) else ():
            selected.setdefault(str(path), index)
        try:
            touched = get_action(action_id).touches(args).paths
        except (HFAgentError, KeyError, TypeError):
            touched = ()
        roots += [(os.path.normpath(p), index) for p in touched]
    roots.sort(key=lambda r: len(r[0]), reverse=True)
    for entry in entries:
        owner = selected.get(entry.path)
        if owner is None:
            owner = next(
                (
                    i
                    for root, i in roots
                    if entry.path == root or entry.path.startswith(root.rstrip("/") + "/")
                ),
                None,
            )
        if owner is None:
            continue
        if entry.kind != "dir":
            files[owner] += 1
        freed[owner] += entry.freed
    return files, freed


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def _jsonable(value: Mapping[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(dict(value), default=str))
    return data


def _render_packages(report: Mapping[str, Any], lang: str) -> str:
    _ = translator(lang).gettext
    pending = report.get("pending", [])
    security = [u for u in pending if u["security"]]
    lines = [
        _("%(count)d updates pending, %(security)d of them security updates.")
        % {"count": len(pending), "security": len(security)}
    ]
    lines += [f"  {u['name']} {u['old']} → {u['new']}" for u in security[:50]]
    return "\n".join(lines)
