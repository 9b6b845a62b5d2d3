"""SSH brute-force detection latency: from the line written to the signal.

A writer appends sshd failure lines to an auth.log in a temporary folder (one
every 20 ms, from 40 sources); the agent's path follows it live
(``FileSource.follow``, inotify) and feeds the :class:`Learner`. For each
``brute_force`` signal, the latency is the time from the write of the line
that crossed the threshold to the signal. Baseline in the same run: the time
the same lines take through a bare ``readline()`` polling loop (10 ms sleep),
the simplest tail a script would write.

Run: ``.venv/bin/python benchmarks/ssh_latency.py``
"""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from libhfagent import Config, Learner
from libhfagent.observer._follow import FileSource

SOURCES = 40
PER_SOURCE = 6  # the 5th failure crosses fail2ban's threshold
GAP = 0.02


def lines() -> list[tuple[str, str]]:
    out = []
    n = 0
    for attempt in range(PER_SOURCE):
        for s in range(SOURCES):
            ip = f"203.0.113.{s + 1}"
            n += 1
            out.append(
                (
                    ip,
                    f"sshd[{1000 + n}]: Failed password for invalid user u{attempt} from {ip} "
                    f"port {40000 + n} ssh2",
                )
            )
    return out


def writer(path: Path, written: dict[str, float], crossing: dict[int, str]) -> None:
    counts: dict[str, int] = {}
    with open(path, "a", encoding="utf-8") as f:
        for i, (ip, text) in enumerate(lines()):
            now = dt.datetime.now(dt.UTC)
            stamp = f"{now:%b} {now.day:2d} {now:%H:%M:%S}"
            counts[ip] = counts.get(ip, 0) + 1
            if counts[ip] == 5:  # the line that crosses the threshold: time its write
                written[ip] = time.perf_counter()
                crossing[i] = ip
            f.write(f"{stamp} web {text}\n")
            f.flush()
            time.sleep(GAP)


async def agent_path(path: Path) -> list[float]:
    path.touch()
    source = FileSource(path, name="auth", parser="syslog", start="beginning")
    learner = Learner(Config())
    written: dict[str, float] = {}
    thread = threading.Thread(target=writer, args=(path, written, {}))
    latencies: list[float] = []
    thread.start()
    try:
        async with asyncio.timeout(SOURCES * PER_SOURCE * GAP + 10):
            async for event in source.follow():
                for signal in learner.observe(event):
                    if signal.kind == "brute_force":
                        ip = signal.fields["ip"]
                        latencies.append(time.perf_counter() - written[ip])
                if len(latencies) == SOURCES:
                    break
    finally:
        thread.join()
    return latencies


def polling_baseline(path: Path) -> list[float]:
    path.touch()
    written: dict[str, float] = {}
    thread = threading.Thread(target=writer, args=(path, written, {}))
    seen: dict[str, int] = {}
    latencies = []
    thread.start()
    with open(path, encoding="utf-8") as f:
        deadline = time.monotonic() + SOURCES * PER_SOURCE * GAP + 10
        while len(latencies) < SOURCES and time.monotonic() < deadline:
            line = f.readline()
            if not line:
                time.sleep(0.01)
                continue
            ip = line.rsplit(" from ", 1)[1].split()[0]
            seen[ip] = seen.get(ip, 0) + 1
            if seen[ip] == 5:
                latencies.append(time.perf_counter() - written[ip])
    thread.join()
    return latencies


def describe(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    return f"n={len(ms)} p50 {statistics.median(ms):.2f} ms, p95 {p95:.2f} ms, max {ms[-1]:.2f} ms"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ours = asyncio.run(agent_path(Path(tmp) / "auth.log"))
        base = polling_baseline(Path(tmp) / "auth2.log")
    print("SSH brute-force detection latency (line written → signal), 40 sources")
    print(f"  agent (FileSource.follow + Learner): {describe(ours)}")
    print(f"  baseline readline() poll, 10 ms:     {describe(base)}")
    print(f"  ratio p50 agent / baseline: {statistics.median(ours) / statistics.median(base):.2f}")


if __name__ == "__main__":
    main()
