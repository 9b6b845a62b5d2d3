"""Runbooks: the shipped files load; triggers match; steps run in order with approvals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from libhfagent import ConfigError, ExecutionError
from libhfagent.daemon._runbooks import load_runbooks, parse_runbook, resolve, run_runbook


def shipped() -> dict[str, Any]:
    return {r.name: r for r in load_runbooks()}


def test_the_four_shipped_runbooks_load_and_match_their_signals() -> None:
    books = shipped()
    assert set(books) == {"disk-failure", "ssh-bruteforce", "disk-full", "security-updates"}
    assert books["disk-failure"].matches("disk_risk", "disk:sda:critical")
    assert not books["disk-failure"].matches("disk_risk", "disk:sda:warning")
    assert books["ssh-bruteforce"].matches("brute_force", "ssh:203.0.113.9")
    assert books["disk-full"].matches("metric_excursion", "metric:disk_space{mount=/var}:high")
    assert all(b.title["fr"] and b.title["en"] for b in books.values())


def test_disk_failure_runs_maintenance_backup_alert_with_resolved_arguments() -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(name: str) -> Any:
        def step(args: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
            calls.append((name, args))
            return {"ok": True}

        return step

    context = {
        "signal": {"kind": "disk_risk", "key": "disk:sda:critical", "fields": {"disk": "sda"}},
        "settings": {
            "backup_paths": ["/srv/data"],
            "backup_destination": "/mnt/backup",
            "maintenance_flag": "/var/www/maintenance.on",
        },
    }
    actions = {name: record(name) for name in ("web.maintenance", "backup.sync", "notify")}
    run = run_runbook(shipped()["disk-failure"], context, actions, interactive=True)
    assert run.status == "done" and run.runbook == "disk-failure@1"
    assert [c[0] for c in calls] == ["web.maintenance", "backup.sync", "notify"]
    assert calls[1][1] == {"sources": ["/srv/data"], "destination": "/mnt/backup"}
    assert calls[2][1]["disk"] == "sda"


def test_a_step_needing_approval_waits_in_interactive_mode_and_failures_stop_the_run() -> None:
    book = shipped()["ssh-bruteforce"]
    context = {
        "signal": {"fields": {"ip": "203.0.113.9", "failures": 5}},
        "settings": {"ban_time": 600},
    }
    done: list[str] = []
    actions = {
        "notify": lambda args, ctx: done.append("notify"),
        "firewall.ban": lambda args, ctx: done.append(f"ban {args['ip']} {args['seconds']}"),
    }
    run = run_runbook(book, context, actions, interactive=True)
    assert run.status == "pending" and done == ["notify"]
    assert run.results[-1].args == {"ip": "203.0.113.9", "seconds": 600}
    run = run_runbook(book, context, actions, interactive=True, approved=["ban"])
    assert run.status == "done" and done[-1] == "ban 203.0.113.9 600"
    # No ban time configured: the ban step is skipped.
    run = run_runbook(book, {**context, "settings": {"ban_time": 0}}, actions, interactive=False)
    assert [r.status for r in run.results] == ["done", "skipped"]

    def broken(args: dict[str, Any], ctx: dict[str, Any]) -> None:
        raise ExecutionError("the firewall said no")

    run = run_runbook(book, context, {**actions, "firewall.ban": broken}, interactive=False)
    assert run.status == "failed" and run.results[-1].output == "the firewall said no"
    run = run_runbook(book, context, {"notify": actions["notify"]}, interactive=False)
    assert run.status == "failed" and "unknown action" in run.results[-1].output


def test_references_keep_types_and_interpolate_in_text() -> None:
    context = {"a": {"b": [1, 2]}, "n": 3}
    assert resolve("${a.b}", context) == [1, 2]
    assert resolve("x ${n} y ${missing}", context) == "x 3 y "
    assert resolve({"k": ["${a.b.1}"]}, context) == {"k": [2]}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "line"),
        ('{"name": "X", "version": 1}', r"name: expected a lowercase name"),
        (
            '{"name": "x", "version": 1, "trigger": {"signal": "s"},\n "steps": [{"id": "a"}]}',
            r"steps\[0\]\.action: expected an action id \(line 2\)",
        ),
        (
            '{"name": "x", "version": 1, "trigger": {"signal": "s"}, "steps": '
            '[{"id": "a", "action": "b"}, {"id": "a", "action": "c"}]}',
            r"steps\[1\]\.id: expected a unique",
        ),
        ('{"name": "x", "version": 1, "trigger": {"signal": "s"}, "steps": [], "oops": 1}', "oops"),
    ],
)
def test_bad_runbooks_name_the_key_and_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_runbook(text, "/etc/hf-agent/runbooks.d/x.json")


def test_a_local_runbook_replaces_a_shipped_one_of_the_same_name(tmp_path: Path) -> None:
    (tmp_path / "mine.json").write_text(
        '{"name": "disk-full", "version": 7, "trigger": {"signal": "metric_excursion", '
        '"key": "*"}, "steps": [{"id": "alert", "action": "notify"}]}'
    )
    books = {b.name: b for b in load_runbooks([tmp_path, tmp_path / "missing"])}
    assert books["disk-full"].version == 7 and len(books) == 4
