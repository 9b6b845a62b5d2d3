"""Typed actions on real files in temporary trees; entities checked before anything runs."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import stat
import time
from pathlib import Path

import pytest

from libhfagent._errors import ExecutionError, RequestError
from libhfagent.executor._actions import (
    ACTIONS,
    ActionContext,
    changes_system,
    check_path,
    check_unit,
    get_action,
)
from libhfagent.executor._packages import apply_argv, parse_apt_list, parse_simulation

DAY = 86400


def ctx(tmp_path: Path, plan_id: str = "0123456789abcdef") -> ActionContext:
    return ActionContext(tmp_path / "state", plan_id)


def make_tree(root: Path, now: float) -> dict[str, Path]:
    """Old and new logs, a nested directory and a symbolic link pointing outside."""
    (root / "sub").mkdir(parents=True)
    files = {
        "old.log": root / "old.log",
        "old.gz": root / "old.log.1.gz",
        "new.log": root / "new.log",
        "deep": root / "sub" / "deep.old",
        "big": root / "sub" / "big.bin",
    }
    for i, path in enumerate(files.values()):
        path.write_bytes(b"line %d\n" % i * (200 + 50 * i))
    (root / "sub" / "big.bin").write_bytes(os.urandom(50_000))
    for key in ("old.log", "old.gz", "deep", "big"):
        os.utime(files[key], (now - 30 * DAY, now - 30 * DAY))
    outside = root.parent / "outside.txt"
    outside.write_text("must survive")
    os.utime(outside, (now - 30 * DAY, now - 30 * DAY))
    (root / "link.old").symlink_to(outside)
    os.utime(root / "link.old", (now - 30 * DAY, now - 30 * DAY), follow_symlinks=False)
    files["outside"] = outside
    files["link"] = root / "link.old"
    return files


INJECTIONS = [
    "/tmp/x; rm -rf /",
    "/tmp/$(reboot)",
    "/tmp/`id`",
    "/tmp/a\nrm -rf /",
    "/tmp/a\x00b",
    "/tmp/../etc",
    "/var/log/./x",
    "relative/path",
    "/tmp/a|sh",
    "/tmp/a && halt",
    "/tmp/>x",
    "",
]


@pytest.mark.parametrize("path", INJECTIONS)
def test_injected_paths_are_refused(path: str) -> None:
    with pytest.raises(RequestError):
        check_path(path)


def test_symlink_to_etc_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    link = tmp_path / "innocent"
    link.symlink_to("/etc")
    with pytest.raises(RequestError, match=r"symbolic link.*/etc"):
        check_path(str(link / "passwd"))
    with pytest.raises(RequestError, match="symbolic link"):
        get_action("files.delete").run({"paths": [str(link)]}, ctx(tmp_path))
    assert Path("/etc/passwd").exists()


@pytest.mark.parametrize("path", ["/etc", "/usr/lib", "/", "/var/lib/dpkg/status", "/boot"])
def test_file_actions_never_touch_system_roots(path: str, tmp_path: Path) -> None:
    for action in ("files.delete", "files.compress", "files.quarantine"):
        with pytest.raises(RequestError):
            get_action(action).check({"paths": [path]})


@pytest.mark.parametrize(
    "unit", ["nginx; rm -rf /", "$(reboot)", "`id`", "a\nb", "-H", "../x", "a b", ""]
)
def test_injected_unit_names_are_refused(unit: str) -> None:
    with pytest.raises(RequestError):
        check_unit(unit)


def test_unit_names() -> None:
    assert check_unit("apache2") == "apache2.service"
    assert check_unit("getty@tty1.service") == "getty@tty1.service"
    assert check_unit("nginx.socket") == "nginx.socket"


def test_every_action_declares_what_it_touches_and_how_it_is_undone() -> None:
    assert set(ACTIONS) >= {
        "files.delete",
        "files.compress",
        "files.quarantine",
        "journal.vacuum",
        "apt.clean",
        "service.restart",
        "service.start",
        "service.stop",
        "packages.update",
        "backup.sync",
        "schedule.add",
        "disk.usage",
        "files.find",
        "process.top",
        "network.listening",
        "service.status",
        "disk.health",
    }
    for action in ACTIONS.values():
        assert action.undo and action.reads_or_changes in ("reads", "changes")
    assert get_action("files.delete").touches({"paths": ["/tmp/a"]}).paths == ("/tmp/a",)
    assert get_action("service.stop").touches({"service": "x.service"}).units == ("x.service",)
    assert changes_system("packages.update", {"mode": "list"}) is False
    assert changes_system("packages.update", {"mode": "security"}) is True
    assert changes_system("disk.usage", {}) is False
    with pytest.raises(RequestError):
        get_action("shell.run")


def test_delete_selects_by_pattern_and_age_and_never_follows_links(tmp_path: Path) -> None:
    now = time.time()
    root = tmp_path / "logs"
    files = make_tree(root, now)
    action = get_action("files.delete")
    args = action.resolve(
        {"paths": [str(root)], "patterns": ["*.log", "*.old", "*.gz"], "older_than": 7 * DAY},
        ActionContext(tmp_path / "state", "p", now),
    )
    expected = sorted(str(files[k]) for k in ("old.log", "old.gz", "deep", "link"))
    assert args["files"] == expected
    result = action.run(args, ctx(tmp_path))
    assert result.report["deleted"] == 4
    for key in ("old.log", "old.gz", "deep", "link"):
        assert not os.path.lexists(files[key])
    assert files["new.log"].exists() and files["big"].exists()
    assert files["outside"].read_text() == "must survive"


def test_delete_by_size(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    files = make_tree(root, time.time())
    action = get_action("files.delete")
    args = action.resolve({"paths": [str(root)], "size": 10_000}, ctx(tmp_path))
    assert args["files"] == [str(files["big"])]


def test_resolved_files_outside_the_roots_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    with pytest.raises(RequestError, match="not under"):
        get_action("files.delete").check(
            {"paths": [str(tmp_path / "a")], "files": [str(tmp_path / "b")]}
        )


def test_compress_keeps_content_mode_owner_and_mtime(tmp_path: Path) -> None:
    now = time.time()
    root = tmp_path / "logs"
    files = make_tree(root, now)
    os.chmod(files["old.log"], 0o640)
    os.chown(files["old.log"], 1234, 4321)
    before = files["old.log"].stat()
    content = files["old.log"].read_bytes()
    action = get_action("files.compress")
    args = action.resolve(
        {"paths": [str(root)], "older_than": 7 * DAY}, ActionContext(tmp_path / "s", "p", now)
    )
    # Already compressed files and links are left alone.
    assert str(files["old.gz"]) not in args["files"] and str(files["link"]) not in args["files"]
    result = action.run(args, ctx(tmp_path))
    assert result.report["compressed"] == 3
    gz = Path(str(files["old.log"]) + ".gz")
    assert not files["old.log"].exists()
    assert gzip.decompress(gz.read_bytes()) == content
    after = gz.stat()
    assert (stat.S_IMODE(after.st_mode), after.st_uid, after.st_gid) == (0o640, 1234, 4321)
    assert after.st_mtime_ns == before.st_mtime_ns
    # gzip itself can read it.
    assert os.system(f"gzip -t {gz}") == 0  # noqa: S605 - a fixed test path, no user text
    # Undo decompresses back, byte for byte, with the mtime.
    action.revert(args, result.undo, ctx(tmp_path))
    assert files["old.log"].read_bytes() == content
    assert files["old.log"].stat().st_mtime_ns == before.st_mtime_ns
    assert not gz.exists()


def test_compress_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_text("a")
    (tmp_path / "a.log.gz").write_text("precious")
    action = get_action("files.compress")
    with pytest.raises(ExecutionError, match="already exists"):
        action.run({"paths": [str(tmp_path)], "files": [str(tmp_path / "a.log")]}, ctx(tmp_path))
    assert (tmp_path / "a.log.gz").read_text() == "precious"


def _archived_journal(directory: Path, index: int, day: dt.datetime) -> Path:
    from libhfagent.testing._journal import build_journal

    tmp = directory / "build.journal"
    build_journal([{"MESSAGE": f"entry {j}", "PRIORITY": 6} for j in range(20)], tmp, start=day)
    usec = int(day.timestamp() * 1e6)
    name = f"system@{'0123456789abcdef' * 2}-{index:016x}-{usec:016x}.journal"
    return tmp.rename(directory / name)


@pytest.mark.system
def test_journal_vacuum_on_real_journal_files(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    journal.mkdir()
    old = [
        _archived_journal(journal, i + 1, dt.datetime(2020, 1, 1 + i, tzinfo=dt.UTC))
        for i in range(2)
    ]
    recent = _archived_journal(journal, 3, dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    action = get_action("journal.vacuum")
    args = action.check({"older_than": 7 * DAY, "directory": str(journal)})
    assert action.argv(args) == [
        "journalctl",
        f"--directory={journal}",
        f"--vacuum-time={7 * DAY}s",
    ]
    result = action.run(args, ctx(tmp_path))
    assert "Vacuuming done" in result.report["output"]
    assert not any(p.exists() for p in old)
    assert recent.exists()


@pytest.mark.system
def test_apt_clean_on_a_cache_tree(tmp_path: Path) -> None:
    cache = tmp_path / "apt"
    (cache / "archives" / "partial").mkdir(parents=True)
    (cache / "archives" / "nginx_1.22_amd64.deb").write_bytes(b"x" * 1000)
    (cache / "archives" / "partial" / "half.deb").write_bytes(b"y" * 10)
    action = get_action("apt.clean")
    args = action.check({"cache_dir": str(cache)})
    assert action.argv(args) == ["apt-get", "-o", f"Dir::Cache={cache}", "clean"]
    assert action.argv({}) == ["apt-get", "clean"]
    action.run(args, ctx(tmp_path))
    assert not list((cache / "archives").glob("*.deb"))
    assert not list((cache / "archives" / "partial").iterdir())


def test_backup_sync_with_rsync(tmp_path: Path) -> None:
    src, dst = tmp_path / "data", tmp_path / "backup"
    (src / "d").mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "d" / "b.bin").write_bytes(os.urandom(3000))
    os.chmod(src / "a.txt", 0o600)
    action = get_action("backup.sync")
    args = action.check({"source": str(src), "destination": str(dst), "delete": True})
    assert action.argv(args) == ["rsync", "-a", "--delete", "--", f"{src}/", f"{dst}/"]
    (dst).mkdir()
    (dst / "stale").write_text("gone after --delete")
    action.run(args, ctx(tmp_path))
    assert (dst / "a.txt").read_text() == "a"
    assert (dst / "d" / "b.bin").read_bytes() == (src / "d" / "b.bin").read_bytes()
    assert stat.S_IMODE((dst / "a.txt").stat().st_mode) == 0o600
    assert not (dst / "stale").exists()
    with pytest.raises(RequestError, match="overlap"):
        action.check({"source": str(src), "destination": str(src / "d")})


def test_schedule_add_persists_a_job(tmp_path: Path) -> None:
    action = get_action("schedule.add")
    args = action.check({"cron": "0 2 * * *", "task": "clean /tmp and /var/log"})
    assert args["name"] == "clean-tmp-and-var-log"
    result = action.run(args, ctx(tmp_path))
    jobs = json.loads((tmp_path / "state" / "scheduler" / "jobs.json").read_text())["jobs"]
    assert [(j["name"], j["cron"], j["task"]) for j in jobs] == [
        ("clean-tmp-and-var-log", "0 2 * * *", "clean /tmp and /var/log")
    ]
    with pytest.raises(ExecutionError, match="already exists"):
        action.run(args, ctx(tmp_path))
    action.revert(args, result.undo, ctx(tmp_path))
    assert json.loads((tmp_path / "state" / "scheduler" / "jobs.json").read_text())["jobs"] == []
    for bad in (
        {"cron": "61 * * * *", "task": "x"},
        {"cron": "* * *", "task": "x"},
        {"cron": "0 2 * * *", "task": "a\nb"},
    ):
        with pytest.raises(RequestError):
            action.check(bad)


# Captured here by the test itself (Debian 12 formats), not copied from any machine.
SIMULATION = """\
NOTE: This is only a simulation!
Reading package lists...
Calculating upgrade...
The following packages will be upgraded:
  apt libssl3 tzdata
