"""``hf-agent security scan`` and the ``security.audit`` requests on an auth.log of our own."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import CliRunner


def stamp(when: dt.datetime) -> str:
    return f"{when:%b} {when.day:2d} {when:%H:%M:%S}"


def auth_log(now: dt.datetime) -> tuple[str, str]:
    """(auth.log.1, auth.log): a brute force, a slow guesser, a repeated line, a login."""
    old, new = [], []
    # Two days ago: outside a 24-hour window.
    t = now - dt.timedelta(days=2)
    for i in range(8):
        old.append(
            f"{stamp(t)} web1 sshd[900{i}]: Failed password for root from 192.0.2.200 "
            f"port {40000 + i} ssh2"
        )
    # 203.0.113.50 tries 6 unknown users within 5 minutes: 3 lines per attempt, counted once.
    t = now - dt.timedelta(hours=3)
    for i in range(6):
        pid = 2000 + i
        when = stamp(t + dt.timedelta(seconds=45 * i))
        port = 51000 + i
        old.append(f"{when} web1 sshd[{pid}]: Invalid user admin{i} from 203.0.113.50 port {port}")
        old.append(
            f"{when} web1 sshd[{pid}]: Failed password for invalid user admin{i} "
            f"from 203.0.113.50 port {port} ssh2"
        )
        old.append(
            f"{when} web1 sshd[{pid}]: Connection closed by invalid user admin{i} "
            f"203.0.113.50 port {port} [preauth]"
        )
    # 198.51.100.7 fails 3 times half an hour apart: below the threshold.
    for i in range(3):
        when = stamp(now - dt.timedelta(minutes=150 - 30 * i))
        new.append(
            f"{when} web1 sshd[{3000 + i}]: Failed password for bob from 198.51.100.7 "
            f"port {52000 + i} ssh2"
        )
    # 192.0.2.99: one line repeated 3 times, then 2 more failures: 5 within 2 minutes.
    t = now - dt.timedelta(minutes=30)
    new.append(f"{stamp(t)} web1 sshd[4000]: Failed password for root from 192.0.2.99 port 22 ssh2")
    new.append(
        f"{stamp(t)} web1 sshd[4000]: message repeated 3 times: [ Failed password for root "
        "from 192.0.2.99 port 22 ssh2]"
    )
    new.append(
        f"{stamp(t + dt.timedelta(seconds=60))} web1 sshd[4001]: Failed password for root "
        "from 192.0.2.99 port 23 ssh2"
    )
    # A successful login.
    when = stamp(now - dt.timedelta(minutes=10))
    new.append(
        f"{when} web1 sshd[5000]: Accepted publickey for alice from 192.0.2.5 port 50000 "
        "ssh2: ED25519 SHA256:abc"
    )
    new.append(f"{when} web1 CRON[5001]: pam_unix(cron:session): session opened for user root")
    return "\n".join(old) + "\n", "\n".join(new) + "\n"


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    now = dt.datetime.now(dt.UTC)
    rotated, live = auth_log(now)
    (tmp_path / "auth.log.1").write_text(rotated)
    (tmp_path / "auth.log").write_text(live)
    return tmp_path / "auth.log"


@pytest.fixture
def conf(logs: Path, write_config: Any) -> Path:
    return write_config({"modules": {"monitoring": {"sources": {"auth": [str(logs)]}}}})  # type: ignore[no-any-return]


def scan(cli: CliRunner, conf: Path, *args: str) -> dict[str, Any]:
    proc = cli("--config", str(conf), "security", "scan", "--json", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def test_scan_counts_attempts_once_and_finds_offenders(cli: CliRunner, conf: Path) -> None:
    report = scan(cli, conf, "--since", "24h")
    assert report["failures"] == 6 + 3 + 5
    assert [(o["ip"], o["failures"]) for o in report["offenders"]] == [
        ("203.0.113.50", 6),
        ("192.0.2.99", 5),
    ]
    assert report["threshold"] == {"max_retry": 5, "find_time": 600.0}
    assert report["logins"] == [{"user": "alice", "ip": "192.0.2.5", "count": 1}]
    assert [name for name, _ in report["invalid_users"]] == [f"admin{i}" for i in range(6)]
    assert "2 sources ont dépassé le seuil (5 échecs en 10 minutes)" in report["text"]
    assert "Connexions réussies : alice depuis 192.0.2.5 (1)" in report["text"]


def test_whole_log_and_threshold_options(cli: CliRunner, conf: Path) -> None:
    everything = scan(cli, conf)
    assert everything["failures"] == 8 + 6 + 3 + 5
    assert everything["offenders"][0]["ip"] == "192.0.2.200"
    strict = scan(cli, conf, "--since", "24h", "--max-retry", "3", "--find-time", "3h")
    assert {o["ip"] for o in strict["offenders"]} == {"203.0.113.50", "198.51.100.7", "192.0.2.99"}


def test_ignore_successful(cli: CliRunner, conf: Path, logs: Path) -> None:
    with logs.open("a") as f:
        when = stamp(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        f.write(
            f"{when} web1 sshd[6000]: Accepted password for root from 192.0.2.99 port 24 ssh2\n"
        )
    report = scan(cli, conf, "--since", "24h", "--ignore-successful", "--lang", "en")
    assert [o["ip"] for o in report["offenders"]] == ["203.0.113.50"]
    assert "1 source crossed the threshold (5 failures within 10 minutes)" in report["text"]


@pytest.mark.parametrize(
    ("request_", "lang"),
    [
        ("Y a-t-il des tentatives de brute force SSH depuis 24 heures ?", "fr"),
        ("show the failed ssh logins of the last 24 hours", "en"),
    ],
)
def test_requests(cli: CliRunner, conf: Path, request_: str, lang: str) -> None:
    proc = cli("--config", str(conf), "ask", "--json", request_)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert (answer["intent"], answer["lang"]) == ("security.audit", lang)
    assert answer["entities"] == {"since": 86400}
    assert answer["report"]["failures"] == 14
    assert len(answer["report"]["offenders"]) == 2


def test_missing_auth_log(cli: CliRunner, write_config: Any, tmp_path: Path) -> None:
    conf = write_config(
        {"modules": {"monitoring": {"sources": {"auth": [str(tmp_path / "none")]}}}}
    )
    proc = cli("--config", str(conf), "security", "scan")
    assert proc.returncode == 2
    assert "no authentication log found" in proc.stderr and "Traceback" not in proc.stderr
