"""firewall.ban: an nftables ban set, exercised with the real nft in private network namespaces.

Every test that runs nft does so in a child process started with ``unshare --net``:
the host's ruleset is never read nor changed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from libhfagent._errors import ConfigError, RequestError
from libhfagent.config import Config
from libhfagent.executor._actions import ACTIONS, get_action
from libhfagent.executor._firewall import (
    MAX_BAN_SECONDS,
    ban_ruleset,
    check_ban_address,
    parse_set_elements,
)
from libhfagent.executor._policy import Policy
from libhfagent.interpreter._types import Step


def in_netns(code: str, *argv: str) -> Any:
    """Run ``code`` in a fresh network namespace; the JSON it prints last."""
    if shutil.which("nft") is None and not Path("/usr/sbin/nft").exists():
        pytest.skip("nft (Debian package nftables) is not installed")
    proc = subprocess.run(
        ["unshare", "--net", sys.executable, "-c", textwrap.dedent(code), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


SCENARIO = """
import json, socket, subprocess, sys, time
from libhfagent.executor._actions import ActionContext, get_action

def sh(*argv):
    subprocess.run(argv, check=True)

def nft_json(*args):
    out = subprocess.run(["nft", "-j", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)

sh("ip", "link", "set", "lo", "up")
sh("ip", "addr", "add", "10.9.9.9/32", "dev", "lo")
sh("ip", "addr", "add", "10.9.9.8/32", "dev", "lo")
listener = socket.socket()
listener.bind(("0.0.0.0", 0))
listener.listen(16)
port = listener.getsockname()[1]

def connect(source):
    s = socket.socket()
    s.settimeout(1.0)
    s.bind((source, 0))
    try:
        s.connect(("10.9.9.8", port))
        listener.accept()[0].close()
        return "connected"
    except TimeoutError:
        return "timeout"
    finally:
        s.close()

ban = get_action("firewall.ban")
ctx = ActionContext(sys.argv[1], "0123456789abcdef", now=1_700_000_000.0)
out = {"before": connect("10.9.9.9")}
out["known_empty"] = ban.known({"ip": "10.9.9.9", "seconds": 600})
first = ban.run({"ip": "10.9.9.9", "seconds": 600}, ctx)
out["first"] = {"report": dict(first.report), "undo": dict(first.undo)}
out["banned"] = connect("10.9.9.9")
out["other"] = connect("10.9.9.8")
second = ban.run({"ip": "10.9.9.9", "seconds": 1200}, ctx)
out["second"] = dict(second.report)
ban.run({"ip": "2001:db8::5", "seconds": 60}, ctx)
out["ruleset"] = nft_json("list", "ruleset")
out["known"] = ban.known({"ip": "10.9.9.9", "seconds": 600})
out["revert"] = ban.revert({"ip": "10.9.9.9", "seconds": 600}, first.undo, ctx)
out["after_revert"] = nft_json("list", "set", "inet", "hf-agent", "banned4")
out["unbanned"] = connect("10.9.9.9")
out["revert_again"] = ban.revert({"ip": "10.9.9.9", "seconds": 600}, first.undo, ctx)
print(json.dumps(out))
"""


def _set(ruleset: dict[str, Any], name: str) -> dict[str, Any]:
    return next(i["set"] for i in ruleset["nftables"] if i.get("set", {}).get("name") == name)


@pytest.mark.system
def test_ban_drops_the_address_refreshes_and_is_undone(tmp_path: Path) -> None:
    out = in_netns(SCENARIO, str(tmp_path / "state"))
    assert out["before"] == "connected"
    assert out["known_empty"] == {
        "set": "inet hf-agent banned4",
        "exists": False,
        "elements": [],
        "already_banned": False,
        "would_add": "10.9.9.9 timeout 600s",
    }
    assert out["first"]["report"] == {
        "ip": "10.9.9.9",
        "seconds": 600,
        "expires": "2023-11-14T22:23:20+00:00",
        "set": "inet hf-agent banned4",
        "refreshed": False,
    }
    assert out["first"]["undo"] == {"ip": "10.9.9.9"}
    # The banned source's SYN is dropped by the input hook; another source still connects.
    assert out["banned"] == "timeout" and out["other"] == "connected"
    assert out["second"]["refreshed"] is True and out["second"]["seconds"] == 1200

    items = out["ruleset"]["nftables"]
    tables = [i["table"] for i in items if "table" in i]
    assert [(t["family"], t["name"]) for t in tables] == [("inet", "hf-agent")]
    (chain,) = [i["chain"] for i in items if "chain" in i]
    assert (chain["type"], chain["hook"], chain["prio"], chain["policy"]) == (
        "filter",
        "input",
        -10,
        "accept",
    )
    rules = [i["rule"]["expr"] for i in items if "rule" in i]
    # Banning three times left exactly the two rules.
    assert len(rules) == 2
    assert [r[0]["match"]["right"] for r in rules] == ["@banned4", "@banned6"]
    assert [r[0]["match"]["left"]["payload"]["protocol"] for r in rules] == ["ip", "ip6"]
    assert all(r[-1] == {"drop": None} for r in rules)
    banned4 = _set(out["ruleset"], "banned4")
    assert banned4["type"] == "ipv4_addr" and banned4["flags"] == ["timeout"]
    (elem,) = parse_set_elements({"nftables": [{"set": banned4}]})
    assert elem["ip"] == "10.9.9.9" and elem["timeout"] == 1200  # refreshed, not duplicated
    assert 1100 < elem["expires"] <= 1200
    banned6 = _set(out["ruleset"], "banned6")
    assert banned6["type"] == "ipv6_addr"
    assert [e["ip"] for e in parse_set_elements({"nftables": [{"set": banned6}]})] == [
        "2001:db8::5"
    ]

    assert out["known"]["exists"] and out["known"]["already_banned"]
    assert [e["ip"] for e in out["known"]["elements"]] == ["10.9.9.9"]
    assert out["revert"] == "10.9.9.9 removed from inet hf-agent banned4"
    assert parse_set_elements(out["after_revert"]) == []
    assert out["unbanned"] == "connected"
    assert "not banned any more" in out["revert_again"]


EXECUTOR = """
import json, sys
from libhfagent.config import Config
from libhfagent.executor import Executor
from libhfagent.executor._audit import AuditLog
from libhfagent.executor._firewall import banned
from libhfagent.interpreter._types import Intent, Plan, Step

config = Config.from_text(json.dumps({"agent": {"state_dir": sys.argv[1], "language": "en"}}))
executor = Executor(config)
plan = Plan(
    Intent(request="runbook ssh-bruteforce@1: ban", lang="en", intent="unknown", confidence=1.0),
    (Step("firewall.ban", {"ip": "203.0.113.7", "seconds": 600.0}),),
)
out = {"decision": executor.review(plan).steps[0].decision}
previewed = executor.preview(plan)
out["preview"] = previewed.to_dict()
out["before_apply"] = banned(4)
outcome = executor.apply(previewed.plan_id)
out["outcome"] = outcome.to_dict()
out["report"] = dict(outcome.results[0].report)
out["after_apply"] = banned(4)
audit = AuditLog(sys.argv[1], journal=False)
out["verified"] = audit.verify().ok
out["events"] = [[r["event"], r.get("outcome"), r.get("action")] for r in audit.read()]
out["undo"] = executor.undo(previewed.plan_id).to_dict()
out["after_undo"] = banned(4)
print(json.dumps(out))
"""


@pytest.mark.system
def test_preview_apply_audit_and_undo_through_the_executor(tmp_path: Path) -> None:
    out = in_netns(EXECUTOR, str(tmp_path / "state"))
    assert out["decision"] == "confirm"
    (step,) = out["preview"]["steps"]
    assert step["action"] == "firewall.ban" and step["args"] == {
        "ip": "203.0.113.7",
        "seconds": 600,
    }
    assert out["preview"]["preview"]["entries"] == []  # nothing on disk
    assert out["preview"]["preview"]["steps"][0]["simulated"] is False
    assert out["before_apply"] is None  # the preview did not touch the firewall
    assert out["outcome"]["applied"] == ["firewall.ban"] and out["outcome"]["failed"] is None
    assert out["report"]["ip"] == "203.0.113.7" and out["report"]["seconds"] == 600
    assert [e["ip"] for e in out["after_apply"]] == ["203.0.113.7"]
    assert out["verified"] is True
    assert out["events"][:2] == [
        ["apply", None, "firewall.ban"],
        ["outcome", "done", "firewall.ban"],
    ]
    assert out["undo"]["undone"] == [
        ["firewall.ban", "203.0.113.7 removed from inet hf-agent banned4"]
    ]
    assert out["after_undo"] == []


def test_registered_not_simulable_and_touches_no_file() -> None:
    action = get_action("firewall.ban")
    assert ACTIONS["firewall.ban"] is action
    assert not action.simulable and action.changes_system
    assert action.touches({"ip": "192.0.2.1", "seconds": 60}).paths == ()


@pytest.mark.parametrize(
    ("args", "key", "why"),
    [
        ({"ip": "127.0.0.1", "seconds": 60}, "ip", "loopback"),
        ({"ip": "::1", "seconds": 60}, "ip", "loopback"),
        ({"ip": "::ffff:127.0.0.1", "seconds": 60}, "ip", "loopback"),
        ({"ip": "0.0.0.0", "seconds": 60}, "ip", "unspecified"),  # noqa: S104
        ({"ip": "::", "seconds": 60}, "ip", "unspecified"),
        ({"ip": "224.0.0.1", "seconds": 60}, "ip", "multicast"),
        ({"ip": "ff02::1", "seconds": 60}, "ip", "multicast"),
        ({"ip": "169.254.1.1", "seconds": 60}, "ip", "link-local"),
        ({"ip": "fe80::1", "seconds": 60}, "ip", "link-local"),
        ({"ip": "255.255.255.255", "seconds": 60}, "ip", "broadcast"),
        ({"ip": "192.0.2.0/24", "seconds": 60}, "ip", "not an IPv4 or IPv6 address"),
        ({"ip": "192.0.2.1; flush ruleset", "seconds": 60}, "ip", "not an IPv4"),
        ({"ip": "example.org", "seconds": 60}, "ip", "not an IPv4"),
        ({"ip": 3232235777, "seconds": 60}, "ip", "expected"),
        ({"seconds": 60}, "ip", "expected"),
        ({"ip": "192.0.2.1", "seconds": 0}, "seconds", "whole number"),
        ({"ip": "192.0.2.1", "seconds": MAX_BAN_SECONDS + 1}, "seconds", "whole number"),
        ({"ip": "192.0.2.1", "seconds": 1.5}, "seconds", "whole number"),
        ({"ip": "192.0.2.1", "seconds": True}, "seconds", "whole number"),
        ({"ip": "192.0.2.1", "seconds": "600"}, "seconds", "whole number"),
        ({"ip": "192.0.2.1"}, "seconds", "whole number"),
    ],
)
def test_bad_arguments_are_refused_before_nft_runs(
    args: dict[str, Any], key: str, why: str
) -> None:
    action = get_action("firewall.ban")
    with pytest.raises(RequestError, match=rf"^{key}: .*{why}"):
        action.check(args)


def test_checked_arguments_are_normalised() -> None:
    action = get_action("firewall.ban")
    assert action.check({"ip": " 2001:DB8::0005 ", "seconds": 600.0}) == {
        "ip": "2001:db8::5",
        "seconds": 600,
    }
    assert action.check({"ip": "::ffff:192.0.2.9", "seconds": MAX_BAN_SECONDS}) == {
        "ip": "192.0.2.9",
        "seconds": MAX_BAN_SECONDS,
    }
    assert str(check_ban_address("10.0.0.1")) == "10.0.0.1"  # private sources may be banned


def test_the_ruleset_declares_the_table_and_refreshes_the_element() -> None:
    text = ban_ruleset(check_ban_address("2001:db8::5"), 60)
    lines = text.splitlines()
    assert lines[0] == "table inet hf-agent {"
    assert "    chain input { type filter hook input priority -10; policy accept; }" in lines
    assert lines[-3:] == [
        "add element inet hf-agent banned6 { 2001:db8::5 }",
        "delete element inet hf-agent banned6 { 2001:db8::5 }",
        "add element inet hf-agent banned6 { 2001:db8::5 timeout 60s }",
    ]


def test_set_elements_from_nft_json() -> None:
    document = {
        "nftables": [
            {"metainfo": {"version": "1.0.6"}},
            {
                "set": {
                    "name": "banned4",
                    "elem": [
                        {"elem": {"val": "192.0.2.1", "timeout": 600, "expires": 599}},
                        "192.0.2.2",
                    ],
                }
            },
        ]
    }
    assert parse_set_elements(document) == [
        {"ip": "192.0.2.1", "timeout": 600, "expires": 599},
        {"ip": "192.0.2.2", "timeout": None, "expires": None},
    ]
    assert parse_set_elements({"nftables": [{"set": {"name": "banned4"}}]}) == []


def test_policy_never_bans_the_listed_networks_nor_longer_than_allowed(tmp_path: Path) -> None:
    override = tmp_path / "permissions.json"
    override.write_text(
        '{"firewall": {"never_ban": ["127.0.0.0/8", "::1", "192.0.2.0/28"], '
        '"max_ban_seconds": 3600}}'
    )
    policy = Policy.load(Config(), str(override))

    def decide(ip: str, seconds: int = 600) -> tuple[str, tuple[str, ...]]:
        verdict = policy.decide(Step("firewall.ban", {"ip": ip, "seconds": seconds}))
        return verdict.decision, verdict.reasons

    assert decide("198.51.100.7")[0] == "confirm"
    assert decide("192.0.2.3") == (
        "deny",
        ("192.0.2.3: never banned (firewall.never_ban has 192.0.2.0/28)",),
    )
    assert decide("::ffff:192.0.2.3")[0] == "deny"
    assert decide("192.0.2.16")[0] == "confirm"
    assert decide("198.51.100.7", 7200) == (
        "deny",
        ("firewall.ban: 7200 s exceed the longest ban allowed (firewall.max_ban_seconds: 3600 s)",),
    )
    # The shipped default: firewall.ban always asks first.
    shipped = Policy.load(Config())
    verdict = shipped.decide(
        Step("firewall.ban", {"ip": "198.51.100.7", "seconds": 600}),
        sandbox_level="permissive",
        user_mode="auto",
    )
    assert verdict.decision == "allow"  # "confirm" in the actions, auto mode allows it
    assert shipped.decide(Step("firewall.ban", {"ip": "127.0.0.1", "seconds": 60})).decision == (
        "deny"
    )


@pytest.mark.parametrize(
    ("firewall", "message"),
    [
        ('{"never_ban": ["not-a-net"]}', "firewall.never_ban"),
        ('{"never_ban": "127.0.0.1"}', "must be a list"),
        ('{"max_ban_seconds": 0}', "firewall.max_ban_seconds"),
        ('{"ban_forever": true}', "unknown key"),
    ],
)
def test_a_wrong_firewall_section_is_a_config_error(
    tmp_path: Path, firewall: str, message: str
) -> None:
    override = tmp_path / "permissions.json"
    override.write_text(f'{{\n  "firewall": {firewall}\n}}')
    with pytest.raises(ConfigError, match=message) as caught:
        Policy.load(Config(), str(override))
    assert str(override) in str(caught.value)
