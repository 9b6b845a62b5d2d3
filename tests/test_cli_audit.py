"""``hf-agent audit verify|show`` through the real command line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from libhfagent.executor._audit import AuditLog
from tests.conftest import CliRunner

WriteConfig = Callable[[dict[str, Any]], Path]


def _setup(write_config: WriteConfig, n: int) -> tuple[Path, AuditLog]:
    config = write_config({"agent": {"language": "en"}})
    state = json.loads(config.read_text())["agent"]["state_dir"]
    log = AuditLog(state, journal=False)
    for i in range(n):
        log.append(
            {
                "actor": {"uid": 0},
                "request": f"clean [bold]/tmp[/bold] #{i}",
                "intent": "disk.cleanup",
                "decision": "confirm",
                "event": "planned" if i % 2 == 0 else "applied",
            }
        )
    return config, log


def test_verify_an_intact_log(cli: CliRunner, write_config: WriteConfig) -> None:
    config, _log = _setup(write_config, 12)
    done = cli("--config", str(config), "audit", "verify")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "12 records verified"
    done = cli("--config", str(config), "audit", "verify", "--json")
    assert done.returncode == 0
    assert json.loads(done.stdout) == {"ok": True, "records": 12, "first_bad": None}


def test_verify_a_tampered_log_names_the_line(cli: CliRunner, write_config: WriteConfig) -> None:
    config, log = _setup(write_config, 12)
    lines = log.path.read_bytes().splitlines(keepends=True)
    lines[6] = lines[6].replace(b'"confirm"', b'"allow"')
    log.path.write_bytes(b"".join(lines))
    done = cli("--config", str(config), "audit", "verify")
    assert done.returncode == 1
    assert done.stdout == ""
    assert "The audit log does not verify: line 7 (seq 7): the hash does not match" in done.stderr
    assert "6 records verified before it." in done.stderr
    done = cli("--config", str(config), "audit", "verify", "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout) == {
        "ok": False,
        "records": 6,
        "first_bad": {
            "line": 7,
            "seq": 7,
            "reason": "the hash does not match the content (the record was altered)",
        },
    }


def test_verify_with_another_public_key(
    cli: CliRunner, write_config: WriteConfig, tmp_path: Path
) -> None:
    config, log = _setup(write_config, 3)
    other = tmp_path / "other.pub"
    other.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    done = cli("--config", str(config), "audit", "verify", "--json", "--public-key", str(other))
    assert done.returncode == 1
    assert json.loads(done.stdout)["first_bad"]["line"] == 1
    right = cli(
        "--config", str(config), "audit", "verify", "--public-key", str(log.public_key_path)
    )
    assert right.returncode == 0 and "3 records verified" in right.stdout
    missing = cli("--config", str(config), "audit", "verify", "--public-key", str(tmp_path / "x"))
    assert missing.returncode == 2
    assert "--public-key: cannot read" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_verify_without_a_log(cli: CliRunner, write_config: WriteConfig) -> None:
    config = write_config({"agent": {"language": "en"}})
    done = cli("--config", str(config), "audit", "verify", "--json")
    assert done.returncode == 0
    assert json.loads(done.stdout) == {"ok": True, "records": 0, "first_bad": None}
    shown = cli("--config", str(config), "audit", "show")
    assert shown.returncode == 0 and "The audit log is empty." in shown.stdout


def test_show_the_last_records(cli: CliRunner, write_config: WriteConfig) -> None:
    config, log = _setup(write_config, 5)
    done = cli("--config", str(config), "audit", "show", "--last", "2", "--json")
    assert done.returncode == 0, done.stderr
    records = json.loads(done.stdout)
    assert records == log.read(last=2)
    assert [r["seq"] for r in records] == [4, 5]
    text = cli("--config", str(config), "audit", "show", "--last", "2", env={"COLUMNS": "200"})
    assert text.returncode == 0, text.stderr
    assert "clean [bold]/tmp[/bold] #4" in text.stdout
    assert "clean [bold]/tmp[/bold] #3" in text.stdout
    assert "#2" not in text.stdout and "#1" not in text.stdout
    assert "disk.cleanup" in text.stdout
    bad = cli("--config", str(config), "audit", "show", "--last", "-1")
    assert bad.returncode == 2
