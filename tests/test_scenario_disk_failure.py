"""Scenario 1 end to end: a failing disk puts the site in maintenance, backs up, alerts.

Real parts only: a private nginx on loopback configured with the shipped
maintenance snippet, rsync (run by the Executor, previewed in an overlay), a real
SMTP server and a real HTTP webhook receiver, the Engine following a kernel
message record file and a metrics source reading a /proc/diskstats the test
rewrites — the kernel stream and the latency series grow in stages as a disk
failing would make them.

The timings of each phase are printed (``pytest -s``), never asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import http.client
import json
import os
import shutil
import stat
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
from test_web_maintenance import maintenance_snippet

from libhfagent.config import Config
from libhfagent.daemon._engine import Engine
from libhfagent.daemon._runbooks import parse_runbook, resolve
from libhfagent.executor._audit import AuditLog
from libhfagent.learner import Learner, Signal
from libhfagent.observer import Event, KmsgSource, Metric, MetricsSource, Severity
from libhfagent.observer._state import PositionStore
from libhfagent.testing import NginxServer, SmtpServer, WebhookServer

pytestmark = pytest.mark.system

ROOT = Path(__file__).resolve().parents[1]
RUNBOOK = ROOT / "policy" / "runbooks" / "disk-failure.json"
SITE_PAGE = "<!DOCTYPE html>\n<html><body><p>Shop of the test site.</p></body></html>\n"
DISK = "sdb"
RECIPIENT = "admin@example.org"
DEADLINE = 120.0  # seconds any one wait may take before the test fails (a hang, not a timing)
TICK = 0.05  # seconds between two latency samples
WARMUP_TICKS = 40  # latency samples at the usual level before it climbs (DiskHealth needs 30)

# The kernel stream, in stages: what a dying SATA disk behind ata1 prints.
BOOT = [
    (6, "Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org)"),
    (5, "sd 2:0:0:0: [sdb] 3907029168 512-byte logical blocks: (2.00 TB/1.82 TiB)"),
    (6, "EXT4-fs (sdb1): mounted filesystem with ordered data mode. Quota mode: none."),
]
STAGES = [
    # watch: a reset and a failed command
    [
        (3, "ata1: hard resetting link"),
        (3, "sd 2:0:0:0: [sdb] tag#3 FAILED Result: hostbyte=DID_OK driverbyte=DRIVER_SENSE"),
    ],
    # warning: the first I/O error
    [
        (3, "ata1.00: exception Emask 0x0 SAct 0x80 SErr 0x0 action 0x0"),
        (3, "ata1.00: failed command: READ FPDMA QUEUED"),
        (3, "blk_update_request: I/O error, dev sdb, sector 1953460 op 0x0:(READ) flags 0x0"),
    ],
    # critical: more I/O errors
    [
        (3, "blk_update_request: I/O error, dev sdb, sector 1953468 op 0x0:(READ) flags 0x0"),
        (3, "I/O error, dev sdb, sector 88123904 op 0x1:(WRITE) flags 0x800 phys_seg 1"),
        (3, "Buffer I/O error on dev sdb1, logical block 244182, async page read"),
    ],
]
ORDER = ("ok", "watch", "warning", "critical")


# -- the machine the engine watches ---------------------------------------------------------


class KernelLog:
    """A file of /dev/kmsg records the test appends to while the engine follows it."""

    def __init__(self, path: Path, boot_time: dt.datetime) -> None:
        self.path = path
        self.boot_time = boot_time
        self.seq = 0
        path.write_text("")

    def write(self, records: list[tuple[int, str]]) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            for priority, text in records:
                self.seq += 1
                usec = int((dt.datetime.now(dt.UTC) - self.boot_time).total_seconds() * 1e6)
                out.write(f"{priority},{self.seq},{usec},-;{text}\n")
                if "[sdb]" in text or "dev sdb" in text:
                    out.write(" SUBSYSTEM=scsi\n DEVICE=+scsi:2:0:0:0\n")
            out.flush()
            os.fsync(out.fileno())


class Diskstats:
    """A fake procfs/sysfs pair: ``proc/diskstats`` advances by one sample per clock call.

    The metrics source reads the clock, then ``diskstats``, once per sample; this
    clock writes the next counters first, so each sample sees exactly one step and
    the await (Δms / ΔI/Os) is the scripted one. ``sda`` stays at 2 ms; ``sdb`` is at
    ``usual_ms`` until :attr:`climbing`, then rises by ``step_ms`` a sample.
    """

    def __init__(self, root: Path, *, usual_ms: float = 4.0, step_ms: float = 12.0) -> None:
        self.proc = root / "proc"
        self.sys = root / "sys"
        self.proc.mkdir(parents=True)
        for disk in ("sda", DISK):
            (self.sys / "block" / disk).mkdir(parents=True)
        # ata1 is the port of sdb (the kmsg source names the disk behind a port).
        (self.sys / "class/ata_port/ata1/device/host2/target2:0:0/2:0:0:0/block" / DISK).mkdir(
            parents=True
        )
        self.usual_ms = usual_ms
        self.step_ms = step_ms
        self.climbing = False
        self._climb_from: int | None = None
        self.ticks = 0
        self.awaits: list[float] = []
        self._counters = {"sda": [0, 0, 0], DISK: [0, 0, 0]}  # ios, ms, io_ms
        self._write()

    def _await(self, disk: str) -> float:
        if disk == "sda":
            return 2.0
        if not self.climbing:
            return self.usual_ms
        if self._climb_from is None:
            self._climb_from = len(self.awaits)
        return min(self.usual_ms + self.step_ms * (len(self.awaits) - self._climb_from + 1), 400.0)

    def clock(self) -> dt.datetime:
        for disk, counters in self._counters.items():
            wait = self._await(disk)
            counters[0] += 50
            counters[1] += int(50 * wait)
            counters[2] += 5
            if disk == DISK:
                self.awaits.append(wait)
        self.ticks += 1
        self._write()
        return dt.datetime.now(dt.UTC)

    def _write(self) -> None:
        lines = []
        for minor, (disk, (ios, ms, io_ms)) in enumerate(self._counters.items()):
            # reads merged sectors ms | writes merged sectors ms | inflight io_ms weighted
            # | discards merged sectors ms
            counters = [ios, 0, ios * 8, ms, 0, 0, 0, 0, 0, io_ms, ms, 0, 0, 0, 0]
            lines.append(f"   8      {minor * 16} {disk} " + " ".join(map(str, counters)))
            lines.append(f"   8      {minor * 16 + 1} {disk}1 " + " ".join(map(str, counters)))
        tmp = self.proc / "diskstats.new"
        tmp.write_text("\n".join(lines) + "\n")
        tmp.rename(self.proc / "diskstats")


@attrs.define
class Heard:
    """What the engine's listeners received, with the monotonic time of each."""

    items: list[tuple[float, str, dict[str, Any]]] = attrs.field(factory=list)

    def __call__(self, name: str, body: Mapping[str, Any]) -> None:
        self.items.append((time.monotonic(), name, json.loads(json.dumps(body, default=str))))

    def named(self, name: str) -> list[tuple[float, dict[str, Any]]]:
        return [(t, b) for t, n, b in self.items if n == name]

    def disk_levels(self, disk: str) -> list[tuple[float, str]]:
        return [
            (t, b["level"])
            for t, b in self.named("EventDetected")
            if b["kind"] == "disk_risk" and b.get("disk") == disk
        ]


