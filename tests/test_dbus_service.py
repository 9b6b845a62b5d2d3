"""hf-agentd on a real private system bus with a real polkitd: every method, every caller.

The bus, polkitd and the service run in a private mount namespace
(``libhfagent.testing.PrivateSystemBus``) with the project's dbus-1 policy, polkit
actions and rules installed there only.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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
NOT_SUPPORTED = "org.huggingface.Agent1.Error.NotSupported"

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
def agent_bus(directory: Path, config: Path) -> Iterator[PrivateSystemBus]:
    """A private system bus and polkitd with the project's files, and hf-agentd on it."""
    with PrivateSystemBus(
        directory / "bus",
        bus_policies=[CONF],
        polkit_actions=[POLICY],
        polkit_rules=[RULES],
        users={"hfamember": MEMBER_UID, "hfaother": OTHER_UID},
        groups={"hfagent": (GROUP_GID, ["hfamember"])},
    ) as bus:
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
NOT_BUILT = ("Execute", "ListSuggestions", "ReplySuggestion", "ReadAudit", "VerifyAudit")


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


@pytest.mark.parametrize("method", NOT_BUILT)
def test_root_methods_not_built_say_what_is_missing(
    shared: tuple[PrivateSystemBus, Path], method: str
) -> None:
    bus, _ = shared
    signature, body = CALLS[method]
    reply = call(bus, method, signature, *body)
    assert reply.error == NOT_SUPPORTED
    assert "not available yet" in reply.message and "libhfagent has no" in reply.message


@pytest.mark.parametrize("method", READ_METHODS)
def test_nobody_may_read(shared: tuple[PrivateSystemBus, Path], method: str) -> None:
    bus, _ = shared
    signature, body = CALLS[method]
    reply = call(bus, method, signature, *body, user=NOBODY)
    # Authorised: either the answer, or the part that is not built yet.
    assert reply.error in (None, NOT_SUPPORTED), reply


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
