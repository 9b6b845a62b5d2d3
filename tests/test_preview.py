"""The copy-on-write preview: real actions over overlayfs, compared with what apply really does."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from libhfagent.config import Config
from libhfagent.executor import Executor
from libhfagent.executor._preview import (
    Mount,
    PreviewEntry,
    diff_upper,
    entries_digest,
    parse_mountinfo,
    run_preview,
    select_overlays,
    visible_mounts,
)
from libhfagent.interpreter._types import Intent, Plan, Step

pytestmark = pytest.mark.system
DAY = 86400


def tree_state(root: Path) -> dict[str, tuple[int, int, int, str]]:
    """Every file under root: size, mtime, mode, sha256 (links: their target)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if os.path.islink(path):
                digest = os.readlink(path)
            else:
                digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            out[path] = (st.st_size, st.st_mtime_ns, st.st_mode, digest)
    return out


def make_logs(root: Path, count: int, now: float) -> None:
    for i in range(count):
        d = root / f"d{i % 7}"
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"f{i}.{'log' if i % 3 else 'gz'}"
        path.write_bytes(b"x" * (100 + i))
        age = (10 if i % 2 else 1) * DAY
        os.utime(path, (now - age, now - age))


def plan_of(*steps: tuple[str, dict[str, Any]], request: str = "clean up") -> Plan:
    return Plan(
        Intent(request, "en", "disk.cleanup", 0.95, {}),
        tuple(Step(a, args, changes_system=True) for a, args in steps),
    )


@pytest.fixture
def executor(tmp_path: Path) -> Executor:
    config = Config.from_text(
        '{"agent": {"state_dir": "%s", "language": "en"}}' % (tmp_path / "state")
    )
    return Executor(config)


def test_parse_mountinfo_and_selection() -> None:
    text = (
        "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
        "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
        "25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw\n"
        "40 27 0:50 / /var/log rw - xfs /dev/vdb1 rw\n"
        "41 27 0:51 / /mnt/my\\040disk rw - ext4 /dev/vdc rw\n"
        "42 27 0:52 / /usr ro - ext4 /dev/vdd ro\n"
        "43 27 0:53 / /tmp rw - tmpfs tmpfs rw\n"
        "44 27 0:54 / /tmp rw - tmpfs tmpfs rw\n"
    )
    mounts = visible_mounts(parse_mountinfo(text))
    assert Mount("/mnt/my disk", "ext4", "/dev/vdc", True) in mounts
    assert [m.mountpoint for m in mounts].count("/tmp") == 1
    strict = select_overlays(mounts, [], strict=True)
    assert strict == ["/", "/tmp", "/mnt/my disk", "/var/log"]
    assert select_overlays(mounts, ["/var/log/nginx"], strict=False) == ["/var/log"]
    assert select_overlays(mounts, ["/var"], strict=False) == ["/", "/var/log"]
    assert select_overlays(mounts, ["/usr/share"], strict=False) == ["/"]


def test_digest_is_canonical() -> None:
    a = PreviewEntry("/a", "deleted", "file", 3, None, 10, 7)
    b = PreviewEntry("/b", "created", "file", None, 5)
    assert entries_digest([a, b]) == entries_digest([b, a])
    assert entries_digest([a]) != entries_digest(
        [PreviewEntry("/a", "deleted", "file", 3, None, 11, 7)]
    )


