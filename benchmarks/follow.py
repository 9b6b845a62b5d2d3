"""Following nginx access logs: lines/s against a plain loop, RSS, exactly once over rotations.

Three parts, all in a temporary directory:

1. **Catch-up.** A generated 1,000,000-line nginx ``combined`` log is followed
   and parsed from its beginning by ``FileSource.follow()`` (and through
   ``Observer.follow_batches`` with a commit per batch), next to the same
   file read by a plain ``for line in f`` loop and by that loop plus
   ``parse_access_line`` — same run, same file.
2. **Live.** A writer process appends the same lines (64 KiB writes) while
   ``FileSource.follow()`` follows the file through inotify.
3. **Rotations.** A writer process appends 1,000,000 numbered lines with
   rename+create, copytruncate, compressed rotations and one deletion; a
   consumer process following with the commit protocol is killed with
   SIGKILL every few seconds and restarted. Lost and duplicated lines are
   counted (must be 0/0; the script exits with status 1 otherwise).

RSS (``/proc/self/statm``) is sampled every 20 ms during parts 1 and 2 and
printed as start / peak / end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from libhfagent.config import Config
from libhfagent.observer import Observer, parse_access_line
from libhfagent.observer._follow import FileSource
from libhfagent.observer._state import PositionStore

PAGE = os.sysconf("SC_PAGE_SIZE")


class RssSampler:
    """Samples this process's resident memory in a thread."""

    def __init__(self, every: float = 0.02) -> None:
        self.every = every
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.rss())
            time.sleep(self.every)

    def __enter__(self) -> RssSampler:
        self.samples.append(self.rss())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(self.rss())

    def summary(self) -> str:
        mib = 1 << 20
        s = self.samples
        start, peak, end = s[0] / mib, max(s) / mib, s[-1] / mib
        return f"RSS start {start:.1f} MiB, peak {peak:.1f} MiB, end {end:.1f} MiB"


def generate(path: Path, lines: int, seed: int) -> None:
    rng = random.Random(seed)
    paths = [f"/static/{i}/app.js" for i in range(300)] + [f"/api/v1/items/{i}" for i in range(700)]
    agents = ['"Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"', '"curl/8.5.0"', '"Googlebot/2.1"']
    start = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    with open(path, "w") as f:
        buf = []
        for i in range(lines):
            when = (start + dt.timedelta(seconds=i // 12)).strftime("%d/%b/%Y:%H:%M:%S +0000")
            status = rng.choices((200, 304, 404, 500), (85, 5, 8, 2))[0]
            buf.append(
                f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)} - - [{when}] "
                f'"GET {rng.choice(paths)} HTTP/1.1" {status} {rng.randrange(50000)} "-" '
                f"{rng.choice(agents)}\n"
            )
            if len(buf) == 10000:
                f.write("".join(buf))
                buf.clear()
        f.write("".join(buf))


def plain_loop(path: Path, parse: bool) -> tuple[int, float]:
    t = time.perf_counter()
    n = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        if parse:
            for line in f:
                parse_access_line(line)
                n += 1
        else:
            for _line in f:
                n += 1
    return n, time.perf_counter() - t


async def follow_count(src: FileSource, lines: int) -> int:
    n = 0
    async with contextlib.aclosing(src.follow()) as stream:
        async for event in stream:
            if "position" in event.fields:
                n += 1
                if n == lines:
                    break
    return n


async def observer_count(src: FileSource, lines: int, commit: bool) -> int:
    observer = Observer(Config())
    n = 0
    async with contextlib.aclosing(observer.follow_batches([src], max_batch=1000)) as batches:
        async for batch in batches:
            n += len(batch)
            if commit:
                observer.commit(batch)
            if n >= lines:
                break
    return n


