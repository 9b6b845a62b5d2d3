"""Read-only probes on real trees, sockets and processes; services on a real systemd."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from libhfagent._errors import RequestError
from libhfagent.config import Config
from libhfagent.executor import Executor
from libhfagent.executor._actions import ActionContext, get_action
from libhfagent.executor._probes import check_probe_args, render_probe, run_probe
from libhfagent.executor._systemd import Systemd, parse_systemctl_show
from libhfagent.interpreter._types import Intent, Plan, Step

DAY = 86400


def probe(action: str, **args: Any) -> dict[str, Any]:
    return run_probe(action, check_probe_args(action, args))


def test_disk_usage_lists_the_biggest_folders(tmp_path: Path) -> None:
    (tmp_path / "big").mkdir()
    (tmp_path / "small").mkdir()
    (tmp_path / "big" / "a").write_bytes(os.urandom(300_000))
    (tmp_path / "small" / "b").write_bytes(os.urandom(10_000))
    report = probe("disk.usage", path=str(tmp_path))
    assert [p for p, _ in report["biggest"]] == [str(tmp_path / "big"), str(tmp_path / "small")]
    assert report["biggest"][0][1] >= 300_000 and report["complete"]
    assert any(m["mount"] == "/" for m in report["mounts"])
    text = render_probe("disk.usage", report, "fr")
    assert "libres sur" in text or "free of" in text
    assert str(tmp_path / "big") in text


def test_files_find_by_size_and_age(tmp_path: Path) -> None:
    now = time.time()
    for i in range(5):
        path = tmp_path / f"f{i}"
        path.write_bytes(b"x" * (1000 * (i + 1)))
        os.utime(path, (now - i * 10 * DAY, now - i * 10 * DAY))
    big = probe("files.find", path=str(tmp_path), size=3000, count=2)
    assert [f["path"] for f in big["files"]] == [str(tmp_path / "f4"), str(tmp_path / "f3")]
    assert big["matched"] == 3 and big["bytes"] == 12000
    old = probe("files.find", path=str(tmp_path), older_than=15 * DAY)
    assert [f["path"] for f in old["files"]] == [str(tmp_path / n) for n in ("f4", "f3", "f2")]
    with pytest.raises(RequestError):
        check_probe_args("files.find", {"path": "/tmp/$(id)"})
    with pytest.raises(RequestError):
        check_probe_args("files.find", {"path": "/tmp", "count": 0})


def test_process_top_sees_a_busy_child(tmp_path: Path) -> None:
    import subprocess
    import sys

    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        report = probe("process.top", metric="cpu", count=5)
        assert busy.pid in [p["pid"] for p in report["processes"]]
        memory = probe("process.top", metric="memory", count=3)
        rss = [p["rss"] for p in memory["processes"]]
        assert rss == sorted(rss, reverse=True) and len(rss) == 3
    finally:
        busy.kill()
        busy.wait()
    with pytest.raises(RequestError):
        check_probe_args("process.top", {"metric": "disk"})


def test_network_listening_finds_our_socket() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        report = probe("network.listening", port=port)
        assert report["sockets"] == [
            {
                "proto": "tcp",
                "address": "127.0.0.1",
                "port": port,
                "pid": os.getpid(),
                "process": report["sockets"][0]["process"],
            }
        ]
        assert "python" in report["sockets"][0]["process"]
        assert f"127.0.0.1:{port}" in render_probe("network.listening", report, "en")
    with pytest.raises(RequestError):
        check_probe_args("network.listening", {"port": 70000})


def test_disk_health_gives_evidence_per_disk() -> None:
    report = probe("disk.health")
    assert {"disks", "evidence", "healthy"} <= set(report)
    assert report["healthy"] == (not report["evidence"])
    for disk in report["disks"]:
        assert disk["read_latency_ms"] >= 0
    with pytest.raises(RequestError):
        check_probe_args("disk.health", {"device": "sda; reboot"})


def test_systemctl_show_parser() -> None:
    state = parse_systemctl_show(
        "nginx.service",
        "Id=nginx.service\nLoadState=loaded\nActiveState=active\nSubState=running\n"
        "UnitFileState=enabled\nRequiredBy=\nWantedBy=multi-user.target\nBoundBy=x.service\n",
    )
    assert (state.active_state, state.sub_state, state.unit_file_state) == (
        "active",
        "running",
        "enabled",
    )
    assert state.dependents == ("multi-user.target", "x.service")


def test_probes_run_through_the_executor(tmp_path: Path) -> None:
    executor = Executor(Config.from_text(json.dumps({"agent": {"state_dir": str(tmp_path / "s")}})))
    (tmp_path / "x").write_bytes(b"x" * 5000)
    plan = Plan(
        Intent("quels fichiers", "fr", "files.find", 0.9, {}),
        (Step("files.find", {"path": str(tmp_path), "size": 1000}),),
    )
    reviewed = executor.review(plan)
    assert reviewed.steps[0].decision == "allow"
    outcome = executor.run(plan)
    assert outcome.results[0].report["matched"] == 1
    assert "1 fichiers" in outcome.results[0].text or "1 files" in outcome.results[0].text


# --- services on a real, throw-away systemd ---------------------------------------------

UNIT = """\
[Unit]
Description=hf-agent test service

