"""hf-agentd on a real private system bus with a real polkitd: every method, every caller.

The bus, polkitd and the service run in a private mount namespace
(``libhfagent.testing.PrivateSystemBus``) with the project's dbus-1 policy, polkit
actions and rules installed there only.
"""

from __future__ import annotations

import contextlib
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

from libhfagent import Config, Learner
from libhfagent.executor import Executor
from libhfagent.executor._audit import AuditLog
from libhfagent.interpreter._types import Intent, Plan, Step
from libhfagent.testing._bus import CallResult, PrivateSystemBus

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "services/dbus/org.huggingface.Agent.conf"
POLICY = ROOT / "policy/org.huggingface.Agent.policy"
RULES = ROOT / "policy/rules.d/50-hf-agent.rules"
XML = ROOT / "services/dbus/org.huggingface.Agent1.xml"

NAME, PATH, IFACE = "org.huggingface.Agent", "/org/huggingface/Agent1", "org.huggingface.Agent1"
NOBODY = 65534
MEMBER_UID, OTHER_UID, GROUP_GID = 64201, 64202, 64203

NOT_AUTHORIZED = "org.huggingface.Agent1.Error.NotAuthorized"
INTERACTIVE = "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"
INVALID_ARGUMENT = "org.huggingface.Agent1.Error.InvalidArgument"
INVALID_ARGS = "org.freedesktop.DBus.Error.InvalidArgs"

#: A path and a client that appear only in the test's access log: no denial may reveal them.
HIDDEN_PATH = "/secret-admin-7f3a9c"
HIDDEN_CLIENT = "198.51.100.77"

ACCESS_LOG = "".join(
    f'{ip} - - [10/Oct/2024:13:{m:02d}:36 +0000] "GET {path} HTTP/1.1" {status} 153 '
    '"-" "curl/8.0"\n'
    for m, (ip, path, status) in enumerate(
        [
            ("203.0.113.7", "/", 200),
            (HIDDEN_CLIENT, HIDDEN_PATH, 404),
            (HIDDEN_CLIENT, HIDDEN_PATH, 404),
            ("203.0.113.8", "/about.html", 200),
            ("203.0.113.8", "/missing", 404),
            ("203.0.113.9", "/api", 500),
        ]
    )
)
AUTH_LOG = (
    "".join(
        f"Oct 10 13:{m:02d}:00 web sshd[4{m:03d}]: Failed password for root from 192.0.2.44 "
        f"port {40000 + m} ssh2\n"
        for m in range(7)
    )
    + "Oct 10 13:30:00 web sshd[5000]: Accepted publickey for admin from 192.0.2.10 "
    "port 50000 ssh2\n"
)


def write_agent_config(directory: Path, **agent: Any) -> Path:
    """A configuration whose nginx and auth sources are the test's own logs."""
    logs = directory / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "access.log").write_text(ACCESS_LOG)
    (logs / "auth.log").write_text(AUTH_LOG)
    (directory / "state").mkdir(exist_ok=True)
    config = {
        "agent": {
            "state_dir": str(directory / "state"),
            "timezone": "UTC",
            "language": "en",
            **agent,
        },
        "modules": {
            "monitoring": {
                "sources": {
                    "nginx": [str(logs / "access.log")],
                    "auth": [str(logs / "auth.log")],
                }
            }
        },
    }
    path = directory / "hf-agent.json"
    path.write_text(json.dumps(config, indent=2))
    return path


@contextlib.contextmanager
def project_bus(directory: Path) -> Iterator[PrivateSystemBus]:
    """A private system bus and polkitd with the project's files, without the service."""
    with PrivateSystemBus(
        directory / "bus",
        bus_policies=[CONF],
        polkit_actions=[POLICY],
        polkit_rules=[RULES],
        users={"hfamember": MEMBER_UID, "hfaother": OTHER_UID},
        groups={"hfagent": (GROUP_GID, ["hfamember"])},
    ) as bus:
        yield bus


@contextlib.contextmanager
def agent_bus(directory: Path, config: Path) -> Iterator[PrivateSystemBus]:
    """A private system bus and polkitd with the project's files, and hf-agentd on it."""
    with project_bus(directory) as bus:
        bus.start_service(
            [sys.executable, "-m", "hf_agentd", "--config", str(config)], NAME, log="hf-agentd.log"
        )
        yield bus


