"""``hf-agent policy check``: the policy's verdict on a raw shell command line."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .._errors import RequestError

__all__ = ["register"]

_DESCRIPTION = """\
Parse a shell command line as a shell would (quotes, pipes, substitutions, sudo,
sh -c, find -exec, xargs…) and say whether the policy allows it: read-only
commands are "allow", anything that may change the system is "confirm",
destructive commands, the configuration's security.forbidden_commands and
anything that cannot be parsed are "deny". Nothing is run.
"""

_EPILOG = """\
exit status: 0 whatever the verdict (allow, confirm or deny); 2 for bad input
(no command, an unreadable --batch file, a wrong configuration).

examples:
  hf-agent policy check --json -- "sudo rm -rf /"
  hf-agent policy check -- 'grep "rm -rf /" notes.txt'
  hf-agent policy check --batch commands.txt --json
"""


def _cmd_policy_check(args: argparse.Namespace, ui: Any) -> int:
    from .._i18n import translator
    from ..executor._commands import check_command
    from ._main import EXIT_OK, _batch, _load_config, _print_json

    words = list(args.shell_command)
    if words[:1] == ["--"]:
        words = words[1:]
    command = " ".join(words)
    if args.batch is None and not command.strip():
        raise RequestError(
            'policy check: give a command line, e.g. hf-agent policy check -- "ls -la /etc", '
            "or --batch FILE"
        )
    if args.batch is not None and words:
        raise RequestError("policy check: give a command line or --batch FILE, not both")
    config = _load_config(args)
    forbidden = config.security.forbidden_commands
    home = os.path.expanduser("~")

    def verdict(line: str) -> dict[str, Any]:
        return check_command(line, forbidden=forbidden, home=home).to_dict(line)

    if args.batch is not None:
        return _batch(args.batch, verdict)
    result = verdict(command)
    if args.json:
        _print_json(result, sys.stdout)
        return EXIT_OK
    _ = translator(config.agent.language).gettext
    label = {
        "allow": _("allowed (read-only)"),
        "confirm": _("needs confirmation (changes the system)"),
        "deny": _("denied"),
    }[result["decision"]]
    ui.out.print(f"{result['decision']}: {label}", markup=False)
    for reason in result["reasons"]:
        ui.out.print(f"  - {reason}", markup=False)
    return EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``hf-agent policy check``."""
    parser = sub.add_parser(
        "policy",
        help="the policy's verdict on a shell command line (allow, confirm, deny)",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check",
        help="allow, confirm or deny a raw command line, with the reasons",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument(
        "shell_command",
        nargs=argparse.REMAINDER,
        metavar="-- COMMAND",
        help="the command line (quote it, after --)",
    )
    check.add_argument(
        "--batch",
        metavar="FILE",
        help="one command per line ('-' for standard input); one JSON object per line, in "
        "order (with or without --json)",
    )
    check.add_argument(
        "--json",
        action="store_true",
        help='print {"command": str, "decision": "allow"|"confirm"|"deny", "reasons": [str]}',
    )
    check.set_defaults(handler=_cmd_policy_check)
