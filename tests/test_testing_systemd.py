"""Tests of libhfagent.testing.SystemdNamespace, against the real systemd."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

from libhfagent.testing._systemd import SystemdError, SystemdNamespace, _cgroup2_mount

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(not SystemdNamespace.available(), reason="needs root, systemd, cgroup2"),
]


def pids_in_pid_namespace(namespace: str) -> list[int]:
    """Host pids of the processes (zombies excepted) whose pid namespace is ``namespace``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/pid") != namespace:
                continue
            state = Path(f"/proc/{entry}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if state != b"Z":
            found.append(int(entry))
    return found


@pytest.fixture(scope="module")
def sd(tmp_path_factory: pytest.TempPathFactory) -> object:
    shared = tmp_path_factory.mktemp("shared")
    (shared / "hello.txt").write_text("from the host\n")
    with SystemdNamespace(tmp_path_factory.mktemp("sd"), binds={"/opt/shared": shared}) as ns:
        yield ns


def test_boots_as_pid_1_with_its_own_tmp(sd: SystemdNamespace) -> None:
    assert sd.boot_seconds is not None and sd.boot_seconds > 0
    assert sd.run(["cat", "/proc/1/comm"]).stdout.strip() == "systemd"
    assert sd.run(["sh", "-c", "echo $$"]).stdout.strip() != str(os.getpid())
    for private in ("/run", "/tmp", "/var/tmp"):
        assert sd.run(["stat", "-f", "-c", "%T", private]).stdout.strip() == "tmpfs"
    assert sd.systemctl("is-active", "basic.target").stdout.strip() == "active"
    # Units that would change the host's kernel are skipped in the container.
    assert sd.run(["systemd-detect-virt", "--container"], check=False).stdout.strip() != "none"


def test_written_files_stay_inside(sd: SystemdNamespace) -> None:
    name = f"/etc/hfagent-probe-{os.getpid()}"
    host = sd.write_file(name, "inside\n")
    assert host.read_text() == "inside\n"
    assert sd.run(["cat", name]).stdout == "inside\n"
    assert not Path(name).exists()


def test_binds_share_host_folders(sd: SystemdNamespace) -> None:
    assert sd.run(["cat", "/opt/shared/hello.txt"]).stdout == "from the host\n"


def test_copy_in(sd: SystemdNamespace, tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.conf").write_text("a=1\n")
    sd.copy_in(tmp_path / "pkg", "/etc/hfagent-copy")
    assert sd.run(["cat", "/etc/hfagent-copy/a.conf"]).stdout == "a=1\n"


def test_units_start_and_stop(sd: SystemdNamespace) -> None:
    sd.write_file(
        "/etc/systemd/system/hfagent-sleep.service",
        "[Service]\nType=simple\nExecStart=/bin/sleep infinity\n",
    )
    sd.systemctl("daemon-reload")
    sd.systemctl("start", "hfagent-sleep.service")
    assert sd.systemctl("is-active", "hfagent-sleep.service").stdout.strip() == "active"
    sd.systemctl("stop", "hfagent-sleep.service")
    state = sd.systemctl("is-active", "hfagent-sleep.service", check=False).stdout.strip()
    assert state == "inactive"


def test_run_reports_failures(sd: SystemdNamespace) -> None:
    with pytest.raises(SystemdError, match="exited with 3"):
        sd.run(["sh", "-c", "echo oops; exit 3"])
    assert sd.run(["false"], check=False).returncode == 1
    with pytest.raises(ValueError, match="absolute"):
        sd.host_path("etc/passwd")
    with pytest.raises(ValueError, match=r"\.\."):
        sd.host_path("/etc/../../x")


def test_system_bus_from_the_host(sd: SystemdNamespace) -> None:
    async def call() -> str:
        bus = await MessageBus(bus_address=sd.bus_address, bus_type=BusType.SYSTEM).connect()
        try:
            reply = await bus.call(
                Message(
                    destination="org.freedesktop.systemd1",
                    path="/org/freedesktop/systemd1",
                    interface="org.freedesktop.systemd1.Manager",
                    member="GetUnit",
                    signature="s",
                    body=["basic.target"],
                )
            )
        finally:
            bus.disconnect()
        assert reply is not None and reply.message_type == MessageType.METHOD_RETURN
        return str(reply.body[0])

    assert asyncio.run(call()) == "/org/freedesktop/systemd1/unit/basic_2etarget"


def test_stop_leaves_nothing(tmp_path: Path) -> None:
    ns = SystemdNamespace(tmp_path)
    with ns:
        sd_pid = ns.pid
        namespace = os.readlink(f"/proc/{sd_pid}/ns/pid")
        ns.write_file(
            "/etc/systemd/system/hfagent-busy.service",
            "[Service]\nExecStart=/bin/sleep infinity\n",
        )
        ns.systemctl("daemon-reload")
        ns.systemctl("start", "hfagent-busy.service")
        ns.run(["busctl", "status", "--no-pager"])  # starts dbus-daemon
        inside = pids_in_pid_namespace(namespace)
        assert len(inside) >= 4  # systemd, journald, dbus-daemon, sleep
        line = next(
            x
            for x in Path(f"/proc/{sd_pid}/cgroup").read_text().splitlines()
            if x.startswith("0::")
        )
        own = line[3:].split("/init.scope")[0]
        assert own.rsplit("/", 1)[1].startswith("hfagent-systemd.")
        cgroup = Path(f"{_cgroup2_mount()}{own}")
        assert (cgroup / "system.slice" / "hfagent-busy.service").is_dir()
    assert pids_in_pid_namespace(namespace) == []
    left = {p: Path(f"/proc/{p}/stat").read_text() for p in inside if Path(f"/proc/{p}").exists()}
    assert left == {}
    assert not cgroup.exists()
    assert list(tmp_path.iterdir()) == []
    ns.stop()  # a second stop does nothing
    with pytest.raises(SystemdError, match="not started"):
        _ = ns.pid


def test_failed_boot_cleans_up(tmp_path: Path) -> None:
    ns = SystemdNamespace(tmp_path, unit="hfagent-no-such.target", boot_timeout=30)
    with pytest.raises(SystemdError):
        ns.start()
    assert list(tmp_path.iterdir()) == []
