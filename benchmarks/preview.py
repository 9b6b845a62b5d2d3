"""Preview of a 10 000-file cleanup vs doing the cleanup directly, measured in the same run.

The cleanup is ``files.delete`` over a temporary tree of 10 000 small files in 100
folders. The preview runs the same action for real over overlayfs in private
namespaces, then reads the upper directory back (10 000 whiteouts) and stats the
real files for the digest. The baseline deletes the files for real.

Run as root: ``.venv/bin/python benchmarks/preview.py [--files N] [--rounds R]``.
Goal: preview ≤ 2 × direct.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from libhfagent.config import Config
from libhfagent.executor import Executor
from libhfagent.executor._actions import ActionContext, get_action
from libhfagent.executor._preview import run_preview
from libhfagent.interpreter._types import Intent, Plan, Step


def make_tree(root: Path, files: int) -> None:
    per_dir = 100
    for d in range(files // per_dir):
        folder = root / f"d{d:03d}"
        folder.mkdir(parents=True)
        for f in range(per_dir):
            (folder / f"f{f:03d}.log").write_bytes(b"x" * (512 + f))
    os.sync()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("preview benchmark: needs root (overlayfs in a private mount namespace)")
        return 2
    base = Path(tempfile.mkdtemp(prefix="hf-bench-preview."))
    direct_s: list[float] = []
    preview_s: list[float] = []
    executor_s: list[float] = []
    deleted = 0
    try:
        config = Config.from_text(json.dumps({"agent": {"state_dir": str(base / "state")}}))
        executor = Executor(config)
        action = get_action("files.delete")
        for r in range(args.rounds):
            root = base / f"tree{r}"
            make_tree(root, args.files)
            step = ("files.delete", {"paths": [str(root)]})

            t0 = time.perf_counter()
            preview = run_preview([step], state_dir=base / "state", touched=[str(root)])
            preview_s.append(time.perf_counter() - t0)
            assert preview.deleted == args.files, preview.totals()

            plan = Plan(
                Intent("bench", "en", "disk.cleanup", 1.0), (Step(*step, changes_system=True),)
            )
            t0 = time.perf_counter()
            previewed = executor.preview(plan)
            executor_s.append(time.perf_counter() - t0)
            assert previewed is not None and previewed.preview.deleted == args.files

            t0 = time.perf_counter()
            result = action.run(step[1], ActionContext(base / "state", "bench"))
            direct_s.append(time.perf_counter() - t0)
            deleted = result.report["deleted"]
            assert deleted == args.files
            shutil.rmtree(root)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    direct, prev, full = (statistics.median(x) for x in (direct_s, preview_s, executor_s))
    print(f"files deleted per round: {deleted}, rounds: {args.rounds} (medians below)")
    print(f"direct cleanup (walk + unlink):                      {direct * 1000:8.1f} ms")
    print(f"preview (namespaces + overlay + real action + diff): {prev * 1000:8.1f} ms")
    print(f"Executor.preview (resolve + preview + plan file):    {full * 1000:8.1f} ms")
    print(f"ratio preview / direct:          {prev / direct:5.2f}x (goal <= 2x)")
    print(f"ratio Executor.preview / direct: {full / direct:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
