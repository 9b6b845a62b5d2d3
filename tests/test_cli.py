"""The command line as users meet it: help, config check, bad input, batch plans."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import CliRunner

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "hf-agent.json"


def test_help_reads_well(cli: CliRunner) -> None:
    proc = cli("--help")
    assert proc.returncode == 0
    for word in ("ask", "plan", "logs", "config", "--configure", "exit status"):
        assert word in proc.stdout
    assert cli().returncode == 2  # no command: help on stderr, bad input


def test_config_check_accepts_the_announcement_example(cli: CliRunner) -> None:
    proc = cli("config", "check", str(EXAMPLE))
    assert proc.returncode == 0, proc.stderr
    assert "valid" in proc.stdout or "valide" in proc.stdout


def test_config_check_names_key_and_line(cli: CliRunner, tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace(
        '"enabled": true,\n      "files_to_watch"', '"enabled": "yes",\n      "files_to_watch"', 1
    )
    assert text != EXAMPLE.read_text()
    line = next(n for n, row in enumerate(text.splitlines(), 1) if '"enabled": "yes"' in row)
    bad = tmp_path / "hf-agent.json"
    bad.write_text(text)
    proc = cli("config", "check", str(bad))
    assert proc.returncode == 2
    assert (
        f'modules.monitoring.enabled: expected true/false, got "yes" (line {line})' in proc.stderr
    )
    assert str(bad) in proc.stderr
    assert "Traceback" not in proc.stderr


def test_config_show_prints_effective_json(cli: CliRunner, write_config) -> None:  # type: ignore[no-untyped-def]
    conf = write_config({"agent": {"language": "en"}})
    proc = cli("--config", str(conf), "config", "show")
    data = json.loads(proc.stdout)
    assert data["agent"]["language"] == "en"
    assert data["modules"]["monitoring"]["sources"]["nginx"][0] == "/var/log/nginx/access.log"


def test_config_from_environment(cli: CliRunner, write_config) -> None:  # type: ignore[no-untyped-def]
    conf = write_config({"agent": {"language": "en"}})
    proc = cli("config", "show", env={"HF_AGENT_CONFIG": str(conf)})
    assert json.loads(proc.stdout)["origin"] == str(conf)
    missing = cli("config", "show", env={"HF_AGENT_CONFIG": "/nonexistent/hf-agent.json"})
    assert missing.returncode == 2 and "/nonexistent/hf-agent.json" in missing.stderr


def test_plan_json_and_batch(cli: CliRunner, tmp_path: Path, write_config) -> None:  # type: ignore[no-untyped-def]
    conf = write_config({})
    proc = cli(
        "--config", str(conf), "plan", "--json", "résume les erreurs 500 de nginx depuis 48h"
    )
    plan = json.loads(proc.stdout)
    assert set(plan) == {"request", "lang", "intent", "confidence", "entities", "steps"}
    assert plan["entities"] == {"source": "nginx", "since": 172800, "status": 500}
    assert plan["steps"] == [
        {
            "action": "logs.summarize",
            "args": plan["entities"],
            "decision": "allow",
            "reason": plan["steps"][0]["reason"],
        }
    ]
    batch = tmp_path / "requests.txt"
    batch.write_text(
        "summarize nginx 404 errors of the last hour\n\nComment va cette machine ?\nfais un café\n"
    )
    out = cli("--config", str(conf), "plan", "--batch", str(batch))
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["intent"] for r in rows] == ["logs.summarize", "system.status", "unknown"]
    assert rows[2]["steps"] == []


def test_ask_unknown_is_bad_input_with_help(cli: CliRunner, write_config) -> None:  # type: ignore[no-untyped-def]
    conf = write_config({})
    proc = cli("--config", str(conf), "ask", "fais-moi un café")
    assert proc.returncode == 2
    assert "Je n’ai pas compris" in proc.stderr
    js = cli("--config", str(conf), "ask", "--json", "make me a coffee")
    answer = json.loads(js.stdout)
    assert (
        answer["intent"] == "unknown" and answer["steps"] == [] and "understand" in answer["text"]
    )


def test_ask_health_answers_about_this_machine(cli: CliRunner, write_config) -> None:  # type: ignore[no-untyped-def]
    conf = write_config({})
    proc = cli("--config", str(conf), "ask", "--json", "how is this machine doing?")
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["intent"] == "system.status"
    report = answer["report"]
    assert report["hostname"] == os.uname().nodename
    assert report["cpu_count"] == os.cpu_count()
    assert report["disks"] and "Memory:" in answer["text"]


# --- bad input: clear message, exit 2, no traceback, nothing changed ---------------------


def summarize(cli: CliRunner, conf: Path, *args: str) -> tuple[int, dict | None, str]:  # type: ignore[type-arg]
    proc = cli("--config", str(conf), "logs", "summarize", "--json", *args)
    return proc.returncode, (json.loads(proc.stdout) if proc.stdout else None), proc.stderr


@pytest.fixture
def conf(write_config) -> Path:  # type: ignore[no-untyped-def]
    return write_config({})  # type: ignore[no-any-return]


def test_missing_log_file(cli: CliRunner, conf: Path, tmp_path: Path) -> None:
    code, out, err = summarize(cli, conf, "--file", str(tmp_path / "nope.log"))
    assert code == 2 and out is None
    assert "no access log found" in err and "nope.log" in err and "Traceback" not in err


def test_log_path_is_a_directory(cli: CliRunner, conf: Path, tmp_path: Path) -> None:
    (tmp_path / "dir.log").mkdir()
    code, _, err = summarize(cli, conf, "--file", str(tmp_path / "dir.log"))
    assert code == 2 and "it is a directory" in err and "Traceback" not in err


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to another user")
def test_unreadable_log_file(cli: CliRunner, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("x\n")
    log.chmod(0o600)
    tmp_path.chmod(0o755)
    probe = cli("--version", user=65534)
    if probe.returncode != 0:
        pytest.skip("the package is not reachable by an unprivileged user here")
    proc = cli(
        "logs",
        "summarize",
        "--file",
        str(log),
        user=65534,
        env={"HF_AGENT_STATE_DIR": str(tmp_path / "state")},
    )
    assert proc.returncode == 2
    assert "Permission denied" in proc.stderr and "Traceback" not in proc.stderr


def test_unknown_source_and_bad_arguments(cli: CliRunner, conf: Path) -> None:
    code, _, err = summarize(cli, conf, "--source", "squid")
    assert code == 2 and 'unknown log source "squid"' in err
    for args, message in ((["--since", "soon"], "--since"), (["--status", "999"], "--status")):
        code, _, err = summarize(cli, conf, *args)
        assert code == 2 and message in err


def test_garbage_lines_are_skipped_and_counted(cli: CliRunner, conf: Path, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    good = '192.0.2.1 - - [25/Nov/2020:10:00:00 +0000] "GET /x HTTP/1.1" 404 1 "-" "-"\n'
    log.write_bytes(
        good.encode()
        + b"\xc3\x28 invalid utf-8\n"
        + bytes(b for b in range(256) if b != 10)
        + b"\n"  # binary garbage, NUL included
        + b"A" * 5_000_000
        + b"\n"  # a 5 MB single line
        + b'192.0.2.2 - - [25/Nov/2999:10:00:00 +0000] "GET /future HTTP/1.1" 404 1 "-" "-"\n'
        + b"not an access line\n"
        + good.encode()
    )
    code, out, err = summarize(cli, conf, "--file", str(log), "--status", "404")
    assert code == 0, err
    assert out is not None
    assert (out["total"], out["matched"]) == (2, 2)
    assert out["skipped"] == {"invalid": 2, "unparsed": 2, "future": 1}
    assert out["lines"] == 7


def test_empty_log(cli: CliRunner, conf: Path, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"")
    code, out, err = summarize(cli, conf, "--file", str(log), "--since", "24h", "--lang", "fr")
    assert code == 0, err
    assert out is not None and out["total"] == 0 and out["matched"] == 0
    assert "Aucune requête" in out["text"]
