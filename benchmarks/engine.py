"""The engine over time: catch-up throughput, live latency and CPU, memory, signals.

The engine (``libhfagent.daemon._engine.Engine``: follow → Learner → signals →
alerts) against the bare follower it is built on (``Observer.follow_batches`` with
``observer.commit(batch)``, no Learner), each measured in a fresh child process of
its own so that RSS and CPU time belong to one follower only. Same files, same
batch size (500) and queue size (10,000), same run.

Data, generated with a seeded ``random.Random`` in a temporary folder, on one
timeline that ends at generation time:

- ``access.log`` (nginx ``combined``), ``auth.log`` (sshd, sudo, CRON's PAM lines:
  logins, scattered failures, and brute-force bursts of 6-10 attempts within two
  minutes from 25 addresses), ``syslog`` (systemd, CRON, kernel lines including a
  few ``I/O error, dev sdb`` lines as rsyslog copies them), followed by
  ``FileSource(start="beginning", store=PositionStore)``;
- ``kmsg``: the kernel's records (``/dev/kmsg`` format) with the same I/O errors,
  followed by ``KmsgSource`` as the engine follows ``kmsg:``.

Parts:

1. **Catch-up**: lines/s from start until every line is handled (the engine: until
   ``engine.stats.events`` counts them all), ratio engine / baseline; the time in
   ``engine.handle_batch`` (Learner + signals + alerts), in ``Learner.save``, and
   the position saves of the commits (``PositionStore.save``: write, fsync, rename,
   folder fsync), counted and timed.
2. **Live**: a writer process appends lines at a fixed rate (``--rate`` lines/s for
   ``--live-seconds``; 5 more brute-force addresses) to three more files followed
   from the start; each line carries its write time (``CLOCK_MONOTONIC``); latency
   from the write to the end of ``handle_batch`` (baseline: to the batch in hand),
   p50/p95/max, the process's CPU time over the phase (``getrusage``), and the
   batches and position saves of the phase.
3. **Memory**: RSS (``/proc/self/statm``) at start, with the engine built, after
   the catch-up, and every few seconds of the live phase; the size of the Learner's
   saved state after the catch-up and at the end.
4. **Signals**: the signals and alerts by kind; brute-force addresses against the
   attackers written (exit status 1 if one is missed or an innocent one flagged, or
   if ``sdb`` is not reported at risk, or if a follower did not handle exactly the
   lines written).

Run: ``.venv/bin/python benchmarks/engine.py [--lines N] [--rate R] [--live-seconds S]``
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import cProfile
import datetime as dt
import io
import json
import os
import pstats
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PAGE = os.sysconf("SC_PAGE_SIZE")
MIB = 1 << 20
BOOT_ID = "0b5e7c1a-bench-boot"
ATTACKERS = 25
LIVE_ATTACKERS = 5
MAX_BATCH = 500
QUEUE_SIZE = 10_000
STAMP = re.compile(r"hfab=(\d+\.\d+)")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# -- data ----------------------------------------------------------------------------------


def nginx_time(t: dt.datetime) -> str:
    return f"{t.day:02d}/{MONTHS[t.month - 1]}/{t.year}:{t:%H:%M:%S} +0000"


def syslog_time(t: dt.datetime) -> str:
    return f"{MONTHS[t.month - 1]} {t.day:2d} {t:%H:%M:%S}"


class Lines:
    """The line makers shared by the generator and the live writer (same shapes)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.paths = [f"/static/{i}/app.js" for i in range(300)]
        self.paths += [f"/api/v1/items/{i}" for i in range(700)]
        self.agents = [
            '"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"',
            '"curl/8.5.0"',
            '"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"',
        ]
        self.pid = 2000

    def next_pid(self) -> int:
        self.pid = 2000 + (self.pid - 1999) % 30000
        return self.pid

    def nginx(self, t: dt.datetime, mark: str = "") -> str:
        r = self.rng
        status = r.choices((200, 304, 404, 500, 502), (85, 5, 8, 1, 1))[0]
        path = r.choice(self.paths) + mark
        return (
            f"10.{r.randrange(4)}.{r.randrange(256)}.{r.randrange(256)} - - [{nginx_time(t)}] "
            f'"GET {path} HTTP/1.1" {status} {r.randrange(50000)} "-" {r.choice(self.agents)}'
        )

    def auth(self, t: dt.datetime, mark: str = "") -> str:
        """An auth.log line; ``mark`` (live lines' stamp) takes the user name's place in
        sshd's lines, which must still parse, and ends the others."""
        r = self.rng
        pid = self.next_pid()
        head = f"{syslog_time(t)} web"
        user = mark or "deploy"
        port = r.randrange(30000, 60000)
        k = r.random()
        if k < 0.45:
            ip = f"10.1.{r.randrange(8)}.{r.randrange(1, 250)}"
            return (
                f"{head} sshd[{pid}]: Accepted publickey for {user} from {ip} port {port} ssh2: "
                f"ED25519 SHA256:kq0{r.randrange(99)}"
            )
        if k < 0.7:
            return f"{head} sshd[{pid}]: pam_unix(sshd:session): session closed for user {user}"
        if k < 0.95:
            msg = (
                f"CRON[{pid}]: pam_unix(cron:session): session opened for user root(uid=0) "
                "by (uid=0)"
                if k < 0.85
                else "sudo:   deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; "
                "COMMAND=/usr/bin/systemctl status nginx"
            )
            return f"{head} {msg}{' ' + mark if mark else ''}"
        # A scattered failure from an address that never comes back (no brute force).
        ip = f"198.51.{r.randrange(256)}.{r.randrange(1, 255)}"
        user = mark or "test"
        return (
            f"{head} sshd[{pid}]: Failed password for invalid user {user} from {ip} "
            f"port {port} ssh2"
        )

    def attempt(self, t: dt.datetime, ip: str, mark: str = "") -> list[str]:
        """One brute-force attempt: sshd's two lines under one pid (``mark``: the user)."""
        r = self.rng
        pid = self.next_pid()
        user = mark or r.choice(("admin", "oracle", "ubuntu", "test", "git"))
        port = r.randrange(30000, 60000)
        head = f"{syslog_time(t)} web sshd[{pid}]:"
        return [
            f"{head} Invalid user {user} from {ip} port {port}",
            f"{head} Failed password for invalid user {user} from {ip} port {port} ssh2",
        ]

    def syslog(self, t: dt.datetime, uptime: float, mark: str = "") -> str:
        r = self.rng
        pid = self.next_pid()
        head = f"{syslog_time(t)} web"
        k = r.random()
        if k < 0.35:
            unit = r.choice(
                ("logrotate", "apt-daily", "man-db", "phpsessionclean", "sysstat-collect")
            )
            msg = f"systemd[1]: Started {unit}.service - {unit} job."
        elif k < 0.6:
            msg = f"CRON[{pid}]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)"
        elif k < 0.8:
            unit = r.choice(("logrotate", "sysstat-collect"))
            msg = f"systemd[1]: {unit}.service: Deactivated successfully."
        elif k < 0.9:
            src = f"10.9.{r.randrange(256)}.{r.randrange(256)}"
            msg = f"kernel: [{uptime:12.6f}] IPv4: martian source 10.0.0.1 from {src}, on dev eth0"
        else:
            worker = r.randrange(100, 999)
            msg = f"nginx[{pid}]: 2026/03/01 worker process {worker} exited on signal 9"
        return f"{head} {msg}{mark}"