Inst apt [2.6.1] (2.6.2 Debian-Security:12/oldstable-security [amd64])
Inst libssl3 [3.0.11-1~deb12u1] (3.0.11-1~deb12u2 Debian:12.9/stable, \
Debian-Security:12/stable-security [amd64])
Inst tzdata [2024a-0+deb12u1] (2025b-0+deb12u1 Debian:12.11/stable [all])
Inst newdep (1.0-1 Debian:12.11/stable [amd64])
Conf apt (2.6.2 Debian-Security:12/oldstable-security [amd64])
"""

APT_LIST = """\
Listing...
apt/oldstable-security 2.6.2 amd64 [upgradable from: 2.6.1]
base-files/oldstable 12.4+deb12u15 amd64 [upgradable from: 12.4+deb12u11]
"""


def test_parse_apt_simulation_and_list() -> None:
    updates = parse_simulation(SIMULATION)
    assert [(u.name, u.old, u.new, u.security) for u in updates] == [
        ("apt", "2.6.1", "2.6.2", True),
        ("libssl3", "3.0.11-1~deb12u1", "3.0.11-1~deb12u2", True),
        ("tzdata", "2024a-0+deb12u1", "2025b-0+deb12u1", False),
        ("newdep", "", "1.0-1", False),
    ]
    assert updates[1].origins == ("Debian:12.9/stable", "Debian-Security:12/stable-security")
    listed = parse_apt_list(APT_LIST)
    assert [(u.name, u.security) for u in listed] == [("apt", True), ("base-files", False)]
    assert apply_argv(updates, "security") == [
        "apt-get",
        "-y",
        "-o",
        "Dpkg::Options::=--force-confold",
        "install",
        "--only-upgrade",
        "apt",
        "libssl3",
    ]
    assert apply_argv(updates, "all")[-1] == "upgrade"
    assert apply_argv([u for u in updates if not u.security], "security") is None


@pytest.mark.system
def test_packages_list_simulates_for_real_without_changing_anything() -> None:
    dpkg_status = Path("/var/lib/dpkg/status").stat().st_mtime_ns
    result = get_action("packages.update").run(
        {"mode": "list"}, ActionContext(Path("/nonexistent"), "")
    )
    assert result.report["mode"] == "list"
    for update in result.report["pending"]:
        assert update["security"] == any(o.endswith("-security") for o in update["origins"])
    assert Path("/var/lib/dpkg/status").stat().st_mtime_ns == dpkg_status
    with pytest.raises(RequestError):
        get_action("packages.update").check({"mode": "everything; rm -rf /"})
