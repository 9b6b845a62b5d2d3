"""The audit log: chain, signatures, tampering, concurrency, crashes, full disks."""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from libhfagent._errors import AuditError
from libhfagent.executor._audit import GENESIS_HASH, AuditLog, record_hash, verify

_APPENDER = """
import sys
from libhfagent.executor._audit import AuditLog
log = AuditLog(sys.argv[1], journal=False)
count = int(sys.argv[2])
i = 0
while count < 0 or i < count:
    log.append({"event": "planned", "writer": sys.argv[3], "i": i, "pad": "x" * (i % 50)})
    i += 1
"""


def _record(i: int) -> dict[str, object]:
    return {
        "actor": {"uid": 0},
        "request": f"nettoie /tmp n°{i}",
        "intent": "disk.cleanup",
        "plan_id": f"p{i}",
        "decision": "confirm",
        "reasons": ["strict sandbox"],
        "event": "planned",
    }


def _filled(tmp_path: Path, n: int) -> AuditLog:
    log = AuditLog(tmp_path / "state", journal=False)
    for i in range(n):
        log.append(_record(i))
    return log


def _lines(log: AuditLog) -> list[bytes]:
    return log.path.read_bytes().splitlines(keepends=True)


def _rewrite(log: AuditLog, lines: list[bytes]) -> None:
    log.path.write_bytes(b"".join(lines))


def test_a_chain_of_100_records_verifies(tmp_path: Path) -> None:
    log = _filled(tmp_path, 100)
    result = log.verify()
    assert result.ok and result.records == 100 and result.reason == ""
    records = log.read()
    assert [r["seq"] for r in records] == list(range(1, 101))
    assert records[0]["prev_hash"] == GENESIS_HASH
    for before, after in itertools.pairwise(records):
        assert after["prev_hash"] == before["hash"]
    assert all(record_hash(r) == r["hash"] for r in records)
    assert records[5]["request"] == "nettoie /tmp n°5"
    assert records[0]["time"].endswith("Z")
    assert [r["seq"] for r in log.read(last=2)] == [99, 100]
    # One line per record, readable UTF-8 (ensure_ascii=False).
    assert len(_lines(log)) == 100
    assert "n°5".encode() in _lines(log)[5]


def test_files_and_modes(tmp_path: Path) -> None:
    log = _filled(tmp_path, 1)
    assert (log.directory.stat().st_mode & 0o777) == 0o700
    assert (log.key_path.stat().st_mode & 0o777) == 0o600
    assert (log.path.stat().st_mode & 0o777) == 0o600
    assert log.key_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert log.public_key_path.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")


def test_append_returns_the_written_record_and_overrides_reserved_fields(tmp_path: Path) -> None:
    log = _filled(tmp_path, 2)
    written = log.append({"event": "applied", "seq": 99, "hash": "forged", "outcome": "ok"})
    assert written["seq"] == 3 and written["hash"] != "forged"
    assert log.read(last=1) == [written]
    assert log.verify().ok


def test_a_record_that_is_not_json_changes_nothing(tmp_path: Path) -> None:
    log = _filled(tmp_path, 2)
    before = log.path.read_bytes()
    with pytest.raises(AuditError, match="JSON"):
        log.append({"event": "planned", "bad": object()})
    assert log.path.read_bytes() == before


def test_a_flipped_byte_in_a_middle_record_is_named(tmp_path: Path) -> None:
    log = _filled(tmp_path, 100)
    lines = _lines(log)
    lines[49] = lines[49].replace(b"n\xc2\xb049", b"n\xc2\xb048")
    _rewrite(log, lines)
    result = log.verify()
    assert not result.ok
    assert (result.first_bad_line, result.first_bad_seq, result.records) == (50, 50, 49)
    assert "hash" in result.reason


def test_a_byte_breaking_the_json_is_named(tmp_path: Path) -> None:
    log = _filled(tmp_path, 10)
    lines = _lines(log)
    lines[3] = b"[" + lines[3][1:]
    _rewrite(log, lines)
    result = log.verify()
    assert (result.ok, result.first_bad_line, result.first_bad_seq) == (False, 4, None)
    assert "JSON" in result.reason


def test_a_deleted_record_is_named(tmp_path: Path) -> None:
    log = _filled(tmp_path, 20)
    lines = _lines(log)
    del lines[10]
    _rewrite(log, lines)
    result = log.verify()
    assert (result.ok, result.first_bad_line, result.first_bad_seq) == (False, 11, 12)
    assert "missing or out of order" in result.reason


def test_two_swapped_records_are_named(tmp_path: Path) -> None:
    log = _filled(tmp_path, 20)
    lines = _lines(log)
    lines[7], lines[8] = lines[8], lines[7]
    _rewrite(log, lines)
    result = log.verify()
    assert (result.ok, result.first_bad_line, result.first_bad_seq) == (False, 8, 9)


def test_a_rewritten_chain_with_fixed_hashes_fails_on_the_signature(tmp_path: Path) -> None:
    log = _filled(tmp_path, 10)
    lines = _lines(log)
    record = json.loads(lines[4])
    record["decision"] = "allow"
    record["hash"] = record_hash(record)
    lines[4] = json.dumps(record).encode() + b"\n"
    _rewrite(log, lines)
    result = log.verify()
    assert (result.first_bad_line, result.first_bad_seq) == (5, 5)
    assert "signature" in result.reason


def test_an_altered_signature_is_named(tmp_path: Path) -> None:
    log = _filled(tmp_path, 10)
    lines = _lines(log)
    record = json.loads(lines[6])
    sig = bytearray(record["sig"].encode())
    sig[0] = ord("A") if sig[0] != ord("A") else ord("B")
    record["sig"] = sig.decode()
    lines[6] = json.dumps(record).encode() + b"\n"
    _rewrite(log, lines)
    result = log.verify()
    assert (result.ok, result.first_bad_line, result.first_bad_seq) == (False, 7, 7)
    assert "signature" in result.reason


