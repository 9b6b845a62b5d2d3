"""The service's tables against its interface XML and shipped files (no bus needed)."""

from __future__ import annotations

import configparser
import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import hf_agentd
import hf_agentd._daemon
import pytest
from dbus_fast import Variant
from hf_agentd._api import ACTION_IDS, interface_xml
from hf_agentd._convert import parse_options, to_vardict, to_variant
from hf_agentd._methods import HANDLERS, Context

from libhfagent import RequestError

ROOT = Path(__file__).resolve().parent.parent
DBUS = ROOT / "services/dbus"
XML = DBUS / "org.huggingface.Agent1.xml"
POLICY = ROOT / "policy/org.huggingface.Agent.policy"

#: DESIGN.md's D-Bus table.
DESIGN_ACTIONS = {
    "Interpret": "read",
    "GetStatus": "read",
    "Analyze": "analyze",
    "Ask": "analyze",
    "Execute": "execute",
    "ListSuggestions": "read",
    "ReplySuggestion": "execute",
    "ReadAudit": "audit",
    "VerifyAudit": "audit",
    "Reload": "configure",
}
DESIGN_DEFAULTS = {
    "read": "yes",
    "analyze": "auth_admin_keep",
    "execute": "auth_admin_keep",
    "audit": "auth_admin_keep",
    "configure": "auth_admin",
}


def test_every_method_declares_its_action_and_has_an_implementation() -> None:
    interface = hf_agentd.load_interface()
    methods = [m.name for m in interface.methods]
    assert methods == list(DESIGN_ACTIONS)
    for name in methods:
        assert hf_agentd.ACTIONS[name] == f"org.huggingface.agent.{DESIGN_ACTIONS[name]}"
        assert name in HANDLERS
    hf_agentd.check_interface(interface, hf_agentd.ACTIONS, HANDLERS)
    assert [(s.name, s.signature) for s in interface.signals] == [
        ("EventDetected", "a{sv}"),
        ("SuggestionAdded", "a{sv}"),
        ("AlertRaised", "a{sv}"),
        ("PlanExecuted", "sa{sv}"),
    ]


def test_the_packaged_xml_is_the_reference_file() -> None:
    assert interface_xml() == XML.read_text()


@pytest.mark.parametrize(
    ("actions", "handlers", "message"),
    [
        (
            {**hf_agentd.ACTIONS, "Reload": None},
            HANDLERS,
            "method Reload declares no polkit action",
        ),
        (
            {**hf_agentd.ACTIONS, "Ask": "org.huggingface.agent.everything"},
            HANDLERS,
            "method Ask: unknown polkit action org.huggingface.agent.everything",
        ),
        (hf_agentd.ACTIONS, {k: v for k, v in HANDLERS.items() if k != "Ask"}, "Ask has no impl"),
        (
            {**hf_agentd.ACTIONS, "Shutdown": "org.huggingface.agent.configure"},
            HANDLERS,
            "method Shutdown is not in the introspection XML",
        ),
    ],
)
def test_tables_that_disagree_are_refused(
    actions: dict[str, str | None], handlers: dict[str, object], message: str
) -> None:
    table = {k: v for k, v in actions.items() if v is not None}
    with pytest.raises(hf_agentd.InterfaceError, match=message[:20]):
        hf_agentd.check_interface(hf_agentd.load_interface(), table, handlers)


