"""Runbooks: declarative answers to what the Learner signals.

A runbook is a versioned JSON file (comments allowed) under ``policy/runbooks/``
(shipped) or a folder of ``modules.runbooks.directories``::

    {
      "name": "disk-failure",
      "version": 1,
      "title": {"en": "…", "fr": "…"},
      "trigger": {"signal": "disk_risk", "key": "disk:*:critical"},
      "steps": [
        {"id": "maintenance", "action": "web.maintenance", "args": {"state": "on"}},
        {"id": "backup", "action": "backup.sync",
         "args": {"sources": "${settings.backup_paths}",
                  "destination": "${settings.backup_destination}"},
         "when": "settings.backup_destination"},
        {"id": "alert", "action": "notify", "args": {"severity": "critical"},
         "approval": false}
      ]
    }

``${…}`` in an argument is replaced by a value of the context: ``signal.*``
(the signal's kind, key, fields), ``settings.*`` (``modules.runbooks``) and
``steps.<id>.*`` (what an earlier step returned); ``current_step`` is the id of
the step running. A whole-string reference
keeps the value's type (a list stays a list). ``when`` names a context value
that must be truthy for the step to run. ``approval: true`` makes the step wait
for an administrator in interactive mode (the runner returns it as pending).

Everything here is pure: the runner calls the step functions it is given
(the agent maps actions to the Executor, the notifier, the web server…).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from .._errors import ConfigError, HFAgentError
from ..config._jsonc import format_key_path, parse_jsonc

__all__ = [
    "Runbook",
    "RunbookRun",
    "RunbookStep",
    "StepPending",
    "StepResult",
    "load_runbooks",
    "run_runbook",
]

SHIPPED = Path(__file__).resolve().parents[2] / "policy" / "runbooks"
_NAME = re.compile(r"[a-z][a-z0-9-]{0,63}")
_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.-]*)\}")
_STEP_KEYS = {"id", "action", "args", "approval", "when", "title"}
_TOP_KEYS = {"name", "version", "title", "description", "trigger", "steps"}


@attrs.frozen
class RunbookStep:
    """One typed step.

    Attributes:
        id: Unique in the runbook.
        action: What to do (an Executor action id, ``notify``, ``web.maintenance``,
            ``firewall.ban``, ``request``…).
        args: Arguments, with ``${…}`` references.
        approval: Whether an administrator must approve it in interactive mode.
        when: A context path that must be truthy for the step to run, or empty.
    """

    id: str
    action: str
    args: Mapping[str, Any]
    approval: bool = False
    when: str = ""


@attrs.frozen
class Runbook:
    """A runbook file.

    Attributes:
        name: Its name (also the file's stem).
        version: Its version (an integer, raised on every change).
        title: Title by language (``en``, ``fr``).
        signal: The Learner signal kind that triggers it.
        key: A glob on the signal key (``*`` for any).
        steps: The steps, in order.
        origin: The file it was read from.
    """

    name: str
    version: int
    title: Mapping[str, str]
    signal: str
    key: str
    steps: tuple[RunbookStep, ...]
    origin: str

    def matches(self, kind: str, key: str) -> bool:
        """Whether a signal of ``kind`` with ``key`` triggers this runbook."""
        return kind == self.signal and fnmatch.fnmatchcase(key, self.key)


def _fail(origin: str, doc: Any, path: tuple[str | int, ...], message: str) -> ConfigError:
    line = doc.line_of(path)
    where = format_key_path(path) or "(top)"
    suffix = f" (line {line})" if line else ""
    return ConfigError(f"{origin}: {where}: {message}{suffix}")


def parse_runbook(text: str, origin: str) -> Runbook:
    """Read one runbook file's text.

    Raises:
        ConfigError: The file is not a valid runbook (names the key and line).
    """
    doc = parse_jsonc(text, origin=origin)
    data = doc.value
    if not isinstance(data, dict):
        raise _fail(origin, doc, (), "expected a JSON object")
    for key in data:
        if key not in _TOP_KEYS:
            raise _fail(
                origin, doc, (key,), f"unknown key (expected {', '.join(sorted(_TOP_KEYS))})"
            )
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise _fail(origin, doc, ("name",), "expected a lowercase name (letters, digits, '-')")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _fail(origin, doc, ("version",), "expected a version number (1 or more)")
    title = data.get("title", {})
    if not isinstance(title, dict) or not all(isinstance(v, str) for v in title.values()):
        raise _fail(origin, doc, ("title",), 'expected {"en": "…", "fr": "…"}')
    trigger = data.get("trigger")
    if not isinstance(trigger, dict) or not isinstance(trigger.get("signal"), str):
        raise _fail(origin, doc, ("trigger",), 'expected {"signal": KIND, "key": GLOB}')
    key = trigger.get("key", "*")
    if not isinstance(key, str):
        raise _fail(origin, doc, ("trigger", "key"), "expected a glob string")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise _fail(origin, doc, ("steps",), "expected a non-empty list of steps")
    steps = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_steps):
        here: tuple[str | int, ...] = ("steps", index)
        if not isinstance(raw, dict):
            raise _fail(origin, doc, here, "expected an object")
        for k in raw:
            if k not in _STEP_KEYS:
                raise _fail(origin, doc, (*here, k), "unknown key")
        step_id, action = raw.get("id"), raw.get("action")
        if not isinstance(step_id, str) or not _NAME.fullmatch(step_id) or step_id in seen:
            raise _fail(origin, doc, (*here, "id"), "expected a unique lowercase id")
        if not isinstance(action, str) or not action:
            raise _fail(origin, doc, (*here, "action"), "expected an action id")
        args = raw.get("args", {})
        if not isinstance(args, dict):
            raise _fail(origin, doc, (*here, "args"), "expected an object")
        approval = raw.get("approval", False)
        if not isinstance(approval, bool):
            raise _fail(origin, doc, (*here, "approval"), "expected true/false")
        when = raw.get("when", "")
        if not isinstance(when, str):
            raise _fail(origin, doc, (*here, "when"), "expected a context path")
        seen.add(step_id)
        steps.append(RunbookStep(step_id, action, args, approval, when))
    return Runbook(name, version, title, trigger["signal"], key, tuple(steps), origin)


def load_runbooks(directories: Iterable[str | Path] = ()) -> list[Runbook]:
    """The shipped runbooks, then those of ``directories`` (a later one replaces a
    shipped one of the same name). Missing folders are skipped.

    Raises:
        ConfigError: A file is not a valid runbook.
    """
    found: dict[str, Runbook] = {}
    for folder in (SHIPPED, *map(Path, directories)):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.json")):
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
            runbook = parse_runbook(text, str(path))
            found[runbook.name] = runbook
    return list(found.values())


def lookup(context: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted ``path`` of ``context`` (None when absent)."""
    value: Any = context
    for part in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list | tuple) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def resolve(value: Any, context: Mapping[str, Any]) -> Any:
    """``value`` with its ``${…}`` references replaced from ``context``."""
    if isinstance(value, str):
        whole = _REF.fullmatch(value)
        if whole:
            return lookup(context, whole.group(1))
        return _REF.sub(
            lambda m: "" if (v := lookup(context, m.group(1))) is None else str(v), value
        )
    if isinstance(value, Mapping):
        return {k: resolve(v, context) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [resolve(v, context) for v in value]
    return value


@attrs.frozen
class StepResult:
    """What one step did.

    Attributes:
        id: The step.
        action: Its action.
        status: ``done``, ``skipped`` (its ``when`` was false), ``pending``
            (waits for approval) or ``failed``.
        args: Its resolved arguments.
        output: What the step function returned (JSON-able), or the error text.
    """

    id: str
    action: str
    status: str
    args: Mapping[str, Any]
    output: Any = None


@attrs.frozen
class RunbookRun:
    """One run of a runbook.

    Attributes:
        runbook: Its name and version (``disk-failure@1``).
        results: Each step's result, in order; the run stops at the first
            failed or pending step.
    """

    runbook: str
    results: tuple[StepResult, ...]

    @property
    def status(self) -> str:
        """``done``, ``pending`` or ``failed`` (the last step's, if not done)."""
        last = self.results[-1].status if self.results else "done"
        return last if last in ("pending", "failed") else "done"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "runbook": self.runbook,
            "status": self.status,
            "steps": [attrs.asdict(r) for r in self.results],
        }