def test_another_key_fails_on_the_first_record(tmp_path: Path) -> None:
    log = _filled(tmp_path, 5)
    other = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    result = verify(log.path, public_key=other)
    assert (result.ok, result.first_bad_line, result.first_bad_seq) == (False, 1, 1)
    assert "another key" in result.reason
    # The right key, given explicitly, verifies.
    assert verify(log.path, public_key=log.public_key_path.read_text()).ok


def test_a_public_key_that_is_not_pem_is_an_error(tmp_path: Path) -> None:
    log = _filled(tmp_path, 1)
    with pytest.raises(AuditError, match="not a PEM public key"):
        verify(log.path, public_key="hello")


def test_a_missing_log_verifies_empty(tmp_path: Path) -> None:
    assert verify(tmp_path / "none.jsonl") == verify(tmp_path / "none.jsonl")
    assert verify(tmp_path / "none.jsonl").records == 0


def test_two_processes_keep_one_chain(tmp_path: Path) -> None:
    state = tmp_path / "state"
    AuditLog(state, journal=False).append({"event": "started"})
    procs = [
        subprocess.Popen([sys.executable, "-c", _APPENDER, str(state), "200", name])
        for name in ("a", "b")
    ]
    try:
        for proc in procs:
            assert proc.wait(timeout=300) == 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    log = AuditLog(state, journal=False)
    result = log.verify()
    assert result.ok and result.records == 401
    records = log.read()
    for name in ("a", "b"):
        assert [r["i"] for r in records if r.get("writer") == name] == list(range(200))


def test_a_crash_mid_append_is_recovered(tmp_path: Path) -> None:
    log = _filled(tmp_path, 5)
    before = log.path.read_bytes()
    torn = b'{"actor":{"uid":0},"event":"applied","seq":6,"ti'
    with log.path.open("ab") as handle:
        handle.write(torn)
    result = log.verify()
    assert (result.ok, result.records, result.first_bad_line) == (False, 5, 6)
    assert "incomplete last line" in result.reason
    assert len(log.read()) == 5
    written = AuditLog(log.directory.parent, journal=False).append({"event": "applied"})
    assert written["seq"] == 7
    assert log.path.read_bytes().startswith(before)
    records = log.read()
    assert records[5]["event"] == "recovered"
    assert records[5]["discarded_bytes"] == len(torn)
    assert log.verify().ok and log.verify().records == 7


def test_a_child_killed_while_appending_leaves_a_chain_that_verifies(tmp_path: Path) -> None:
    state = tmp_path / "state"
    log = AuditLog(state, journal=False)
    rng = random.Random()
    for _ in range(3):
        child = subprocess.Popen([sys.executable, "-c", _APPENDER, str(state), "-1", "k"])
        try:
            deadline = time.monotonic() + 60
            while not log.path.exists() or len(log.path.read_bytes().splitlines()) < 5:
                assert time.monotonic() < deadline, "the child wrote nothing"
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.2))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        log.append({"event": "reopened"})
        result = log.verify()
        assert result.ok, result
    records = log.read()
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    assert sum(r["event"] == "reopened" for r in records) == 3


def test_a_damaged_complete_last_line_refuses_to_append(tmp_path: Path) -> None:
    log = _filled(tmp_path, 3)
    lines = _lines(log)
    lines[-1] = b"garbage\n"
    _rewrite(log, lines)
    before = log.path.read_bytes()
    with pytest.raises(AuditError, match="damaged"):
        log.append({"event": "planned"})
    assert log.path.read_bytes() == before


def test_a_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    log = _filled(tmp_path, 1)
    os.chmod(log.key_path, 0o644)
    before = log.path.read_bytes()
    with pytest.raises(AuditError, match=r"readable by others \(mode 0644\)"):
        AuditLog(log.directory.parent, journal=False).append({"event": "planned"})
    assert log.path.read_bytes() == before


def test_a_key_that_is_not_a_key_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "audit").mkdir(parents=True)
    key = state / "audit" / "ed25519.key"
    key.write_text("not a key\n")
    os.chmod(key, 0o600)
    with pytest.raises(AuditError, match="not a PEM private key"):
        AuditLog(state, journal=False).append({"event": "planned"})
    assert not (state / "audit" / "audit.jsonl").exists()


def test_the_journal_copy_never_fails_an_append(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "state", journal=True)
    assert log.append({"event": "planned", "intent": "disk.usage"})["seq"] == 1
    assert log.verify().ok


def test_an_unwritable_directory_is_an_audit_error(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "audit").write_text("a file where the directory should be")
    with pytest.raises(AuditError, match="cannot create"):
        AuditLog(state, journal=False).append({"event": "planned"})


@pytest.mark.system
def test_a_full_disk_is_an_audit_error_and_leaves_the_log_unchanged(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.fail("this test mounts a tmpfs: run it as root")
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=True)
    try:
        log = AuditLog(mount, journal=False)
        for i in range(5):
            log.append(_record(i))
        before = log.path.read_bytes()
        fd = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        big = _record(99) | {"request": "x" * 20000}
        with pytest.raises(AuditError, match=r"the disk is full.*nothing was done"):
            log.append(big)
        assert log.path.read_bytes() == before
        assert log.verify().ok and log.verify().records == 5
        (mount / "filler").unlink()
        assert log.append(big)["seq"] == 6
        assert log.verify().ok
    finally:
        subprocess.run(["umount", str(mount)], check=True)