def catch_up(tmp: Path, log: Path, lines: int) -> float:
    print(f"\n## Catch-up: {lines:,} nginx access lines ({log.stat().st_size / 1e6:.0f} MB)")
    base_n, base_t = plain_loop(log, parse=False)
    parse_n, parse_t = plain_loop(log, parse=True)
    with RssSampler() as rss:
        t = time.perf_counter()
        n = asyncio.run(follow_count(FileSource(log, parser="access", start="beginning"), lines))
        follow_t = time.perf_counter() - t
    obs_t: list[float] = []
    for commit in (False, True):
        store = PositionStore(tmp / f"state-catchup-{commit}")
        t = time.perf_counter()
        src = FileSource(log, parser="access", start="beginning", store=store)
        n2 = asyncio.run(observer_count(src, lines, commit))
        obs_t.append(time.perf_counter() - t)
        assert n2 == lines, n2
    assert base_n == parse_n == n == lines, (base_n, parse_n, n)
    rows = [
        ("plain `for line in f` loop (baseline)", base_t),
        ("plain loop + parse_access_line", parse_t),
        ("FileSource.follow() (events, parsed)", follow_t),
        ("Observer.follow_batches (queue)", obs_t[0]),
        ("  + commit per batch (atomic, fsync)", obs_t[1]),
    ]
    print(f"{'reader':<46} {'seconds':>8} {'lines/s':>12} {'vs baseline':>12}")
    for name, secs in rows:
        print(f"{name:<46} {secs:>8.2f} {lines / secs:>12,.0f} {base_t / secs:>11.3f}x")
    print(f"follow() during catch-up: {rss.summary()}")
    return base_t


def live(tmp: Path, source_log: Path, lines: int, base_t: float) -> None:
    print(f"\n## Live: a writer appends {lines:,} lines while they are followed (inotify)")
    log = tmp / "live" / "access.log"
    log.parent.mkdir()
    log.write_bytes(b"")
    writer_code = (
        "import os, sys\n"
        "src, dst = sys.argv[1:3]\n"
        "fd = os.open(dst, os.O_WRONLY | os.O_APPEND)\n"
        "with open(src, 'rb') as f:\n"
        "    while chunk := f.read(65536):\n"
        "        os.write(fd, chunk)\n"
    )

    async def run() -> tuple[int, float, str]:
        src = FileSource(log, parser="access", start="beginning", interval=1.0)
        t = time.perf_counter()
        writer = await asyncio.create_subprocess_exec(
            sys.executable, "-c", writer_code, str(source_log), str(log)
        )
        try:
            n = await follow_count(src, lines)
        finally:
            if writer.returncode is None:
                await writer.wait()
        return n, time.perf_counter() - t, src.watch_mode

    with RssSampler() as rss:
        n, secs, mode = asyncio.run(run())
    assert n == lines
    print(
        f"followed {n:,} lines in {secs:.2f} s ({mode}): {n / secs:,.0f} lines/s, "
        f"{base_t / secs:.3f}x the plain loop over the finished file"
    )
    print(f"follow() live: {rss.summary()}")


_WRITER = r"""
import gzip, glob, json, os, random, re, shutil, sys, time
log, total, seed, state = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = random.Random(seed)
numbered = re.compile(re.escape(os.path.basename(log)) + r"\.(\d+)(\.gz)?$")
def compress(src, dst):
    with open(src, "rb") as f, gzip.open(dst, "wb", compresslevel=1) as g:
        shutil.copyfileobj(f, g, 65536)
    os.unlink(src)
def shift():
    found = []
    for name in os.listdir(os.path.dirname(log)):
        m = numbered.match(name)
        if m:
            found.append((int(m.group(1)), bool(m.group(2))))
    for n, gz in sorted(found, reverse=True):
        src = f"{log}.{n}" + (".gz" if gz else "")
        if gz:
            os.rename(src, f"{log}.{n + 1}.gz")
        else:
            compress(src, f"{log}.{n + 1}.gz")
def wait_committed(fd):
    size, ino = os.fstat(fd).st_size, os.fstat(fd).st_ino
    while True:
        for p in glob.glob(os.path.join(state, "*.json")):
            try:
                doc = json.load(open(p))
            except (OSError, ValueError):
                continue
            if doc.get("inode") == ino and doc.get("offset") == size:
                return
        time.sleep(0.02)
def opened():
    return os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
fd = opened()
kinds = ["rename", "copytruncate", "rename_compress"]
rotations = 0
next_rot = rng.randint(40000, 90000)
for i in range(total):
    os.write(fd, f"{i:07d} GET /x/{rng.randrange(1000)} 200\n".encode())
    if i % 2000 == 0:
        time.sleep(0.004)
    if i == total // 2:
        wait_committed(fd)
        os.close(fd); os.unlink(log); fd = opened()
    elif i == next_rot:
        kind = kinds[rotations % len(kinds)]
        rotations += 1
        next_rot = i + rng.randint(40000, 90000)
        shift()
        if kind == "copytruncate":
            shutil.copyfile(log, log + ".1")
            os.ftruncate(fd, 0)
        else:
            os.close(fd); os.rename(log, log + ".1"); fd = opened()
            if kind == "rename_compress":
                compress(log + ".1", log + ".1.gz")
os.close(fd)
print(rotations, flush=True)
"""

