"""Speed, memory and exactness of the signature request on a 1,000,000-line nginx log.

The request is the one the product is sold on::

    hf-agent ask "Analyse les logs de Nginx des dernières 24 heures et résume les erreurs 404"

A deterministic access log (seeded ``random.Random``) is generated in nginx's
``combined`` format over the last 48 hours, ending now, and split as logrotate
leaves it::

    access.log          the newest third (plain)
    access.log.1        plain
    access.log.2.gz     gzip; holds the start of the 24-hour window
    access.log.3.gz     gzip; every line older than the window, so the agent
                        must skip it (its mtime is its last line's time)

Every file's mtime is its last line's time.  The expected answer (requests in
the window, 404s among them, their top paths and clients, requests by status)
is kept while generating, and every run is checked against it: the script
exits non-zero when a figure is not exact.

Timed in the same run, each ``--repeat`` times, interleaved (best and median):

1. ``hf-agent --config CONF ask --json REQUEST``, the CLI as a user runs it
   (process start-up included);
2. ``Agent(Config.from_file(CONF)).executor.summarize_logs("nginx",
   since=86400, status=404)`` in a fresh interpreter, timed inside it (imports
   excluded);
3. baselines: (a) the shell one-liner an admin would type,
   ``zcat -f access.log.3.gz access.log.2.gz access.log.1 access.log |
   awk '$9 == 404' | wc -l`` (it reads every file and does NOT filter by time);
   (b) a plain Python loop over every line (gzip included) doing
   ``line.split()[8] == "404"``, the floor for any Python parser.

Each run is a child process; its peak RSS is its ``ru_maxrss`` as GNU
``/usr/bin/time -f %M`` reports it (for the shell pipeline: its largest
process, as the kernel folds in the reaped descendants).  Without GNU time,
``os.wait4`` gives it, inflated by this script's own RSS at fork time.

Usage::

    .venv/bin/python benchmarks/nginx_summary.py [--lines N] [--repeat K] [--keep DIR]
                                                 [--seed S] [--profile]

``--profile`` also runs the library call once under cProfile and prints the
top functions.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import gzip
import itertools
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
REQUEST = "Analyse les logs de Nginx des dernières 24 heures et résume les erreurs 404"
WINDOW = 86400
SPAN = 2 * WINDOW
#: No request is logged during this quiet spell right after the window's start
#: at generation time, so the runs that follow (whose window starts a little
#: later) all see exactly the same lines.  The runs must finish within it.
QUIET = 30 * 60
#: Local time of the generated log (a server in France in summer).
UTC_OFFSET = 2 * 3600
TOP = 10

# Rotation boundaries, in seconds before "now": a file holds the lines newer
# than its boundary and older than the previous one.
ROTATION = (
    ("access.log", 16 * 3600),
    ("access.log.1", 20 * 3600),
    ("access.log.2.gz", 34 * 3600),
    ("access.log.3.gz", SPAN + 1),
)

STATUSES = (  # (status, share): ~85 % 200, 5 % 404, 3 % 301/304, 2 % 5xx, 5 % 403/400
    (200, 0.85),
    (404, 0.05),
    (301, 0.01),
    (304, 0.02),
    (500, 0.008),
    (502, 0.008),
    (503, 0.004),
    (403, 0.03),
    (400, 0.02),
)

USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.6367.82 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/123.0.0.0 Safari/537.36 Edg/123.0.2420.97",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "curl/8.5.0",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
    "Wget/1.21.4",
    "Mozilla/5.0 zgrab/0.x",
)
UA_WEIGHTS = (30, 14, 10, 12, 10, 3, 4, 5, 3, 2, 1, 2, 2, 1, 0.5, 0.5)

PROBES = (  # what scanners ask for, on any public server
    "/wp-login.php",
    "/.env",
    "/.git/config",
    "/xmlrpc.php",
    "/wp-admin/setup-config.php",
    "/phpmyadmin/index.php",
    "/pma/index.php",
    "/admin/config.php",
    "/config.json",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/.aws/credentials",
    "/wp-content/plugins/wp-file-manager/readme.txt",
    "/actuator/health",
    "/cgi-bin/luci",
    "/boaform/admin/formLogin",
    "/owa/auth/logon.aspx",
    "/solr/admin/info/system",
    "/.DS_Store",
    "/server-status",
    "/backup.zip",
    "/db.sql",
    "/wp-includes/wlwmanifest.xml",
    "/apple-touch-icon.png",
    "/apple-touch-icon-precomposed.png",
    "/ads.txt",
    "/.well-known/security.txt",
    "/HNAP1/",
    "/geoserver/web/",
    "/console/",
    "/login.action",
)
GARBAGE_REQUESTS = (  # what nginx logs for a TLS handshake or junk on a plain-HTTP port
    "\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03",
    "\\x16\\x03\\x01\\x00\\xEE\\x01\\x00\\x00\\xEA\\x03\\x03",
    "-",
    "SSH-2.0-Go",
)
REFERERS = (
    "https://www.google.com/",
    "https://www.bing.com/",
    "https://duckduckgo.com/",
    "https://t.co/x2kfL0p",
    "https://www.facebook.com/",
)
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _zipf_cum(n: int, s: float) -> list[float]:
    return list(itertools.accumulate(1.0 / (k**s) for k in range(1, n + 1)))


@dataclass
class Site:
    """The paths and clients of the generated site."""

    pages: list[str]
    pages_cum: list[float]
    missing: list[str]
    missing_cum: list[float]
    clients: list[str]
    clients_cum: list[float]
    scanners: list[str]

    @classmethod
    def build(cls, rng: random.Random) -> Site:
        words = (
            "nginx",
            "linux",
            "backup",
            "debian",
            "rsync",
            "cron",
            "systemd",
            "logs",
            "disk",
            "ssh",
            "docker",
            "python",
            "postgres",
            "tls",
            "dns",
            "firewall",
            "raid",
            "kernel",
            "memoire",
            "securite",
            "performance",
            "guide",
            "astuce",
        )
        pages = [
            "/",
            "/index.html",
            "/favicon.ico",
            "/robots.txt",
            "/sitemap.xml",
            "/static/css/main.4f2a9c.css",
            "/static/js/app.81be02.js",
            "/about",
            "/contact",
            "/blog/",
            "/products/",
            "/search",
        ]
        seen = set(pages)

        def add(path: str, into: list[str]) -> None:
            if path not in seen:
                seen.add(path)
                into.append(path)

        while len(pages) < 3000:
            kind = rng.random()
            if kind < 0.35:
                slug = "-".join(rng.sample(words, rng.randint(2, 4)))
                add(f"/blog/{rng.randint(2015, 2025)}/{slug}", pages)
            elif kind < 0.60:
                add(f"/products/{rng.randint(1000, 99999)}", pages)
            elif kind < 0.75:
                add(f"/images/{rng.choice(words)}-{rng.randint(1, 999)}.jpg", pages)
            elif kind < 0.90:
                add(f"/api/v1/items/{rng.randint(1, 50000)}", pages)
            else:
                add(f"/static/js/chunk.{rng.getrandbits(32):08x}.js", pages)
        rng.shuffle(pages)  # the popular ones are not always the first kinds
        pages.sort(
            key=lambda p: (
                0
                if p
                in ("/", "/favicon.ico", "/static/css/main.4f2a9c.css", "/static/js/app.81be02.js")
                else 1
            )
        )
        # 404s: scanner probes first (the most frequent), then stale links.
        missing = list(PROBES)
        while len(missing) < 600:
            kind = rng.random()
            if kind < 0.4:
                slug = "-".join(rng.sample(words, rng.randint(2, 3)))
                add(f"/blog/{rng.randint(2010, 2014)}/{slug}", missing)
            elif kind < 0.7:
                add(f"/products/{rng.randint(100, 999)}", missing)
            elif kind < 0.85:
                add(f"/images/old/{rng.choice(words)}-{rng.randint(1, 99)}.png", missing)
            else:
                add(f"/{rng.choice(words)}.php", missing)
        head = missing[: len(PROBES)]
        rng.shuffle(head)
        missing[: len(PROBES)] = head
        clients: list[str] = []
        cseen: set[str] = set()
        while len(clients) < 400:
            net = rng.choice(
                (
                    (82, 64),
                    (90, 12),
                    (176, 31),
                    (2, 13),
                    (86, 242),
                    (109, 190),
                    (37, 165),
                    (78, 192),
                    (91, 160),
                    (185, 220),
                )
            )
            ip = f"{net[0]}.{net[1]}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            if ip not in cseen:
                cseen.add(ip)
                clients.append(ip)
        scanners = [
            f"{a}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            for a in (45, 193, 162, 194, 206, 20, 141, 104)
        ]
        scanners = [ip for ip in scanners if ip not in cseen]
        return cls(
            pages,
            _zipf_cum(len(pages), 1.1),
            missing,
            _zipf_cum(len(missing), 1.0),
            clients,
            _zipf_cum(len(clients), 0.9),
            scanners,
        )


@dataclass
class Expected:
    """What the agent must answer, counted while generating."""

    lines: int
    cut: int  # window start at generation time (epoch seconds)
    files: dict[str, int] = field(default_factory=dict)  # name -> lines
    total: int = 0  # requests in the window
    by_status: Counter[int] = field(default_factory=Counter)
    paths_404: Counter[str] = field(default_factory=Counter)
    clients_404: Counter[str] = field(default_factory=Counter)
    all_404: int = 0  # 404s in every file, window or not (what awk counts)

    @property
    def matched(self) -> int:
        return self.by_status[404]

    def top(self, counter: Counter[str]) -> list[list[Any]]:
        return [[k, n] for k, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]]

    @property
    def read_by_agent(self) -> int:
        return sum(n for name, n in self.files.items() if name != "access.log.3.gz")


def _timestamps(rng: random.Random, n: int, now: int) -> list[int]:
    """``n`` sorted request times over ``[now - 48 h, now)``, with a day/night rhythm.

    Drawn as ages (seconds before ``now``), so that the same seed gives the
    same log whenever it is generated, shifted in time: the rhythm peaks 10 h
    and 34 h before ``now`` and is quietest 12 h later.
    """
    ages: list[int] = []
    while len(ages) < n:
        age = 1 + int(rng.random() * (SPAN - 1))  # 1 .. SPAN - 1 seconds ago
        if rng.random() * 1.6 > 1.0 + 0.6 * math.cos((age / 3600 - 10) / 24 * 2 * math.pi):
            continue
        if WINDOW - QUIET < age <= WINDOW + 1:  # the quiet spell just after the window's start
            continue
        ages.append(age)
    ages.sort(reverse=True)
    return [now - a for a in ages]


def generate(directory: Path, n: int, seed: int) -> Expected:
    """Write the rotated log set into ``directory``; return the expected answer."""
    rng = random.Random(seed)
    site = Site.build(rng)
    now = int(time.time())
    cut = now - WINDOW
    expected = Expected(lines=n, cut=cut)
    times = _timestamps(rng, n, now)
    codes = [c for c, _ in STATUSES]
    codes_cum = list(itertools.accumulate(w for _, w in STATUSES))
    ua_cum = list(itertools.accumulate(UA_WEIGHTS))
    sign, hours_minutes = ("+" if UTC_OFFSET >= 0 else "-"), divmod(abs(UTC_OFFSET) // 60, 60)
    offset = f"{sign}{hours_minutes[0]:02d}{hours_minutes[1]:02d}"
    choices = rng.choices
    statuses = choices(codes, cum_weights=codes_cum, k=n)
    page_idx = choices(range(len(site.pages)), cum_weights=site.pages_cum, k=n)
    client_idx = choices(range(len(site.clients)), cum_weights=site.clients_cum, k=n)
    uas = choices(USER_AGENTS, cum_weights=ua_cum, k=n)
    pages, missing, clients, scanners = site.pages, site.missing, site.clients, site.scanners
    missing_cum = site.missing_cum
    missing_total = missing_cum[-1]

    # Which file each line goes to: newest files hold the lines after their boundary.
    bounds = [(name, now - age) for name, age in ROTATION]
    stack = contextlib.ExitStack()
    handles: dict[str, Any] = {}
    for name, _ in bounds:
        target = directory / name
        if name.endswith(".gz"):
            handle: Any = gzip.open(target, "wt", encoding="utf-8", compresslevel=6)  # noqa: SIM115
        else:
            handle = open(target, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        handles[name] = stack.enter_context(handle)
        expected.files[name] = 0
    last_time: dict[str, int] = {}

    last_sec = -1
    stamp = ""
    rand = rng.random
    randint = rng.randint
    with stack:
        for i in range(n):
            t = times[i]
            if t != last_sec:
                lt = time.gmtime(t + UTC_OFFSET)
                stamp = (
                    f"{lt.tm_mday:02d}/{MONTHS[lt.tm_mon - 1]}/{lt.tm_year}:"
                    f"{lt.tm_hour:02d}:{lt.tm_min:02d}:{lt.tm_sec:02d} {offset}"
                )
                last_sec = t
            status = statuses[i]
            client = clients[client_idx[i]]
            ua = uas[i]
            method = "GET"
            proto = "HTTP/1.1" if rand() < 0.7 else "HTTP/2.0"
            referer = "-"
            user = "-"
            query = ""
            request: str | None = None
            if status == 404:
                j = bisect.bisect_left(missing_cum, rand() * missing_total)
                path = missing[min(j, len(missing) - 1)]
                if j < len(PROBES):  # scanners probe, with their own tools
                    if rand() < 0.5:
                        client = scanners[(i * 7 + j) % len(scanners)]
                    ua = USER_AGENTS[-1 - (i % 4)] if rand() < 0.6 else ua
                    if path == "/wp-login.php" and rand() < 0.3:
                        method = "POST"
                    elif rand() < 0.15:
                        query = "?rest_route=/wp/v2/users/" if path[:3] == "/wp" else "?debug=1"
                    proto = "HTTP/1.1" if rand() < 0.8 else "HTTP/1.0"
                elif rand() < 0.3:
                    referer = REFERERS[i % len(REFERERS)]
                size = 153 if proto != "HTTP/2.0" else 555
            elif status == 400 and rand() < 0.5:
                request = GARBAGE_REQUESTS[i % len(GARBAGE_REQUESTS)]
                path = ""
                ua = "-"
                size = 157 if request != "-" else 0
            elif status == 400:
                path = pages[page_idx[i]]
                size = 157
            elif status == 403:
                path = PROBES[i % len(PROBES)] if rand() < 0.6 else "/admin/"
                size = 153
            else:
                path = pages[page_idx[i]]
                if status == 301:
                    path = path.rstrip("/") or "/blog"
                    size = 169
                elif status == 304:
                    size = 0
                elif status >= 500:
                    path = "/api/v1/items/" + str(randint(1, 50000)) if rand() < 0.7 else path
                    size = {500: 177, 502: 157, 503: 197}[status]
                else:
                    size = 0 if rand() < 0.02 else int(rng.lognormvariate(8.5, 1.2))
                if path.startswith("/api/") and rand() < 0.2:
                    method = "POST"
                elif rand() < 0.01:
                    method = "HEAD"
                if path == "/search":
                    query = f"?q={rng.choice(('nginx', 'backup+disque', 'rsync', 'cron'))}"
                elif path.startswith("/products/") and rand() < 0.1:
                    query = "?ref=home&utm_source=newsletter"
                if rand() < 0.25:
                    referer = (
                        REFERERS[i % len(REFERERS)] if rand() < 0.5 else "https://www.example.fr/"
                    )
                if path.startswith("/api/") and rand() < 0.1:
                    user = "api"
            if request is None:
                request = f"{method} {path}{query} {proto}"
            line = f'{client} - {user} [{stamp}] "{request}" {status} {size} "{referer}" "{ua}"\n'
            name = next(nm for nm, bound in bounds if t >= bound)
            handles[name].write(line)
            expected.files[name] += 1
            last_time[name] = t
            if status == 404:
                expected.all_404 += 1
            if t >= cut:
                expected.total += 1
                expected.by_status[status] += 1
                if status == 404:
                    expected.paths_404[path] += 1
                    expected.clients_404[client] += 1
    for name, _ in bounds:
        if name in last_time:
            os.utime(directory / name, (last_time[name], last_time[name]))
    return expected


# --------------------------------------------------------------------------- runs


@dataclass
class Child:
    """One finished child process."""

    seconds: float  # wall time as measured by the parent
    max_rss_mb: float
    stdout: str


def _gnu_time() -> str | None:
    """``/usr/bin/time`` when it is GNU time (``-f %M -o FILE``), else ``None``."""
    tool = shutil.which("time", path="/usr/bin:/bin")
    if tool is None:
        return None
    with tempfile.NamedTemporaryFile("r") as out:
        done = subprocess.run([tool, "-f", "%M", "-o", out.name, "true"], capture_output=True)
        try:
            return tool if done.returncode == 0 and int(out.read().split()[-1]) > 0 else None
        except (ValueError, IndexError):
            return None


GNU_TIME = _gnu_time()


def run_child(argv: Sequence[str], *, cwd: Path | None = None) -> Child:
    """Run a process; return its wall time, its own peak RSS and its output.

    The peak RSS comes from GNU ``/usr/bin/time -f %M`` when it is installed:
    ``ru_maxrss`` read by ``os.wait4`` in this (large) process would include
    the RSS this process had when it forked, as Linux carries the old memory
    map's high-water mark across ``exec``.  Without GNU time, ``os.wait4`` is
    used and the figure is an upper bound.
    """
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r", prefix="rss-") as rss,
    ):
        command = [GNU_TIME, "-f", "%M", "-o", rss.name, *argv] if GNU_TIME else list(argv)
        t0 = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
        if proc.returncode != 0:
            raise SystemExit(f"FAILED ({proc.returncode}): {' '.join(argv)}\n{stderr}{stdout}")
        max_rss_kb = int(rss.read().split()[-1]) if GNU_TIME else usage.ru_maxrss
    return Child(elapsed, max_rss_kb / 1024, stdout)


def _child_library(conf: str) -> None:
    """In a fresh interpreter: time the library call alone, print its figures as JSON."""
    import resource

    from libhfagent import Agent, Config

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    agent = Agent(Config.from_file(conf))
    summary = agent.executor.summarize_logs("nginx", since=WINDOW, status=404)
    elapsed = time.perf_counter() - t0
    report = summary.to_dict()
    report["seconds"] = elapsed
    report["rss_before_mb"] = rss_before / 1024
    print(json.dumps(report))


def _child_profile(conf: str) -> None:
    import cProfile
    import pstats

    from libhfagent import Agent, Config

    agent = Agent(Config.from_file(conf))
    prof = cProfile.Profile()
    prof.enable()
    agent.executor.summarize_logs("nginx", since=WINDOW, status=404)
    prof.disable()
    stats = pstats.Stats(prof, stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(15)


def _child_loop(files: Sequence[str]) -> None:
    """In a fresh interpreter: the plain-Python floor, every line of every file."""
    t0 = time.perf_counter()
    n = count = 0
    for name in files:
        opener = gzip.open if name.endswith(".gz") else open
        with opener(name, "rt", encoding="utf-8") as f:
            for line in f:
                n += 1
                if line.split()[8] == "404":
                    count += 1
    print(json.dumps({"seconds": time.perf_counter() - t0, "lines": n, "count": count}))


@dataclass
class Series:
    label: str
    lines_read: int = 0
    seconds: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


class Mismatch(Exception):
    pass


def check_report(report: dict[str, Any], expected: Expected, what: str) -> None:
    """Raise :class:`Mismatch` unless the report is exactly the expected answer."""
    problems = []
    since = report.get("since")
    if since is not None:
        import datetime as dt

        start = dt.datetime.fromisoformat(since).timestamp()
        if start >= expected.cut + QUIET:
            raise SystemExit(
                f"{what}: the run started more than {QUIET // 60} min after the log "
                "was generated; the window has moved past the quiet spell, rerun"
            )
    want = {
        "total": expected.total,
        "matched": expected.matched,
        "by_status": {str(k): v for k, v in sorted(expected.by_status.items())},
        "top_paths": expected.top(expected.paths_404),
        "top_clients": expected.top(expected.clients_404),
        "lines": expected.read_by_agent,
    }
    for key, value in want.items():
        if report.get(key) != value:
            problems.append(f"  {key}: got {report.get(key)!r}, expected {value!r}")
    files = [Path(f).name for f in report.get("files", [])]
    if files != ["access.log.2.gz", "access.log.1", "access.log"]:
        problems.append(f"  files read: {files} (access.log.3.gz must be skipped, the rest read)")
    skipped = report.get("skipped", {})
    if any(skipped.get(k) for k in ("invalid", "unparsed", "future")):
        problems.append(f"  skipped lines: {skipped}")
    if problems:
        raise Mismatch(f"{what}: the answer is not exact\n" + "\n".join(problems))


def fmt_int(n: float) -> str:
    return f"{n:,.0f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--lines", type=int, default=1_000_000, help="lines to generate (1,000,000)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each kind (3)")
    parser.add_argument("--keep", metavar="DIR", help="generate into DIR and keep the files")
    parser.add_argument("--seed", type=int, default=20240624, help="generator seed")
    parser.add_argument(
        "--profile", action="store_true", help="also run the library call once under cProfile"
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        {
            "library": lambda: _child_library(rest[0]),
            "profile": lambda: _child_profile(rest[0]),
            "loop": lambda: _child_loop(rest),
        }[kind]()
        return 0
    if args.lines < 1000 or args.repeat < 1:
        parser.error("--lines must be at least 1000 and --repeat at least 1")

    with contextlib.ExitStack() as stack:
        if args.keep:
            work = Path(args.keep).resolve()
            work.mkdir(parents=True, exist_ok=True)
        else:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hfa-nginx-")))
        return bench(work, args)


def bench(work: Path, args: argparse.Namespace) -> int:
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    state = work / "state"
    state.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    expected = generate(logs, args.lines, args.seed)
    gen_seconds = time.perf_counter() - t0

    conf = work / "hf-agent.json"
    conf.write_text(
        json.dumps(
            {
                "agent": {"timezone": "UTC", "state_dir": str(state)},
                "modules": {"monitoring": {"sources": {"nginx": [str(logs / "access.log")]}}},
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    hf_agent = str(VENV_BIN / "hf-agent")
    if not os.path.exists(hf_agent):
        hf_agent = shutil.which("hf-agent") or hf_agent
    run_child([hf_agent, "config", "check", str(conf)])

    all_files = ["access.log.3.gz", "access.log.2.gz", "access.log.1", "access.log"]
    awk_cmd = f"zcat -f {' '.join(all_files)} | awk '$9 == 404' | wc -l"
    me = str(Path(__file__).resolve())
    py = sys.executable

    print(f"nginx access log, seed {args.seed}, generated in {gen_seconds:.1f} s into {logs}")
    for name in reversed(all_files):
        size = (logs / name).stat().st_size
        note = "  (all older than the window: must be skipped)" if name.endswith(".3.gz") else ""
        print(f"  {name:<16} {fmt_int(expected.files[name]):>10} lines {size / 1e6:8.1f} MB{note}")
    print(f"  lines generated         {fmt_int(expected.lines):>10}")
    print(f"  lines in the 24-h window {fmt_int(expected.total):>9}")
    print(
        f"  404s in the window      {fmt_int(expected.matched):>10}   "
        f"(404s in all files: {fmt_int(expected.all_404)})"
    )
    print(f'request: hf-agent ask --json "{REQUEST}"')
    print()

    agent = Series("hf-agent ask (CLI, end to end)", expected.read_by_agent)
    library = Series("library summarize_logs()", expected.read_by_agent)
    awk = Series("baseline: zcat | awk | wc -l", expected.lines)
    loop = Series("baseline: Python split() loop", expected.lines)
    rss_import: list[float] = []
    try:
        for k in range(args.repeat):
            print(f"  round {k + 1}/{args.repeat} ...", file=sys.stderr, flush=True)
            child = run_child([hf_agent, "--config", str(conf), "ask", "--json", REQUEST])
            answer = json.loads(child.stdout)
            if answer.get("intent") != "logs.summarize":
                raise Mismatch(f"CLI: request understood as {answer.get('intent')!r}")
            check_report(answer["report"], expected, "hf-agent ask")
            agent.seconds.append(child.seconds)
            agent.rss_mb.append(child.max_rss_mb)

            child = run_child([py, me, "--child", "library", str(conf)])
            report = json.loads(child.stdout)
            check_report(report, expected, "library call")
            library.seconds.append(report["seconds"])
            library.rss_mb.append(child.max_rss_mb)
            rss_import.append(report["rss_before_mb"])

            child = run_child(["bash", "-c", awk_cmd], cwd=logs)
            if int(child.stdout.strip()) != expected.all_404:
                raise Mismatch(
                    f"awk counted {child.stdout.strip()} 404s, expected {expected.all_404}"
                )
            awk.seconds.append(child.seconds)
            awk.rss_mb.append(child.max_rss_mb)

            child = run_child([py, me, "--child", "loop", *(str(logs / f) for f in all_files)])
            result = json.loads(child.stdout)
            if (result["count"], result["lines"]) != (expected.all_404, expected.lines):
                raise Mismatch(
                    f"Python loop counted {result}, expected {expected.all_404} "
                    f"404s in {expected.lines} lines"
                )
            loop.seconds.append(result["seconds"])
            loop.rss_mb.append(child.max_rss_mb)
    except Mismatch as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        print("counts exact: NO")
        return 1

    rows = (agent, library, awk, loop)
    label = f"run (best/median of {args.repeat})"
    head = (
        f"{label:<32} {'lines read':>10} {'best s':>7} {'median s':>8} {'lines/s':>10} "
        f"{'peak RSS MB':>11} {'vs awk':>7} {'vs py loop':>10}"
    )
    print(head)
    print("-" * len(head))
    for s in rows:
        print(
            f"{s.label:<32} {fmt_int(s.lines_read):>10} {s.best:7.3f} {s.median:8.3f} "
            f"{fmt_int(s.lines_read / s.best):>10} {max(s.rss_mb):11.1f} "
            f"{s.best / awk.best:6.2f}× {s.best / loop.best:9.2f}×"
        )
    print("-" * len(head))
    print(
        f"agent / awk = {agent.best / awk.best:.2f}×   agent / Python loop = "
        f"{agent.best / loop.best:.2f}×   (library call: {library.best / awk.best:.2f}× and "
        f"{library.best / loop.best:.2f}×; best times)"
    )
    per_line = (agent.best / agent.lines_read) / (loop.best / loop.lines_read)
    print(
        f"per line read: agent {agent.best / agent.lines_read * 1e6:.2f} µs, library "
        f"{library.best / library.lines_read * 1e6:.2f} µs, Python loop "
        f"{loop.best / loop.lines_read * 1e6:.2f} µs, "
        f"awk {awk.best / awk.lines_read * 1e6:.2f} µs "
        f"(agent / loop per line = {per_line:.2f}×)"
    )
    print(
        "counts exact: yes  (total, matched, by_status, top_paths, top_clients, lines read, "
        "access.log.3.gz skipped; awk and loop 404 counts)"
    )
    print()
    print("Notes:")
    print(
        "  * the awk one-liner and the Python loop read all four files and do NOT filter by "
        "time: they count"
    )
    print(
        f"    the {fmt_int(expected.all_404)} 404s of the whole 48 h, not the "
        f"{fmt_int(expected.matched)} of the last 24 h; the agent reads only the three files "
        "the window reaches."
    )
    print(
        "  * CLI times include interpreter start-up and imports; library and loop times are "
        "taken inside a fresh"
    )
    print(
        f"    interpreter (imports excluded); awk times include bash start-up and the pipeline "
        f"runs on {os.cpu_count()} CPU(s)."
    )
    how = (
        "GNU /usr/bin/time -f %M"
        if GNU_TIME
        else "os.wait4 (no GNU time: includes this script's RSS at fork, an upper bound)"
    )
    print(
        f"  * peak RSS: ru_maxrss of each child from {how}; the whole process (the library "
        f"child weighed {max(rss_import):.1f} MB"
    )
    print("    after imports, before the call); for the pipeline, its largest process.")

    if args.profile:
        print()
        print("cProfile of the library call (sorted by own time):")
        print(run_child([py, me, "--child", "profile", str(conf)]).stdout)
    if args.keep:
        print(f"files kept in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
