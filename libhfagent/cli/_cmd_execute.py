"""``hf-agent execute PLAN_ID``: apply exactly a previewed plan."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .._i18n import translator

__all__ = ["register"]


def _cmd_execute(args: argparse.Namespace, ui: Any) -> int:
    from .._agent import Agent
    from ..executor._executor import PreviewOutdated
    from ..executor._render import render_outcome, render_preview
    from ._cmd_preview import print_preview
    from ._main import EXIT_FAILED, EXIT_OK, _load_config, _print_json

    agent = Agent(_load_config(args))
    record = agent.executor.plans.load(args.plan_id)
    lang = record.plan["lang"]
    _ = translator(lang).gettext
    try:
        outcome = agent.execute(args.plan_id)
    except PreviewOutdated as exc:
        # Refused: show the new preview of the same request, under its new id.
        previewed = agent.executor.preview(agent.plan(record.plan["request"]))
        if args.json:
            _print_json(
                {
                    "plan_id": args.plan_id,
                    "error": str(exc),
                    "changes": list(exc.changes),
                    "new": previewed.to_dict() if previewed else None,
                },
                sys.stdout,
            )
            return EXIT_FAILED
        ui.err.print(_("hf-agent: error: %(message)s") % {"message": str(exc)}, markup=False)
        if previewed is not None:
            print_preview(previewed.to_dict()["preview"], ui, lang)
            ui.out.print(render_preview(previewed, lang), markup=False)
            ui.out.print(
                _("New plan id: %(plan_id)s. To apply it: hf-agent execute %(plan_id)s")
                % {"plan_id": previewed.plan_id},
                markup=False,
            )
        return EXIT_FAILED
    text = render_outcome(outcome, lang)
    if args.json:
        _print_json({**outcome.to_dict(), "text": text}, sys.stdout)
    else:
        ui.out.print(text, markup=False)
    return EXIT_FAILED if outcome.failed else EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``hf-agent execute``."""
    parser = sub.add_parser(
        "execute",
        help="apply exactly a previewed plan (its id is printed by ask and preview)",
        description="Apply a previewed plan, after checking that the files are still as "
        "previewed; refuses (and previews again) when they changed.",
    )
    parser.add_argument("plan_id", metavar="PLAN_ID", help="the plan id (16 hex digits)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=_cmd_execute)
