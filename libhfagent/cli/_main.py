"""``hf-agent``: requests in French or English, analyses, configuration.

Exit status: 0 success, 1 failure, 2 bad input (a wrong argument, configuration,
file or request), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

from .. import __version__
from .._agent import Agent, Answer
from .._errors import HFAgentError, RequestError
from .._i18n import translator
from ..config import Config
from ..interpreter import detect_language

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130

_EPILOG = """\
exit status: 0 success, 1 failure, 2 bad input (argument, configuration, file or request),
130 interrupted.

examples:
  hf-agent ask "Analyse les logs de Nginx des dernières 24 heures et résume les erreurs 404"
  hf-agent ask --json "how is this machine doing?"
  hf-agent plan --json "summarize the 500 errors of the last 2 weeks"
  hf-agent logs summarize --source nginx --since 86400 --status 404
  hf-agent security scan --json --since 24h
  hf-agent config check /etc/hf-agent/hf-agent.json
"""


def _duration(text: str) -> int:
    """``86400``, ``24h``, ``7d``, ``30m``, ``2w`` → seconds."""
    m = re.fullmatch(r"\s*(\d+)\s*([smhdw]?)\s*", text)
    if m is None or int(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(
            f"expected a positive number of seconds or a duration like 24h, 7d, got {text!r}"
        )
    return (
        int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]
    )


def _status(text: str) -> int:
    if not re.fullmatch(r"[1-5]\d\d", text):
        raise argparse.ArgumentTypeError(f"expected an HTTP status code (100-599), got {text!r}")
    return int(text)


def _add_log_options(parser: argparse.ArgumentParser, what: str) -> None:
    """The options every log analysis takes: files, window, language, JSON."""
    parser.add_argument(
        "--file",
        metavar="PATH",
        action="append",
        help=f"read this {what} (and its rotated copies) instead of the source's; repeatable",
    )
    parser.add_argument(
        "--since",
        type=_duration,
        metavar="SECONDS",
        help="look back this long: seconds, or 24h, 7d… (default: the whole log)",
    )
    parser.add_argument("--lang", choices=("fr", "en"), help="language of the report")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _command_modules() -> list[Any]:
    """The modules ``cli/_cmd_*.py``; each adds its commands with ``register(subparsers)``.

    A command registered there sets ``handler=fn`` with ``fn(args, ui) -> exit status``.
    """
    import importlib
    import pkgutil

    from .. import cli

    names = sorted(m.name for m in pkgutil.iter_modules(cli.__path__) if m.name.startswith("_cmd_"))
    return [importlib.import_module(f"{cli.__name__}.{name}") for name in names]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``hf-agent``."""
    parser = argparse.ArgumentParser(
        prog="hf-agent",
        description="An offline Linux administration agent that understands French and English.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="configuration file (default: $HF_AGENT_CONFIG, then /etc/hf-agent/hf-agent.json)",
    )
    parser.add_argument(
        "--configure",
        action="store_true",
        help="run the first-run assistant (language, time zone, Hugging Face token)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    ask = sub.add_parser(
        "ask",
        help="answer a request: interpret, plan, check the policy, run, report",
        description="Answer a request in French or English. Read-only requests run at once; "
        "the report comes in the request's language.",
    )
    ask.add_argument("request", help='the request, e.g. "résume les erreurs 404 de nginx"')
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    ask.add_argument("--yes", action="store_true", help="apply changes without asking")

    plan = sub.add_parser(
        "plan",
        help="interpret and plan a request; never changes the system",
        description="Show the intent, entities and steps of a request, with the policy's "
        "decision on each step. Nothing is run.",
    )
    plan.add_argument("request", nargs="?", help="the request")
    plan.add_argument(
        "--batch",
        metavar="FILE",
        help="one request per line ('-' for stdin); one JSON object per line out",
    )
    plan.add_argument("--json", action="store_true", help="print JSON")

    logs = sub.add_parser("logs", help="log analyses").add_subparsers(
        dest="logs_command", metavar="ACTION", required=True
    )
    summ = logs.add_parser(
        "summarize",
        help="summarise a web server's access logs",
        description="Count the requests of an access log (and its rotated copies) over a "
        "period, by status, path, client and hour.",
    )
    summ.add_argument(
        "--source", default="nginx", help="configured source or log path (default: nginx)"
    )
    _add_log_options(summ, "access log")
    summ.add_argument("--status", type=_status, metavar="CODE", help="HTTP status to single out")
    summ.add_argument("--top", type=int, default=10, metavar="N", help="paths and clients listed")

    security = sub.add_parser("security", help="security analyses").add_subparsers(
        dest="security_command", metavar="ACTION", required=True
    )
    scan = security.add_parser(
        "scan",
        help="SSH authentication failures and brute-force sources",
        description="Count failed SSH logins in the authentication log (and its rotated "
        "copies) and list the sources that cross the threshold, as fail2ban would.",
    )
    _add_log_options(scan, "authentication log")
    scan.add_argument(
        "--max-retry",
        type=int,
        default=5,
        metavar="N",
        help="failures that make an offender (default: 5, as fail2ban)",
    )
    scan.add_argument(
        "--find-time",
        type=_duration,
        default=600,
        metavar="SECONDS",
        help="within this time (default: 600 s, as fail2ban)",
    )
    scan.add_argument(
        "--ignore-successful",
        action="store_true",
        help="do not report sources that also logged in successfully",
    )

    config = sub.add_parser("config", help="check or show the configuration").add_subparsers(
        dest="config_command", metavar="ACTION", required=True
    )
    check = config.add_parser(
        "check",
        help="validate a configuration file",
        description="Validate a configuration file; errors name the key and line.",
    )
    check.add_argument("path", nargs="?", help="file to check (default: the one in use)")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    show = config.add_parser("show", help="print the effective configuration")
    show.add_argument("--json", action="store_true", help="print JSON (the default is JSON too)")

    for module in _command_modules():
        module.register(sub)

    # Flags of the first-run assistant (non-interactive use).
    conf = parser.add_argument_group("--configure options (non-interactive use)")
    conf.add_argument("--language", choices=("fr", "en"), help="agent language")
    conf.add_argument("--timezone", metavar="ZONE", help="IANA time zone, e.g. Europe/Paris")
    conf.add_argument(
        "--hf-token-file",
        metavar="FILE",
        help="read the Hugging Face token from FILE ('-' for stdin)",
    )
    conf.add_argument(
        "--non-interactive",
        action="store_true",
        help="never prompt; use the flags and current values",
    )
    conf.add_argument(
        "--output",
        metavar="PATH",
        help="configuration file to write (default: the one in use, or "
        "/etc/hf-agent/hf-agent.json)",
    )
    return parser