@attrs.define
class Site:
    nginx: NginxServer
    flag: Path

    def fetch(self, path: str = "/") -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.nginx.port, timeout=5)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            connection.close()


@attrs.define
class World:
    tmp: Path
    site: Site
    smtp: SmtpServer
    hook: WebhookServer
    data: Path
    backups: Path
    state: Path
    kernel: KernelLog
    disks: Diskstats

    def config(self, *, destination: Path | None = None, **agent: Any) -> Config:
        data = {
            "agent": {
                "state_dir": str(self.state),
                "language": "en",
                "timezone": "Europe/Paris",
                "user_mode": "interactive",
                **agent,
            },
            "security": {
                "sandbox_level": "permissive",
                "permissions_file": str(self.tmp / "permissions.json"),
            },
            "modules": {
                "monitoring": {"metrics": ["disk_io"], "interval": TICK},
                "scheduler": {"enabled": False},
                "notifications": {
                    "desktop": False,
                    "journal": False,
                    "mail": {
                        "host": "127.0.0.1",
                        "port": self.smtp.port,
                        "sender": "hf-agent@test.example",
                        "recipients": [RECIPIENT],
                    },
                    "webhook": {"url": self.hook.url, "timeout": 10},
                    "min_severity": "warning",
                    # The climbing latency raises metric alerts too: keep room for them.
                    "rate_limit": 10_000,
                },
                "runbooks": {
                    "directories": [],
                    "backup_paths": [str(self.data)],
                    "backup_destination": str(destination or self.backups / "site"),
                    "maintenance_flag": str(self.site.flag),
                    "web_service": str(self.site.nginx.pid_file),
                },
            },
        }
        return Config.from_text(json.dumps(data))

    def sources(self) -> list[Any]:
        store = PositionStore(self.state / "observer")
        return [
            KmsgSource(
                self.kernel.path,
                name="kernel",
                store=store,
                boot_id="0f0e0d0c-0b0a-4908-8706-050403020100",
                boot_time=self.kernel.boot_time,
                sysfs=self.disks.sys,
                poll_interval=0.02,
            ),
            MetricsSource(
                TICK,
                metrics=("disk_io",),
                top=0,
                proc=self.disks.proc,
                sys=self.disks.sys,
                clock=self.disks.clock,
            ),
        ]


