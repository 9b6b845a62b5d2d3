"""``hf-agentd``: run the D-Bus service.

Exit status: 0 stopped cleanly, 1 failure (bus unreachable, name taken), 2 bad
configuration or interface tables (nothing was served).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from dbus_fast import BusType

from libhfagent import HFAgentError, __version__

from ._api import BUS_NAME, InterfaceError
from ._daemon import Daemon, notify
from ._methods import Context

__all__ = ["main"]

log = logging.getLogger("hf_agentd")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``hf-agentd``."""
    parser = argparse.ArgumentParser(
        prog="hf-agentd",
        description=f"The D-Bus service {BUS_NAME}: requests, analyses and actions of "
        "libhfagent for other programs, authorised by polkit. Usually started by systemd "
        "(hf-agent.service) or by D-Bus activation.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--bus",
        choices=("system", "session"),
        default="system",
        help="the bus to serve on (default: system)",
    )
    parser.add_argument(
        "--address",
        metavar="ADDRESS",
        help="connect to this D-Bus address instead (e.g. unix:path=/run/dbus/system_bus_socket)",
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="configuration file (default: $HF_AGENT_CONFIG, then /etc/hf-agent/hf-agent.json)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=4,
        metavar="N",
        help="threads running library calls (default: 4)",
    )
    parser.add_argument(
        "--no-engine",
        action="store_true",
        help="serve the methods only: do not follow the sources, run runbooks or scheduled jobs",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hf-agentd``; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s", stream=sys.stderr)
    try:
        context = Context.load(args.config)
        daemon = Daemon(
            context,
            bus_type=BusType.SYSTEM if args.bus == "system" else BusType.SESSION,
            bus_address=args.address,
            workers=max(1, args.workers),
            engine=not args.no_engine,
        )
    except (HFAgentError, InterfaceError) as exc:
        log.error("not started: %s", exc)
        notify(f"STATUS=Not started: {exc}")
        return 2
    try:
        asyncio.run(daemon.run())
    except (OSError, RuntimeError, EOFError) as exc:
        log.error("stopped: %s", exc)
        return 1
    return 0
