"""Grouping accuracy and speed of the log-template miner on Loghub-2k, against Drain3.

Loghub-2k (16 systems x 2,000 labelled lines) is research-only data: it is
read in place, from ``../shared/data/loghub2k`` relative to the repository (or
``--data DIR``), and nothing from it is copied into the repository.  Cite
https://github.com/logpai/loghub (Zhu et al., ISSRE 2023) and, for the
corrected labels, Jiang et al., ISSTA 2024, when publishing these figures.

Both miners get each line's ``Content`` column, one message at a time, as
logpai/logparser does.  Grouping accuracy (GA) is computed as logparser's
``evaluator.get_accuracy`` does: a message is correct only when the set of
messages in its parsed group equals the set in its ground-truth group.  Our
miner is scored on the template id that ``add`` returned for each message at
the time it was added (no second pass).  Drain3 runs with its default
settings and is scored on the cluster id ``add_log_message`` returned.

Speed is lines per second of the ``add`` calls alone, both miners run in the
same process, alternately, best of ``--repeat`` runs.

Run: ``.venv/bin/python benchmarks/loghub.py [--data DIR] [--repeat N] [SYSTEM ...]``.
Drain3 (``pip install drain3``) is needed for the baseline columns only.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from libhfagent.observer._templates import TemplateMiner  # noqa: E402

T = TypeVar("T")
DEFAULT_DATA = REPO.parent / "shared" / "data" / "loghub2k"
SYSTEMS = (
    "HDFS",
    "Hadoop",
    "Spark",
    "Zookeeper",
    "BGL",
    "HPC",
    "Thunderbird",
    "Windows",
    "Linux",
    "Android",
    "HealthApp",
    "Apache",
    "Proxifier",
    "OpenSSH",
    "OpenStack",
    "Mac",
)


def grouping_accuracy(truth: Sequence[Hashable], parsed: Sequence[Hashable]) -> float:
    """Return logparser's grouping accuracy of ``parsed`` against ``truth``.

    A parsed group counts (all its messages) as correct when all its messages
    share one ground-truth event and that event has no other message.
    """
    truth_sizes = Counter(truth)
    members: defaultdict[Hashable, list[Hashable]] = defaultdict(list)
    for t, p in zip(truth, parsed, strict=True):
        members[p].append(t)
    correct = 0
    for events in members.values():
        first = events[0]
        if all(e == first for e in events) and truth_sizes[first] == len(events):
            correct += len(events)
    return correct / len(truth)


def read_structured(path: Path) -> tuple[list[str], list[str]]:
    """Return the ``Content`` and ``EventId`` columns of a structured CSV."""
    contents: list[str] = []
    events: list[str] = []
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            contents.append(row["Content"])
            events.append(row["EventId"])
    return contents, events


def run_ours(messages: Sequence[str]) -> list[str]:
    """Feed ``messages`` to a fresh miner; return the template id of each."""
    miner = TemplateMiner()
    add = miner.add
    return [add(m).id for m in messages]


def make_drain3() -> Callable[[Sequence[str]], list[int]] | None:
    """Return a runner for Drain3 with default settings, or None if not installed."""
    try:
        from drain3 import TemplateMiner as Drain3Miner  # type: ignore[import-untyped]
        from drain3.template_miner_config import (  # type: ignore[import-untyped]
            TemplateMinerConfig,
        )
    except ImportError:
        return None

    def run(messages: Sequence[str]) -> list[int]:
        miner = Drain3Miner(config=TemplateMinerConfig())
        add = miner.add_log_message
        return [add(m)["cluster_id"] for m in messages]

    return run


def timed(fn: Callable[[Sequence[str]], list[T]], messages: Sequence[str]) -> tuple[list[T], float]:
    """Run ``fn(messages)``; return its result and the elapsed seconds."""
    start = time.perf_counter()
    result = fn(messages)
    return result, time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Loghub-2k directory")
    parser.add_argument("--repeat", type=int, default=3, help="timing runs, best kept")
    parser.add_argument("--no-drain3", action="store_true", help="skip the Drain3 baseline")
    parser.add_argument("systems", nargs="*", default=list(SYSTEMS), help="systems to run")
    args = parser.parse_args(argv)

    if not args.data.is_dir():
        print(f"error: Loghub-2k not found in {args.data} (use --data DIR)", file=sys.stderr)
        return 2
    unknown = sorted(set(args.systems) - set(SYSTEMS))
    if unknown:
        print(
            f"error: unknown system(s) {', '.join(unknown)}; pick from: {' '.join(SYSTEMS)}",
            file=sys.stderr,
        )
        return 2
    if args.repeat < 1:
        print("error: --repeat must be at least 1", file=sys.stderr)
        return 2
    for system in args.systems:
        for suffix in ("", "_corrected"):
            path = args.data / system / f"{system}_2k.log_structured{suffix}.csv"
            if not path.is_file():
                print(f"error: {path} is missing", file=sys.stderr)
                return 2
    drain3 = None if args.no_drain3 else make_drain3()
    if drain3 is None and not args.no_drain3:
        print("note: drain3 is not installed, baseline columns are empty", file=sys.stderr)

    header = (
        f"{'system':<12} {'GA orig':>8} {'GA corr':>8} {'D3 orig':>8} {'D3 corr':>8}"
        f" {'lines/s':>9} {'D3 l/s':>9} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    sums = [0.0, 0.0, 0.0, 0.0]
    total_lines = 0
    total_ours = 0.0
    total_d3 = 0.0
    for system in args.systems:
        base = args.data / system / f"{system}_2k.log_structured"
        messages, truth = read_structured(base.with_name(base.name + ".csv"))
        _, truth_corr = read_structured(base.with_name(base.name + "_corrected.csv"))
        best_ours = best_d3 = float("inf")
        ours: list[str] = []
        theirs: list[int] = []
        for _ in range(args.repeat):
            ours, elapsed = timed(run_ours, messages)
            best_ours = min(best_ours, elapsed)
            if drain3 is not None:
                theirs, elapsed = timed(drain3, messages)
                best_d3 = min(best_d3, elapsed)
        ga = (grouping_accuracy(truth, ours), grouping_accuracy(truth_corr, ours))
        if drain3 is not None:
            ga_d3 = (grouping_accuracy(truth, theirs), grouping_accuracy(truth_corr, theirs))
        else:
            ga_d3 = (float("nan"), float("nan"))
        for i, value in enumerate((*ga, *ga_d3)):
            sums[i] += value
        total_lines += len(messages)
        total_ours += best_ours
        total_d3 += best_d3
        rate = len(messages) / best_ours
        rate_d3 = len(messages) / best_d3 if drain3 is not None else float("nan")
        print(
            f"{system:<12} {ga[0]:8.3f} {ga[1]:8.3f} {ga_d3[0]:8.3f} {ga_d3[1]:8.3f}"
            f" {rate:9.0f} {rate_d3:9.0f} {rate / rate_d3:6.2f}"
        )
    n = len(args.systems)
    rate = total_lines / total_ours
    rate_d3 = total_lines / total_d3 if drain3 is not None else float("nan")
    print("-" * len(header))
    print(
        f"{'average':<12} {sums[0] / n:8.3f} {sums[1] / n:8.3f} {sums[2] / n:8.3f}"
        f" {sums[3] / n:8.3f} {rate:9.0f} {rate_d3:9.0f} {rate / rate_d3:6.2f}"
    )
    print("(lines/s over all systems: total lines / total best time)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
