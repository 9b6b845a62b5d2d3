"""The lexicon/grammar layer: cue words per intent, and the entities each intent takes.

Pure: folded text in, scored intents and entities out.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from ._entities import find_paths, find_since, find_source, find_status

__all__ = ["entities_for", "score_intents"]

# Each cue is a regex on folded text with a weight; an intent's score is the sum of the
# weights of its cues found, capped at 1.
_CUES: dict[str, tuple[tuple[str, float], ...]] = {
    "logs.summarize": (
        (r"\b(?:logs?|journaux|journal|access\.log|error\.log|syslog|auth\.log)\b", 0.45),
        (
            r"\b(?:analys\w*|resum\w*|summar\w*|synthe\w*|rapport|report|examine\w*|inspect\w*)\b",
            0.3,
        ),
        (
            r"\b(?:erreurs?|errors?|requetes?|requests?|hits?|acces|access|visites?|trafic|traffic)\b",
            0.2,
        ),
        (r"(?<![\w.])[1-5]\d\d(?![\w.])", 0.15),
        (r"\b(?:nginx|apache2?|httpd)\b", 0.15),
        (r"\b(?:not found|introuvables?)\b", 0.15),
    ),
    "security.audit": (
        (r"\b(?:brute[- ]?force|force brute|bruteforce)\b", 0.6),
        (r"\b(?:tentatives?|attempts?|echecs?|echouee?s?|failed|failures?|ratee?s?)\b", 0.3),
        (
            r"\b(?:connexions?|connections?|logins?|authentifications?|authentications?|"
            r"identifications?|se connecter|connect|connecting|log in)\b",
            0.3,
        ),
        (
            r"\b(?:ssh|sshd|intrusions?|attaques?|attacks?|securite|security|pirates?|hackers?)\b",
            0.3,
        ),
    ),
    "system.status": (
        (r"\b(?:comment va|comment se porte|how is|how's|how are|hows)\b", 0.5),
        (r"\b(?:etat|sante|health|healthy|status|statut|overview|apercu|bilan)\b", 0.45),
        (r"\b(?:machine|serveur|server|systeme|system|host|hote|box)\b", 0.25),
        (r"\b(?:charge|load|uptime|cpu|memoire|memory|ram)\b", 0.2),
    ),
}
_COMPILED = {k: tuple((re.compile(p), w) for p, w in v) for k, v in _CUES.items()}

_METRICS = (
    ("cpu", r"\b(?:cpu|processeur|processor)\b"),
    ("memory", r"\b(?:memoire|memory|ram|swap)\b"),
    ("disk", r"\b(?:disques?|disks?|espace|space|stockage|storage)\b"),
    ("load", r"\b(?:charge|load|loadavg)\b"),
)


def score_intents(text: str) -> dict[str, float]:
    """Score each intent the grammar knows for a folded request, in [0, 1]."""
    scores: dict[str, float] = {}
    for intent, cues in _COMPILED.items():
        total = sum(w for rx, w in cues if rx.search(text))
        scores[intent] = min(total, 1.0)
    return scores


def entities_for(intent: str, text: str, raw: str, now: dt.datetime) -> dict[str, Any]:
    """Extract the entities an intent takes (DESIGN.md's table).

    Args:
        intent: The intent id.
        text: The folded request.
        raw: The request as typed (paths keep their case).
        now: The current time in the agent's time zone.
    """
    out: dict[str, Any] = {}
    if intent == "logs.summarize":
        paths = [p for p in find_paths(raw) if p != "/"]
        source = paths[0] if paths else find_source(text)
        if source is not None:
            out["source"] = source
        since = find_since(text, now)
        if since is not None:
            out["since"] = since
        status = find_status(text)
        if status is not None:
            out["status"] = status
    elif intent == "security.audit":
        since = find_since(text, now)
        if since is not None:
            out["since"] = since
    elif intent == "system.status":
        for name, pattern in _METRICS:
            if re.search(pattern, text):
                out["metric"] = name
                break
    return out