StepFn = Callable[[Mapping[str, Any], Mapping[str, Any]], Any]
PendingFn = Callable[[RunbookStep, Mapping[str, Any], Mapping[str, Any]], Any]


class StepPending(Exception):
    """Raised by a step function: the step needs an administrator's approval first.

    Args:
        output: What the administrator needs to approve it (a plan id to execute…).
    """

    def __init__(self, output: Any) -> None:
        super().__init__("waiting for approval")
        self.output = output


def run_runbook(
    runbook: Runbook,
    context: Mapping[str, Any],
    actions: Mapping[str, StepFn],
    *,
    interactive: bool,
    approved: Iterable[str] = (),
    on_pending: PendingFn | None = None,
) -> RunbookRun:
    """Run the steps in order.

    Args:
        runbook: What to run.
        context: ``signal`` and ``settings`` (see the module docstring).
        actions: Action id → function(args, context) returning a JSON-able result
            (raising :class:`HFAgentError` or OSError to fail the step).
        interactive: Steps needing approval stop the run as ``pending`` unless approved.
        approved: Step ids an administrator approved.
        on_pending: Called with a step that waits for approval, its arguments and
            the context; what it returns (e.g. the previewed plan to execute) is the
            pending step's output. A step function may also raise
            :class:`StepPending` (the policy wants a confirmation).
    """
    ctx: dict[str, Any] = {**context, "steps": {}}
    results: list[StepResult] = []
    allowed = set(approved)
    for step in runbook.steps:
        args = resolve(dict(step.args), ctx)
        if step.when and not lookup(ctx, step.when):
            results.append(StepResult(step.id, step.action, "skipped", args))
            continue
        if step.approval and interactive and step.id not in allowed:
            output = None
            if on_pending is not None:
                try:
                    output = on_pending(step, args, ctx)
                except (HFAgentError, OSError, ValueError) as exc:
                    results.append(StepResult(step.id, step.action, "failed", args, str(exc)))
                    break
            results.append(StepResult(step.id, step.action, "pending", args, output))
            break
        function = actions.get(step.action)
        ctx["current_step"] = step.id
        if function is None:
            results.append(
                StepResult(step.id, step.action, "failed", args, f"unknown action {step.action!r}")
            )
            break
        try:
            output = function(args, ctx)
        except StepPending as pending:
            results.append(StepResult(step.id, step.action, "pending", args, pending.output))
            break
        except (HFAgentError, OSError, ValueError) as exc:
            results.append(StepResult(step.id, step.action, "failed", args, str(exc)))
            break
        ctx["steps"][step.id] = output
        results.append(StepResult(step.id, step.action, "done", args, output))
    return RunbookRun(f"{runbook.name}@{runbook.version}", tuple(results))
