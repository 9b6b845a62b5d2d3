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
from libhfagent.interpreter import Plan
from libhfagent.observer import take_snapshot
from libhfagent.reports import render_access, render_security, render_system

from ._convert import Kind, parse_options, to_vardict

__all__ = ["HANDLERS", "MAX_REQUEST", "Context", "NotSupported", "State"]

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
    """A configuration and the agent built from it; replaced whole on reload."""

    config: Config
    agent: Agent


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
        return cls(_load_state(config_path), config_path)


def _load_state(config_path: str | None) -> State:
    config = Config.load(config_path)
    return State(config, Agent(config))


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
    """Ask: ``hf-agent ask --json`` for the read-only plans (confirmation needs Execute)."""
    parse_options("Ask", options, {})
    agent = ctx.state.agent
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


def _missing(method: str, part: str) -> NotSupported:
    return NotSupported(
        f"{method} is not available yet: this build of libhfagent has no {part}; "
        "the method is declared and authorised, and will answer once that part lands"
    )


def execute(ctx: Context, plan_id: str, options: Mapping[str, Variant]) -> Result:
    """Execute: apply a previewed plan (needs the Executor's apply step)."""
    raise _missing("Execute", "Executor apply step (preview, confirm, apply)")


def list_suggestions(ctx: Context, options: Mapping[str, Variant]) -> Result:
    """ListSuggestions: the Learner's proposals (needs Learner suggestions)."""
    raise _missing("ListSuggestions", "Learner suggestions")


def reply_suggestion(ctx: Context, id: str, reply: str) -> Result:
    """ReplySuggestion: accept / reject / automate (needs Learner suggestions)."""
    raise _missing("ReplySuggestion", "Learner suggestions")


def read_audit(ctx: Context, options: Mapping[str, Variant]) -> Result:
    """ReadAudit: the audit log's records (needs the audit log)."""
    raise _missing("ReadAudit", "audit log")


def verify_audit(ctx: Context) -> Result:
    """VerifyAudit: the audit log's chain and signatures (needs the audit log)."""
    raise _missing("VerifyAudit", "audit log")


def reload(ctx: Context) -> Result:
    """Reload: re-read the configuration; a broken one raises and the old one stays."""
    ctx.state = _load_state(ctx.config_path)
    return None


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
