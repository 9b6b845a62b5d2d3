"""hfa-query end to end: the shell helper over busctl, against hf-agentd on a real private bus."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_dbus_service import HIDDEN_PATH, NOBODY, agent_bus, write_agent_config

from libhfagent.testing._bus import PrivateSystemBus

ROOT = Path(__file__).resolve().parent.parent
HFA_QUERY = str(ROOT / "bindings/shell/hfa-query")
COMPLETION = ROOT / "bindings/shell/hfa-query.bash-completion"

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateSystemBus]:
    if not PrivateSystemBus.available():
        pytest.skip("needs root, dbus-daemon and polkitd")
    directory = tmp_path_factory.mktemp("hfa-query")
    with agent_bus(directory, write_agent_config(directory)) as private:
        yield private


def query(
    bus: PrivateSystemBus, *args: str, user: int | None = None
) -> subprocess.CompletedProcess[str]:
    return bus.run([HFA_QUERY, *args], user=user)


def test_json_through_jq(bus: PrivateSystemBus) -> None:
    pipeline = f"{HFA_QUERY} --json analyze nginx --status 404 --since 500w | jq -r .matched"
    out = bus.run(["bash", "-o", "pipefail", "-c", pipeline])
    assert (out.returncode, out.stdout) == (0, "3\n"), out.stderr
    report = json.loads(query(bus, "--json", "analyze", "nginx", "--status", "404").stdout)
    assert report["by_status"] == {"200": 2, "404": 3, "500": 1}
    assert report["top_paths"][0] == [HIDDEN_PATH, 2]
    plan = json.loads(query(bus, "--json", "plan", "redémarre le service apache").stdout)
    assert plan["lang"] == "fr" and plan["intent"] == "service.restart"
    assert plan["entities"] == {"service": "apache2"}
    status = json.loads(query(bus, "--json", "status").stdout)
    assert set(status) >= {"version", "mode", "model", "health"}


def test_human_output(bus: PrivateSystemBus) -> None:
    ask = query(bus, "ask", "summarize the 404 errors of nginx")
    assert ask.returncode == 0, ask.stderr
    assert "404" in ask.stdout and "{" not in ask.stdout
    status = query(bus, "status")
    assert status.returncode == 0 and "health: ok" in status.stdout
    plan = query(bus, "plan", "restart nginx")
    assert "intent: service.restart" in plan.stdout


def test_exit_statuses(bus: PrivateSystemBus) -> None:
    assert query(bus, "status").returncode == 0
    assert query(bus, "reload").returncode == 0
    # Denied (nobody, no terminal so no password prompt): 3, and no log content.
    denied = query(bus, "analyze", "nginx", user=NOBODY)
    assert denied.returncode == 3
    assert "authentication is required" in denied.stderr
    assert HIDDEN_PATH not in denied.stdout + denied.stderr
    # Bad input, locally or from the service: 2.
    assert query(bus, "analyze", "nginx", "--since", "soon").returncode == 2
    assert query(bus, "frobnicate").returncode == 2
    assert query(bus).returncode == 2
    unknown = query(bus, "analyze", "nowhere")
    assert unknown.returncode == 2 and 'unknown log source "nowhere"' in unknown.stderr
    # The audit log of a fresh state: empty, it verifies.
    verified = query(bus, "audit", "verify")
    assert verified.returncode == 0 and "0 records verified" in verified.stdout
    # A log that does not verify: exit 1, as `hf-agent audit verify`, naming the line.
    from libhfagent.executor._audit import AuditLog

    audit = AuditLog(bus.directory.parent / "state", journal=False)
    audit.append({"event": "test", "actor": {"uid": 0}})
    log = audit.path
    log.write_text(log.read_text().replace('"test"', '"forged"'))
    try:
        broken = query(bus, "audit", "verify")
        assert broken.returncode == 1 and "line 1" in broken.stdout, broken
        as_json = query(bus, "--json", "audit", "verify")
        assert as_json.returncode == 1 and json.loads(as_json.stdout)["ok"] is False
    finally:
        for path in audit.directory.iterdir():
            path.unlink()


def test_service_absent_is_exit_4(tmp_path: Path) -> None:
    if not PrivateSystemBus.available():
        pytest.skip("needs root, dbus-daemon and polkitd")
    with PrivateSystemBus(tmp_path / "bus") as empty:
        out = query(empty, "status")
    assert out.returncode == 4, out.stderr


def test_bash_completion() -> None:
    def complete(line: str) -> list[str]:
        words = line.split(" ")
        script = (
            f"source {COMPLETION}; COMP_WORDS=({' '.join(repr(w) for w in words)}); "
            f"COMP_CWORD={len(words) - 1}; _hfa_query; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        )
        out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
        return out.stdout.split()

    assert set(complete("hfa-query ")) >= {"ask", "analyze", "status", "audit", "--json"}
    assert complete("hfa-query an") == ["analyze"]
    assert "nginx" in complete("hfa-query analyze ")
    assert complete("hfa-query --json analyze nginx --st") == ["--status"]
    assert complete("hfa-query analyze nginx --lang ") == ["fr", "en"]
    assert complete("hfa-query audit ") == ["verify"]
