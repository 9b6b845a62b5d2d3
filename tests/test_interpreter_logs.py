"""The log-summary and health requests, in French and English."""

from __future__ import annotations

import datetime as dt

import pytest

from libhfagent.config import Config
from libhfagent.interpreter import Interpreter, detect_language
from libhfagent.interpreter._entities import find_since
from libhfagent.interpreter._text import fold

NOW = dt.datetime(2026, 11, 25, 14, 30, tzinfo=dt.UTC)


@pytest.fixture
def interpreter() -> Interpreter:
    return Interpreter(Config.default(env={}), clock=lambda: NOW)


@pytest.mark.parametrize(
    ("request_", "lang", "entities"),
    [
        (
            "Analyse les logs de Nginx des dernières 24 heures et résume les erreurs 404",
            "fr",
            {"source": "nginx", "since": 86400, "status": 404},
        ),
        (
            "Analyze the Nginx logs of the last 24 hours and summarize the 404 errors",
            "en",
            {"source": "nginx", "since": 86400, "status": 404},
        ),
        (
            "analyse les logs nginx des dernieres 24 heures, resume les erreurs 404",
            "fr",
            {"source": "nginx", "since": 86400, "status": 404},
        ),
        (
            "résume les erreurs 500 d'apache des 7 derniers jours",
            "fr",
            {"source": "apache", "since": 604800, "status": 500},
        ),
        (
            "summarize the nginx logs from the last 2 weeks",
            "en",
            {"source": "nginx", "since": 1209600},
        ),
        (
            "show me the not found errors in the nginx logs over the past 48h",
            "en",
            {"source": "nginx", "since": 172800, "status": 404},
        ),
        (
            "résume les erreurs 404 de /var/log/nginx/site.access.log depuis hier",
            "fr",
            {"source": "/var/log/nginx/site.access.log", "since": 138600, "status": 404},
        ),
    ],
)
def test_log_requests(
    interpreter: Interpreter, request_: str, lang: str, entities: dict[str, object]
) -> None:
    intent = interpreter.interpret(request_)
    assert intent.intent == "logs.summarize"
    assert intent.lang == lang
    assert dict(intent.entities) == entities
    assert intent.confidence >= 0.5
    plan = interpreter.plan(intent)
    assert [s.action for s in plan.steps] == ["logs.summarize"]
    assert not plan.steps[0].changes_system


@pytest.mark.parametrize(
    ("request_", "lang", "metric"),
    [
        ("Comment va cette machine ?", "fr", None),
        ("how is this server doing?", "en", None),
        ("état de la mémoire du serveur", "fr", "memory"),
        ("system health overview", "en", None),
    ],
)
def test_health_requests(
    interpreter: Interpreter, request_: str, lang: str, metric: str | None
) -> None:
    intent = interpreter.interpret(request_)
    assert (intent.intent, intent.lang, intent.entities.get("metric")) == (
        "system.status",
        lang,
        metric,
    )


@pytest.mark.parametrize(
    "request_", ["", "   ", "fais-moi un café", "what's the weather in Paris", "éè", "404"]
)
def test_out_of_scope_is_unknown_with_help(interpreter: Interpreter, request_: str) -> None:
    intent = interpreter.interpret(request_)
    assert intent.intent == "unknown"
    assert intent.message
    assert interpreter.plan(intent).steps == ()


def test_unknown_message_in_the_request_language(interpreter: Interpreter) -> None:
    assert "Je n’ai pas compris" in interpreter.interpret("fais-moi un café s'il te plaît").message
    assert "I did not understand" in interpreter.interpret("make me a coffee please").message


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("des dernieres 24 heures", 86400),
        ("la derniere heure", 3600),
        ("last hour", 3600),
        ("7 derniers jours", 604800),
        ("last 2 weeks", 1209600),
        ("48h", 172800),
        ("depuis 3 jours", 259200),
        ("past 30 minutes", 1800),
        ("aujourd'hui", 52200),
        ("today", 52200),
        ("depuis hier", 138600),
        ("cette semaine", 2 * 86400 + 14 * 3600 + 1800),
        ("rien", None),
        ("500 Mo", None),
        ("at 2am", None),
    ],
)
def test_durations(text: str, seconds: int | None) -> None:
    # NOW is Wednesday 14:30: "this week" started on Monday 00:00, 2 days 14.5 hours ago.
    assert find_since(fold(text), NOW) == seconds


def test_language_detection() -> None:
    assert detect_language("résume les erreurs") == "fr"
    assert detect_language("summarize the errors") == "en"
    assert detect_language("nginx 404", default="en") == "en"