[Service]
ExecStart=/bin/sleep infinity
"""

DEPENDENT = """\
[Unit]
Description=depends on demo
Requires=hfdemo.service
After=hfdemo.service

[Service]
ExecStart=/bin/sleep infinity

[Install]
WantedBy=multi-user.target
"""


@pytest.fixture
def systemd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    try:
        from libhfagent.testing._systemd import SystemdNamespace
    except ImportError:
        pytest.skip("libhfagent.testing._systemd is not there")
    if not SystemdNamespace.available():
        pytest.skip("a namespaced systemd cannot boot here (needs root and cgroup2)")
    with SystemdNamespace(tmp_path) as sd:
        sd.write_file("/etc/systemd/system/hfdemo.service", UNIT)
        sd.write_file("/etc/systemd/system/hfdependent.service", DEPENDENT)
        sd.systemctl("daemon-reload")
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", sd.bus_address)
        yield sd


@pytest.mark.system
def test_service_actions_over_dbus_and_undo(systemd: Any, tmp_path: Path) -> None:
    ctx = ActionContext(tmp_path / "state", "0123456789abcdef")
    state = Systemd().unit_state("hfdemo.service")
    assert (state.load_state, state.active_state) == ("loaded", "inactive")

    start = get_action("service.start")
    result = start.run({"service": "hfdemo"}, ctx)
    assert result.report["before"]["active_state"] == "inactive"
    assert result.report["after"]["active_state"] == "active"
    assert systemd.systemctl("is-active", "hfdemo.service").stdout.strip() == "active"
    pid = systemd.systemctl("show", "-p", "MainPID", "--value", "hfdemo.service").stdout.strip()

    restart = get_action("service.restart")
    restart.run({"service": "hfdemo"}, ctx)
    new_pid = systemd.systemctl("show", "-p", "MainPID", "--value", "hfdemo.service").stdout
    assert new_pid.strip() not in ("0", pid)

    status = probe("service.status", service="hfdemo")
    assert status["active_state"] == "active" and status["via"] == "dbus"
    assert "hfdemo.service" in render_probe("service.status", status, "en")

    # Undo of a start stops the unit again.
    assert "stop" in start.revert({"service": "hfdemo"}, result.undo, ctx)
    assert (
        systemd.systemctl("is-active", "hfdemo.service", check=False).stdout.strip() == "inactive"
    )

    stop = get_action("service.stop")
    start.run({"service": "hfdemo"}, ctx)
    stopped = stop.run({"service": "hfdemo"}, ctx)
    assert stopped.undo == {"active_state": "active"}
    stop.revert({"service": "hfdemo"}, stopped.undo, ctx)
    assert systemd.systemctl("is-active", "hfdemo.service").stdout.strip() == "active"


@pytest.mark.system
def test_service_preview_shows_state_and_dependents(systemd: Any, tmp_path: Path) -> None:
    executor = Executor(Config.from_text(json.dumps({"agent": {"state_dir": str(tmp_path / "s")}})))
    plan = Plan(
        Intent("restart hfdemo", "en", "service.restart", 0.9, {"service": "hfdemo"}),
        (Step("service.restart", {"service": "hfdemo"}, changes_system=True),),
    )
    # The dependent (Requires=hfdemo) running: restarting hfdemo concerns it too.
    systemd.systemctl("start", "hfdependent.service")
    main_pid = systemd.systemctl("show", "-p", "MainPID", "--value", "hfdemo.service").stdout
    previewed = executor.preview(plan)
    assert previewed is not None
    step = previewed.preview.steps[0]
    assert step.simulated is False
    assert step.report["unit"]["active_state"] == "active"
    assert step.report["unit"]["dependents"] == ["hfdependent.service"]
    from libhfagent.executor._render import render_preview

    assert "depending on it: hfdependent.service" in render_preview(previewed, "en")
    # The preview did not restart it.
    pid = systemd.systemctl("show", "-p", "MainPID", "--value", "hfdemo.service").stdout
    assert pid == main_pid
