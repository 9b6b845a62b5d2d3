"""Online log-template miner (prototype)."""

from __future__ import annotations

import hashlib
import re

import attrs

WILDCARD = "<*>"

_SUB = re.compile(
    r"""
      [A-Za-z][A-Za-z0-9+.\-]*://\S+                                  # URL
    | [\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+                                 # e-mail
    | (?<==)[^,;\s&)\]}>"']+                                          # key=value value
    | [0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}  # UUID
    | (?:[0-9a-fA-F]{2}[:\-]){5}[0-9a-fA-F]{2}                        # MAC
    | \d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?                            # IPv4[:port]
    | (?=[0-9a-fA-F:]*\d)(?:[0-9a-fA-F]{1,4})?(?::[0-9a-fA-F]{0,4}){2,7}  # IPv6 / time
    | [\w\-]+(?:\.[\w\-]+)+:\d{1,5}\b                                 # host:port
    | [\w\-]+(?:\.[\w\-]+){2,}                                        # dotted name
    | (?:~|\.{1,2})?/[\w.\-/@%+~:]*                                   # path
    | [A-Za-z]:\\\S*                                                  # Windows path
    | \b(?:[Tt]rue|[Ff]alse|TRUE|FALSE)\b                             # boolean
    | \b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun|Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec
         |UTC|GMT|EST|EDT|CST|CDT|MST|MDT|PST|PDT|CET|CEST|BST|JST)\b
    | (?<![\w.\-])(?![A-Za-z]{2,}\d(?![\w.\-]))[\w.\-]*\d[\w.\-]*  # anything with a digit
    """,
    re.VERBOSE,
)
_UNITS = frozenset(
    u + p
    for u in ("B", "KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB", "kB")
    for p in ("", ",", ")", ";", ".")
)


_EMPTY = {"()": "(<*>)", "[]": "[<*>]", "{}": "{<*>}", "''": "'<*>'", '""': '"<*>"'}


def _mask_token(token: str) -> str:
    empty = _EMPTY.get(token)
    if empty is not None:
        return empty
    return _SUB.sub(WILDCARD, token)


_NAME_INTRO = frozenset(("user", "for"))
_NON_LETTERS = re.compile(r"[^A-Za-z]+")


def _letters(token: str) -> str:
    return _NON_LETTERS.sub("", token)


@attrs.frozen
class Template:
    """A log template."""

    id: str
    pattern: str
    count: int


@attrs.frozen
class TemplateMatch:
    """What :meth:`TemplateMiner.add` found."""

    template: Template
    is_new: bool


@attrs.define
class _Cluster:
    id: str
    tokens: list[str]
    count: int


class TemplateMiner:
    """Online log-template miner."""

    def __init__(self, soft_ratio: float = 0.5, hard: int = 0) -> None:
        self._soft_ratio = soft_ratio
        self._hard = hard
        self._mask_cache: dict[str, str] = {}
        self._exact: dict[tuple[str, ...], _Cluster] = {}
        self._by_len: dict[int, list[_Cluster]] = {}
        self._ids: set[str] = set()

    def _mask(self, message: str) -> tuple[str, ...]:
        cache = self._mask_cache
        out = []
        prev_wild = False
        for tok in message.split():
            m = cache.get(tok)
            if m is None:
                m = _mask_token(tok)
                if len(cache) > 50000:
                    cache.clear()
                cache[tok] = m
            if prev_wild and m in _UNITS:
                m = WILDCARD
            prev_wild = m.endswith(WILDCARD)
            out.append(m)
        return tuple(out)

    def add(self, message: str) -> TemplateMatch:
        """Add a message."""
        tokens = self._mask(message)
        cluster = self._exact.get(tokens)
        is_new = False
        if cluster is None:
            cluster = self._search(tokens)
            if cluster is None:
                cluster = self._create(tokens)
                is_new = True
            else:
                self._exact[tokens] = cluster
        cluster.count += 1
        return TemplateMatch(Template(cluster.id, " ".join(cluster.tokens), cluster.count), is_new)

    def _search(self, tokens: tuple[str, ...]) -> _Cluster | None:
        n = len(tokens)
        if n == 0:
            return None
        best = None
        best_key = None
        for c in self._by_len.get(n, ()):
            a0 = c.tokens[0]
            if a0 != tokens[0] and (WILDCARD not in a0 or WILDCARD not in tokens[0]):
                continue
            hard = soft = same = 0
            prev = ""
            for a, b in zip(c.tokens, tokens):
                if a == b:
                    if a != WILDCARD:
                        same += 1
                elif a != WILDCARD:
                    if (WILDCARD in a and WILDCARD in b) or prev in _NAME_INTRO:
                        soft += 1
                    else:
                        hard += 1
                prev = b
            if hard > self._hard or (soft + hard) > self._soft_ratio * n:
                continue
            key = (hard, soft, -same)
            if best_key is None or key < best_key:
                best, best_key = c, key
        if best is None:
            return None
        for i, (a, b) in enumerate(zip(best.tokens, tokens)):
            if a != b:
                best.tokens[i] = WILDCARD
        return best

    def _create(self, tokens: tuple[str, ...]) -> _Cluster:
        pattern = " ".join(tokens)
        cid = hashlib.blake2b(pattern.encode(), digest_size=6).hexdigest()
        while cid in self._ids:
            cid = hashlib.blake2b(cid.encode(), digest_size=6).hexdigest()
        self._ids.add(cid)
        c = _Cluster(cid, list(tokens), 0)
        self._exact[tokens] = c
        self._by_len.setdefault(len(tokens), []).append(c)
        return c