_CONSUMER = r"""
import asyncio, os, sys
from libhfagent.config import Config
from libhfagent.observer._follow import FileSource
from libhfagent.observer._observer import Observer
from libhfagent.observer._state import PositionStore
log, state, out = sys.argv[1:4]
async def main():
    src = FileSource(log, name="numbers", store=PositionStore(state), parser="none",
                     start="beginning", interval=0.2)
    length = int(src.committed_extra.get("out_len", 0))
    fd = os.open(out, os.O_WRONLY | os.O_CREAT, 0o644)
    os.ftruncate(fd, length)
    observer = Observer(Config())
    async for batch in observer.follow_batches([src], max_batch=2000):
        data = "".join(e.message[:7] + "\n" for e in batch if "position" in e.fields).encode()
        os.pwrite(fd, data, length)
        length += len(data)
        observer.commit(batch, extra={"out_len": length})
asyncio.run(main())
"""


def rotations(tmp: Path, lines: int, seed: int) -> bool:
    print(
        f"\n## Exactly once: {lines:,} numbered lines, rotations, a deletion, "
        "consumer killed with SIGKILL"
    )
    logs = tmp / "rot"
    logs.mkdir()
    log, state, out = logs / "app.log", tmp / "rot-state", tmp / "rot-out.txt"
    rng = random.Random(seed)

    def committed() -> int:
        docs = list(state.glob("*.json"))
        return int(json.loads(docs[0].read_text())["extra"]["out_len"]) if docs else 0

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", _CONSUMER, str(log), str(state), str(out)])

    t = time.perf_counter()
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(log), str(lines), str(seed), str(state)],
        stdout=subprocess.PIPE,
        text=True,
    )
    consumer = start()
    kills = 0
    try:
        while writer.poll() is None:
            time.sleep(rng.uniform(1.0, 3.0))
            consumer.send_signal(signal.SIGKILL)
            consumer.wait()
            kills += 1
            consumer = start()
        assert writer.stdout is not None
        rotated = int(writer.stdout.read() or 0)
        writer.stdout.close()
        while committed() < 8 * lines and consumer.poll() is None:
            time.sleep(0.1)
        secs = time.perf_counter() - t
        consumer.send_signal(signal.SIGKILL)
        consumer.wait()
    finally:
        for proc in (consumer, writer):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    numbers = [int(x) for x in out.read_bytes()[: committed()].split()]
    seen = set(numbers)
    lost = sum(1 for i in range(lines) if i not in seen)
    duplicated = len(numbers) - len(seen)
    print(
        f"{rotated} rotations + 1 deletion, consumer killed {kills} times, {secs:.1f} s "
        f"({lines / secs:,.0f} lines/s end to end with restarts)"
    )
    print(
        f"lost {lost} / duplicated {duplicated}"
        + ("" if lost == duplicated == 0 else "   <-- NOT EXACT")
    )
    return lost == duplicated == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    parser.add_argument("--skip-rotations", action="store_true")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if args.keep:
            tmp = args.keep
            tmp.mkdir(parents=True, exist_ok=False)
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hfa-follow-")))
        log = tmp / "access.log"
        generate(log, args.lines, args.seed)
        print(
            f"# benchmarks/follow.py — {args.lines:,} lines, Python {sys.version.split()[0]}, "
            f"{os.cpu_count()} CPUs"
        )
        base_t = catch_up(tmp, log, args.lines)
        live(tmp, log, args.lines, base_t)
        exact = True if args.skip_rotations else rotations(tmp, args.lines, args.seed)
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
