"""``hf-agent undo PLAN_ID``: restore quarantined files and reverse what can be reversed."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["register"]


def _cmd_undo(args: argparse.Namespace, ui: Any) -> int:
    from .._agent import Agent
    from ..executor._render import render_undo
    from ._main import EXIT_FAILED, EXIT_OK, _load_config, _print_json

    agent = Agent(_load_config(args))
    lang = agent.executor.plans.load(args.plan_id).plan["lang"]
    report = agent.undo(args.plan_id)
    text = render_undo(report, lang)
    if args.json:
        _print_json({**report.to_dict(), "text": text}, sys.stdout)
    else:
        ui.out.print(text, markup=False)
    return EXIT_FAILED if report.not_undone else EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``hf-agent undo``."""
    parser = sub.add_parser(
        "undo",
        help="undo an applied plan: restore quarantined files, reverse what can be",
        description="Restore the files a plan quarantined (SHA-256 checked) and return "
        "services to their previous state; says what cannot be undone (deletions).",
    )
    parser.add_argument("plan_id", metavar="PLAN_ID", help="the plan id (16 hex digits)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=_cmd_undo)