def call(
    bus: PrivateSystemBus,
    member: str,
    signature: str = "",
    *body: Any,
    user: int | str | None = None,
    interactive: bool = False,
) -> CallResult:
    return bus.call(NAME, PATH, IFACE, member, signature, body, user=user, interactive=interactive)


def unwrap_cli(args: list[str], config: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "libhfagent", "--config", str(config), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def no_nulls(value: Any) -> Any:
    """JSON as it crosses D-Bus, which has no null: keys whose value is null are left out."""
    if isinstance(value, dict):
        return {k: no_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [no_nulls(v) for v in value]
    return value


def without_clock(report: dict[str, Any]) -> dict[str, Any]:
    """A report without what depends on the moment it was made."""
    return {k: v for k, v in no_nulls(report).items() if k not in ("until", "end", "text")}


#: Each method with arguments that pass its signature, and the action it needs.
CALLS: dict[str, tuple[str, tuple[Any, ...]]] = {
    "Interpret": ("sa{sv}", ("summarize the 404 errors of nginx", {})),
    "GetStatus": ("", ()),
    "Analyze": ("sa{sv}", ("nginx", {})),
    "Ask": ("sa{sv}", ("summarize the 404 errors of nginx", {})),
    "Execute": ("sa{sv}", ("plan-1", {})),
    "ListSuggestions": ("a{sv}", ({},)),
    "ReplySuggestion": ("ss", ("s-1", "accept")),
    "ReadAudit": ("a{sv}", ({},)),
    "VerifyAudit": ("", ()),
    "Reload": ("", ()),
}
READ_METHODS = ("Interpret", "GetStatus", "ListSuggestions")
PROTECTED = tuple(m for m in CALLS if m not in READ_METHODS)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrivateSystemBus, Path]]:
    if not PrivateSystemBus.available():
        pytest.skip("needs root, dbus-daemon and polkitd")
    directory = tmp_path_factory.mktemp("dbus")
    config = write_agent_config(directory)
    with agent_bus(directory, config) as bus:
        yield bus, config


pytestmark = pytest.mark.system


def test_introspection_is_the_reference_xml(shared: tuple[PrivateSystemBus, Path]) -> None:
    from dbus_fast.introspection import Node

    bus, _ = shared
    live = call_introspect(bus)
    want = Node.parse(XML.read_text()).interfaces[0]
    got = next(i for i in Node.parse(live).interfaces if i.name == IFACE)
    assert [(m.name, m.in_signature, m.out_signature) for m in got.methods] == [
        (m.name, m.in_signature, m.out_signature) for m in want.methods
    ]
    assert [(m.name, [a.name for a in m.in_args + m.out_args]) for m in got.methods] == [
        (m.name, [a.name for a in m.in_args + m.out_args]) for m in want.methods
    ]
    assert [(s.name, s.signature) for s in got.signals] == [
        (s.name, s.signature) for s in want.signals
    ]


def call_introspect(bus: PrivateSystemBus) -> str:
    reply = bus.call(NAME, PATH, "org.freedesktop.DBus.Introspectable", "Introspect", user=NOBODY)
    assert reply.error is None, reply
    text: str = reply.body[0]
    return text


def test_root_interpret_mirrors_plan_json(shared: tuple[PrivateSystemBus, Path]) -> None:
    bus, config = shared
    request = "Résume les erreurs 404 de nginx des dernières 24 heures"
    reply = call(bus, "Interpret", "sa{sv}", request, {})
    assert reply.error is None, reply
    assert reply.body[0] == no_nulls(unwrap_cli(["plan", "--json", request], config))


def test_root_analyze_mirrors_logs_summarize(shared: tuple[PrivateSystemBus, Path]) -> None:
    bus, config = shared
    reply = call(bus, "Analyze", "sa{sv}", "nginx", {"status": ["u", 404], "lang": ["s", "fr"]})
    assert reply.error is None, reply
    report = reply.body[0]
    cli = unwrap_cli(["logs", "summarize", "--json", "--status", "404", "--lang", "fr"], config)
    assert without_clock(report) == without_clock(cli)
    assert report["total"] == 6 and report["matched"] == 3
    assert report["by_status"] == {"200": 2, "404": 3, "500": 1}
    assert [HIDDEN_PATH, 2] in report["top_paths"]
    assert "404" in report["text"]


