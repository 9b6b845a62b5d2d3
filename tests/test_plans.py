"""Plans: each intent's typed steps (ACTIONS.md), and no changing plan from a vague request."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from conftest import CliRunner

from libhfagent.config import Config
from libhfagent.interpreter import Interpreter

NOW = dt.datetime(2026, 11, 25, 14, 30, tzinfo=dt.UTC)
DAY = 86400


@pytest.fixture(scope="module")
def interpreter() -> Interpreter:
    # The grammar alone: plans do not depend on the model.
    return Interpreter(Config.default(env={}), clock=lambda: NOW, encoder=None, units=None)


def steps(interpreter: Interpreter, request: str) -> list[tuple[str, dict[str, Any], bool]]:
    plan = interpreter.plan(interpreter.interpret(request))
    assert all(s.decision is None for s in plan.steps)
    return [(s.action, dict(s.args), s.changes_system) for s in plan.steps]


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (
            "résume les erreurs 404 de nginx des dernières 24 heures",
            [("logs.summarize", {"source": "nginx", "since": DAY, "status": 404}, False)],
        ),
        ("show failed ssh logins of the last hour", [("security.audit", {"since": 3600}, False)]),
        ("état de la mémoire du serveur", [("system.status", {"metric": "memory"}, False)]),
        ("combien d'espace reste-t-il sur /var", [("disk.usage", {"path": "/var"}, False)]),
        ("how much disk space is left", [("disk.usage", {"path": "/"}, False)]),
        (
            "les 10 plus gros fichiers de plus de 1 Go dans /home",
            [("files.find", {"path": "/home", "size": 10**9, "count": 10}, False)],
        ),
        ("SMART status of /dev/sda", [("disk.health", {"device": "/dev/sda"}, False)]),
        ("qui mange tout le CPU", [("process.top", {"metric": "cpu", "count": 10}, False)]),
        ("what is listening on port 443", [("network.listening", {"port": 443}, False)]),
        ("is apache running", [("service.status", {"service": "apache2"}, False)]),
        ("give me right-sizing advice", [("resources.optimize", {}, False)]),
        ("y a-t-il des mises à jour ?", [("packages.update", {"mode": "list"}, False)]),
        (
            "installe les mises à jour de sécurité",
            [("packages.update", {"mode": "security"}, True)],
        ),
        ("upgrade all packages", [("packages.update", {"mode": "all"}, True)]),
        ("redémarre postgres", [("service.restart", {"service": "postgresql"}, True)]),
        ("start the docker service", [("service.start", {"service": "docker"}, True)]),
        ("arrête apache", [("service.stop", {"service": "apache2"}, True)]),
        (
            "sauvegarde /etc vers /mnt/backup",
            [("backup.sync", {"source": "/etc", "destination": "/mnt/backup"}, True)],
        ),
        (
            "every sunday at 3am restart nginx",
            [("schedule.add", {"cron": "0 3 * * 0", "task": "restart nginx"}, True)],
        ),
        (
            "supprime les logs de plus de 30 jours dans /var/log",
            [
                ("journal.vacuum", {"older_than": 30 * DAY}, True),
                (
                    "files.delete",
                    {
                        "paths": ["/var/log"],
                        "patterns": ["*.gz", "*.[0-9]", "*.old"],
                        "older_than": 30 * DAY,
                    },
                    True,
                ),
            ],
        ),
        (
            "nettoie /tmp et /var/tmp",
            [("files.delete", {"paths": ["/tmp", "/var/tmp"], "older_than": 7 * DAY}, True)],
        ),
        ("vide le cache apt", [("apt.clean", {}, True)]),
        (
            "compress logs older than 14 days in /var/log/apache2",
            [("files.compress", {"paths": ["/var/log/apache2"], "older_than": 14 * DAY}, True)],
        ),
        (
            "mets en quarantaine les fichiers de plus de 60 jours dans /srv/uploads",
            [("files.quarantine", {"paths": ["/srv/uploads"], "older_than": 60 * DAY}, True)],
        ),
        (
            "reduce the systemd journal to 500 MB",
            [
                ("journal.vacuum", {"max_size": 500_000_000}, True),
                (
                    "files.delete",
                    {
                        "paths": ["/var/log"],
                        "patterns": ["*.gz", "*.[0-9]", "*.old"],
                        "older_than": 30 * DAY,
                    },
                    True,
                ),
            ],
        ),
    ],
)
def test_plan_steps(
    interpreter: Interpreter, request_: str, expected: list[tuple[str, dict[str, Any], bool]]
) -> None:
    assert steps(interpreter, request_) == expected


def test_free_space_without_target_cleans_logs_and_tmp(interpreter: Interpreter) -> None:
    plan = steps(interpreter, "free up some disk space")
    assert [a for a, _, _ in plan] == ["journal.vacuum", "files.delete", "files.delete"]
    assert plan[2][1] == {"paths": ["/tmp"], "older_than": 7 * DAY}
    assert all(changes for _, _, changes in plan)


@pytest.mark.parametrize(
    "request_",
    [
        "supprime tout",
        "delete everything",
        "fais le ménage",
        "clean up",
        "rm -rf /",
        "efface /",
        "redémarre le service",
        "restart",
        "sauvegarde /etc",
        "format the disk",
        "wipe the server",
        "dd if=/dev/zero of=/dev/sda",
        "every day at 3am do something nice",
    ],
)
def test_vague_or_dangerous_requests_never_plan_a_change(
    interpreter: Interpreter, request_: str
) -> None:
    intent = interpreter.interpret(request_)
    assert intent.intent == "unknown"
    assert intent.message
    assert interpreter.plan(intent).steps == ()


def test_clarification_in_the_request_language(interpreter: Interpreter) -> None:
    assert "would change the machine" in interpreter.interpret("restart the service").message
    # French text comes from the catalogue; the message is never empty.
    assert interpreter.interpret("redémarre le service").message


def test_plan_json_through_the_cli(cli: CliRunner, write_config: Any) -> None:
    conf = write_config({})
    proc = cli("--config", str(conf), "plan", "--json", "every sunday at 3am restart nginx")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["intent"] == "schedule.add"
    assert plan["entities"] == {"cron": "0 3 * * 0", "task": "restart nginx"}
    assert [s["action"] for s in plan["steps"]] == ["schedule.add"]
    assert plan["steps"][0]["decision"] in ("allow", "confirm", "deny")
    vague = cli("--config", str(conf), "plan", "--json", "supprime tout")
    assert json.loads(vague.stdout)["steps"] == []
