"""Text normalisation and language detection for requests."""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

__all__ = ["detect_language", "fold"]

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})


def fold(text: str) -> str:
    """Lower-case, strip accents and unify apostrophes and spaces.

    ``"Résume les Erreurs d’hier"`` becomes ``"resume les erreurs d'hier"``.
    """
    decomposed = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", stripped.casefold()).strip()


_FR = frozenset(
    [
        "le",
        "la",
        "les",
        "des",
        "du",
        "de",
        "d",
        "l",
        "un",
        "une",
        "et",
        "ou",
        "sur",
        "pour",
        "dans",
        "depuis",
        "avec",
        "sans",
        "au",
        "aux",
        "ce",
        "cet",
        "cette",
        "ces",
        "qui",
        "quoi",
        "quel",
        "quelle",
        "quels",
        "quelles",
        "est",
        "sont",
        "fait",
        "mon",
        "ma",
        "mes",
        "moi",
        "je",
        "tu",
        "il",
        "on",
        "nous",
        "vous",
        "dernieres",
        "derniers",
        "derniere",
        "dernier",
        "heures",
        "heure",
        "jours",
        "jour",
        "semaine",
        "semaines",
        "mois",
        "hier",
        "aujourd'hui",
        "analyse",
        "analyser",
        "resume",
        "resumer",
        "erreurs",
        "erreur",
        "journaux",
        "journal",
        "montre",
        "affiche",
        "donne",
        "combien",
        "machine",
        "serveur",
        "etat",
        "sante",
        "espace",
        "disque",
        "libere",
        "redemarre",
        "redemarrer",
        "demarre",
        "arrete",
        "chaque",
        "tous",
        "toutes",
        "matin",
        "soir",
        "minuit",
        "fichiers",
        "introuvables",
    ]
)
_EN = frozenset(
    [
        "the",
        "a",
        "an",
        "and",
        "or",
        "on",
        "for",
        "in",
        "of",
        "with",
        "without",
        "to",
        "from",
        "since",
        "last",
        "past",
        "hours",
        "hour",
        "days",
        "day",
        "week",
        "weeks",
        "month",
        "yesterday",
        "today",
        "summarize",
        "summarise",
        "analyze",
        "show",
        "give",
        "me",
        "my",
        "how",
        "many",
        "what",
        "which",
        "who",
        "is",
        "are",
        "errors",
        "error",
        "logs",
        "server",
        "machine",
        "health",
        "status",
        "free",
        "space",
        "disk",
        "restart",
        "start",
        "stop",
        "every",
        "each",
        "at",
        "am",
        "pm",
        "files",
        "not",
        "found",
    ]
)


def detect_language(text: str, default: Literal["fr", "en"] = "fr") -> Literal["fr", "en"]:
    """Guess whether a request is French or English.

    Accented letters and French function words count for French, English
    function words for English; a tie gives ``default``.
    """
    fr = sum(1 for c in text if c in "éèêàâùûçôîïëœÉÈÊÀÇ") * 2
    en = 0
    for word in re.findall(r"[a-z']+", fold(text)):
        parts = word.split("'")
        for part in parts:
            if part in _FR:
                fr += 1
            if part in _EN:
                en += 1
        if len(parts) > 1 and parts[0] in ("d", "l", "qu", "j", "n", "s"):
            fr += 1
    if fr == en:
        return default
    return "fr" if fr > en else "en"