def test_root_analyze_security_mirrors_security_scan(
    shared: tuple[PrivateSystemBus, Path],
) -> None:
    bus, config = shared
    reply = call(bus, "Analyze", "sa{sv}", "auth", {"max_retry": ["i", 5]})
    assert reply.error is None, reply
    cli = unwrap_cli(["security", "scan", "--json"], config)
    assert without_clock(reply.body[0]) == without_clock(cli)
    assert reply.body[0]["failures"] == 7
    assert [o["ip"] for o in reply.body[0]["offenders"]] == ["192.0.2.44"]


def test_root_analyze_system_and_a_source_file(shared: tuple[PrivateSystemBus, Path]) -> None:
    bus, config = shared
    system = call(bus, "Analyze", "sa{sv}", "system", {})
    assert system.error is None, system
    assert system.body[0]["text"]
    access = str(config.parent / "logs/access.log")
    by_path = call(bus, "Analyze", "sa{sv}", access, {})
    assert by_path.error is None and by_path.body[0]["total"] == 6
    # The service runs as root: it reads the files of configured sources, nothing else.
    other = call(bus, "Analyze", "sa{sv}", "/etc/shadow", {})
    assert other.error == INVALID_ARGUMENT
    assert "not a file of a configured log source" in other.message


def test_root_ask_mirrors_ask_json(shared: tuple[PrivateSystemBus, Path]) -> None:
    bus, config = shared
    request = "summarize the 404 errors of nginx"
    reply = call(bus, "Ask", "sa{sv}", request, {})
    assert reply.error is None, reply
    cli = unwrap_cli(["ask", "--json", request], config)
    answer = reply.body[0]
    assert {k: v for k, v in answer.items() if k not in ("report", "text")} == {
        k: v for k, v in no_nulls(cli).items() if k not in ("report", "text")
    }
    assert without_clock(answer["report"]) == without_clock(cli["report"])
    assert answer["report"]["matched"] == 3


def test_root_get_status(shared: tuple[PrivateSystemBus, Path]) -> None:
    bus, config = shared
    status = call(bus, "GetStatus").body[0]
    assert status["version"] == __import__("libhfagent").__version__
    assert status["mode"] == "interactive"
    assert status["model"]
    assert status["health"] == "ok" and status["problems"] == []
    assert status["config"] == str(config)


@pytest.mark.parametrize("method", READ_METHODS)
def test_nobody_may_read(shared: tuple[PrivateSystemBus, Path], method: str) -> None:
    bus, _ = shared
    signature, body = CALLS[method]
    reply = call(bus, method, signature, *body, user=NOBODY)
    assert reply.error is None, reply


@pytest.mark.parametrize("interactive", [False, True])
@pytest.mark.parametrize("method", PROTECTED)
def test_nobody_is_denied_and_sees_nothing(
    shared: tuple[PrivateSystemBus, Path], method: str, interactive: bool
) -> None:
    bus, _ = shared
    signature, body = CALLS[method]
    reply = call(bus, method, signature, *body, user=NOBODY, interactive=interactive)
    # polkit: auth_admin_keep / auth_admin is a challenge; with the interactive flag set
    # there is no agent to answer it here, so the verdict is a plain no.
    assert reply.error == (NOT_AUTHORIZED if interactive else INTERACTIVE), reply
    assert reply.body == []
    for secret in (HIDDEN_PATH, HIDDEN_CLIENT, "404", "Traceback"):
        assert secret not in reply.message


def test_denied_before_arguments_are_read(shared: tuple[PrivateSystemBus, Path]) -> None:
    bus, _ = shared
    # A wrong signature is not even looked at for a caller without the right.
    reply = call(bus, "Analyze", "i", 7, user=NOBODY)
    assert reply.error == INTERACTIVE
    reply = call(bus, "Analyze", "i", 7)
    assert reply.error == INVALID_ARGS


def test_group_hfagent_may_analyze_without_password(
    shared: tuple[PrivateSystemBus, Path],
) -> None:
    bus, _ = shared
    member = call(bus, "Analyze", "sa{sv}", "nginx", {}, user="hfamember")
    assert member.error is None, member
    assert member.body[0]["total"] == 6
    # Not the other actions, and not for users outside the group.
    assert call(bus, "Reload", user="hfamember").error == INTERACTIVE
    assert call(bus, "Analyze", "sa{sv}", "nginx", {}, user="hfaother").error == INTERACTIVE