def _write_data(root: Path) -> None:
    """The critical data: nested folders, text, binary, an empty file, modes, a symlink."""
    (root / "db" / "2024").mkdir(parents=True)
    (root / "uploads" / "img").mkdir(parents=True)
    (root / "db" / "2024" / "orders.csv").write_text(
        "".join(f"{i},customer-{i},{i * 3.5:.2f}\n" for i in range(2000))
    )
    (root / "db" / "schema.sql").write_text("CREATE TABLE orders (id int, who text, total real);\n")
    (root / "uploads" / "img" / "logo.bin").write_bytes(bytes(range(256)) * 300 + os.urandom(777))
    (root / "uploads" / "empty").write_bytes(b"")
    secret = root / "db" / "credentials"
    secret.write_text("user=shop\n")
    secret.chmod(0o600)
    (root / "uploads" / "img").chmod(0o750)
    (root / "current").symlink_to("db/2024/orders.csv")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    if not NginxServer.available():
        pytest.skip("nginx is not installed")
    if not SmtpServer.available():
        pytest.skip("aiosmtpd is not installed")
    if shutil.which("rsync") is None:
        pytest.skip("rsync is not installed")
    # The site: the shipped snippet, its flag and page moved under tmp_path.
    snippet, flag = maintenance_snippet(tmp_path)
    # The backup destinations are allowed by the configuration's permissions override.
    backups = tmp_path / "backups"
    backups.mkdir()
    override = tmp_path / "permissions.json"
    override.write_text(
        "// the test's override: backups go under tmp_path\n"
        + json.dumps({"backup_roots": [str(backups)]})
    )
    data = tmp_path / "data"
    data.mkdir()
    _write_data(data)
    boot = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
    with (
        NginxServer(tmp_path / "nginx", server_config=f'include "{snippet}";') as nginx,
        SmtpServer() as smtp,
        WebhookServer() as hook,
    ):
        (nginx.docroot / "index.html").write_text(SITE_PAGE)
        yield World(
            tmp=tmp_path,
            site=Site(nginx, flag),
            smtp=smtp,
            hook=hook,
            data=data,
            backups=backups,
            state=tmp_path / "state",
            kernel=KernelLog(tmp_path / "kmsg", boot),
            disks=Diskstats(tmp_path / "machine"),
        )


