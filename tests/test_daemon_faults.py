"""hf-agentd's faults and signals, with the real daemon on a real private system bus.

Everything is real: ``dbus-daemon --system`` and ``polkitd`` in a private mount
namespace (``libhfagent.testing.PrivateSystemBus``), hf-agentd started as a process
with its engine, a subscriber process on the bus, the daemon's own log files, its
state directory and sd_notify messages on a datagram socket. Nothing is mocked:

- the interface's signals (EventDetected, AlertRaised, PlanExecuted) as an
  unprivileged desktop program receives them;
- a followed log deleted while the daemon runs, then created again;
- SIGHUP (and the Reload method) with a broken configuration: the old one stays,
  the log and the sd_notify STATUS say why;
- ``kill -9`` and restart: a job started before the kill is not run again, no
  line is lost or handled twice, no process is left behind.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cronsim
import psutil
import pytest
from test_dbus_service import (
    IFACE,
    INVALID_ARGUMENT,
    NAME,
    NOBODY,
    PATH,
    call,
    old_files,
    project_bus,
    write_agent_config,
)

from libhfagent.testing._bus import PrivateSystemBus

pytestmark = pytest.mark.system

REFUSED = "reload refused, the previous configuration stays"

#: A client of the bus that prints each signal of the interface as one JSON line.
SUBSCRIBER = """
import asyncio, json, sys
from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus
from libhfagent.testing._bus import _from_wire

IFACE = sys.argv[1]

async def main():
    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()

    def on(msg):
        if msg.message_type is MessageType.SIGNAL and msg.interface == IFACE:
            record = {"member": msg.member, "path": msg.path, "sender": msg.sender,
                      "body": _from_wire(msg.body)}
            print(json.dumps(record), flush=True)

    bus.add_message_handler(on)
    reply = await bus.call(Message(
        destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
        interface="org.freedesktop.DBus", member="AddMatch", signature="s",
        body=[f"type='signal',interface='{IFACE}'"]))
    if reply.message_type is not MessageType.METHOD_RETURN:
        print(json.dumps({"member": "error", "body": reply.body}), flush=True)
        return
    print(json.dumps({"member": "ready", "sender": bus.unique_name}), flush=True)
    await bus.wait_for_disconnect()

asyncio.run(main())
"""


# -- helpers ---------------------------------------------------------------------------------


def wait_for(what: str, ready: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Poll ``ready`` until it returns something true; that value (fails at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        value = ready()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"not after {timeout:g} s: {what}")
        time.sleep(0.05)


def fault_config(directory: Path, **agent: Any) -> Path:
    """The D-Bus tests' configuration, quieter and quicker: only the test's own logs are
    followed, a look at them every second, no desktop or journal alert, no firewall ban."""
    path = write_agent_config(directory, **agent)
    data = json.loads(path.read_text())
    monitoring = data["modules"]["monitoring"]
    monitoring["sources"].update({"syslog": [], "apache": [], "kernel": [], "journal": []})
    monitoring["interval"] = 1.0
    monitoring["metrics"] = ["cpu_load"]
    data["modules"]["notifications"] = {"desktop": False, "journal": False}
    data["modules"]["runbooks"] = {"ban_time": 0}
    path.write_text(json.dumps(data, indent=2))
    return path


def state_dir(config: Path) -> Path:
    return Path(json.loads(config.read_text())["agent"]["state_dir"])


def logs(config: Path) -> tuple[Path, Path]:
    """The followed auth log and nginx access log of the configuration."""
    sources = json.loads(config.read_text())["modules"]["monitoring"]["sources"]
    return Path(sources["auth"][0]), Path(sources["nginx"][0])


@contextlib.contextmanager
def private_bus(directory: Path) -> Iterator[PrivateSystemBus]:
    """The D-Bus tests' bus and polkitd, without the service (each test starts its own)."""
    if not PrivateSystemBus.available():
        pytest.skip("needs root, dbus-daemon and polkitd")
    with project_bus(directory) as bus:
        yield bus


