"""hf-agentd on a real private system bus: round trips and 200 concurrent clients.

A private system bus and polkitd (``libhfagent.testing.PrivateSystemBus``, root
only) with the project's dbus-1 policy and polkit actions, and ``hf-agentd`` on it,
configured with a generated nginx access log of ``--lines`` lines.

1. **busctl round trip**: ``busctl call`` (a new process per call, as a shell
   script does) of ``Interpret("summarize the 404 errors of nginx")`` next to two
   baselines on the same bus: ``GetStatus`` (authorised, answered in a worker thread,
   almost no work) and ``org.freedesktop.DBus.Peer.Ping`` (answered on the bus loop
   itself, no authorisation). p50/p95 in ms, as root and as ``nobody`` (polkit asked).
2. **In-process round trip**: the same calls from one dbus-fast connection, without
   the process start.
3. **Load**: ``--clients`` connections (default 200) × ``--calls`` calls each
   (default 50) of ``Interpret``, all at once from one asyncio loop: errors (goal 0),
   p50/p99 latency, calls/s, and the daemon's RSS before and after.

Run (root): ``.venv/bin/python benchmarks/dbus.py [--lines N] [--rounds N]
[--clients N] [--calls N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from libhfagent.testing._bus import PrivateSystemBus

ROOT = Path(__file__).resolve().parent.parent
NAME, PATH, IFACE = "org.huggingface.Agent", "/org/huggingface/Agent1", "org.huggingface.Agent1"
REQUEST = "summarize the 404 errors of nginx"


def write_setup(directory: Path, lines: int) -> Path:
    rng = random.Random(7)
    logs = directory / "logs"
    logs.mkdir()
    with open(logs / "access.log", "w") as out:
        for i in range(lines):
            status = rng.choice([200] * 17 + [404, 301, 500])
            out.write(
                f"203.0.113.{rng.randrange(1, 250)} - - [10/Oct/2024:13:{(i // 60) % 60:02d}:"
                f'{i % 60:02d} +0000] "GET /p{rng.randrange(300)} HTTP/1.1" {status} 153 '
                '"-" "bench"\n'
            )
    (directory / "state").mkdir()
    config = directory / "hf-agent.json"
    config.write_text(
        json.dumps(
            {
                "agent": {"state_dir": str(directory / "state"), "timezone": "UTC"},
                "modules": {"monitoring": {"sources": {"nginx": [str(logs / "access.log")]}}},
            }
        )
    )
    return config


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def busctl_times(
    bus: PrivateSystemBus, argv: list[str], rounds: int, user: int | None
) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        out = bus.run(["busctl", "call", *argv], user=user)
        times.append((time.perf_counter() - start) * 1000)
        if out.returncode != 0:
            raise SystemExit(f"busctl {argv}: {out.stderr}")
    return times


def message(member: str, interface: str = IFACE, body: list[Any] | None = None) -> Message:
    signature = "sa{sv}" if body else ""
    return Message(
        destination=NAME,
        path=PATH,
        interface=interface,
        member=member,
        signature=signature,
        body=body or [],
    )


async def inprocess_times(address: str, msg: Message, rounds: int) -> list[float]:
    bus = await MessageBus(bus_address=address).connect()
    times = []
    try:
        for _ in range(rounds):
            start = time.perf_counter()
            reply = await bus.call(msg)
            times.append((time.perf_counter() - start) * 1000)
            assert reply.message_type is MessageType.METHOD_RETURN, reply.body
    finally:
        bus.disconnect()
    return times


async def load(address: str, clients: int, calls: int) -> tuple[int, list[float], float]:
    buses = [await MessageBus(bus_address=address).connect() for _ in range(clients)]
    latencies: list[float] = []
    errors = 0

    async def client(bus: MessageBus) -> None:
        nonlocal errors
        for _ in range(calls):
            start = time.perf_counter()
            try:
                reply = await bus.call(message("Interpret", body=[REQUEST, {}]))
                if reply.message_type is not MessageType.METHOD_RETURN:
                    errors += 1
            except Exception:
                errors += 1
            latencies.append((time.perf_counter() - start) * 1000)

    start = time.perf_counter()
    try:
        await asyncio.gather(*(client(b) for b in buses))
    finally:
        for bus in buses:
            bus.disconnect()
    return errors, latencies, time.perf_counter() - start


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def line(label: str, times: list[float], base: list[float] | None = None) -> str:
    p50, p95 = statistics.median(times), pct(times, 0.95)
    ratio = f"  ×{p50 / statistics.median(base):.2f} p50" if base else ""
    return f"  {label:<34} p50 {p50:7.2f} ms  p95 {p95:7.2f} ms{ratio}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=10_000, help="access log lines")
    parser.add_argument("--rounds", type=int, default=100, help="calls per round-trip figure")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--calls", type=int, default=50, help="calls per client")
    args = parser.parse_args()
    if not PrivateSystemBus.available():
        print("needs root, dbus-daemon, polkitd and util-linux", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="hfa-bench-") as tmp:
        directory = Path(tmp)
        config = write_setup(directory, args.lines)
        with PrivateSystemBus(
            directory / "bus",
            bus_policies=[ROOT / "services/dbus/org.huggingface.Agent.conf"],
            polkit_actions=[ROOT / "policy/org.huggingface.Agent.policy"],
        ) as bus:
            daemon = bus.start_service(
                [sys.executable, "-m", "hf_agentd", "--config", str(config)], NAME
            )
            target = [NAME, PATH]
            interpret = [*target, IFACE, "Interpret", "sa{sv}", REQUEST, "0"]
            status = [*target, IFACE, "GetStatus"]
            ping = [*target, "org.freedesktop.DBus.Peer", "Ping"]
            for argv in (interpret, status, ping):  # warm up
                busctl_times(bus, argv, 3, None)
            print(f"busctl round trip ({args.rounds} calls each, a process per call):")
            for user, who in ((None, "root"), (65534, "nobody")):
                base = busctl_times(bus, ping, args.rounds, user)
                print(line(f"Peer.Ping ({who}, baseline)", base))
                print(
                    line(f"GetStatus ({who})", busctl_times(bus, status, args.rounds, user), base)
                )
                print(
                    line(
                        f"Interpret ({who})", busctl_times(bus, interpret, args.rounds, user), base
                    )
                )
            print(f"in-process round trip, one dbus-fast connection as root ({args.rounds} calls):")
            base = asyncio.run(
                inprocess_times(
                    bus.address, message("Ping", "org.freedesktop.DBus.Peer"), args.rounds
                )
            )
            print(line("Peer.Ping (baseline)", base))
            print(
                line(
                    "GetStatus",
                    asyncio.run(inprocess_times(bus.address, message("GetStatus"), args.rounds)),
                    base,
                )
            )
            interp = asyncio.run(
                inprocess_times(bus.address, message("Interpret", body=[REQUEST, {}]), args.rounds)
            )
            print(line("Interpret", interp, base))
            before = rss_kib(daemon.pid)
            errors, latencies, elapsed = asyncio.run(load(bus.address, args.clients, args.calls))
            after = rss_kib(daemon.pid)
            total = args.clients * args.calls
            print(
                f"load: {args.clients} clients × {args.calls} Interpret calls, all at once (root):"
            )
            print(f"  errors {errors} / {total}")
            print(
                f"  latency p50 {statistics.median(latencies):.1f} ms"
                f"  p99 {pct(latencies, 0.99):.1f} ms"
                f"  max {max(latencies):.1f} ms;  {total / elapsed:,.0f} calls/s"
                f"  (single-client in-process p50 {statistics.median(interp):.2f} ms)"
            )
            print(f"  daemon RSS {before / 1024:.1f} MiB before, {after / 1024:.1f} MiB after")
            return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