def _print_json(obj: Any, out: TextIO) -> None:
    out.write(json.dumps(obj, ensure_ascii=False) + "\n")
    out.flush()


class _Ui:
    """Human output with rich: tables on stdout, progress and errors on stderr."""

    def __init__(self) -> None:
        from rich.console import Console

        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    @contextmanager
    def progress(self, label: str, enabled: bool) -> Iterator[Callable[[int], None]]:
        """A transient spinner with a line count, on a terminal only."""
        if not enabled or not self.err.is_terminal:
            yield lambda n: None
            return
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("{task.completed:,.0f}"),
            TimeElapsedColumn(),
            console=self.err,
            transient=True,
        ) as bar:
            task = bar.add_task(label, total=None)
            yield lambda n: bar.update(task, completed=n)

    def report(self, report: dict[str, Any] | None, text: str, lang: str) -> None:
        from rich.table import Table

        self.out.print(text, markup=False)
        if not report or "top_paths" not in report or not report.get("matched"):
            return
        _ = translator(lang).gettext
        for title, rows in (
            (_("Paths"), report["top_paths"]),
            (_("Clients"), report["top_clients"]),
        ):
            table = Table()
            table.add_column(title)
            table.add_column(_("Requests"), justify="right")
            for name, count in rows:
                table.add_row(name, str(count))
            self.out.print(table)
        hours = report["by_hour"]
        if 1 < len(hours) <= 48:
            table = Table()
            table.add_column(_("Hour"))
            table.add_column(_("Requests"), justify="right")
            table.add_column("")
            peak = max(hours.values())
            for hour, count in hours.items():
                table.add_row(
                    hour[:16].replace("T", " "), str(count), "█" * max(1, round(30 * count / peak))
                )
            self.out.print(table)


