"""Overhead of the metrics source: CPU time per sample, and its share of one core.

Every figure is process CPU time (``time.process_time``: user + system of this
process), not wall time, measured over ``--samples`` collections taken
``--gap`` seconds apart (so rates have something to measure):

* **baseline**: what any monitor does at the least -- ``psutil.cpu_percent()``
  and one read of ``/proc/diskstats`` (text only, not parsed);
* **MetricsSource** with every group (CPU, load, memory, disk space, disk I/O as
  iostat computes it, network) and the top 5 processes by CPU and memory;
* the same without the top processes (``top=0``), which walks ``/proc/<pid>``
  for every process and is the dearest group.

The share of one core is the CPU time per sample divided by the interval, at
the 1 s and 10 s intervals (10 s is the default ``modules.monitoring.interval``).

Run: ``.venv/bin/python benchmarks/metrics.py [--samples N] [--gap S]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import psutil

from libhfagent.observer._metrics import MetricsSource


def per_sample(collect: Callable[[], object], samples: int, gap: float) -> tuple[float, float]:
    """Median and maximum CPU seconds of one call of ``collect``."""
    collect()  # prime rates and psutil's caches
    costs = []
    for _ in range(samples):
        time.sleep(gap)
        start = time.process_time()
        collect()
        costs.append(time.process_time() - start)
    return statistics.median(costs), max(costs)


def baseline() -> None:
    psutil.cpu_percent()
    with open("/proc/diskstats", encoding="ascii") as f:
        f.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--gap", type=float, default=0.02)
    args = parser.parse_args()

    full = MetricsSource(10.0, top=5)
    lean = MetricsSource(10.0, top=0)
    full.collect()
    lean.collect()
    time.sleep(0.2)
    counts = {"full": len(full.collect()), "lean": len(lean.collect())}  # values per sample
    rows = [
        ("baseline: cpu_percent + read diskstats", per_sample(baseline, args.samples, args.gap), 2),
        ("MetricsSource, top 5 processes", per_sample(full.collect, args.samples, args.gap),
         counts["full"]),
        ("MetricsSource, top=0", per_sample(lean.collect, args.samples, args.gap), counts["lean"]),
    ]  # fmt: skip
    processes = len(psutil.pids())
    print(
        f"# metrics overhead: {args.samples} samples, {psutil.cpu_count()} CPUs, "
        f"{processes} processes"
    )
    print(
        f"{'collector':<42} {'values':>6} {'ms CPU/sample':>14} {'max':>8} "
        f"{'% core @1s':>11} {'% core @10s':>12} {'× baseline':>11}"
    )
    base = rows[0][1][0]
    for name, (median, worst), values in rows:
        print(
            f"{name:<42} {values:>6} {median * 1e3:>14.3f} {worst * 1e3:>8.3f} "
            f"{median / 1.0 * 100:>11.3f} {median / 10.0 * 100:>12.4f} {median / base:>11.1f}"
        )


if __name__ == "__main__":
    main()