def start_agentd(
    bus: PrivateSystemBus, config: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[Any]:
    """hf-agentd with its engine; its pid is the daemon's own (nsenter execs it)."""
    child = bus.start_service(
        [sys.executable, "-m", "hf_agentd", "--config", str(config)],
        NAME,
        env=env,
        log="hf-agentd.log",
    )
    assert "hf_agentd" in Path(f"/proc/{child.pid}/cmdline").read_text()
    return child


def agentd_log(bus: PrivateSystemBus) -> str:
    return (bus.directory / "hf-agentd.log").read_text(errors="replace")


class Signals:
    """A subscriber process on the bus and the signals it received."""

    def __init__(self, bus: PrivateSystemBus, user: int | None = None) -> None:
        self.path = bus.directory / f"signals-{time.monotonic_ns()}.jsonl"
        with open(self.path, "wb") as out:
            self.proc = bus.popen(
                [sys.executable, "-c", SUBSCRIBER, IFACE],
                user=user,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        wait_for("the subscriber's match rule", lambda: self.records("ready"), 30)

    def records(self, member: str | None = None) -> list[dict[str, Any]]:
        out = []
        for line in self.path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if member is None or record.get("member") == member:
                out.append(record)
        if any(r.get("member") == "error" for r in out) or self.proc.poll() is not None:
            pytest.fail(f"the subscriber failed:\n{self.path.read_text()[-3000:]}")
        return out

    def received(self, member: str, match: Callable[[Any], bool]) -> list[Any]:
        """The ``member`` signals that ``match``: the argument, or the list of arguments
        of a signal that has several (``PlanExecuted``)."""
        bodies = [r["body"][0] if len(r["body"]) == 1 else r["body"] for r in self.records(member)]
        return [b for b in bodies if match(b)]

    def wait(self, member: str, match: Callable[[Any], bool], timeout: float = 60.0) -> Any:
        """The first ``member`` signal that ``match`` (waits for it)."""
        found = wait_for(f"a {member} signal", lambda: self.received(member, match), timeout)
        return found[0]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@contextlib.contextmanager
def subscriber(bus: PrivateSystemBus, user: int | None = None) -> Iterator[Signals]:
    signals = Signals(bus, user)
    try:
        yield signals
    finally:
        signals.close()


def brute_force(ip: str, count: int = 6, pid: int = 7000) -> str:
    """``count`` failed root logins from ``ip``, stamped now (sshd's syslog lines)."""
    now = dt.datetime.now(dt.UTC)
    stamp = f"{now:%b} {now.day:2d} {now:%H:%M:%S}"
    return "".join(
        f"{stamp} web sshd[{pid + n}]: Failed password for root from {ip} port {40000 + n} ssh2\n"
        for n in range(count)
    )


def numbered(first: int, count: int) -> str:
    """Harmless syslog lines numbered ``first`` …, stamped now."""
    now = dt.datetime.now(dt.UTC)
    stamp = f"{now:%b} {now.day:2d} {now:%H:%M:%S}"
    return "".join(
        f"{stamp} web cron[{900 + n}]: (root) CMD (run-parts line {n})\n"
        for n in range(first, first + count)
    )


def access_lines(first: int, count: int) -> str:
    now = dt.datetime.now(dt.UTC)
    stamp = now.strftime("%d/%b/%Y:%H:%M:%S +0000")
    return "".join(
        f'198.51.100.5 - - [{stamp}] "GET /page/{n} HTTP/1.1" 200 12 "-" "curl/8.0"\n'
        for n in range(first, first + count)
    )


def append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)


def position(config: Path, log: Path) -> dict[str, Any] | None:
    """The committed position of a followed file (the engine's positions file), if any."""
    folder = state_dir(config) / "observer"
    for doc_path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        with contextlib.suppress(OSError, json.JSONDecodeError):
            doc = json.loads(doc_path.read_text())
            if isinstance(doc, dict) and doc.get("path") == str(log):
                return doc
    return None


def handled_to_end(config: Path, log: Path) -> bool:
    """Whether the committed position is the end of the live file."""
    doc = position(config, log)
    if doc is None or not log.exists():
        return False
    st = log.stat()
    return (doc["inode"], doc["offset"]) == (st.st_ino, st.st_size)


def follow_started(config: Path, log: Path, probe: str) -> None:
    """Wait until the engine follows ``log``: a harmless line, written again until one is
    committed (a file never committed is followed from its end, as ``tail -F``)."""

    def committed() -> bool:
        if handled_to_end(config, log):
            return True
        append(log, probe)
        time.sleep(0.2)
        return handled_to_end(config, log)

    wait_for(f"{log} to be followed", committed, 60)


def runbook_runs(config: Path) -> list[dict[str, Any]]:
    """The runbook runs logged in the state directory."""
    path = state_dir(config) / "runbooks" / "runs.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def ip_of(body: dict[str, Any]) -> str:
    fields = body.get("fields")
    return str(body.get("ip") or (fields.get("ip") if isinstance(fields, dict) else "") or "")


def brute_force_event(ip: str) -> Callable[[Any], bool]:
    return lambda b: b.get("kind") == "brute_force" and b.get("key") == f"ssh:{ip}"


def alert_for(ip: str) -> Callable[[Any], bool]:
    return lambda b: ip_of(b) == ip and ip in b.get("body", "")


def processes_of(directory: Path) -> list[psutil.Process]:
    """Live processes whose command line names something under ``directory``."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        with contextlib.suppress(psutil.Error):
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if any(str(directory) in part for part in proc.info["cmdline"] or ()):
                found.append(proc)
    return found


# -- 1. signals ------------------------------------------------------------------------------


def test_signals_reach_an_unprivileged_subscriber(tmp_path: Path) -> None:
    config = fault_config(tmp_path)
    auth, _ = logs(config)
    with private_bus(tmp_path) as bus, subscriber(bus, user=NOBODY) as signals:
        start_agentd(bus, config)
        follow_started(config, auth, "Oct 10 13:00:00 web CRON[1]: probe\n")
        append(auth, brute_force("203.0.113.7"))
        event = signals.wait("EventDetected", brute_force_event("203.0.113.7"))
        assert event["ip"] == "203.0.113.7" and event["failures"] >= 5
        alert = signals.wait("AlertRaised", alert_for("203.0.113.7"))
        # The ssh-bruteforce runbook's alert: the full report, no ban (ban_time 0).
        assert alert["source"] == "runbook.ssh-bruteforce"
        assert alert["fields"]["signal"] == "ssh:203.0.113.7"
        assert "hf-agent security scan" in alert["body"]
        assert not signals.received("PlanExecuted", lambda b: True)
        (record,) = [
            r for r in signals.records("AlertRaised") if alert_for("203.0.113.7")(r["body"][0])
        ]
        assert record["path"] == PATH
        # The runbook ran once, done at its notify step (the ban step is off). Its run is
        # logged when it ends, after its alert went out.
        (run,) = wait_for("the runbook's run logged", lambda: runbook_runs(config))
        assert (run["runbook"], run["status"]) == ("ssh-bruteforce@1", "done")
        assert [s["id"] for s in run["steps"] if s["status"] == "done"] == ["alert"]
        assert len(signals.received("AlertRaised", alert_for("203.0.113.7"))) == 1

        # PlanExecuted: a plan previewed by Ask, applied by Execute.
        with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
            folder = Path(tmp) / "logs"
            made = old_files(folder, 3)
            request = f"delete the files older than 7 days in {folder}"
            asked = call(bus, "Ask", "sa{sv}", request, {})
            assert asked.error is None, asked
            plan_id = asked.body[0]["outcome"]["pending"]
            assert all(p.exists() for p in made)
            done = call(bus, "Execute", "sa{sv}", plan_id, {})
            assert done.error is None, done
            assert not any(p.exists() for p in made)
            _, outcome = signals.wait("PlanExecuted", lambda b: b[0] == plan_id)
            assert outcome["applied"] == ["files.delete"] and "failed" not in outcome
        assert "Traceback" not in agentd_log(bus)


# -- 2. a source that vanishes ---------------------------------------------------------------


def test_a_deleted_log_is_followed_again_when_it_comes_back(tmp_path: Path) -> None:
    config = fault_config(tmp_path)
    auth, access = logs(config)
    with private_bus(tmp_path) as bus, subscriber(bus) as signals:
        daemon = start_agentd(bus, config)
        follow_started(config, auth, "Oct 10 13:00:00 web CRON[1]: probe\n")
        follow_started(config, access, access_lines(0, 1))
        append(auth, brute_force("203.0.113.7"))
        signals.wait("EventDetected", brute_force_event("203.0.113.7"))

        auth.unlink()
        # The daemon stays up and the other source is still handled.
        append(access, access_lines(1, 20))
        wait_for("the access log's new lines handled", lambda: handled_to_end(config, access))
        status = call(bus, "GetStatus")
        assert status.error is None and status.body[0]["health"] == "ok", status
        append(access, access_lines(21, 5))
        wait_for("more access lines handled", lambda: handled_to_end(config, access))

        # The file comes back: its lines are read from its start.
        auth.write_text(brute_force("198.51.100.23", pid=8000))
        event = signals.wait("EventDetected", brute_force_event("198.51.100.23"))
        assert event["ip"] == "198.51.100.23"
        signals.wait("AlertRaised", alert_for("198.51.100.23"))
        wait_for("the new auth log handled to its end", lambda: handled_to_end(config, auth))
        # Each brute force was reported once.
        for ip in ("203.0.113.7", "198.51.100.23"):
            assert len(signals.received("EventDetected", brute_force_event(ip))) == 1
        assert call(bus, "GetStatus").error is None and daemon.poll() is None
        assert "Traceback" not in agentd_log(bus)


# -- 3. SIGHUP / Reload with a broken configuration ------------------------------------------


class Notifications:
    """An sd_notify socket (as systemd's) and the messages the daemon sent to it."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "notify.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.setblocking(False)
        self.messages: list[str] = []

    def statuses(self) -> list[str]:
        with contextlib.suppress(BlockingIOError):
            while True:
                self.messages.append(self.sock.recv(65536).decode())
        return [
            line[len("STATUS=") :]
            for message in self.messages
            for line in message.splitlines()
            if line.startswith("STATUS=")
        ]

    def close(self) -> None:
        self.sock.close()


def refusals(bus: PrivateSystemBus) -> list[str]:
    return [line for line in agentd_log(bus).splitlines() if REFUSED in line]


def test_sighup_with_a_broken_configuration_keeps_the_old_one(tmp_path: Path) -> None:
    config = fault_config(tmp_path)
    good = json.loads(config.read_text())
    auth, _ = logs(config)
    notes = Notifications(tmp_path)
    try:
        with private_bus(tmp_path) as bus, subscriber(bus) as signals:
            daemon = start_agentd(bus, config, env={"NOTIFY_SOCKET": str(notes.path)})
            wait_for("READY=1", lambda: notes.statuses() and "READY=1" in "".join(notes.messages))
            assert call(bus, "GetStatus").body[0]["language"] == "en"

            # Broken JSON: refused, the log names the line.
            text = json.dumps({**good, "agent": {**good["agent"], "language": "fr"}}, indent=2)
            broken = text.replace('"timezone": "UTC",', '"timezone": "UTC"', 1)
            assert broken != text
            config.write_text(broken)
            os.kill(daemon.pid, signal.SIGHUP)
            (first,) = wait_for("the first refusal in the log", lambda: refusals(bus))
            assert "line 5" in first, first
            assert call(bus, "GetStatus").body[0]["language"] == "en"
            wait_for("STATUS says why", lambda: any(REFUSED in s for s in notes.statuses()))
            assert daemon.poll() is None

            # Valid JSON, a wrong value: refused, the log names the key.
            config.write_text(
                json.dumps(
                    {**good, "agent": {**good["agent"], "timezone": "Mars/Olympus"}}, indent=2
                )
            )
            os.kill(daemon.pid, signal.SIGHUP)
            second = wait_for("the second refusal", lambda: refusals(bus)[1:])[0]
            assert "agent.timezone" in second and "Mars/Olympus" in second, second
            status = call(bus, "GetStatus")
            assert status.error is None and status.body[0]["language"] == "en"
            last = notes.statuses()[-1]
            assert REFUSED in last and "agent.timezone" in last, last

            # The D-Bus Reload method: an error reply that names the problem.
            reply = call(bus, "Reload")
            assert reply.error == INVALID_ARGUMENT, reply
            assert "agent.timezone" in reply.message and "Mars/Olympus" in reply.message
            assert call(bus, "GetStatus").body[0]["language"] == "en"

            # The engine still runs under the old configuration.
            follow_started(config, auth, "Oct 10 13:00:00 web CRON[1]: probe\n")
            append(auth, brute_force("203.0.113.9"))
            signals.wait("EventDetected", brute_force_event("203.0.113.9"))

            # Fixed: SIGHUP puts the new value in force, and STATUS no longer complains.
            config.write_text(
                json.dumps({**good, "agent": {**good["agent"], "language": "fr"}}, indent=2)
            )
            os.kill(daemon.pid, signal.SIGHUP)
            wait_for(
                "language fr in force", lambda: call(bus, "GetStatus").body[0]["language"] == "fr"
            )
            wait_for(
                "STATUS without the refusal",
                lambda: (s := notes.statuses()) and REFUSED not in s[-1],
            )
            assert "configuration reloaded" in agentd_log(bus)
            assert len(refusals(bus)) == 3  # two SIGHUPs and one Reload
            assert daemon.poll() is None
            assert "Traceback" not in agentd_log(bus)
    finally:
        notes.close()


# -- 4. kill -9 and restart ------------------------------------------------------------------

JOB = "disk-tmp"
YEARLY = "0 0 1 1 *"


def runs_json(config: Path) -> dict[str, str]:
    path = state_dir(config) / "scheduler" / "runs.json"
    try:
        value: dict[str, str] = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return value


def history(config: Path) -> list[dict[str, Any]]:
    path = state_dir(config) / "scheduler" / "history.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def job_children(config: Path) -> list[psutil.Process]:
    """The job processes (``python -m libhfagent … ask``) of this test's engine."""
    engine_config = str(state_dir(config) / "engine" / "config.json")
    return [p for p in processes_of(state_dir(config)) if engine_config in p.cmdline()]


def alive(proc: psutil.Process) -> bool:
    with contextlib.suppress(psutil.Error):
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    return False


def sigkill(child: subprocess.Popen[Any]) -> None:
    os.kill(child.pid, signal.SIGKILL)
    child.wait(10)


def test_kill_9_and_restart_no_duplicate_job_no_lost_or_repeated_line(tmp_path: Path) -> None:
    config = fault_config(tmp_path)
    data = json.loads(config.read_text())
    data["modules"]["scheduler"] = {
        "jobs": [{"name": JOB, "cron": YEARLY, "task": "espace disque sur /tmp"}]
    }
    config.write_text(json.dumps(data, indent=2))
    auth, _ = logs(config)
    # The yearly job last ran more than a year ago: one run was missed, it runs once at start.
    seen = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    missed = next(cronsim.CronSim(YEARLY, seen))
    scheduler = state_dir(config) / "scheduler"
    scheduler.mkdir(parents=True)
    (scheduler / "runs.json").write_text(json.dumps({JOB: seen.isoformat()}))

    offsets: list[tuple[int, int]] = []

    def note_offset() -> bool:
        """Note the committed position; whether it is the end of the file."""
        doc = position(config, auth)
        if doc is not None:
            offsets.append((doc["inode"], doc["offset"]))
        return handled_to_end(config, auth)

    with private_bus(tmp_path) as bus, subscriber(bus) as signals:
        # 1. The missed run starts; the daemon is killed while (or just after) it runs.
        first = start_agentd(bus, config)
        wait_for("the missed run to start", lambda: runs_json(config).get(JOB) != seen.isoformat())
        started_at = runs_json(config)[JOB]
        assert dt.datetime.fromisoformat(started_at) > seen
        children = job_children(config)
        sigkill(first)
        killed_mid_run = bool(children) and not history(config)
        print(f"killed while the job ran: {killed_mid_run} ({len(children)} job process)")
        # Its job, orphaned (no systemd cgroup here to take it down), ends by itself.
        wait_for("the orphaned job to end", lambda: not any(alive(c) for c in children), 60)

        # 2. Restarted: the job is not due again (recorded as started before it ran).
        second = start_agentd(bus, config)
        follow_started(config, auth, "Oct 10 13:00:00 web CRON[1]: probe\n")
        # The scheduler's first look happens as the engine starts, before any line is handled.
        assert runs_json(config)[JOB] == started_at
        note_offset()
        append(auth, brute_force("203.0.113.7") + numbered(1, 20))
        signals.wait("EventDetected", brute_force_event("203.0.113.7"))
        wait_for("the lines handled", note_offset)

        # 3. kill -9 again; lines arrive while the daemon is down.
        sigkill(second)
        note_offset()
        before_restart = position(config, auth)
        assert before_restart is not None
        append(auth, numbered(21, 20) + brute_force("198.51.100.23", pid=8000) + numbered(41, 5))
        size = auth.stat().st_size
        assert before_restart["offset"] < size

        # 4. Restarted: every line handled once, from the committed offset on.
        third = start_agentd(bus, config)
        wait_for(
            "the lines written while down handled",
            note_offset,
        )
        event = signals.wait("EventDetected", brute_force_event("198.51.100.23"))
        assert event["failures"] >= 5
        signals.wait("AlertRaised", alert_for("198.51.100.23"))
        assert offsets[-1] == (auth.stat().st_ino, size)
        assert offsets == sorted(offsets), "the committed offset went backwards"
        # The Learner saw each line once: one brute force each, none seen again.
        for ip in ("203.0.113.7", "198.51.100.23"):
            assert len(signals.received("EventDetected", brute_force_event(ip))) == 1, ip
        assert runs_json(config)[JOB] == started_at

        # The job's run for the missed time: at most once, never twice.
        runs = history(config)
        assert len({r["scheduled"] for r in runs}) == len(runs), runs
        assert [dt.datetime.fromisoformat(r["scheduled"]) for r in runs] in ([], [missed]), runs
        bus_log = agentd_log(bus)
        assert bus_log.count(f"job {JOB} (") == 1, bus_log
        assert "Traceback" not in bus_log

        # Stopped: no hf-agentd and no job process is left (the one orphaned by the
        # first kill -9 included).
        third.terminate()
        assert third.wait(60) == 0
        wait_for("every process of the test to end", lambda: not processes_of(tmp_path), 60)


# -- 5. stopped while a job hangs ------------------------------------------------------------


def test_sigterm_while_a_job_hangs_stops_the_daemon_and_its_job(tmp_path: Path) -> None:
    # A job whose task reads a FIFO nobody writes to: its process hangs in open().
    fifo = tmp_path / "stuck" / "access.log"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    config = fault_config(tmp_path)
    data = json.loads(config.read_text())
    task = f"summarize the 404 errors of {fifo}"
    data["modules"]["scheduler"] = {"jobs": [{"name": JOB, "cron": YEARLY, "task": task}]}
    config.write_text(json.dumps(data, indent=2))
    seen = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    scheduler = state_dir(config) / "scheduler"
    scheduler.mkdir(parents=True)
    (scheduler / "runs.json").write_text(json.dumps({JOB: seen.isoformat()}))
    with private_bus(tmp_path) as bus:
        daemon = start_agentd(bus, config)
        (child,) = wait_for("the job's process", lambda: job_children(config))
        assert task in " ".join(child.cmdline())
        daemon.terminate()
        # systemd gives it TimeoutStopSec=15s before SIGKILL: it must be out well before.
        try:
            status = daemon.wait(15)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"hf-agentd still waits for its hung job 15 s after SIGTERM\n{agentd_log(bus)}"
            )
        assert status == 0, agentd_log(bus)
        wait_for("the job's process to be stopped", lambda: not processes_of(tmp_path), 10)
        # The interrupted run is recorded, once, and not run again at the next start.
        runs = history(config)
        assert [r["job"] for r in runs] == [JOB] and runs[0]["status"] != "done", runs
