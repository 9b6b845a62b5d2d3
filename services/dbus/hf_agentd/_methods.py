"""One function per method of ``org.huggingface.Agent1``: convert, call the library, convert.

Each function takes the :class:`Context` and the call's arguments (already
authorised, signature already checked) and returns the reply's single value, or
``None`` for a method without one. They run in a worker thread, never on the
bus loop, and raise the library's errors (each names its D-Bus error).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import ClassVar, Final

import attrs
from dbus_fast import Variant

from libhfagent import Agent, Config, HFAgentError, RequestError, SourceError, __version__
from libhfagent._i18n import fmt_int, translator
from libhfagent.executor._audit import AuditLog
from libhfagent.executor._render import render_outcome
from libhfagent.interpreter import Plan
from libhfagent.learner import Learner
from libhfagent.observer import take_snapshot
from libhfagent.reports import render_access, render_security, render_system

from ._convert import Kind, parse_options, to_vardict

__all__ = [
    "HANDLERS",
    "MAX_REQUEST",
    "WANTS_CALLER",
    "Context",
    "NotSupported",
    "State",
    "state_for",
]

#: Longest request accepted, in characters (a request is a sentence, not a document).
MAX_REQUEST: Final = 4096

_WEB: Final = frozenset({"nginx", "apache"})
_AUTH: Final = frozenset({"auth", "ssh", "security"})
_SYSTEM: Final = "system"


class NotSupported(HFAgentError):
    """The method is declared and authorised, but the library part it needs is not built."""

    dbus_name: ClassVar[str] = "org.huggingface.Agent1.Error.NotSupported"


@attrs.frozen
class State:
    """A configuration and the agents built from it; replaced whole on reload.

    Attributes:
        config: The configuration.
        agent: The agent under that configuration.
        asker: The agent ``Ask`` uses: the same one, except in ``auto`` mode, where
            it is built with ``interactive`` so that ``Ask`` (the ``analyze`` right)
            previews changes but never applies them; applying needs ``Execute``.
    """

    config: Config
    agent: Agent
    asker: Agent


@attrs.define
class Context:
    """What the methods share: the current state and where the configuration comes from.

    Attributes:
        state: The configuration in use and its agent.
        config_path: ``--config``, or ``None`` for the usual lookup.
        started: ``time.monotonic()`` at start-up.
    """

    state: State
    config_path: str | None = None
    started: float = attrs.field(factory=time.monotonic)

    @classmethod
    def load(cls, config_path: str | None) -> Context:
        """Read the configuration and build the agent.

        Raises:
            ConfigError: The configuration cannot be read or is wrong.
        """
        return cls(state_for(Config.load(config_path)), config_path)


def state_for(config: Config) -> State:
    """The agents the methods use under ``config``."""
    agent = Agent(config)
    if config.agent.user_mode == "interactive":
        return State(config, agent, agent)
    interactive = attrs.evolve(config, agent=attrs.evolve(config.agent, user_mode="interactive"))
    return State(config, agent, Agent(interactive))


Result = dict[str, Variant] | list[dict[str, Variant]] | None


def _request(method: str, request: str) -> str:
    if not request.strip():
        raise RequestError(f"{method}: the request is empty; say what to do, in French or English")
    if len(request) > MAX_REQUEST:
        raise RequestError(
            f"{method}: the request is {len(request)} characters long; "
            f"at most {MAX_REQUEST} are accepted"
        )
    return request


def interpret(ctx: Context, request: str, options: Mapping[str, Variant]) -> Result:
    """Interpret: the plan of ``hf-agent plan --json``; changes nothing."""
    parse_options("Interpret", options, {})
    return to_vardict(ctx.state.agent.plan(_request("Interpret", request)).to_dict())


def get_status(ctx: Context) -> Result:
    """GetStatus: version, mode, model, health."""
    config = ctx.state.config
    problems = []
    state_dir = config.agent.state_dir
    if not os.path.isdir(state_dir):
        problems.append(f"state directory {state_dir} does not exist")
    elif not os.access(state_dir, os.W_OK):
        problems.append(f"state directory {state_dir} is not writable")
    return to_vardict(
        {
            "version": __version__,
            "mode": config.agent.user_mode,
            "model": config.modules.nlp.model,
            "language": config.agent.language,
            "config": config.origin,
            "health": "degraded" if problems else "ok",
            "problems": problems,
            "uptime": round(time.monotonic() - ctx.started, 3),
        }
    )


_LOG_OPTIONS: Final[Mapping[str, Kind]] = {"since": "seconds", "lang": "lang"}
_WEB_OPTIONS: Final[Mapping[str, Kind]] = {**_LOG_OPTIONS, "status": "int", "top": "int"}
_AUTH_OPTIONS: Final[Mapping[str, Kind]] = {
    **_LOG_OPTIONS,
    "max_retry": "int",
    "find_time": "seconds",
    "ignore_successful": "bool",
}
_SYSTEM_OPTIONS: Final[Mapping[str, Kind]] = {"lang": "lang", "metric": "str"}


def analyze(ctx: Context, source: str, options: Mapping[str, Variant]) -> Result:
    """Analyze: the report of ``hf-agent logs summarize`` / ``security scan`` / system status.

    ``source`` is a configured source name, ``system``, or the path of a file that
    belongs to a configured source (the service runs as root: it reads no other file).
    """
    state = ctx.state
    executor, observer = state.agent.executor, state.agent.observer
    if source == _SYSTEM:
        opts = parse_options("Analyze", options, _SYSTEM_OPTIONS)
        lang = opts.get("lang", state.config.agent.language)
        snapshot = take_snapshot()
        text = render_system(snapshot, lang, opts.get("metric"))
        return to_vardict({**snapshot.to_dict(), "text": text})
    kind, files = _classify(state.config, source)
    if kind == "auth":
        opts = parse_options("Analyze", options, _AUTH_OPTIONS)
        lang = opts.pop("lang", state.config.agent.language)
        scan = executor.scan_security(files=files, **opts)
        text = render_security(scan, lang)
        return to_vardict({**scan.to_dict(), "text": text})
    opts = parse_options("Analyze", options, _WEB_OPTIONS)
    lang = opts.pop("lang", state.config.agent.language)
    if files is None:
        observer.access_files(source)  # unknown source names fail here, with the known ones
    summary = executor.summarize_logs(source if files is None else files[0], files=files, **opts)
    text = render_access(summary, lang)
    return to_vardict({**summary.to_dict(), "text": text})


def _classify(config: Config, source: str) -> tuple[str, list[str] | None]:
    """``("auth"|"web", files)``: the kind of a source, and the file when it is a path."""
    if not source.startswith("/"):
        return ("auth" if source in _AUTH else "web"), None
    owner = _owner(config, source)
    if owner is None:
        raise SourceError(
            f"{source[:200]}: not a file of a configured log source; the service reads only "
            "the files of modules.monitoring.sources and files_to_watch",
            path=source[:200],
        )
    return ("auth" if owner in _AUTH else "web"), [os.path.normpath(source)]


def _owner(config: Config, path: str) -> str | None:
    """The configured source a file belongs to, if any."""
    from libhfagent.observer import Observer

    observer = Observer(config)
    wanted = os.path.normpath(path)
    for name in observer.source_names():
        if wanted in {str(p) for p in observer.files(name)}:
            return name
    if wanted in config.modules.monitoring.files_to_watch:
        return "syslog"
    return None


def ask(ctx: Context, request: str, options: Mapping[str, Variant]) -> Result:
    """Ask: ``hf-agent ask --json``; changes are previewed, never applied (``Execute`` does).

    A plan that changes the machine comes back with its preview (``preview``) and the
    id to give ``Execute`` (``outcome.plan_id``, ``outcome.pending``).
    """
    parse_options("Ask", options, {})
    agent = ctx.state.asker
    _check_sources(ctx.state.config, agent.plan(_request("Ask", request)))
    return to_vardict(agent.ask(request).to_dict())


def _check_sources(config: Config, plan: Plan) -> None:
    """Refuse plans that would read a file outside the configured sources."""
    for step in plan.steps:
        for key in ("source", "files"):
            value = step.args.get(key)
            paths = value if isinstance(value, list) else [value]
            for path in paths:
                if isinstance(path, str) and path.startswith("/") and not _owner(config, path):
                    raise SourceError(
                        f"{path[:200]}: not a file of a configured log source; the service "
                        "reads only the files of modules.monitoring.sources and files_to_watch",
                        path=path[:200],
                    )


#: Who a change is attributed to in the audit log when the daemon names no caller.
_SERVICE_ACTOR: Final = "hf-agentd"

_EXECUTE_OPTIONS: Final[Mapping[str, Kind]] = {"lang": "lang"}


def _actor(caller: Mapping[str, object] | None) -> dict[str, object]:
    """The audit record's ``actor``: the D-Bus caller when known, else the service's uid."""
    actor: dict[str, object] = {"uid": os.getuid()}
    if caller:
        actor.update(caller)
    actor["via"] = _SERVICE_ACTOR
    return actor


def execute(
    ctx: Context,
    plan_id: str,
    options: Mapping[str, Variant],
    *,
    caller: Mapping[str, object] | None = None,
) -> Result:
    """Execute: ``hf-agent execute --json``, apply exactly the plan previewed under ``plan_id``.

    ``caller`` (``uid``, ``bus_name``), when the daemon passes it, is recorded as the
    audit records' actor. A plan whose files changed since the preview is refused
    (``PreviewOutdated``, an ``ExecutionError``); one the policy now denies too.
    """
    opts = parse_options("Execute", options, _EXECUTE_OPTIONS)
    if not plan_id.strip() or len(plan_id) > 64:
        raise RequestError(
            f"Execute: {plan_id[:64]!r} is not a plan id; give the 16 hex digits printed by "
            "Ask or hf-agent preview"
        )
    executor = ctx.state.agent.executor
    record = executor.plans.load(plan_id)
    lang = opts.get("lang") or record.plan.get("lang") or ctx.state.config.agent.language
    outcome = executor.apply(plan_id, actor=_actor(caller))
    return to_vardict({**outcome.to_dict(), "text": render_outcome(outcome, lang)})


_STATUSES: Final = ("proposed", "accepted", "automated", "rejected")
_SUGGESTION_OPTIONS: Final[Mapping[str, Kind]] = {"status": "str", "lang": "lang"}


def list_suggestions(ctx: Context, options: Mapping[str, Variant]) -> Result:
    """ListSuggestions: ``hf-agent suggestions --json``'s list, most confident first."""
    opts = parse_options("ListSuggestions", options, _SUGGESTION_OPTIONS)
    status = opts.get("status")
    if status is not None and status not in _STATUSES:
        raise RequestError(
            f'ListSuggestions: option "status" must be one of {", ".join(_STATUSES)}, '
            f"got {status[:40]!r}"
        )
    lang = opts.get("lang", ctx.state.config.agent.language)
    learner = Learner.open(ctx.state.config)
    try:
        found = learner.suggestions(status)
    finally:
        learner.close()
    return [to_vardict(s.to_dict(lang)) for s in found]