# -- helpers ----------------------------------------------------------------------------------


async def until(what: str, check: Callable[[], Any], deadline: float = DEADLINE) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"waited {deadline:g} s for {what}")
        await asyncio.sleep(0.01)


@attrs.define
class Running:
    engine: Engine
    heard: Heard


@contextlib.asynccontextmanager
async def running(world: World, config: Config) -> AsyncIterator[Running]:
    """The engine following the world's sources, stopped (and awaited) on the way out."""
    heard = Heard()
    engine = Engine(config, sources=world.sources(), listeners=[heard], save_every=3600)
    task = asyncio.create_task(engine.run(), name="engine")
    try:
        yield Running(engine, heard)
    finally:
        engine.stop()
        await asyncio.wait_for(task, 60)


def runs_of(state: Path) -> list[dict[str, Any]]:
    path = state / "runbooks" / "runs.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def tree(root: Path) -> dict[str, tuple[Any, ...]]:
    """Relative path → (type, mode, size, content or link target) of everything below root."""
    found: dict[str, tuple[Any, ...]] = {}
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(folder, name)
            st = path.lstat()
            rel = str(path.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = ("dir", stat.S_IMODE(st.st_mode))
            else:
                found[rel] = ("file", stat.S_IMODE(st.st_mode), st.st_size, path.read_bytes())
    return found


def latency_signal(heard: Heard) -> dict[str, Any] | None:
    """The Learner's signal that sdb's await is unusually high, once heard."""
    return next(
        (
            b
            for _, b in heard.named("EventDetected")
            if b["key"].startswith(f"metric:disk_await_ms{{device={DISK}}}:high")
        ),
        None,
    )


async def feed_until_critical(world: World, heard: Heard) -> float:
    """Warm the latency up, then write the kernel stages (each once its level is seen).

    Returns:
        The monotonic time the critical level was heard.
    """
    world.kernel.write(BOOT)
    await until("the latency warm-up", lambda: world.disks.ticks >= WARMUP_TICKS)
    world.disks.climbing = True
    await until("the Learner to see sdb's latency climb", lambda: latency_signal(heard))
    await until("sdb's await at 100 ms", lambda: world.disks.awaits[-1] >= 100)
    for number, stage in enumerate(STAGES, start=1):
        world.kernel.write(stage)
        wanted = ORDER[number]

        def reached(wanted: str = wanted) -> bool:
            levels = [level for _, level in heard.disk_levels(DISK)]
            return bool(levels) and ORDER.index(levels[-1]) >= ORDER.index(wanted)

        await until(f"disk {DISK} at level {wanted}", reached)
    return heard.disk_levels(DISK)[-1][0]


# -- the scenario -----------------------------------------------------------------------------


@pytest.mark.parametrize("user_mode", ["interactive", "auto"])
def test_disk_failure_end_to_end(world: World, user_mode: str) -> None:
    """No step of the runbook asks for approval: it runs whole in both modes."""
    status, body = world.site.fetch()
    assert status == 200 and "Shop of the test site." in body

    async def scenario() -> tuple[Running, float, float]:
        async with running(world, world.config(user_mode=user_mode)) as run:
            detected = await feed_until_critical(world, run.heard)
            await until("the runbook run record", lambda: runs_of(world.state))
            await run.engine.wait_idle()
            return run, detected, time.monotonic()

    started = time.monotonic()
    run, detected, done = asyncio.run(scenario())
    heard, engine = run.heard, run.engine

    # The Learner flagged the disk, growing: never down, critical at last.
    levels = heard.disk_levels(DISK)
    assert [lv for _, lv in levels] == sorted((lv for _, lv in levels), key=ORDER.index)
    assert levels[-1][1] == "critical"
    critical = next(b for _, b in heard.named("EventDetected") if b["key"] == "disk:sdb:critical")
    texts = [e["text"] for e in critical["evidence"]]
    assert "scsi error" in texts and "io error, sector 1953460 (read)" in texts
    # The climbing latency reached the Learner before the errors: sdb's await is unusual.
    assert engine.stats.metrics > 8 * WARMUP_TICKS
    climb = latency_signal(heard)
    assert climb is not None and climb["labels"] == {"device": DISK}
    assert climb["value"] > 3 * climb["usual"]
    latency_alerts = [
        b for _, b in heard.named("AlertRaised") if b["key"] == f"metric_excursion:{climb['key']}"
    ]
    # An excursion alone is only worth a look (info: below min_severity, not mailed);
    # the disk risk it feeds is what raises the alarm.
    assert len(latency_alerts) == 1 and latency_alerts[0]["severity"] == "info"

    # The runbook ran once, completely, in interactive mode.
    (record,) = runs_of(world.state)
    assert record["runbook"] == "disk-failure@1" and record["status"] == "done"
    assert [(s["id"], s["status"]) for s in record["steps"]] == [
        ("maintenance", "done"),
        ("backup", "done"),
        ("alert", "done"),
    ]
    assert record["signal"]["key"] == "disk:sdb:critical"

    # A real request gets the maintenance page; nginx was reloaded (SIGHUP) by the step.
    status, body = world.site.fetch("/")
    assert status == 503
    assert "Site under maintenance" in body and "Site en maintenance" in body
    assert world.site.nginx.running
    maintenance = record["steps"][0]["output"]["outcome"]
    assert maintenance["applied"] == ["web.maintenance"]

    # The backup is the data, byte for byte, modes and link included.
    copy = world.backups / "site"
    assert tree(copy) == tree(world.data)
    assert os.readlink(copy / "current") == "db/2024/orders.csv"

    # The alert: mail with the full report, webhook with the JSON, listeners told.
    mails = [m for m in world.smtp.messages if "A disk is failing" in m.subject]
    assert len(mails) == 1
    mail = mails[0]
    assert mail.recipients == (RECIPIENT,)
    # Python's email folds this long subject before its first word ("Subject:\r\n [hf…"):
    # the unfolded value keeps that space, which mail readers strip.
    assert mail.subject.strip() == (
        "[hf-agent] critical: A disk is failing: maintenance page, backup, alert"
    )
    assert mail.message["X-Priority"] == "1"
    report = mail.text
    assert "Signal: disk_risk disk:sdb:critical" in report
    evidence = report.split("Evidence:", 1)[1].split("Actions taken:", 1)[0]
    assert "io error, sector 1953460 (read)" in evidence and "scsi error" in evidence
    actions = report.split("Actions taken:", 1)[1]
    assert "- maintenance: web.maintenance state=on, flag=" in actions
    assert f"- backup: backup.sync source={world.data}, destination=" in actions
    assert actions.count("step(s) applied, audited") == 2
    advice = _advice(world.config())
    assert advice.startswith("Check the disk now: smartctl -a /dev/sdb.")
    assert str(world.backups / "site") in advice and str(world.site.flag) in advice
    assert f"What to do next:\n{advice}\n" in report
    assert "${" not in report

    hooks = [r.json for r in world.hook.requests if r.json["source"] == "runbook.disk-failure"]
    assert len(hooks) == 1
    payload = hooks[0]
    assert payload["severity"] == "critical"
    assert payload["title"] == "A disk is failing: maintenance page, backup, alert"
    assert payload["fields"]["runbook"] == "disk-failure@1"
    assert payload["fields"]["disk"] == DISK
    assert payload["key"] == "runbook.disk-failure:disk:sdb:critical"
    assert world.hook.requests[-1].headers["content-type"] == "application/json"

    raised = [b for _, b in heard.named("AlertRaised") if b["source"] == "runbook.disk-failure"]
    assert len(raised) == 1
    sent = {r["channel"]: r["status"] for r in raised[0]["delivery"]["results"]}
    assert sent == {"mail": "sent", "webhook": "sent"}
    executed = heard.named("PlanExecuted")
    assert [b["applied"] for _, b in executed] == [["web.maintenance"], ["backup.sync"]]

    # The audit log verifies and holds the two applies, by the runbook.
    audit = AuditLog(world.state, journal=False)
    assert audit.verify().ok
    applies = [r for r in audit.read() if r.get("event") == "apply"]
    assert [r["action"] for r in applies] == ["web.maintenance", "backup.sync"]
    for entry in applies:
        assert entry["actor"]["runbook"] == "disk-failure@1"
        assert entry["actor"]["signal"] == "disk:sdb:critical"
    outcomes = [r for r in audit.read() if r.get("event") == "outcome"]
    assert [r["outcome"] for r in outcomes] == ["done", "done"]

    # The timings of each phase (for the closing note; never asserted).
    maintenance_on = executed[0][0]
    backup_done = executed[1][0]
    alerted = next(t for t, b in heard.named("AlertRaised") if b["source"].startswith("runbook"))
    first_signal = heard.disk_levels(DISK)[0][0]
    print(
        f"\nscenario 1 ({user_mode}) timings (s): "
        f"first disk signal → critical {detected - first_signal:.3f}; "
        f"critical → maintenance on {maintenance_on - detected:.3f}; "
        f"maintenance on → backup done {backup_done - maintenance_on:.3f}; "
        f"backup done → mail+webhook delivered {alerted - backup_done:.3f}; "
        f"critical → all done {alerted - detected:.3f}; "
        f"whole test run {done - started:.3f} "
        f"({engine.stats.events} events, {engine.stats.metrics} metrics, "
        f"{engine.stats.signals} signals, {engine.stats.alerts} alerts)"
    )
    print("signals:", ", ".join(b["key"] for _, b in heard.named("EventDetected")))


def _advice(config: Config) -> str:
    """The shipped runbook's English "what to do next" advice, its references resolved."""
    runbook = parse_runbook(RUNBOOK.read_text(), str(RUNBOOK))
    step = next(s for s in runbook.steps if s.action == "notify")
    advice = step.args.get("next")
    assert isinstance(advice, Mapping), f"{RUNBOOK}: the alert step has no 'next' advice"
    context = {
        "signal": {"kind": "disk_risk", "key": "disk:sdb:critical", "fields": {"disk": DISK}},
        "settings": attrs.asdict(config.modules.runbooks),
    }
    return str(resolve(advice["en"], context))


def test_the_same_signal_again_does_not_run_the_runbook_twice(world: World) -> None:
    counts: dict[str, int] = {}

    async def scenario() -> Running:
        async with running(world, world.config()) as run:
            await feed_until_critical(world, run.heard)
            await until("the runbook run record", lambda: runs_of(world.state))
            await run.engine.wait_idle()
            counts.update(mails=len(world.smtp.messages), hooks=len(world.hook.requests))
            # The disk keeps failing: more errors (the level stays critical), and the
            # same signal handed to the engine again, within the dedup window.
            events = run.engine.stats.events
            world.kernel.write(STAGES[-1])
            body = next(
                b for _, b in run.heard.named("EventDetected") if b["key"] == "disk:sdb:critical"
            )
            fields = {k: v for k, v in body.items() if k not in ("kind", "key", "at", "score")}
            again = Signal("disk_risk", "disk:sdb:critical", dt.datetime.now(dt.UTC), 1.0, fields)
            run.engine.handle_signal(again)
            await until("the new kernel records", lambda: run.engine.stats.events >= events + 3)
            await run.engine.wait_idle()
            return run

    run = asyncio.run(scenario())
    mails, hooks = counts["mails"], counts["hooks"]
    assert len(runs_of(world.state)) == 1
    assert run.engine.stats.runbook_runs == 1
    assert [b["applied"] for _, b in run.heard.named("PlanExecuted")] == [
        ["web.maintenance"],
        ["backup.sync"],
    ]
    runbook_mails = [m for m in world.smtp.messages if "A disk is failing" in m.subject]
    assert len(runbook_mails) == 1
    assert len(world.smtp.messages) >= mails and len(world.hook.requests) >= hooks
    assert world.site.fetch()[0] == 503


def test_a_refused_backup_stops_the_runbook_and_says_where(world: World) -> None:
    outside = world.tmp / "not-a-backup-root" / "site"

    async def scenario() -> None:
        async with running(world, world.config(destination=outside)) as run:
            await feed_until_critical(world, run.heard)
            await until("the runbook run record", lambda: runs_of(world.state))
            await run.engine.wait_idle()

    asyncio.run(scenario())

    (record,) = runs_of(world.state)
    assert record["status"] == "failed"
    steps = {s["id"]: s for s in record["steps"]}
    assert [s["id"] for s in record["steps"]] == ["maintenance", "backup"]
    assert steps["maintenance"]["status"] == "done"
    assert steps["backup"]["status"] == "failed"
    assert "refused by the policy" in steps["backup"]["output"]
    assert "protected (below /)" in steps["backup"]["output"]
    assert not outside.exists()

    # Maintenance stays on: the site is not served from a dying disk.
    status, body = world.site.fetch()
    assert status == 503 and "Site under maintenance" in body

    # The administrator hears where it stopped (mail and webhook), critical.
    mails = [m for m in world.smtp.messages if "A disk is failing" in m.subject]
    assert len(mails) == 1
    report = mails[0].text
    assert mails[0].subject.strip().startswith("[hf-agent] critical: ")
    assert "Runbook disk-failure stopped at step backup:" in report
    assert "refused by the policy" in report
    assert "- maintenance (web.maintenance): done" in report
    assert "- backup (backup.sync): failed" in report
    hooks = [r.json for r in world.hook.requests if r.json["source"] == "runbook.disk-failure"]
    assert len(hooks) == 1
    assert hooks[0]["severity"] == "critical"
    assert hooks[0]["fields"]["status"] == "failed" and hooks[0]["fields"]["step"] == "backup"
    # The audit log has the maintenance apply only, and verifies.
    audit = AuditLog(world.state, journal=False)
    assert audit.verify().ok
    assert [r["action"] for r in audit.read() if r.get("event") == "apply"] == ["web.maintenance"]


def test_a_latency_climb_is_evidence_of_the_disk_risk(tmp_path: Path) -> None:
    """Rising latency with one I/O error is critical, and the latency is in the evidence."""
    config = Config.from_text(json.dumps({"agent": {"state_dir": str(tmp_path / "state")}}))
    learner = Learner(config)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    signals: list[Signal] = []
    for i in range(80):
        wait = 4.0 if i < 60 else 4.0 + 12.0 * (i - 59)
        at = start + dt.timedelta(seconds=5 * i)
        signals += learner.observe(Metric("disk_util", 5.0, at, {"device": DISK}))
        signals += learner.observe(Metric("disk_await_ms", wait, at, {"device": DISK}))
    message = "blk_update_request: I/O error, dev sdb, sector 1953460 op 0x0:(READ) flags 0x0"
    signals += learner.observe(
        Event(start + dt.timedelta(seconds=401), "kernel", message, Severity.ERROR)
    )
    risks = [s for s in signals if s.kind == "disk_risk"]
    assert [s.key for s in risks] == ["disk:sdb:watch", "disk:sdb:critical"]
    kinds = [e["kind"] for e in risks[-1].fields["evidence"]]
    assert kinds == ["io_error", "latency"]