def test_diff_of_a_real_upper_directory(tmp_path: Path) -> None:
    """Whiteouts, opaque directories, created and modified files, read back from overlayfs."""
    lower = tmp_path / "lower"
    (lower / "gone").mkdir(parents=True)
    (lower / "gone" / "a").write_text("aaaa")
    (lower / "opaque").mkdir()
    (lower / "opaque" / "old").write_text("old")
    (lower / "keep").write_text("keep")
    (lower / "grow").write_text("12")
    (lower / "del").write_text("12345")
    script = f"""
set -e
mount -t tmpfs t {tmp_path}/t
mkdir {tmp_path}/t/u {tmp_path}/t/w {tmp_path}/m
mount -t overlay o -o lowerdir={lower},upperdir={tmp_path}/t/u,workdir={tmp_path}/t/w {tmp_path}/m
rm -r {tmp_path}/m/gone {tmp_path}/m/del
rm -r {tmp_path}/m/opaque && mkdir {tmp_path}/m/opaque && echo n > {tmp_path}/m/opaque/new
echo more >> {tmp_path}/m/grow
echo c > {tmp_path}/m/created
{sys.executable} {tmp_path}/diff.py {tmp_path}/t/u {lower}
"""
    (tmp_path / "t").mkdir()
    (tmp_path / "diff.py").write_text(
        "import json, sys, attrs\n"
        "from libhfagent.executor._preview import diff_upper\n"
        "print(json.dumps([attrs.asdict(e) for e in diff_upper(sys.argv[1], sys.argv[2])]))\n"
    )
    proc = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        check=True,
    )
    got = {(e["path"].removeprefix(str(lower)), e["change"]) for e in json.loads(proc.stdout)}
    assert got == {
        ("/gone", "deleted"),
        ("/gone/a", "deleted"),
        ("/del", "deleted"),
        ("/opaque/old", "deleted"),
        ("/opaque/new", "created"),
        ("/grow", "modified"),
        ("/created", "created"),
    }
    assert diff_upper(str(tmp_path / "nonexistent"), str(lower)) == []


def test_preview_matches_what_apply_does(tmp_path: Path, executor: Executor) -> None:
    now = time.time()
    root = tmp_path / "logs"
    make_logs(root, 300, now)
    before = tree_state(root)
    plan = plan_of(
        ("files.delete", {"paths": [str(root)], "patterns": ["*.gz"], "older_than": 7 * DAY}),
        ("files.compress", {"paths": [str(root / "d1"), str(root / "d2")], "older_than": 7 * DAY}),
    )
    previewed = executor.preview(plan)
    assert previewed is not None
    preview = previewed.preview
    # The preview changed nothing.
    assert tree_state(root) == before
    assert preview.mode == "strict" and "/" in preview.overlaid
    assert preview.complete and not preview.failed
    deleted_preview = {e.path for e in preview.entries if e.change == "deleted"}
    created_preview = {(e.path, e.size_after) for e in preview.entries if e.change == "created"}
    assert deleted_preview and created_preview

    outcome = executor.apply(previewed.plan_id)
    assert not outcome.failed
    after = tree_state(root)
    deleted_real = set(before) - set(after)
    created_real = {(p, after[p][0]) for p in set(after) - set(before)}
    assert deleted_real == deleted_preview
    assert created_real == created_preview
    freed_real = sum(before[p][0] for p in deleted_real) - sum(s for _, s in created_real)
    assert freed_real == preview.bytes_freed
    assert preview.totals()["deleted"] == len(deleted_real)


def test_preview_is_deterministic_and_the_plan_id_follows_the_files(
    tmp_path: Path, executor: Executor
) -> None:
    now = time.time()
    root = tmp_path / "logs"
    make_logs(root, 40, now)
    plan = plan_of(("files.delete", {"paths": [str(root)], "older_than": 7 * DAY}))
    first = executor.preview(plan)
    second = executor.preview(plan)
    assert first is not None and second is not None
    assert first.preview.digest == second.preview.digest
    assert first.plan_id == second.plan_id
    victim = next(e.path for e in first.preview.entries if e.change == "deleted")
    Path(victim).write_bytes(b"changed")
    os.utime(victim, (now - 30 * DAY, now - 30 * DAY))
    third = executor.preview(plan)
    assert third is not None and third.plan_id != first.plan_id