def test_reload_keeps_the_old_configuration_when_the_new_is_broken(tmp_path: Path) -> None:
    if not PrivateSystemBus.available():
        pytest.skip("needs root, dbus-daemon and polkitd")
    config = write_agent_config(tmp_path)
    with agent_bus(tmp_path, config) as bus:
        assert call(bus, "GetStatus").body[0]["language"] == "en"
        write_agent_config(tmp_path, language="fr")
        # nobody may not reload: nothing changes.
        assert call(bus, "Reload", user=NOBODY).error == INTERACTIVE
        assert call(bus, "GetStatus").body[0]["language"] == "en"
        assert call(bus, "Reload").error is None
        assert call(bus, "GetStatus").body[0]["language"] == "fr"
        config.write_text('{"agent": {"language": "de"}}')
        broken = call(bus, "Reload")
        assert broken.error == INVALID_ARGUMENT
        assert "agent.language" in broken.message and "line 1" in broken.message
        status = call(bus, "GetStatus")
        assert status.error is None and status.body[0]["language"] == "fr"


def test_without_polkit_only_root_is_served(tmp_path: Path) -> None:
    if not PrivateSystemBus.available():
        pytest.skip("needs root, dbus-daemon and polkitd")
    config = write_agent_config(tmp_path)
    with agent_bus(tmp_path, config) as bus:
        assert call(bus, "GetStatus", user=NOBODY).error is None
        bus.stop_polkit()
        for method in ("GetStatus", "Analyze"):
            signature, body = CALLS[method]
            reply = call(bus, method, signature, *body, user=NOBODY)
            assert reply.error == NOT_AUTHORIZED
            assert "polkit" in reply.message
        assert call(bus, "GetStatus").error is None
        bus.start_polkit()
        assert call(bus, "GetStatus", user=NOBODY).error is None


# -- Execute, suggestions, audit: the Executor's apply step, the Learner, the audit log --

DAY = 86400


def old_files(directory: Path, count: int) -> list[Path]:
    """``count`` rotated logs a month old, and the current one."""
    directory.mkdir(parents=True)
    old = time.time() - 30 * DAY
    made = []
    for i in range(count):
        path = directory / f"app.log.{i}"
        path.write_bytes(os.urandom(500 + i))
        os.utime(path, (old, old))
        made.append(path)
    (directory / "app.log").write_text("current")
    return made


def delete_plan(directory: Path) -> Plan:
    return Plan(
        Intent("free space in the old logs", "en", "disk.cleanup", 0.95, {}),
        (
            Step(
                "files.delete",
                {"paths": [str(directory)], "patterns": ["*.[0-9]*"], "older_than": 7 * DAY},
                changes_system=True,
            ),
        ),
    )


def seed_suggestion(config: Path) -> str:
    """Teach the test's Learner state one suggestion (memory climbs, apache2 restarted)."""
    from test_learner import memory_then_restart

    learner = Learner.open(Config.load(str(config)))
    try:
        memory_then_restart(learner, 10)
        (suggestion,) = learner.suggestions()
    finally:
        learner.close()
    return suggestion.id


@pytest.fixture
def own(tmp_path: Path) -> Iterator[tuple[PrivateSystemBus, Path]]:
    if not PrivateSystemBus.available():
        pytest.skip("needs root, dbus-daemon and polkitd")
    config = write_agent_config(tmp_path)
    with agent_bus(tmp_path, config) as bus:
        yield bus, config


