"""``hf-agent audit``: check and read the signed audit log."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .._errors import RequestError
from .._i18n import fmt_int, translator
from ._main import EXIT_FAILED, EXIT_OK, _load_config, _print_json


def register(sub: Any) -> None:
    """Add ``audit verify|show``."""
    audit = sub.add_parser(
        "audit", help="check or read the audit log (what the agent planned and did)"
    ).add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    check = audit.add_parser(
        "verify",
        help="check the chain of hashes and the signatures",
        description="Check every record of <state_dir>/audit/audit.jsonl: order, hash chain "
        "and Ed25519 signatures. Exit status 0 when it verifies, 1 naming the first bad "
        "record otherwise.",
    )
    check.add_argument("--json", action="store_true", help="print a JSON object")
    check.add_argument(
        "--public-key",
        metavar="PEM",
        help="the public key file to check with (default: <state_dir>/audit/ed25519.pub)",
    )
    check.set_defaults(handler=_cmd_verify)
    show = audit.add_parser("show", help="print the records, oldest first")
    show.add_argument("--json", action="store_true", help="print a JSON array")
    show.add_argument("--last", type=_count, metavar="N", help="only the last N records")
    show.set_defaults(handler=_cmd_show)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text!r}")
    return value


def _log(args: argparse.Namespace) -> tuple[Any, str]:
    from ..executor._audit import AuditLog

    config = _load_config(args)
    return AuditLog(config.agent.state_dir, journal=False), config.agent.language


def _cmd_verify(args: argparse.Namespace, ui: Any) -> int:
    log, lang = _log(args)
    public_key = None
    if args.public_key:
        try:
            public_key = Path(args.public_key).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RequestError(
                f"--public-key: cannot read {args.public_key}: {getattr(exc, 'strerror', exc)}"
            ) from None
    result = log.verify(public_key=public_key)
    if args.json:
        first_bad = None
        if not result.ok:
            first_bad = {
                "line": result.first_bad_line,
                "seq": result.first_bad_seq,
                "reason": result.reason,
            }
        _print_json(
            {"ok": result.ok, "records": result.records, "first_bad": first_bad}, sys.stdout
        )
        return EXIT_OK if result.ok else EXIT_FAILED
    t = translator(lang)
    count = fmt_int(result.records, lang)
    if result.ok:
        text = t.ngettext("%(count)s record verified", "%(count)s records verified", result.records)
        ui.out.print(text % {"count": count}, markup=False)
        return EXIT_OK
    seq = "?" if result.first_bad_seq is None else fmt_int(result.first_bad_seq, lang)
    message = t.gettext(
        "The audit log does not verify: line %(line)s (seq %(seq)s): %(reason)s"
    ) % {"line": fmt_int(result.first_bad_line or 0, lang), "seq": seq, "reason": result.reason}
    ui.err.print(message, markup=False)
    before = t.ngettext(
        "%(count)s record verified before it.",
        "%(count)s records verified before it.",
        result.records,
    )
    ui.err.print(before % {"count": count}, markup=False)
    return EXIT_FAILED


def _cmd_show(args: argparse.Namespace, ui: Any) -> int:
    log, lang = _log(args)
    records = log.read(last=args.last)
    if args.json:
        _print_json(records, sys.stdout)
        return EXIT_OK
    _ = translator(lang).gettext
    if not records:
        ui.out.print(_("The audit log is empty."), markup=False)
        return EXIT_OK
    from rich.table import Table
    from rich.text import Text

    table = Table()
    for title in (_("Seq"), _("Time (UTC)"), _("Event"), _("Intent"), _("Decision"), _("Request")):
        table.add_column(title)
    for record in records:
        cells = (
            str(record.get("seq", "")),
            str(record.get("time", ""))[:19].replace("T", " "),
            str(record.get("event", "")),
            str(record.get("intent", "")),
            str(record.get("decision", "")),
            str(record.get("request", "")),
        )
        table.add_row(*(Text(cell) for cell in cells))
    ui.out.print(table)
    return EXIT_OK