def reply_suggestion(ctx: Context, id: str, reply: str) -> Result:
    """ReplySuggestion: accept / reject / automate / expected; the suggestion as it is now."""
    learner = Learner.open(ctx.state.config)
    try:
        changed = learner.reply(id[:64], reply[:32])
    finally:
        learner.close()
    return to_vardict(changed.to_dict(ctx.state.config.agent.language))


_AUDIT_OPTIONS: Final[Mapping[str, Kind]] = {"last": "int"}


def _audit_log(ctx: Context) -> AuditLog:
    return AuditLog(ctx.state.config.agent.state_dir, journal=False)


def read_audit(ctx: Context, options: Mapping[str, Variant]) -> Result:
    """ReadAudit: ``hf-agent audit show --json``, oldest first (``last``: the last N)."""
    opts = parse_options("ReadAudit", options, _AUDIT_OPTIONS)
    last = opts.get("last")
    if last is not None and last < 0:
        raise RequestError(f'ReadAudit: option "last" must be 0 or more, got {last}')
    return [to_vardict(r) for r in _audit_log(ctx).read(last=last)]


def verify_audit(ctx: Context) -> Result:
    """VerifyAudit: ``hf-agent audit verify --json`` (chain and signatures) plus a ``text``."""
    result = _audit_log(ctx).verify()
    lang = ctx.state.config.agent.language
    t = translator(lang)
    count = fmt_int(result.records, lang)
    first_bad = None
    if result.ok:
        text = t.ngettext(
            "%(count)s record verified", "%(count)s records verified", result.records
        ) % {"count": count}
    else:
        first_bad = {
            "line": result.first_bad_line,
            "seq": result.first_bad_seq,
            "reason": result.reason,
        }
        seq = "?" if result.first_bad_seq is None else fmt_int(result.first_bad_seq, lang)
        text = t.gettext(
            "The audit log does not verify: line %(line)s (seq %(seq)s): %(reason)s"
        ) % {
            "line": fmt_int(result.first_bad_line or 0, lang),
            "seq": seq,
            "reason": result.reason,
        }
    return to_vardict(
        {"ok": result.ok, "records": result.records, "first_bad": first_bad, "text": text}
    )


def reload(ctx: Context) -> Result:
    """Reload: re-read the configuration; a broken one raises and the old one stays."""
    ctx.state = state_for(Config.load(ctx.config_path))
    return None


#: Methods whose implementation takes ``caller={"uid": …, "bus_name": …}`` (the audit's actor).
WANTS_CALLER: Final = frozenset({"Execute"})

#: Method name to its implementation.
HANDLERS: Final[Mapping[str, Callable[..., Result]]] = {
    "Interpret": interpret,
    "GetStatus": get_status,
    "Analyze": analyze,
    "Ask": ask,
    "Execute": execute,
    "ListSuggestions": list_suggestions,
    "ReplySuggestion": reply_suggestion,
    "ReadAudit": read_audit,
    "VerifyAudit": verify_audit,
    "Reload": reload,
}