def test_root_execute_applies_the_preview_and_the_audit_verifies(
    own: tuple[PrivateSystemBus, Path],
) -> None:
    bus, config = own
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        logs = Path(tmp) / "logs"
        made = old_files(logs, 5)
        executor = Executor(Config.load(str(config)))
        previewed = executor.preview(delete_plan(logs))
        assert previewed is not None and previewed.to_dict()["preview"]["totals"]["deleted"] == 5
        # A file that arrives after the preview is not in the plan: it stays.
        late = logs / "app.log.99"
        late.write_text("arrived after the preview")
        os.utime(late, (time.time() - 30 * DAY,) * 2)
        # Nobody may apply it: denied, nothing changed.
        for interactive in (False, True):
            denied = call(
                bus,
                "Execute",
                "sa{sv}",
                previewed.plan_id,
                {},
                user=NOBODY,
                interactive=interactive,
            )
            assert denied.error == (NOT_AUTHORIZED if interactive else INTERACTIVE), denied
        assert all(p.exists() for p in made)
        assert executor.plans.load(previewed.plan_id).state == "previewed"
        reply = call(bus, "Execute", "sa{sv}", previewed.plan_id, {"lang": ["s", "fr"]})
        assert reply.error is None, reply
        outcome = reply.body[0]
        assert outcome["applied"] == ["files.delete"] and outcome["plan_id"] == previewed.plan_id
        assert "failed" not in outcome and outcome["text"]
        assert sorted(p.name for p in logs.iterdir()) == ["app.log", "app.log.99"]
        assert executor.plans.load(previewed.plan_id).state == "applied"
        # Applied once: a second Execute is refused and changes nothing.
        again = call(bus, "Execute", "sa{sv}", previewed.plan_id, {})
        assert again.error == INVALID_ARGUMENT and "applied already" in again.message
        unknown = call(bus, "Execute", "sa{sv}", "0123456789abcdef", {})
        assert unknown.error == INVALID_ARGUMENT, unknown
    verified = call(bus, "VerifyAudit")
    assert verified.error is None, verified
    assert verified.body[0]["ok"] is True and verified.body[0]["records"] >= 2
    records = call(bus, "ReadAudit", "a{sv}", {}).body[0]
    applied = [r for r in records if r.get("plan_id") == previewed.plan_id]
    assert [r["event"] for r in applied] == ["apply", "outcome"]
    assert applied[1]["outcome"] == "done"
    assert applied[0]["actor"]["uid"] == 0 and applied[0]["actor"]["via"] == "hf-agentd"


def test_root_execute_refuses_a_preview_whose_files_changed(
    own: tuple[PrivateSystemBus, Path],
) -> None:
    bus, config = own
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        logs = Path(tmp) / "logs"
        made = old_files(logs, 3)
        previewed = Executor(Config.load(str(config))).preview(delete_plan(logs))
        assert previewed is not None
        made[0].write_text("changed")
        os.utime(made[0], (time.time() - 30 * DAY,) * 2)
        reply = call(bus, "Execute", "sa{sv}", previewed.plan_id, {})
        assert reply.error == "org.huggingface.Agent1.Error.Failed", reply
        assert "changed since the preview" in reply.message and str(made[0]) in reply.message
        assert all(p.exists() for p in made)


def test_root_ask_returns_the_plan_id_and_the_preview(
    own: tuple[PrivateSystemBus, Path],
) -> None:
    bus, config = own
    reply = call(bus, "Ask", "sa{sv}", "install security updates", {})
    assert reply.error is None, reply
    answer = reply.body[0]
    pending = answer["outcome"]["pending"]
    assert answer["intent"] == "packages.update" and len(pending) == 16
    assert answer["outcome"]["plan_id"] == pending and answer["outcome"]["applied"] == []
    assert answer["preview"]["steps"][0]["action"] == "packages.update"
    assert f"hf-agent execute {pending}" in answer["text"]
    assert Executor(Config.load(str(config))).plans.load(pending).state == "previewed"


def test_ask_never_applies_even_in_auto_mode(tmp_path: Path) -> None:
    if not PrivateSystemBus.available():
        pytest.skip("needs root, dbus-daemon and polkitd")
    config = write_agent_config(tmp_path, user_mode="auto")
    data = json.loads(config.read_text())
    config.write_text(json.dumps({**data, "security": {"sandbox_level": "permissive"}}))
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        logs = Path(tmp) / "logs"
        made = old_files(logs, 3)
        request = f"delete the files older than 7 days in {logs}"
        # In auto mode with a permissive sandbox the policy allows it: `hf-agent ask`
        # would apply it at once. Ask over D-Bus (the "analyze" right) only previews.
        (step,) = unwrap_cli(["plan", "--json", request], config)["steps"]
        assert (step["action"], step["decision"]) == ("files.delete", "allow"), step
        with agent_bus(tmp_path, config) as bus:
            reply = call(bus, "Ask", "sa{sv}", request, {})
            assert reply.error is None, reply
            answer = reply.body[0]
            assert answer["outcome"]["applied"] == [] and len(answer["outcome"]["pending"]) == 16
            assert answer["preview"]["totals"]["deleted"] == 3
        assert all(p.exists() for p in made)


