"""``hf-agent schedule``: the recurring tasks."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .._i18n import translator
from ._main import EXIT_OK, _load_config, _print_json


def register(sub: Any) -> None:
    """Add ``schedule list|add|remove|run``."""
    schedule = sub.add_parser(
        "schedule", help="recurring tasks (cron jobs whose task is a request)"
    ).add_subparsers(dest="schedule_command", metavar="ACTION", required=True)
    listing = schedule.add_parser("list", help="the jobs and their next run")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.set_defaults(handler=_cmd_list)
    add = schedule.add_parser(
        "add",
        help="add a job",
        description='Add a job, e.g. schedule add cleanup --cron "0 2 * * *" '
        '--task "nettoie /tmp et /var/log". It runs like any request: policy, preview, '
        "audit; in interactive mode a change waits for approval.",
    )
    add.add_argument("name", help="a unique name")
    add.add_argument("--cron", required=True, help="five-field cron expression (agent time zone)")
    add.add_argument("--task", required=True, help="the request to run")
    add.add_argument("--json", action="store_true", help="print JSON")
    add.set_defaults(handler=_cmd_add)
    remove = schedule.add_parser("remove", help="remove a job added by a request")
    remove.add_argument("name")
    remove.set_defaults(handler=_cmd_remove)
    run = schedule.add_parser(
        "run", help="run a job's task now (as 'hf-agent ask' would, without --yes)"
    )
    run.add_argument("name")
    run.add_argument("--json", action="store_true", help="print JSON")
    run.set_defaults(handler=_cmd_run)


def _scheduler(args: argparse.Namespace) -> Any:
    from ..daemon import Scheduler

    return Scheduler(_load_config(args))


def _cmd_list(args: argparse.Namespace, ui: Any) -> int:
    scheduler = _scheduler(args)
    jobs = scheduler.to_list()
    if args.json:
        _print_json(jobs, sys.stdout)
        return EXIT_OK
    from rich.table import Table

    _ = translator(scheduler.config.agent.language).gettext
    if not jobs:
        ui.out.print(_("No scheduled job."), markup=False)
        return EXIT_OK
    table = Table(_("Name"), "cron", _("Task"), _("Next run"), _("Origin"))
    for job in jobs:
        table.add_row(job["name"], job["cron"], job["task"], job["next_run"], job["origin"])
    ui.out.print(table)
    return EXIT_OK


def _cmd_add(args: argparse.Namespace, ui: Any) -> int:
    scheduler = _scheduler(args)
    job = scheduler.add(args.name, args.cron, args.task)
    next_run = scheduler.next_run(job).isoformat()
    if args.json:
        _print_json(
            {"name": job.name, "cron": job.cron, "task": job.task, "next_run": next_run},
            sys.stdout,
        )
    else:
        _ = translator(scheduler.config.agent.language).gettext
        ui.out.print(
            _("Job %(name)s added; next run %(next)s.") % {"name": job.name, "next": next_run},
            markup=False,
        )
    return EXIT_OK


def _cmd_remove(args: argparse.Namespace, ui: Any) -> int:
    scheduler = _scheduler(args)
    job = scheduler.remove(args.name)
    _ = translator(scheduler.config.agent.language).gettext
    ui.out.print(_("Job %(name)s removed.") % {"name": job.name}, markup=False)
    return EXIT_OK


def _cmd_run(args: argparse.Namespace, ui: Any) -> int:
    from .._agent import Agent
    from ._main import _print_answer

    scheduler = _scheduler(args)
    job = scheduler.get(args.name)
    answer = Agent(scheduler.config).ask(job.task)
    if args.json:
        _print_json({"job": job.name, **answer.to_dict()}, sys.stdout)
    else:
        _print_answer(answer, ui)
    return EXIT_OK if answer.understood else 2
