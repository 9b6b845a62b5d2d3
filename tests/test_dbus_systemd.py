"""hf-agent.service under a real systemd (PID 1 of its own namespaces, on an overlay of /).

The shipped unit, dbus-1 policy, activation file and polkit actions are installed in
the namespace only; the first ``busctl call`` activates the service through the bus
and systemd; ``systemctl stop`` is clean; the watchdog restarts a hung service.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_dbus_service import ACCESS_LOG

from libhfagent.testing import SystemdNamespace

ROOT = Path(__file__).resolve().parent.parent
DBUS = ROOT / "services/dbus"
NAME, PATH, IFACE = "org.huggingface.Agent", "/org/huggingface/Agent1", "org.huggingface.Agent1"
DAEMON = str(Path(sys.executable).parent / "hf-agentd")

pytestmark = pytest.mark.system


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout} s")
        time.sleep(0.1)


def show(sd: SystemdNamespace, prop: str) -> str:
    return sd.systemctl("show", "-p", prop, "--value", "hf-agent.service").stdout.strip()


@pytest.fixture
def systemd() -> Iterator[SystemdNamespace]:
    if not SystemdNamespace.available():
        pytest.skip("needs root, systemd and a cgroup2 hierarchy")
    # The namespace has its own /tmp and /var/tmp: a checkout (and its virtualenv) living
    # there must be bound in, and the unit's PrivateTmp would hide it again from the
    # service, so the test relaxes it in that case only.
    private = [p for p in (Path("/tmp"), Path("/var/tmp")) if ROOT.is_relative_to(p)]
    venv = Path(sys.prefix)
    binds = {str(ROOT): ROOT} if private else {}
    if private and not venv.is_relative_to(ROOT):
        binds[str(venv)] = venv
    with SystemdNamespace(binds=binds) as sd:
        sd.copy_in(DBUS / "org.huggingface.Agent.conf", "/usr/share/dbus-1/system.d/")
        sd.copy_in(
            DBUS / "org.huggingface.Agent.service",
            "/usr/share/dbus-1/system-services/org.huggingface.Agent.service",
        )
        sd.copy_in(
            ROOT / "policy/org.huggingface.Agent.policy",
            "/usr/share/polkit-1/actions/org.huggingface.Agent.policy",
        )
        unit = (DBUS / "hf-agent.service").read_text()
        if private:
            unit = unit.replace("PrivateTmp=yes", "PrivateTmp=no")
        sd.write_file(
            "/etc/systemd/system/hf-agent.service", unit.replace("/usr/bin/hf-agentd", DAEMON)
        )
        sd.write_file("/var/log/hfa-test/access.log", ACCESS_LOG)
        sd.write_file(
            "/etc/hf-agent/hf-agent.json",
            json.dumps(
                {
                    "agent": {"timezone": "UTC", "language": "en"},
                    "modules": {
                        "monitoring": {"sources": {"nginx": ["/var/log/hfa-test/access.log"]}}
                    },
                }
            ),
        )
        sd.systemctl("daemon-reload")
        yield sd


def journal(sd: SystemdNamespace) -> str:
    return sd.run(["journalctl", "--no-pager", "-u", "hf-agent.service"], check=False).stdout


def busctl(sd: SystemdNamespace, *args: str, check: bool = True) -> str:
    out = sd.run(["busctl", "call", NAME, PATH, IFACE, *args], check=check, timeout=60)
    return out.stdout + out.stderr


def test_activation_stop_and_watchdog(systemd: SystemdNamespace) -> None:
    sd = systemd
    assert show(sd, "ActiveState") == "inactive"
    # The first call activates it: bus → systemd → hf-agent.service (Type=notify).
    status = busctl(sd, "GetStatus")
    assert '"health" s "ok"' in status and '"config" s "/etc/hf-agent/hf-agent.json"' in status
    assert show(sd, "ActiveState") == "active"
    assert show(sd, "Type") == "notify"
    assert show(sd, "StatusText").startswith("Serving org.huggingface.Agent1")
    report = busctl(sd, "Analyze", "sa{sv}", "nginx", "1", "status", "u", "404")
    assert '"matched" x 3' in report
    # The hardened unit's directories.
    assert sd.run(["test", "-d", "/var/lib/hf-agent"], check=False).returncode == 0
    # Reload through systemd (SIGHUP) keeps it running.
    pid = show(sd, "MainPID")
    sd.systemctl("reload", "hf-agent.service")  # RELOADING=1, then READY=1 once re-read
    wait_for(lambda: show(sd, "ActiveState") == "active", "the reloaded service")
    assert show(sd, "MainPID") == pid
    wait_for(lambda: "configuration reloaded" in journal(sd), "the reload in the journal")

    # systemctl stop is clean: success, nothing left in its cgroup, the name is released.
    sd.systemctl("stop", "hf-agent.service")
    assert show(sd, "ActiveState") == "inactive"
    assert show(sd, "Result") == "success"
    assert show(sd, "MainPID") == "0"
    has_owner = sd.run(
        [
            "busctl",
            "call",
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "NameHasOwner",
            "s",
            NAME,
        ]
    )
    assert has_owner.stdout.strip() == "b false"

    # The watchdog restarts a hung service (stopped with SIGSTOP: its loop no longer pings).
    sd.write_file(
        "/etc/systemd/system/hf-agent.service.d/50-test.conf",
        "[Service]\nWatchdogSec=2s\nRestartSec=100ms\nTimeoutAbortSec=2s\n",
    )
    sd.systemctl("daemon-reload")
    sd.systemctl("start", "hf-agent.service")
    first = show(sd, "MainPID")
    assert first != "0" and show(sd, "NRestarts") == "0"
    time.sleep(3)  # pings keep it alive past the watchdog period
    assert show(sd, "MainPID") == first
    sd.run(["kill", "-STOP", first])
    wait_for(lambda: show(sd, "NRestarts") == "1", "a restart by the watchdog")
    wait_for(lambda: show(sd, "ActiveState") == "active", "the restarted service")
    assert show(sd, "MainPID") not in (first, "0")
    assert "Watchdog timeout" in journal(sd), journal(sd)[-3000:]
    assert '"health" s "ok"' in busctl(sd, "GetStatus")