def test_suggestions_are_listed_with_their_evidence_and_answered(
    own: tuple[PrivateSystemBus, Path],
) -> None:
    bus, config = own
    empty = call(bus, "ListSuggestions", "a{sv}", {})
    assert empty.error is None and empty.body == [[]]
    sid = seed_suggestion(config)
    cli = unwrap_cli(["suggestions", "--json", "--lang", "fr"], config)["suggestions"]
    listed = call(bus, "ListSuggestions", "a{sv}", {"lang": ["s", "fr"]}, user=NOBODY)
    assert listed.error is None, listed
    assert listed.body[0] == no_nulls(cli)
    (suggestion,) = listed.body[0]
    assert suggestion["id"] == sid and suggestion["status"] == "proposed"
    assert suggestion["action"] == "service.restart:apache2"
    assert len(suggestion["evidence"]) == suggestion["support"] >= 3
    assert "redémarré" in suggestion["text"]
    # Nobody may not answer: nothing changes.
    denied = call(bus, "ReplySuggestion", "ss", sid, "reject", user=NOBODY)
    assert denied.error == INTERACTIVE
    assert call(bus, "ListSuggestions", "a{sv}", {"status": ["s", "rejected"]}).body == [[]]
    bad = call(bus, "ReplySuggestion", "ss", sid, "maybe")
    assert bad.error == INVALID_ARGUMENT and "expected one of" in bad.message
    rejected = call(bus, "ReplySuggestion", "ss", sid, "reject")
    assert rejected.error is None, rejected
    assert rejected.body[0]["id"] == sid and rejected.body[0]["status"] == "rejected"
    now = call(bus, "ListSuggestions", "a{sv}", {"status": ["s", "rejected"]}).body[0]
    assert [s["id"] for s in now] == [sid]
    assert call(bus, "ListSuggestions", "a{sv}", {"status": ["s", "proposed"]}).body == [[]]
    wrong = call(bus, "ListSuggestions", "a{sv}", {"status": ["s", "maybe"]})
    assert wrong.error == INVALID_ARGUMENT and "proposed" in wrong.message


def test_audit_read_and_verify_mirror_the_cli(own: tuple[PrivateSystemBus, Path]) -> None:
    bus, config = own
    state = Config.load(str(config)).agent.state_dir
    log = AuditLog(state, journal=False)
    for n in range(4):
        log.append({"event": "test", "request": f"request {n}", "intent": "disk.cleanup"})
    # Nobody may not read nor verify the log.
    for member, signature, body in (("ReadAudit", "a{sv}", ({},)), ("VerifyAudit", "", ())):
        for interactive in (False, True):
            denied = call(bus, member, signature, *body, user=NOBODY, interactive=interactive)
            assert denied.error == (NOT_AUTHORIZED if interactive else INTERACTIVE), denied
            assert denied.body == [] and "request" not in denied.message
    verified = call(bus, "VerifyAudit")
    assert verified.error is None, verified
    cli = unwrap_cli(["audit", "verify", "--json"], config)
    assert {k: v for k, v in verified.body[0].items() if k != "text"} == no_nulls(cli)
    assert verified.body[0]["ok"] is True and verified.body[0]["records"] == 4
    assert verified.body[0]["text"] == "4 records verified"
    records = call(bus, "ReadAudit", "a{sv}", {})
    assert records.error is None, records
    assert records.body[0] == no_nulls(unwrap_cli(["audit", "show", "--json"], config))
    last = call(bus, "ReadAudit", "a{sv}", {"last": ["u", 2]}).body[0]
    assert [r["request"] for r in last] == ["request 2", "request 3"]
    # A record altered afterwards: the chain no longer verifies, and the answer says where.
    path = Path(log.path)
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace("request 1", "request X")
    path.write_text("".join(lines))
    broken = call(bus, "VerifyAudit").body[0]
    assert broken["ok"] is False and broken["records"] == 1
    assert broken["first_bad"]["line"] == 2 and broken["first_bad"]["reason"]
    assert "does not verify: line 2" in broken["text"]
