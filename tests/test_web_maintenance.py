"""web.maintenance: the nginx snippet, the flag file and the reload, with a real nginx."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from libhfagent._errors import RequestError
from libhfagent.config import Config
from libhfagent.executor import Executor
from libhfagent.executor._actions import ACTIONS, ActionContext, get_action
from libhfagent.executor._audit import AuditLog
from libhfagent.executor._policy import Policy
from libhfagent.interpreter._types import Intent, Plan, Step
from libhfagent.testing import NginxServer

ROOT = Path(__file__).resolve().parents[1]
SNIPPET = ROOT / "services" / "nginx" / "hf-agent-maintenance.conf"
PAGE = ROOT / "services" / "nginx" / "hf-agent-maintenance.html"
SHIPPED_FLAG = "/var/www/maintenance.on"
SHIPPED_PAGE_ROOT = "/usr/share/hf-agent/nginx"


@attrs.frozen
class Site:
    nginx: NginxServer
    flag: Path

    def args(self, state: str) -> dict[str, Any]:
        return {"state": state, "flag": str(self.flag), "service": str(self.nginx.pid_file)}


def fetch(nginx: NginxServer, path: str = "/") -> tuple[int, str, dict[str, str]]:
    """A real GET: status, body and headers."""
    connection = http.client.HTTPConnection("127.0.0.1", nginx.port, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read().decode()
        return response.status, body, {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()


def maintenance_snippet(directory: Path) -> tuple[Path, Path]:
    """The shipped nginx snippet with its flag and page moved under ``directory``.

    Returns:
        The snippet to include in a server block, and the flag file it tests.
    """
    www = directory / "www"
    www.mkdir()
    pages = directory / "pages"
    pages.mkdir()
    shutil.copy(PAGE, pages / PAGE.name)
    text = SNIPPET.read_text()
    assert f"if (-f {SHIPPED_FLAG})" in text and f"root {SHIPPED_PAGE_ROOT};" in text
    snippet = directory / "hf-agent-maintenance.conf"
    flag = www / "maintenance.on"
    snippet.write_text(text.replace(SHIPPED_FLAG, str(flag)).replace(SHIPPED_PAGE_ROOT, str(pages)))
    return snippet, flag


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """A real nginx whose server block includes the shipped snippet (flag and page in tmp)."""
    if not NginxServer.available():
        pytest.skip("nginx is not installed")
    snippet, flag = maintenance_snippet(tmp_path)
    with NginxServer(tmp_path / "nginx", server_config=f'include "{snippet}";') as nginx:
        yield Site(nginx, flag)


def ctx_for(tmp_path: Path) -> ActionContext:
    return ActionContext(tmp_path / "state", "0123456789abcdef")


def test_registered_with_the_other_actions() -> None:
    action = get_action("web.maintenance")
    assert ACTIONS["web.maintenance"] is action
    assert action.simulable and action.changes_system


@pytest.mark.system
def test_on_serves_the_maintenance_page_and_off_the_site(site: Site, tmp_path: Path) -> None:
    action = get_action("web.maintenance")
    ctx = ctx_for(tmp_path)
    status, body, _ = fetch(site.nginx)
    assert status == 200 and "It works." in body

    result = action.run(action.check(site.args("on")), ctx)
    assert site.flag.read_text().endswith(" hf-agent\n")
    assert result.report["state_before"] == "off" and result.report["state_after"] == "on"
    assert result.report["changed"] is True
    reload = result.report["reload"]
    assert reload["how"] == "SIGHUP" and reload["pid"] == site.nginx.pid
    assert reload["process"] == "nginx"
    assert result.undo == {"state": "off"}
    for path in ("/", "/about.html", "/missing.html"):
        status, body, headers = fetch(site.nginx, path)
        assert status == 503
        assert "Site en maintenance" in body and "Site under maintenance" in body
        assert headers["retry-after"] == "300"
    # nginx survived its reload and still logs every request.
    assert site.nginx.running and site.nginx.get("/") == 503

    again = action.run(action.check(site.args("on")), ctx)
    assert again.report["changed"] is False and again.report["state_before"] == "on"

    off = action.run(action.check(site.args("off")), ctx)
    assert not site.flag.exists() and off.undo == {"state": "on"}
    status, body, _ = fetch(site.nginx)
    assert status == 200 and "It works." in body

    # Undoing "off" switches maintenance on again, and undoing "on" switches it off.
    text = action.revert(site.args("off"), off.undo, ctx)
    assert "maintenance on" in text and "SIGHUP" in text
    assert fetch(site.nginx)[0] == 503
    action.revert(site.args("on"), result.undo, ctx)
    assert fetch(site.nginx)[0] == 200


def config_for(tmp_path: Path, site: Site) -> Config:
    data = {
        "agent": {"state_dir": str(tmp_path / "state"), "language": "en"},
        "modules": {
            "runbooks": {
                "maintenance_flag": str(site.flag),
                "web_service": str(site.nginx.pid_file),
            }
        },
    }
    return Config.from_text(json.dumps(data))


def runbook_plan(args: dict[str, Any]) -> Plan:
    return Plan(
        Intent(
            request="runbook disk-failure@1: maintenance",
            lang="en",
            intent="unknown",
            confidence=1.0,
        ),
        (Step("web.maintenance", args),),
    )


@pytest.mark.system
def test_preview_apply_audit_and_undo_through_the_executor(site: Site, tmp_path: Path) -> None:
    config = config_for(tmp_path, site)
    executor = Executor(config)
    plan = runbook_plan(site.args("on"))
    reviewed = executor.review(plan)
    assert reviewed.steps[0].decision != "deny", reviewed.steps[0].reason

    previewed = executor.preview(plan)
    assert previewed is not None and not previewed.refused
    # The preview created the flag over the overlay only: nginx still serves the site.
    assert not site.flag.exists() and fetch(site.nginx)[0] == 200
    assert [(e.path, e.change) for e in previewed.preview.entries] == [(str(site.flag), "created")]
    (step,) = previewed.preview.steps
    assert step.simulated and not step.error
    assert step.report["state_after"] == "on" and step.report["reload"]["how"] == "not simulated"

    outcome = executor.apply(previewed.plan_id)
    assert outcome.to_dict()["applied"] == ["web.maintenance"] and not outcome.failed
    status, body, _ = fetch(site.nginx)
    assert status == 503 and "Site under maintenance" in body
    assert outcome.results[0].report["reload"]["how"] == "SIGHUP"

    audit = AuditLog(config.agent.state_dir, journal=False)
    verified = audit.verify()
    assert verified.ok, verified.reason
    records = [r for r in audit.read() if r.get("plan_id") == previewed.plan_id]
    assert [(r["event"], r.get("outcome")) for r in records] == [
        ("apply", None),
        ("outcome", "done"),
    ]
    assert records[0]["action"] == "web.maintenance"
    assert records[0]["request"] == "runbook disk-failure@1: maintenance"
    assert records[1]["report"]["flag"] == str(site.flag)

    report = executor.undo(previewed.plan_id)
    assert [a for a, _ in report.undone] == ["web.maintenance"] and not report.not_undone
    assert not site.flag.exists() and fetch(site.nginx)[0] == 200
    assert audit.verify().ok


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"state": "maybe"}, "state"),
        ({"state": None}, "state"),
        ({"flag": "www/maintenance.on"}, "flag"),
        ({"flag": "/etc/nginx/maintenance.on"}, "flag"),
        ({"flag": "/srv/www/main;tenance"}, "flag"),
        ({"flag": "/srv/../etc/maintenance.on"}, "flag"),
        ({"flag": 7}, "flag"),
        ({"service": "ng inx"}, "service"),
        ({"service": "-nginx"}, "service"),
        ({"service": "/run/nginx.pid\n"}, "service"),
        ({"service": "/run/../etc/nginx.pid"}, "service"),
    ],
)
def test_bad_arguments_are_refused_naming_the_key(
    tmp_path: Path, change: dict[str, Any], key: str
) -> None:
    flag = tmp_path / "maintenance.on"
    args = {"state": "on", "flag": str(flag), "service": "nginx", **change}
    action = get_action("web.maintenance")
    with pytest.raises(RequestError, match=rf"^{key}: "):
        action.check(args)
    with pytest.raises(RequestError, match=rf"^{key}: "):
        action.run(args, ctx_for(tmp_path))
    assert not flag.exists() and not (tmp_path / "state").exists()


@pytest.mark.parametrize("missing", ["flag", "service"])
def test_missing_arguments_are_refused(tmp_path: Path, missing: str) -> None:
    args = {"state": "on", "flag": str(tmp_path / "m.on"), "service": "nginx"}
    del args[missing]
    with pytest.raises(RequestError, match=rf"^{missing}: missing"):
        get_action("web.maintenance").check(args)


@pytest.mark.system
def test_bad_arguments_through_the_executor_change_nothing(site: Site, tmp_path: Path) -> None:
    executor = Executor(config_for(tmp_path, site))
    with pytest.raises(RequestError, match=r"^state: "):
        executor.preview(runbook_plan({**site.args("on"), "state": "up"}))
    assert not site.flag.exists() and fetch(site.nginx)[0] == 200
    assert not (tmp_path / "state" / "plans").exists() or not any(
        (tmp_path / "state" / "plans").iterdir()
    )


def test_policy_accepts_the_configured_flag_only_or_the_change_roots(tmp_path: Path) -> None:
    config = Config.from_text(
        json.dumps({"modules": {"runbooks": {"maintenance_flag": "/srv/www/maintenance.on"}}})
    )
    policy = Policy.load(config)

    def decide(**args: Any) -> tuple[str, tuple[str, ...]]:
        full = {"state": "on", "flag": "/srv/www/maintenance.on", "service": "nginx", **args}
        verdict = policy.decide(Step("web.maintenance", full))
        return verdict.decision, verdict.reasons

    assert decide()[0] == "confirm"  # strict sandbox: every change is confirmed
    assert decide(flag=str(tmp_path / "maintenance.on"))[0] == "confirm"  # /tmp: a change root
    decision, reasons = decide(flag="/srv/www/other.on")
    assert decision == "deny" and reasons == ("/srv/www/other.on: protected (below /)",)
    decision, reasons = decide(flag="/var/lib/hf-agent/maintenance.on")
    assert decision == "deny" and "protected" in reasons[0]
    decision, reasons = decide(service="dbus")
    assert decision == "deny" and "never acts on this unit" in reasons[0]
    assert decide(service="/run/nginx.pid")[0] == "confirm"
    permissive = policy.decide(
        Step("web.maintenance", {"state": "on", "flag": "/srv/www/maintenance.on"}),
        sandbox_level="permissive",
    )
    assert permissive.decision == "allow"


@pytest.mark.system
def test_a_server_that_is_not_running_leaves_the_flag_switch_alone(tmp_path: Path) -> None:
    action = get_action("web.maintenance")
    ctx = ctx_for(tmp_path)
    flag = tmp_path / "maintenance.on"
    pid_file = tmp_path / "nginx.pid"
    args = {"state": "on", "flag": str(flag), "service": str(pid_file)}

    result = action.run(args, ctx)  # no pid file: the server is not running
    assert flag.exists() and result.report["reload"]["how"] == "none"
    assert "does not exist" in result.report["reload"]["detail"]

    gone = subprocess.Popen(["true"])
    gone.wait()
    pid_file.write_text(f"{gone.pid}\n")
    result = action.run({**args, "state": "off"}, ctx)
    assert not flag.exists() and result.report["reload"]["how"] == "none"
    assert "is not running" in result.report["reload"]["detail"]

    # A pid file older than the process it names is stale: that process is not signalled.
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        pid_file.write_text(f"{sleeper.pid}\n")
        past = time.time() - 3600
        os.utime(pid_file, (past, past))
        result = action.run(args, ctx)
        assert result.report["reload"]["how"] == "none"
        assert "stale" in result.report["reload"]["detail"]
        assert sleeper.poll() is None  # SIGHUP would have ended it
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.system
def test_a_flag_path_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    from libhfagent._errors import ExecutionError

    action = get_action("web.maintenance")
    flag = tmp_path / "maintenance.on"
    flag.mkdir()
    args = {"state": "off", "flag": str(flag), "service": str(tmp_path / "nginx.pid")}
    with pytest.raises(ExecutionError, match="not a regular file"):
        action.run(args, ctx_for(tmp_path))
    assert flag.is_dir()
    missing = {**args, "state": "on", "flag": str(tmp_path / "no" / "maintenance.on")}
    with pytest.raises(ExecutionError, match="does not exist"):
        action.run(missing, ctx_for(tmp_path))


UNIT = """\
[Unit]
Description=hf-agent test web server

