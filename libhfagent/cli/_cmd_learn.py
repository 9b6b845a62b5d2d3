"""``hf-agent suggestions`` and ``hf-agent resources``: what the Learner learnt."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .._errors import RequestError
from .._i18n import translator
from ..learner._suggestions import REPLIES
from ._main import EXIT_OK, _load_config, _print_json


def register(sub: Any) -> None:
    """Add the commands to ``hf-agent``'s sub-parsers."""
    suggestions = sub.add_parser(
        "suggestions",
        help="what the agent learnt from its administrators, and your answers",
        description="List the learnt suggestions (a trigger, the action admins took after "
        "it, and the dated evidence), or answer one.",
    )
    suggestions.add_argument("--json", action="store_true", help="print JSON")
    suggestions.add_argument("--lang", choices=("fr", "en"), help="language of the text")
    suggestions.add_argument(
        "--status", choices=("proposed", "accepted", "automated", "rejected"), help="only these"
    )
    suggestions.add_argument(
        "reply",
        nargs="*",
        metavar="ID REPLY",
        help=f"answer a suggestion: ID and one of {', '.join(REPLIES)}",
    )
    suggestions.set_defaults(handler=_cmd_suggestions)

    resources = sub.add_parser(
        "resources",
        help="right-sizing advice from the usage history",
        description="Recommend instance sizes by hour of the week from the CPU and memory "
        "history the agent learnt, with the arithmetic of the saving.",
    )
    resources.add_argument("--json", action="store_true", help="print JSON")
    resources.add_argument("--lang", choices=("fr", "en"), help="language of the report")
    resources.add_argument(
        "--catalogue", metavar="FILE", help="instance sizes (JSON; default: the built-in one)"
    )
    resources.add_argument(
        "--target",
        type=float,
        default=0.7,
        metavar="RATIO",
        help="utilisation a size may reach at the 95th percentile (default 0.7)",
    )
    resources.add_argument(
        "--vcpus", type=float, metavar="N", help="CPUs of the machine now (default: this one's)"
    )
    resources.add_argument(
        "--memory-gib", type=float, metavar="GIB", help="its memory (default: this one's)"
    )
    resources.set_defaults(handler=_cmd_resources)


def _cmd_suggestions(args: argparse.Namespace, ui: Any) -> int:
    from ..learner import Learner

    config = _load_config(args)
    lang = args.lang or config.agent.language
    learner = Learner.open(config)
    try:
        if args.reply:
            if len(args.reply) != 2:
                raise RequestError("suggestions: give ID REPLY, e.g. 'b191c92a5d39 accept'")
            changed = learner.reply(args.reply[0], args.reply[1])
            if args.json:
                _print_json(changed.to_dict(lang), sys.stdout)
            else:
                ui.out.print(f"{changed.id}: {changed.status}", markup=False)
            return EXIT_OK
        found = learner.suggestions(args.status)
    finally:
        learner.close()
    if args.json:
        _print_json({"suggestions": [s.to_dict(lang) for s in found]}, sys.stdout)
        return EXIT_OK
    _ = translator(lang).gettext
    if not found:
        ui.out.print(_("No suggestion yet."), markup=False)
    for suggestion in found:
        ui.out.print(f"{suggestion.id} [{suggestion.status}] {suggestion.text(lang)}", markup=False)
    return EXIT_OK


def _cmd_resources(args: argparse.Namespace, ui: Any) -> int:
    import psutil

    from ..learner import Learner, load_catalogue
    from ..reports._advice import render_advice

    config = _load_config(args)
    lang = args.lang or config.agent.language
    if not 0 < args.target <= 1:
        raise RequestError(f"--target: expected a number in (0, 1], got {args.target}")
    for flag, value in (("--vcpus", args.vcpus), ("--memory-gib", args.memory_gib)):
        if value is not None and not value > 0:
            raise RequestError(f"{flag}: expected a positive number, got {value}")
    catalogue = load_catalogue(args.catalogue)
    learner = Learner.open(config)
    try:
        advice = learner.advise(
            vcpus=args.vcpus or os.cpu_count() or 1,
            memory_gib=args.memory_gib or psutil.virtual_memory().total / 2**30,
            catalogue=catalogue,
            target=args.target,
        )
    finally:
        learner.close()
    text = render_advice(advice, lang)
    if args.json:
        _print_json({**advice.to_dict(), "text": text}, sys.stdout)
    else:
        ui.out.print(text, markup=False)
    return EXIT_OK