def test_the_daemon_refuses_to_start_with_a_method_without_action(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    context = Context.load(None)
    table = {k: v for k, v in hf_agentd.ACTIONS.items() if k != "VerifyAudit"}
    monkeypatch.setattr(hf_agentd._daemon, "ACTIONS", table)
    with pytest.raises(hf_agentd.InterfaceError, match="VerifyAudit declares no polkit action"):
        hf_agentd.Daemon(context)


def test_a_broken_configuration_stops_the_start(tmp_path: Path) -> None:
    config = tmp_path / "hf-agent.json"
    config.write_text('{"agent": {"user_mode": "sometimes"}}')
    out = subprocess.run(
        [sys.executable, "-m", "hf_agentd", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2
    assert "agent.user_mode" in out.stderr and "Traceback" not in out.stderr


def test_hf_agentd_console_script() -> None:
    script = shutil.which("hf-agentd", path=str(Path(sys.executable).parent))
    assert script is not None
    out = subprocess.run([script, "--help"], capture_output=True, text=True, check=True)
    assert "org.huggingface.Agent" in out.stdout


def test_policy_actions_match_the_table() -> None:
    root = ET.parse(POLICY).getroot()  # noqa: S314 - the project's own file
    lang = "{http://www.w3.org/XML/1998/namespace}lang"
    actions = {a.get("id"): a for a in root.iter("action")}
    assert set(actions) == ACTION_IDS == set(hf_agentd.ACTIONS.values())
    for action_id, element in actions.items():
        short = action_id.rsplit(".", 1)[1]
        defaults = element.find("defaults")
        assert defaults is not None
        assert defaults.findtext("allow_active") == DESIGN_DEFAULTS[short]
        assert defaults.findtext("allow_any") == DESIGN_DEFAULTS[short]
        for tag in ("description", "message"):
            langs = {e.get(lang) for e in element.findall(tag)}
            assert langs == {None, "fr"}, (action_id, tag)


def test_bus_policy_lets_only_root_own_the_name() -> None:
    root = ET.parse(DBUS / "org.huggingface.Agent.conf").getroot()  # noqa: S314
    owners = [
        (p.get("user"), a.get("own"))
        for p in root.iter("policy")
        for a in p.iter("allow")
        if a.get("own")
    ]
    assert owners == [("root", "org.huggingface.Agent")]
    default = next(p for p in root.iter("policy") if p.get("context") == "default")
    assert {a.get("send_interface") for a in default.iter("allow")} >= {"org.huggingface.Agent1"}
    assert not list(default.iter("deny"))


def test_activation_file_hands_over_to_systemd() -> None:
    parser = configparser.ConfigParser()
    parser.read(DBUS / "org.huggingface.Agent.service")
    section = parser["D-BUS Service"]
    assert section["Name"] == "org.huggingface.Agent"
    assert section["Exec"] == "/bin/false"
    assert section["SystemdService"] == "hf-agent.service"


def test_unit_verifies(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    daemon = shutil.which("hf-agentd", path=str(Path(sys.executable).parent))
    assert daemon is not None
    text = (DBUS / "hf-agent.service").read_text()
    assert (
        "Type=notify" in text and "WatchdogSec=" in text and "BusName=org.huggingface.Agent" in text
    )
    unit = tmp_path / "hf-agent.service"
    unit.write_text(text.replace("/usr/bin/hf-agentd", daemon))
    out = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
    )
    problems = [line for line in out.stderr.splitlines() if "hf-agent.service" in line]
    assert out.returncode == 0 and problems == [], out.stderr


def test_results_become_typed_variants() -> None:
    report = {
        "total": 6,
        "ratio": 0.5,
        "ok": True,
        "text": "six",
        "files": ["/a", "/b"],
        "by_status": {404: 3},
        "top_paths": [["/x", 2]],
        "steps": [{"action": "a", "args": {}}],
        "empty": [],
        "missing": None,
        "huge": 2**70,
    }
    out = to_vardict(report)
    assert "missing" not in out
    assert out["total"] == Variant("x", 6)
    assert out["ratio"] == Variant("d", 0.5)
    assert out["ok"] == Variant("b", True)
    assert out["files"] == Variant("as", ["/a", "/b"])
    assert out["by_status"] == Variant("a{sv}", {"404": Variant("x", 3)})
    assert out["top_paths"] == Variant("av", [Variant("av", [Variant("s", "/x"), Variant("x", 2)])])
    assert out["steps"].signature == "aa{sv}"
    assert out["empty"] == Variant("av", [])
    assert out["huge"] == Variant("s", str(2**70))
    assert to_variant([1, 2]) == Variant("ax", [1, 2])
    assert to_variant([None]) == Variant("av", [Variant("av", [])])
    with pytest.raises(TypeError):
        to_variant(object())
    json.dumps({k: v.value for k, v in out.items() if v.signature in "sxdb"})


def test_options_are_checked() -> None:
    accepted = {"since": "seconds", "status": "int", "lang": "lang", "files": "strings"}
    opts = parse_options(
        "Analyze",
        {
            "since": Variant("u", 60),
            "status": Variant("q", 404),
            "lang": Variant("s", "fr"),
            "files": Variant("as", ["/x"]),
        },
        accepted,  # type: ignore[arg-type]
    )
    assert opts == {"since": 60, "status": 404, "lang": "fr", "files": ["/x"]}
    assert parse_options("Analyze", {"since": Variant("d", 1.5)}, accepted)["since"] == 1.5  # type: ignore[arg-type]
    with pytest.raises(RequestError, match='unknown option "colour"; it accepts: files, lang'):
        parse_options("Analyze", {"colour": Variant("s", "red")}, accepted)  # type: ignore[arg-type]
    with pytest.raises(RequestError, match='option "status" must be an integer'):
        parse_options("Analyze", {"status": Variant("s", "404")}, accepted)  # type: ignore[arg-type]
    with pytest.raises(RequestError, match='"lang" must be "fr" or "en"'):
        parse_options("Analyze", {"lang": Variant("s", "de")}, accepted)  # type: ignore[arg-type]
    with pytest.raises(RequestError, match="Interpret: unknown option"):
        parse_options("Interpret", {"x": Variant("b", True)}, {})