def test_permissive_overlays_only_what_is_touched(tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "hf-test", str(mnt)], check=True)
    try:
        (mnt / "a.log").write_text("a")
        (mnt / "b.log").write_text("bb")
        preview = run_preview(
            [("files.delete", {"paths": [str(mnt)], "files": [str(mnt / "a.log")]})],
            state_dir=mnt / "state",
            touched=[str(mnt)],
            strict=False,
        )
        assert preview.overlaid == (str(mnt),)
        assert [(e.path, e.change) for e in preview.entries] == [(str(mnt / "a.log"), "deleted")]
        assert (mnt / "a.log").read_text() == "a"
        # A step writing outside the overlaid filesystems fails there: the rest is read-only.
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "x.log").write_text("x")
        preview = run_preview(
            [("files.delete", {"paths": [str(outside)], "files": [str(outside / "x.log")]})],
            state_dir=mnt / "state",
            touched=[str(mnt)],
            strict=False,
        )
        assert "Read-only file system" in preview.failed
        assert (outside / "x.log").exists()
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_processes_started_by_a_preview_die_with_it(tmp_path: Path) -> None:
    """backup.sync runs rsync for real inside; nothing of it is left, nothing reaches the host."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    (src / "data").write_bytes(os.urandom(4096))
    preview = run_preview(
        [("backup.sync", {"source": str(src), "destination": str(dst)})],
        state_dir=tmp_path / "state",
        touched=[str(dst)],
    )
    assert {(e.path, e.change) for e in preview.entries} == {
        (str(dst), "created"),
        (str(dst / "data"), "created"),
    }
    assert not dst.exists()
    leftovers = subprocess.run(["pgrep", "-f", f"rsync.*{src}"], capture_output=True, check=False)
    assert leftovers.stdout == b""


def test_steps_that_cannot_be_simulated_say_so(tmp_path: Path, executor: Executor) -> None:
    plan = Plan(
        Intent("install security updates", "en", "packages.update", 0.9, {}),
        (Step("packages.update", {"mode": "security"}, changes_system=True),),
    )
    previewed = executor.preview(plan)
    assert previewed is not None
    step = previewed.preview.steps[0]
    assert step.simulated is False and not previewed.preview.complete
    assert step.report["simulation"] == "apt-get -s upgrade"
    assert all(u["security"] for u in step.report["updates"])
    assert previewed.preview.entries == ()
    from libhfagent.executor._render import render_preview

    text = render_preview(previewed, "en")
    assert "packages.update cannot be simulated" in text
    assert "apt-get -s lists" in text
    fr = render_preview(previewed, "fr")
    assert "packages.update" in fr


def test_preview_as_nobody_is_refused_clearly_and_changes_nothing(tmp_path: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="hf-nobody."))
    try:
        os.chmod(work, 0o777)  # noqa: S103 - nobody must be able to write
        (work / "old.log").write_text("keep me")
        os.chmod(work / "old.log", 0o666)  # noqa: S103
        code = (
            "import sys\n"
            "from pathlib import Path\n"
            "from libhfagent._errors import NotAuthorized\n"
            "from libhfagent.executor._preview import run_preview\n"
            "try:\n"
            f"    run_preview([('files.delete', {{'paths': ['{work}']}})],"
            f" state_dir=Path('{work}/state'), touched=['{work}'])\n"
            "except NotAuthorized as exc:\n"
            "    print(exc); sys.exit(7)\n"
        )
        proc = subprocess.run(
            [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                sys.executable,
                "-c",
                code,
            ],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        )
        assert proc.returncode == 7, proc.stderr
        assert "the preview needs root" in proc.stdout
        assert (work / "old.log").read_text() == "keep me"
        assert sorted(p.name for p in work.iterdir()) == ["old.log"]
    finally:
        import shutil

        shutil.rmtree(work)


def test_cli_preview_as_nobody_says_root_is_needed(tmp_path: Path, cli: Any) -> None:
    conf_dir = Path(tempfile.mkdtemp(prefix="hf-conf."))
    try:
        os.chmod(conf_dir, 0o755)  # noqa: S103 - nobody reads the config
        conf = conf_dir / "hf-agent.json"
        conf.write_text(json.dumps({"agent": {"state_dir": f"{conf_dir}/state", "language": "en"}}))
        os.chmod(conf, 0o644)
        proc = cli("--config", str(conf), "preview", "install security updates", user=65534)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "the preview needs root" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert not (conf_dir / "state").exists()
    finally:
        import shutil

        shutil.rmtree(conf_dir)


@pytest.fixture
def _no_leftover_mounts() -> Iterator[None]:
    before = Path("/proc/self/mountinfo").read_text()
    yield
    assert Path("/proc/self/mountinfo").read_text() == before


@pytest.mark.usefixtures("_no_leftover_mounts")
def test_no_mount_leaks_to_the_host(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("a")
    run_preview(
        [("files.delete", {"paths": [str(tmp_path)], "files": [str(tmp_path / "a")]})],
        state_dir=tmp_path / "state",
        touched=[str(tmp_path)],
    )
    # The scratch folder (a tmpfs inside the namespace) is gone from the host too.
    assert not list(Path(tempfile.gettempdir()).glob("hf-agent-preview.*"))