[Service]
ExecStart=/bin/sleep infinity
ExecReload=/bin/sh -c 'echo reloaded >> /run/hfweb.reloads'
"""


@pytest.fixture
def systemd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    from libhfagent.testing import SystemdNamespace

    if not SystemdNamespace.available():
        pytest.skip("a namespaced systemd cannot boot here (needs root and cgroup2)")
    with SystemdNamespace(tmp_path / "systemd") as sd:
        sd.write_file("/etc/systemd/system/hfweb.service", UNIT)
        sd.systemctl("daemon-reload")
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", sd.bus_address)
        yield sd


@pytest.mark.system
def test_a_unit_is_reloaded_through_systemd_when_it_is_active(systemd: Any, tmp_path: Path) -> None:
    action = get_action("web.maintenance")
    ctx = ctx_for(tmp_path)
    flag = tmp_path / "maintenance.on"
    args = {"state": "on", "flag": str(flag), "service": "hfweb"}
    assert action.touches(action.check(args)).units == ("hfweb.service",)

    inactive = action.run(args, ctx)
    assert flag.exists() and inactive.report["reload"]["how"] == "none"
    assert "inactive" in inactive.report["reload"]["detail"]

    systemd.systemctl("start", "hfweb.service")
    result = action.run({**args, "state": "off"}, ctx)
    assert not flag.exists()
    assert result.report["reload"] == {
        "service": "hfweb.service",
        "how": "systemd reload",
        "detail": "hfweb.service reloaded",
    }
    reloads = systemd.run(["cat", "/run/hfweb.reloads"]).stdout.split()
    assert reloads == ["reloaded"]
