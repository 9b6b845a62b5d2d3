"""``hf-agent preview REQUEST``: the copy-on-write preview of a request's changes, never applied.

Also the table every command that shows a preview uses.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .._i18n import translator

__all__ = ["print_preview", "register"]

#: Rows of the preview table shown before "… N more".
MAX_ROWS = 40


def print_preview(preview: dict[str, Any], ui: Any, lang: str) -> None:
    """The preview as a table: change, path, size before and after; then the totals."""
    from rich.table import Table

    from ..executor._render import fmt_bytes

    _ = translator(lang).gettext
    labels = {"deleted": _("deleted"), "created": _("created"), "modified": _("modified")}
    entries = [e for e in preview["entries"] if e["kind"] != "dir"]
    total = preview.get("entries_total", len(preview["entries"]))
    table = Table(_("Change"), _("Path"), _("Before"), _("After"), title=_("Preview"))
    for e in entries[:MAX_ROWS]:
        table.add_row(
            labels[e["change"]],
            e["path"],
            "" if e["size_before"] is None else fmt_bytes(e["size_before"], lang),
            "" if e["size_after"] is None else fmt_bytes(e["size_after"], lang),
        )
    more = max(len(entries) - MAX_ROWS, 0) + (total - len(preview["entries"]))
    if more:
        table.add_row("…", _("%(count)d more") % {"count": more}, "", "")
    if entries:
        ui.out.print(table)
    totals = preview["totals"]
    ui.out.print(
        _("Total: %(deleted)d deleted, %(created)d created, %(modified)d modified, %(freed)s freed")
        % {**totals, "freed": fmt_bytes(totals["bytes_freed"], lang)},
        markup=False,
    )


def _cmd_preview(args: argparse.Namespace, ui: Any) -> int:
    from .._agent import Agent
    from ..executor._render import render_preview
    from ._main import EXIT_BAD_INPUT, EXIT_OK, _load_config, _print_json

    agent = Agent(_load_config(args))
    plan = agent.plan(args.request)
    lang = plan.intent.lang
    previewed = agent.executor.preview(plan)
    if args.json:
        out = plan.to_dict()
        out.update(previewed.to_dict(max_entries=args.max_entries) if previewed else {})
        _print_json(out, sys.stdout)
        return EXIT_OK if plan.intent.intent != "unknown" else EXIT_BAD_INPUT
    if previewed is None:
        _ = translator(lang).gettext
        ui.out.print(_("Nothing to preview: this request changes nothing."), markup=False)
        return EXIT_OK if plan.intent.intent != "unknown" else EXIT_BAD_INPUT
    print_preview(previewed.to_dict()["preview"], ui, lang)
    ui.out.print(render_preview(previewed, lang), markup=False)
    _ = translator(lang).gettext
    ui.out.print(
        _("Plan id: %(plan_id)s. To apply it: hf-agent execute %(plan_id)s")
        % {"plan_id": previewed.plan_id},
        markup=False,
    )
    return EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``hf-agent preview``."""
    parser = sub.add_parser(
        "preview",
        help="show exactly what a request would change (copy-on-write); never applies",
        description="Run the request's actions over throw-away overlayfs layers in private "
        "namespaces and list the files they would delete, create or modify. Needs root.",
    )
    parser.add_argument("request", help="the request")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--max-entries", type=int, default=1000, metavar="N", help="entries listed in JSON"
    )
    parser.set_defaults(handler=_cmd_preview)