def _load_config(args: argparse.Namespace) -> Config:
    return Config.load(args.config)


def _cmd_ask(args: argparse.Namespace, ui: _Ui) -> int:
    config = _load_config(args)
    lang = detect_language(args.request, config.agent.language)
    with ui.progress(translator(lang).gettext("Reading"), not args.json) as progress:
        agent = Agent(config, progress=progress)
        answer = agent.ask(args.request, yes=args.yes)
    if args.json:
        _print_json(answer.to_dict(), sys.stdout)
        return EXIT_OK if answer.understood else EXIT_BAD_INPUT
    _print_answer(answer, ui)
    if answer.pending and sys.stdin.isatty() and ui.out.is_terminal:
        from rich.prompt import Confirm

        from ..executor._render import render_outcome

        _ = translator(answer.plan.intent.lang).gettext
        if Confirm.ask(_("Apply this plan now?"), console=ui.out, default=False):
            outcome = agent.execute(answer.pending)
            ui.out.print(render_outcome(outcome, answer.plan.intent.lang), markup=False)
            return EXIT_FAILED if outcome.failed else EXIT_OK
    return EXIT_OK if answer.understood else EXIT_BAD_INPUT


def _print_answer(answer: Answer, ui: _Ui) -> None:
    lang = answer.plan.intent.lang
    if not answer.understood:
        ui.err.print(answer.text, markup=False)
        return
    reports = [dict(r.report) for r in answer.outcome.results]
    for result, report in zip(answer.outcome.results, reports, strict=True):
        ui.report(report, result.text, lang)
    if answer.previewed is not None:
        from ..executor._render import render_outcome, render_preview
        from ._cmd_preview import print_preview

        print_preview(answer.previewed.to_dict()["preview"], ui, lang)
        ui.out.print(render_preview(answer.previewed, lang), markup=False)
        if answer.applied is not None:
            ui.out.print(render_outcome(answer.applied, lang), markup=False)
        else:
            _ = translator(lang).gettext
            ui.out.print(
                _(
                    "Plan %(plan_id)s is waiting for your confirmation. "
                    "To apply it: hf-agent execute %(plan_id)s"
                )
                % {"plan_id": answer.previewed.plan_id},
                markup=False,
            )
    denied = [s for s in answer.plan.steps if s.decision == "deny"]
    for step in denied:
        _ = translator(lang).gettext
        ui.out.print(
            _("Refused: %(action)s (%(reason)s)") % {"action": step.action, "reason": step.reason},
            markup=False,
        )


def _cmd_plan(args: argparse.Namespace, ui: _Ui) -> int:
    agent = Agent(_load_config(args))
    if args.batch is not None:
        return _batch(args.batch, lambda req: agent.plan(req).to_dict())
    if not args.request:
        raise RequestError("plan: give a REQUEST or --batch FILE")
    plan = agent.plan(args.request)
    if args.json:
        _print_json(plan.to_dict(), sys.stdout)
    else:
        _print_plan(plan.to_dict(), ui)
    return EXIT_OK


def _print_plan(plan: dict[str, Any], ui: _Ui) -> None:
    from rich.table import Table

    _ = translator(plan["lang"]).gettext
    intent_label, entities_label = _("Intent"), _("Entities")
    ui.out.print(f"{intent_label}: {plan['intent']} ({plan['confidence']:.2f})", markup=False)
    if plan["entities"]:
        entities = json.dumps(plan["entities"], ensure_ascii=False)
        ui.out.print(f"{entities_label}: {entities}", markup=False)
    table = Table(_("Action"), _("Arguments"), _("Decision"), _("Reason"))
    for step in plan["steps"]:
        table.add_row(
            step["action"],
            json.dumps(step["args"], ensure_ascii=False),
            step["decision"],
            step["reason"],
        )
    ui.out.print(table)