def generate(folder: Path, lines: int, seed: int) -> dict[str, Any]:
    """The catch-up files; what they hold (counts, attackers, boot time)."""
    rng = random.Random(seed)
    make = Lines(rng)
    folder.mkdir(parents=True)
    end = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=1)
    span = max(3600.0, lines / 12.0)  # ~12 lines a second, at least an hour
    start = end - dt.timedelta(seconds=span)
    boot = start - dt.timedelta(hours=2)
    attackers = [f"203.0.113.{i + 1}" for i in range(ATTACKERS)]
    # Burst starts and the I/O errors' times, as line indexes of the timeline.
    bursts = sorted(rng.sample(range(lines // 20, lines - lines // 20), ATTACKERS))
    burst_at = dict(zip(bursts, attackers, strict=True))
    io_errors = sorted(rng.sample(range(lines // 2, lines - 100), 4))
    out: dict[str, list[str]] = {"access.log": [], "auth.log": [], "syslog": []}
    kmsg: list[str] = []
    seq = 0
    pending: list[tuple[float, str]] = []  # (time, ip) attempts still to write
    for i in range(lines):
        t = start + dt.timedelta(seconds=span * i / lines)
        uptime = (t - boot).total_seconds()
        if i in burst_at:
            ip = burst_at[i]
            base = t.timestamp()
            for k in range(rng.randint(6, 10)):
                pending.append((base + 12.0 * k + rng.uniform(0, 5), ip))
            pending.sort()
        if pending and pending[0][0] <= t.timestamp():
            _, ip = pending.pop(0)
            out["auth.log"] += make.attempt(t, ip)
            continue
        if i in io_errors:
            disk_line = (
                f"blk_update_request: I/O error, dev sdb, sector {rng.randrange(1 << 30)} "
                "op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0"
            )
            out["syslog"].append(f"{syslog_time(t)} web kernel: [{uptime:12.6f}] {disk_line}")
            seq += 1
            kmsg.append(
                f"3,{seq},{int(uptime * 1e6)},-;{disk_line}\n SUBSYSTEM=block\n DEVICE=b8:16"
            )
            continue
        k = rng.random()
        if k < 0.8:
            out["access.log"].append(make.nginx(t))
        elif k < 0.9:
            out["auth.log"].append(make.auth(t))
        else:
            out["syslog"].append(make.syslog(t, uptime))
        if rng.random() < 0.002:  # the ring buffer has its own, quieter, traffic
            seq += 1
            kmsg.append(
                f"6,{seq},{int(uptime * 1e6)},-;EXT4-fs (sda1): re-mounted. Quota mode: none."
            )
    for _, ip in pending:  # bursts that ran past the end
        out["auth.log"] += make.attempt(end, ip)
    for name, rows in out.items():
        (folder / name).write_text("".join(r + "\n" for r in rows))
    (folder / "kmsg").write_text("".join(r + "\n" for r in kmsg))
    counts = {name: len(rows) for name, rows in out.items()}
    counts["kmsg"] = len(kmsg)
    return {
        "counts": counts,
        "total": sum(counts.values()),
        "attackers": attackers,
        "boot": boot.isoformat(),
        "span": span,
        "bytes": sum((folder / n).stat().st_size for n in out),
    }


# The live writer: one process, lines at a fixed rate, each with its write time.
_WRITER = r"""
import datetime as dt, json, os, random, sys, time
sys.path.insert(0, sys.argv[1])
from engine import Lines
folder, boot = sys.argv[2], sys.argv[6]
rate, seconds, seed = int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
rng = random.Random(seed)
make = Lines(rng)
boot_t = dt.datetime.fromisoformat(boot)
total = int(rate * seconds)
attackers = [f"203.0.113.{200 + i}" for i in range(int(sys.argv[7]))]
# Each attacker: 6 attempts (12 lines) spread over the phase.
starts = {int(total * (i + 1) / (len(attackers) + 2)): ip for i, ip in enumerate(attackers)}
names = ("access.log", "auth.log", "syslog")
fds = {n: os.open(os.path.join(folder, n), os.O_WRONLY | os.O_APPEND) for n in names}
queued = []
written = 0
t0 = time.monotonic()
counts = {n: 0 for n in fds}
while written < total:
    due = min(total, int((time.monotonic() - t0) * rate) + 1)
    chunks = {n: [] for n in fds}
    now = dt.datetime.now(dt.UTC)
    while written < due:
        mark = f"hfab={time.monotonic():.6f}"
        if written in starts:
            queued += [starts[written]] * 6
        if queued and written % 40 == 0 and written + 2 <= due:
            rows = make.attempt(now, queued.pop(0), mark)
            chunks["auth.log"] += rows
            written += len(rows)
            continue
        k = rng.random()
        if k < 0.8:
            chunks["access.log"].append(make.nginx(now, "?" + mark))
        elif k < 0.9:
            chunks["auth.log"].append(make.auth(now, mark))
        else:
            chunks["syslog"].append(make.syslog(now, (now - boot_t).total_seconds(), " " + mark))
        written += 1
    for n, rows in chunks.items():
        if rows:
            os.write(fds[n], ("".join(r + "\n" for r in rows)).encode())
            counts[n] += len(rows)
    time.sleep(0.005)
print(json.dumps({"lines": sum(counts.values()), "counts": counts, "attackers": attackers,
                  "seconds": time.monotonic() - t0}), flush=True)
"""


# -- measuring -----------------------------------------------------------------------------


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class RssSampler:
    """RSS every ``every`` seconds in a thread, with the time of each sample."""

    def __init__(self, every: float = 0.25) -> None:
        self.every = every
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), rss()))
            time.sleep(self.every)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def between(self, start: float, end: float, points: int) -> list[int]:
        """RSS at ``points`` evenly spaced times from ``start`` to ``end`` (nearest sample)."""
        out = []
        for i in range(points):
            at = start + (end - start) * i / max(1, points - 1)
            out.append(min(self.samples, key=lambda s: abs(s[0] - at))[1])
        return out


class Latencies:
    """Write-to-handled times of the live lines (from the ``hfab=`` stamp they carry)."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def see(self, batch: Iterable[Any], now: float) -> None:
        for item in batch:
            message = getattr(item, "message", "")
            if "hfab=" in message:
                m = STAMP.search(message)
                if m:
                    self.values.append(now - float(m.group(1)))

    def summary(self) -> dict[str, float]:
        ms = sorted(v * 1000 for v in self.values)
        if not ms:
            return {"n": 0, "p50": 0.0, "p95": 0.0, "max": 0.0}
        return {
            "n": len(ms),
            "p50": statistics.median(ms),
            "p95": ms[min(len(ms) - 1, int(0.95 * len(ms)))],
            "max": ms[-1],
        }


class Saves:
    """Counts the position saves (each one a write, fsync, rename and folder fsync)."""

    def __init__(self, store: Any) -> None:
        self.count = 0
        self.seconds = 0.0
        self._save = store.save
        store.save = self.save

    def save(self, key: str, value: dict[str, Any]) -> None:
        start = time.perf_counter()
        self._save(key, value)
        self.seconds += time.perf_counter() - start
        self.count += 1


def sources(data: Path, live: Path, state: Path, boot: dt.datetime) -> tuple[list[Any], Saves]:
    """The followed sources (the catch-up files, the live files, the kernel's records)."""
    from libhfagent.observer import KmsgSource
    from libhfagent.observer._follow import FileSource
    from libhfagent.observer._state import PositionStore

    store = PositionStore(state / "observer")
    saves = Saves(store)
    out: list[Any] = []
    for folder, tag in ((data, ""), (live, "live-")):
        for file, name, parser in (
            ("access.log", "nginx", "access"),
            ("auth.log", "auth", "syslog"),
            ("syslog", "syslog", "syslog"),
        ):
            out.append(
                FileSource(
                    folder / file,
                    name=tag + name,
                    parser=parser,  # type: ignore[arg-type]
                    start="beginning",
                    store=store,
                )
            )
    out.append(
        KmsgSource(
            data / "kmsg", name="kernel", store=store, boot_id=BOOT_ID, boot_time=boot, host="web"
        )
    )
    return out, saves


def bench_config(state: Path) -> Any:
    from libhfagent.config import Config

    return Config.from_text(
        json.dumps(
            {
                "agent": {"state_dir": str(state), "timezone": "UTC", "language": "en"},
                "modules": {
                    "notifications": {"desktop": False, "journal": False},
                    "runbooks": {"enabled": False, "directories": []},
                    "scheduler": {"enabled": True, "jobs": []},
                },
            }
        )
    )


class Recorder:
    """A notifier that keeps the alerts, and a listener that counts the signals."""

    def __init__(self) -> None:
        self.alerts: collections.Counter[str] = collections.Counter()
        self.severities: collections.Counter[str] = collections.Counter()
        self.signals: collections.Counter[str] = collections.Counter()
        self.brute: set[str] = set()
        self.disks: list[str] = []

    async def send(self, alert: Any) -> Any:
        from libhfagent.daemon import Delivery

        self.alerts[alert.source] += 1
        self.severities[alert.severity] += 1
        return Delivery(alert, ())

    def listen(self, name: str, body: Any) -> None:
        if name != "EventDetected":
            return
        self.signals[body["kind"]] += 1
        if body["kind"] == "brute_force":
            self.brute.add(str(body["ip"]))
        elif body["kind"] == "disk_risk":
            self.disks.append(str(body["key"]))


async def run_writer(here: Path, live: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The live writer's run; what it wrote."""
    writer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _WRITER,
        str(here),
        str(live),
        str(args.rate),
        str(args.live_seconds),
        str(args.seed + 1),
        args.boot,
        str(LIVE_ATTACKERS),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await writer.communicate()
    result: dict[str, Any] = json.loads(out)
    return result


# -- the two followers (each in a child process) ---------------------------------------------


async def run_baseline(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from libhfagent.observer import Observer

    here = Path(__file__).resolve().parent
    expected = int(args.expected)
    sampler = RssSampler()
    sampler.start()
    marks: dict[str, Any] = {"rss_start": rss()}
    live = work / "live"
    srcs, saves = sources(Path(args.data), live, work / "state", _boot(args))
    observer = Observer(bench_config(work / "state"))
    marks["rss_built"] = rss()
    lat = Latencies()
    n = batches = 0
    t0, c0 = time.perf_counter(), cpu()
    written: asyncio.Task[dict[str, Any]] | None = None
    total = expected
    async for batch in observer.follow_batches(srcs, max_batch=MAX_BATCH, queue_size=QUEUE_SIZE):
        lat.see(batch, time.monotonic())
        n += len(batch)
        batches += 1
        observer.commit(batch)
        if written is None and n >= expected:
            marks["catchup_s"], marks["catchup_cpu"] = time.perf_counter() - t0, cpu() - c0
            marks["catchup_io"] = {
                "batches": batches,
                "saves": saves.count,
                "save_s": saves.seconds,
            }
            marks["rss_caught_up"] = rss()
            marks["live_t0"], marks["live_cpu0"] = time.monotonic(), cpu()
            written = asyncio.create_task(run_writer(here, live, args))
            total = expected + int(args.rate * args.live_seconds)
        if written is not None and n >= total:
            break
    marks["live_s"] = time.monotonic() - marks["live_t0"]
    marks["live_cpu"] = cpu() - marks["live_cpu0"]
    assert written is not None
    marks["writer"] = await written
    sampler.stop()
    marks["rss_live"] = sampler.between(marks["live_t0"], marks["live_t0"] + marks["live_s"], 5)
    marks["rss_end"] = rss()
    stats = observer.follow_stats
    marks.update(
        handled=n,
        latency=lat.summary(),
        io={"batches": batches, "saves": saves.count, "save_s": saves.seconds},
        queue_peak=stats.queue_peak,
        waits=stats.waits,
    )
    return marks


async def run_engine(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from libhfagent.daemon._engine import Engine

    here = Path(__file__).resolve().parent
    expected = int(args.expected)
    sampler = RssSampler()
    sampler.start()
    marks: dict[str, Any] = {"rss_start": rss()}
    live = work / "live"
    srcs, saves = sources(Path(args.data), live, work / "state", _boot(args))
    recorder = Recorder()
    t = time.perf_counter()
    engine = Engine(
        bench_config(work / "state"),
        sources=srcs,
        notifier=recorder,  # type: ignore[arg-type]
        listeners=[recorder.listen],
        max_batch=MAX_BATCH,
        queue_size=QUEUE_SIZE,
    )
    marks["build_s"] = time.perf_counter() - t
    marks["rss_built"] = rss()
    lat = Latencies()
    spent = {"handle": 0.0, "learner_save": 0.0, "learner_saves": 0, "batches": 0}
    live_on = False
    handle: Callable[[Sequence[Any]], list[Any]] = engine.handle_batch
    save = engine.learner.save

    def timed_handle(batch: Sequence[Any]) -> list[Any]:
        start = time.perf_counter()
        found = handle(batch)
        spent["handle"] += time.perf_counter() - start
        spent["batches"] += 1
        if live_on:
            lat.see(batch, time.monotonic())
        return found

    def timed_save() -> None:
        start = time.perf_counter()
        save()
        spent["learner_save"] += time.perf_counter() - start
        spent["learner_saves"] += 1

    engine.handle_batch = timed_handle  # type: ignore[method-assign]
    engine.learner.save = timed_save  # type: ignore[method-assign]
    profile = cProfile.Profile() if args.profile else None
    t0, c0 = time.perf_counter(), cpu()
    if profile:
        profile.enable()
    running = asyncio.create_task(engine.run())
    while engine.stats.events < expected and not running.done():
        await asyncio.sleep(0.01)
    if profile:
        profile.disable()
    marks["catchup_s"], marks["catchup_cpu"] = time.perf_counter() - t0, cpu() - c0
    marks["catchup_spent"] = dict(spent)
    marks["catchup_io"] = {
        "batches": spent["batches"],
        "saves": saves.count,
        "save_s": saves.seconds,
    }
    await engine.wait_idle()
    marks["rss_caught_up"] = rss()
    marks["state_caught_up"] = len(json.dumps(engine.learner.to_state(), default=str))
    live_on = True
    marks["live_t0"], marks["live_cpu0"] = time.monotonic(), cpu()
    written = asyncio.create_task(run_writer(here, live, args))
    total = expected + int(args.rate * args.live_seconds)
    while (engine.stats.events < total or not written.done()) and not running.done():
        await asyncio.sleep(0.01)
    marks["live_s"] = time.monotonic() - marks["live_t0"]
    marks["live_cpu"] = cpu() - marks["live_cpu0"]
    marks["writer"] = await written
    await engine.wait_idle()
    sampler.stop()
    marks["rss_live"] = sampler.between(marks["live_t0"], marks["live_t0"] + marks["live_s"], 5)
    marks["state_end"] = len(json.dumps(engine.learner.to_state(), default=str))
    t = time.perf_counter()
    engine.stop()
    await running
    marks["stop_s"] = time.perf_counter() - t
    marks["rss_end"] = rss()
    stats = engine.agent.observer.follow_stats
    marks.update(
        handled=engine.stats.events,
        latency=lat.summary(),
        spent=spent,
        io={"batches": spent["batches"], "saves": saves.count, "save_s": saves.seconds},
        queue_peak=stats.queue_peak,
        waits=stats.waits,
        stats={k: getattr(engine.stats, k) for k in ("events", "metrics", "signals", "alerts")},
        signals=dict(recorder.signals),
        severities=dict(recorder.severities),
        brute=sorted(recorder.brute),
        disks=recorder.disks,
        follow_restarts=engine.stats.follow_restarts,
    )
    if profile:
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(25)
        marks["profile"] = text.getvalue()
    return marks


def _boot(args: argparse.Namespace) -> dt.datetime:
    return dt.datetime.fromisoformat(args.boot)


def child(args: argparse.Namespace) -> int:
    work = Path(args.work)
    work.mkdir()
    live = work / "live"
    live.mkdir()
    for name in ("access.log", "auth.log", "syslog"):
        (live / name).write_bytes(b"")
    runner = run_engine if args.child == "engine" else run_baseline
    marks = asyncio.run(runner(args, work))
    print(json.dumps(marks))
    return 0


# -- the report ----------------------------------------------------------------------------


def spawn(role: str, args: argparse.Namespace, tmp: Path, info: dict[str, Any]) -> dict[str, Any]:
    argv = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        role,
        "--work",
        str(tmp / role),
        "--data",
        str(tmp / "data"),
        "--expected",
        str(info["total"]),
        "--boot",
        info["boot"],
        "--rate",
        str(args.rate),
        "--live-seconds",
        str(args.live_seconds),
        "--seed",
        str(args.seed),
    ] + (["--profile"] if args.profile and role == "engine" else [])
    timeout = 600 + args.live_seconds + args.lines / 2000
    proc = subprocess.run(argv, stdout=subprocess.PIPE, text=True, timeout=timeout, check=True)
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def mib(value: int) -> str:
    return f"{value / MIB:.1f}"


def report(
    args: argparse.Namespace, info: dict[str, Any], base: dict[str, Any], eng: dict[str, Any]
) -> bool:
    total = info["total"]
    c = info["counts"]
    print(
        f"# benchmarks/engine.py — {total:,} lines ({c['access.log']:,} nginx, "
        f"{c['auth.log']:,} auth, {c['syslog']:,} syslog, {c['kmsg']:,} kmsg records; "
        f"{info['bytes'] / 1e6:.0f} MB, {info['span'] / 3600:.1f} h of logs), "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    print(
        f"\n## 1. Catch-up (start=beginning, PositionStore, batches of {MAX_BATCH}, "
        "the baseline commits per batch, the engine every commit_every = 1 s)"
    )
    print(f"{'follower':<44} {'seconds':>8} {'CPU s':>6} {'lines/s':>9} {'vs baseline':>12}")
    rows = [
        ("Observer.follow_batches + commit (baseline)", base),
        ("Engine.run (+ Learner, signals, alerts)", eng),
    ]
    for name, m in rows:
        secs = m["catchup_s"]
        print(
            f"{name:<44} {secs:>8.2f} {m['catchup_cpu']:>6.2f} {total / secs:>9,.0f} "
            f"{base['catchup_s'] / secs:>11.3f}x"
        )
    print(f"CPU time engine / baseline: {eng['catchup_cpu'] / base['catchup_cpu']:.2f}x")
    spent = eng["catchup_spent"]
    share, per_line = spent["handle"] / eng["catchup_s"], spent["handle"] / total * 1e6
    print(
        f"engine: {spent['handle']:.2f} s in handle_batch ({share:.0%} of its catch-up, "
        f"{per_line:.1f} µs a line), of which Learner.save {spent['learner_save']:.2f} s "
        f"({spent['learner_saves']} saves)"
    )
    for name, m in (("baseline", base), ("engine", eng)):
        cio = m["catchup_io"]
        print(
            f"{name}: {cio['batches']:,} batches, {cio['saves']:,} position saves "
            f"(write + 2 fsync each) in {cio['save_s']:.2f} s"
        )
    print(
        f"engine built in {eng['build_s']:.2f} s (Agent, Learner.open, runbooks), "
        f"stopped in {eng['stop_s']:.2f} s (Learner saved)"
    )
    if "profile" in eng:
        print("\n### cProfile of the engine's catch-up (own time)\n" + eng["profile"])

    live_lines = int(args.rate * args.live_seconds)
    print(
        f"\n## 2. Live: {args.rate:,} lines/s for {args.live_seconds:g} s ({live_lines:,} lines "
        f"in three files, {LIVE_ATTACKERS} brute-force addresses), inotify"
    )
    print(
        f"{'follower, latency from the write':<44} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7}",
        end="",
    )
    print(f" {'CPU':>6} {'batches':>8} {'saves':>7}")
    for name, m in (
        ("baseline (to the batch in hand)", base),
        ("engine (to handle_batch's end)", eng),
    ):
        lat, cio, fio = m["latency"], m["catchup_io"], m["io"]
        print(
            f"{name:<44} {lat['p50']:>7.2f} {lat['p95']:>7.2f} {lat['max']:>7.1f} "
            f"{m['live_cpu'] / m['live_s']:>6.1%} {fio['batches'] - cio['batches']:>8,} "
            f"{fio['saves'] - cio['saves']:>7,}"
        )
    base_share, eng_share = base["live_cpu"] / base["live_s"], eng["live_cpu"] / eng["live_s"]
    print(
        f"CPU share (process CPU time / wall time, of one core): engine / baseline "
        f"{eng_share / max(1e-9, base_share):.2f}x; p50 latency engine / baseline "
        f"{eng['latency']['p50'] / max(1e-9, base['latency']['p50']):.2f}x; "
        f"engine's live time in handle_batch {eng['spent']['handle'] - spent['handle']:.2f} s"
    )

    print("\n## 3. Memory (RSS, MiB)")
    live_head = "live 0 / 25 / 50 / 75 / 100 %"
    print(
        f"{'follower':<9} {'start':>6} {'built':>6} {'caught up':>10}   {live_head:<34} {'end':>6}"
    )
    for name, m in (("baseline", base), ("engine", eng)):
        during = " ".join(f"{mib(v):>6}" for v in m["rss_live"])
        print(
            f"{name:<9} {mib(m['rss_start']):>6} {mib(m['rss_built']):>6} "
            f"{mib(m['rss_caught_up']):>10}   {during:<34} {mib(m['rss_end']):>6}"
        )
    for name, m in (("baseline", base), ("engine", eng)):
        r = m["rss_live"]
        print(
            f"{name}: live growth {(r[2] - r[0]) / MIB:+.1f} MiB in the first half, "
            f"{(r[4] - r[2]) / MIB:+.1f} MiB in the second; queue peak {m['queue_peak']:,} "
            f"of {QUEUE_SIZE:,} ({m['waits']:,} waits of a source on a full queue)"
        )
    print(
        f"Learner state (JSON): {eng['state_caught_up'] / 1e3:,.1f} kB after the catch-up, "
        f"{eng['state_end'] / 1e3:,.1f} kB at the end"
    )

    print("\n## 4. Signals and alerts (engine)")
    kinds = sorted(eng["signals"].items(), key=lambda kv: (-kv[1], kv[0]))
    print(f"signals: {eng['stats']['signals']:,} ({', '.join(f'{k} {v}' for k, v in kinds)})")
    severities = ", ".join(f"{k} {v}" for k, v in sorted(eng["severities"].items()))
    print(f"alerts to the recorder: {eng['stats']['alerts']:,} ({severities}; runbooks off)")
    early, late = set(info["attackers"]), set(eng["writer"]["attackers"])
    flagged = set(eng["brute"])
    missed, innocent = (early | late) - flagged, flagged - early - late
    print(
        f"brute_force: {len(flagged & early)}/{len(early)} catch-up attackers, "
        f"{len(flagged & late)}/{len(late)} live ones, {len(innocent)} other addresses"
        + (
            f"   <-- missed {sorted(missed)}, wrongly {sorted(innocent)}"
            if missed or innocent
            else ""
        )
    )
    disk_ok = any(k.startswith("disk:sdb:") for k in eng["disks"])
    print(
        f"disk_risk: {', '.join(eng['disks']) or 'none'}" + ("" if disk_ok else "   <-- sdb missed")
    )
    lines_ok = eng["handled"] == base["handled"] == total + live_lines
    print(
        f"lines handled: engine {eng['handled']:,}, baseline {base['handled']:,} "
        f"(written {total + live_lines:,}); follow restarts {eng['follow_restarts']}"
        + ("" if lines_ok else "   <-- NOT EXACT")
    )
    return not missed and not innocent and disk_ok and lines_ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--lines", type=int, default=300_000, help="catch-up lines, about (default 300,000)"
    )
    parser.add_argument(
        "--rate", type=int, default=2000, help="live lines per second (default 2,000)"
    )
    parser.add_argument(
        "--live-seconds", type=float, default=20.0, help="live phase (default 20 s)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="work in this new directory and keep it")
    parser.add_argument("--profile", action="store_true", help="cProfile the engine's catch-up")
    parser.add_argument("--child", choices=("engine", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--expected", help=argparse.SUPPRESS)
    parser.add_argument("--boot", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    with contextlib.ExitStack() as stack:
        if args.keep:
            tmp = args.keep
            tmp.mkdir(parents=True, exist_ok=False)
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hfa-engine-")))
        info = generate(tmp / "data", args.lines, args.seed)
        base = spawn("baseline", args, tmp, info)
        eng = spawn("engine", args, tmp, info)
        ok = report(args, info, base, eng)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
