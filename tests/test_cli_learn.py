"""``hf-agent suggestions`` and ``hf-agent resources`` through the real CLI."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import CliRunner
from test_learner import memory_then_restart

from libhfagent import Config, Learner
from libhfagent.observer import Metric


def test_suggestions_list_and_reply(
    cli: CliRunner, write_config: Callable[[dict[str, Any]], Path]
) -> None:
    path = write_config({})
    learner = Learner.open(Config.load(path))
    memory_then_restart(learner, 10)
    learner.close()
    done = cli("--config", str(path), "suggestions", "--json", "--lang", "fr")
    assert done.returncode == 0, done.stderr
    (suggestion,) = json.loads(done.stdout)["suggestions"]
    assert suggestion["action"] == "service.restart:apache2" and suggestion["status"] == "proposed"
    assert "redémarré" in suggestion["text"] and suggestion["support"] >= 3
    done = cli("--config", str(path), "suggestions", suggestion["id"], "reject")
    assert done.returncode == 0 and "rejected" in done.stdout
    done = cli("--config", str(path), "suggestions", "--json", "--status", "rejected")
    assert [s["id"] for s in json.loads(done.stdout)["suggestions"]] == [suggestion["id"]]
    done = cli("--config", str(path), "suggestions", "nope", "accept")
    assert done.returncode == 2 and "no suggestion with id 'nope'" in done.stderr
    done = cli("--config", str(path), "suggestions", suggestion["id"], "perhaps")
    assert done.returncode == 2 and "expected one of" in done.stderr


def test_resources_advice_with_and_without_history(
    cli: CliRunner, write_config: Callable[[dict[str, Any]], Path]
) -> None:
    path = write_config({})
    done = cli("--config", str(path), "resources", "--lang", "en")
    assert done.returncode == 0 and "Not enough usage history" in done.stdout
    learner = Learner.open(Config.load(path))
    rng = random.Random(3)
    monday = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    for step in range(15 * 24 * 6):
        t = monday + dt.timedelta(minutes=10 * step)
        busy = t.weekday() < 5 and 10 <= t.hour < 18
        learner.observe(Metric("cpu_load", (80 if busy else 5) + rng.uniform(-3, 3), t))
        learner.observe(Metric("memory_usage", (60 if busy else 20) + rng.uniform(-2, 2), t))
    learner.close()
    size = ("--vcpus", "4", "--memory-gib", "16")
    done = cli("--config", str(path), "resources", "--json", "--lang", "fr", *size)
    assert done.returncode == 0, done.stderr
    advice = json.loads(done.stdout)
    assert advice["enough_history"] and len(advice["periods"]) == 2
    assert advice["periods"][0]["windows"] == [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "from": 10, "to": 18}
    ]
    assert advice["current"]["name"] == "xl"
    assert advice["saving"] == round(1 - (40 * 32 + 128 * 8) / (168 * 16), 4)
    assert "lun–ven 10h–18h" in advice["text"] and "Économie estimée" in advice["text"]
    done = cli("--config", str(path), "resources", "--target", "2")
    assert done.returncode == 2 and "--target" in done.stderr