def _batch(path: str, handle: Callable[[str], dict[str, Any]]) -> int:
    """One request per input line, one JSON object per output line, in order."""
    status = EXIT_OK
    try:
        stream = sys.stdin if path == "-" else open(path, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise RequestError(f"--batch: cannot read {path}: {exc.strerror}") from exc
    with stream:
        for number, line in enumerate(stream, 1):
            request = line.rstrip("\n")
            if not request.strip():
                continue
            try:
                _print_json(handle(request), sys.stdout)
            except HFAgentError as exc:
                _print_json({"request": request, "line": number, "error": str(exc)}, sys.stdout)
                status = max(status, exc.exit_status)
    return status


def _cmd_logs(args: argparse.Namespace, ui: _Ui) -> int:
    config = _load_config(args)
    lang = args.lang or config.agent.language
    with ui.progress(translator(lang).gettext("Reading"), not args.json) as progress:
        summary = Agent(config, progress=progress).executor.summarize_logs(
            args.source, since=args.since, status=args.status, files=args.file, top=args.top
        )
    from ..reports import render_access

    text = render_access(summary, lang)
    report = {**summary.to_dict(), "text": text}
    if args.json:
        _print_json(report, sys.stdout)
    else:
        ui.report(report, text, lang)
    return EXIT_OK


def _cmd_security(args: argparse.Namespace, ui: _Ui) -> int:
    config = _load_config(args)
    lang = args.lang or config.agent.language
    with ui.progress(translator(lang).gettext("Reading"), not args.json) as progress:
        scan = Agent(config, progress=progress).executor.scan_security(
            since=args.since,
            files=args.file,
            max_retry=args.max_retry,
            find_time=args.find_time,
            ignore_successful=args.ignore_successful,
        )
    from ..reports import render_security

    text = render_security(scan, lang)
    if args.json:
        _print_json({**scan.to_dict(), "text": text}, sys.stdout)
    else:
        ui.out.print(text, markup=False)
    return EXIT_OK


def _cmd_config(args: argparse.Namespace, ui: _Ui) -> int:
    if args.config_command == "check":
        path = args.path or args.config
        config = Config.load(path)
        if args.json:
            _print_json({"ok": True, "origin": config.origin}, sys.stdout)
        else:
            _ = translator(config.agent.language).gettext
            ui.out.print(
                _("%(origin)s: configuration is valid.") % {"origin": config.origin}, markup=False
            )
        return EXIT_OK
    config = _load_config(args)
    _print_json({"origin": config.origin, **config.to_dict()}, sys.stdout)
    return EXIT_OK


def _error_lang() -> str:
    lang = os.environ.get("LANGUAGE") or os.environ.get("LC_ALL") or os.environ.get("LANG") or ""
    return "fr" if lang.startswith("fr") else "en"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hf-agent``; returns the exit status."""
    if os.environ.get("HF_AGENT_PARENT_PID"):  # a scheduled job: it dies with its engine
        from ..daemon._engine import die_with_parent

        die_with_parent()
    parser = build_parser()
    args = parser.parse_args(argv)
    ui = _Ui()
    _ = translator(_error_lang()).gettext
    try:
        if args.configure:
            from ._configure import run_configure

            return run_configure(args)
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_BAD_INPUT
        handler = (
            getattr(args, "handler", None)
            or {
                "ask": _cmd_ask,
                "plan": _cmd_plan,
                "logs": _cmd_logs,
                "security": _cmd_security,
                "config": _cmd_config,
            }[args.command]
        )
        return int(handler(args, ui))
    except HFAgentError as exc:
        origin = getattr(exc, "origin", None)
        where = f"{origin}: " if origin and origin not in str(exc) else ""
        ui.err.print(_("hf-agent: error: %(message)s") % {"message": f"{where}{exc}"}, markup=False)
        return exc.exit_status
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_FAILED
    except Exception as exc:  # a bug: say so plainly, traceback only on request
        if args.debug:
            raise
        message = _(
            "hf-agent: internal error: %(error)s (run again with --debug for the traceback)"
        )
        ui.err.print(message % {"error": f"{type(exc).__name__}: {exc}"}, markup=False)
        return EXIT_FAILED
