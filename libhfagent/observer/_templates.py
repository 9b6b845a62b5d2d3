"""Online log-template miner (prototype)."""

from __future__ import annotations

import hashlib
import re

import attrs

WILDCARD = "<*>"

_SUB = re.compile(
    r"""
      (?<==)(?:"[^"]*+"|'[^']*+'|[^,;\s&)\]}>"']++)                   # key=value value
    | (?<![\w.\-])
      (?:
        [A-Za-z][A-Za-z0-9+.\-]*+://\S++                              # URL
      | [\w.+\-]++@[\w\-]++(?:\.[\w\-]++)++                           # e-mail
      | [0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}  # UUID
      | (?:[0-9a-fA-F]{2}[:\-]){5}[0-9a-fA-F]{2}                      # MAC
      | \d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?                          # IPv4[:port]
      | (?=[0-9a-fA-F:]*\d)(?:[0-9a-fA-F]{1,4})?(?::[0-9a-fA-F]{0,4}){2,7}  # IPv6 / time
      | [\w\-]++(?:\.[\w\-]++)++:\d{1,5}\b                            # host:port
      | [\w\-]++(?:\.[\w\-]++){2,}+                                   # dotted name
      | (?:~|\.{1,2})?/[\w.\-/@%+~:]*+                                # path
      | [A-Za-z]:\\\S*+                                               # Windows path
      | (?:[Tt]rue|[Ff]alse|TRUE|FALSE)\b                             # boolean
      | (?:Mon|Tue|Wed|Thu|Fri|Sat|Sun|Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec
         |UTC|GMT|EST|EDT|CST|CDT|MST|MDT|PST|PDT|CET|CEST|BST|JST)\b
      | (?![A-Za-z]{2,}\d(?![\w.\-]))(?=[\w.\-]*?\d)[\w.\-]++         # anything with a digit
      )
    """,
    re.VERBOSE,
)
_UNITS = frozenset(
    u + p
    for u in ("B", "KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB", "kB", "ms", "sec", "secs")
    for p in ("", ",", ")", ";", ".")
)


_EMPTY = {"()": "(<*>)", "[]": "[<*>]", "{}": "{<*>}", "''": "'<*>'", '""': '"<*>"'}


_EDGE = "()[]{}<>'\",;:.!?"
_WORD_VARIABLES = frozenset(
    "true false True False TRUE FALSE Mon Tue Wed Thu Fri Sat Sun Jan Feb Mar Apr May Jun Jul"
    " Aug Sep Oct Nov Dec UTC GMT EST EDT CST CDT MST MDT PST PDT CET CEST BST JST".split()
)


_SHORT_NAME = re.compile(r"[A-Za-z]{2,}\d")


def _mask_token(token: str) -> str:
    if token.isdigit():
        return WILDCARD
    core = token.strip(_EDGE)
    if core.isalpha():
        if core in _WORD_VARIABLES:
            return token.replace(core, WILDCARD, 1)
        return token
    if not core:
        return _EMPTY.get(token, token)
    plain = core.replace("_", "").replace("-", "").replace(".", "")
    if plain.isalnum():
        # one run of [\w.-]: a variable when it has a digit or is a dotted name
        if plain.isalpha():
            if core.count(".") < 2:
                return token
        elif _SHORT_NAME.fullmatch(core):
            return token
        lead = len(token) - len(token.lstrip(_EDGE))
        return token[:lead] + WILDCARD + token[lead + len(core) :]
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


def _skeleton(tokens: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(t for t in tokens if WILDCARD not in t or _letters(t))


def _is_anchor(t: str) -> bool:
    return WILDCARD not in t or bool(_letters(t))


class TemplateMiner:
    """Online log-template miner."""

    def __init__(self, soft_ratio: float = 0.5, hard: int = 0) -> None:
        self._soft_ratio = soft_ratio
        self._hard = hard
        self._mask_cache: dict[str, str] = {}
        self._exact: dict[tuple[str, ...], _Cluster] = {}
        self._by_len: dict[int, list[_Cluster]] = {}
        self._by_skeleton: dict[tuple[str, ...], _Cluster] = {}
        self._ids: set[str] = set()

    def _mask(self, message: str) -> tuple[str, ...]:
        get = self._mask_cache.get
        miss = self._mask_miss
        out = [get(t) or miss(t) for t in message.split()]
        if not _UNITS.isdisjoint(out):
            for i in range(1, len(out)):
                if out[i] in _UNITS and out[i - 1].endswith(WILDCARD):
                    out[i] = WILDCARD
        return tuple(out)

    def _mask_miss(self, token: str) -> str:
        m = _mask_token(token)
        cache = self._mask_cache
        if len(cache) >= 50000:
            cache.clear()
        cache[token] = m
        return m

    def add(self, message: str) -> TemplateMatch:
        """Add a message."""
        tokens = self._mask(message)
        cluster = self._exact.get(tokens)
        is_new = False
        if cluster is None:
            cluster = self._search(tokens)
            if cluster is None:
                cluster = self._search_skeleton(tokens)
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
        changed = False
        for i, (a, b) in enumerate(zip(best.tokens, tokens)):
            if a != b:
                best.tokens[i] = WILDCARD
                changed = True
        if changed:
            self._by_skeleton.setdefault(_skeleton(best.tokens), best)
        return best

    def _search_skeleton(self, tokens: tuple[str, ...]) -> _Cluster | None:
        skel = _skeleton(tokens)
        if not skel:
            return None
        c = self._by_skeleton.get(skel)
        if c is None:
            return None
        # align on anchors; collapse differing segments into one wildcard
        old = c.tokens
        out: list[str] = []
        i = j = 0
        while True:
            si = i
            while i < len(old) and not _is_anchor(old[i]):
                i += 1
            sj = j
            while j < len(tokens) and not _is_anchor(tokens[j]):
                j += 1
            seg_a, seg_b = old[si:i], list(tokens[sj:j])
            if seg_a == seg_b:
                out.extend(seg_a)
            elif seg_a == [WILDCARD]:
                out.append(WILDCARD)
            else:
                out.append(WILDCARD)
            if i >= len(old) or j >= len(tokens):
                break
            a, b = old[i], tokens[j]
            out.append(a if a == b else WILDCARD)
            i += 1
            j += 1
        if len(out) != len(old):
            self._by_len[len(old)].remove(c)
            self._by_len.setdefault(len(out), []).append(c)
        c.tokens = out
        return c

    def _create(self, tokens: tuple[str, ...]) -> _Cluster:
        pattern = " ".join(tokens)
        cid = hashlib.blake2b(pattern.encode(), digest_size=6).hexdigest()
        while cid in self._ids:
            cid = hashlib.blake2b(cid.encode(), digest_size=6).hexdigest()
        self._ids.add(cid)
        c = _Cluster(cid, list(tokens), 0)
        self._exact[tokens] = c
        self._by_len.setdefault(len(tokens), []).append(c)
        self._by_skeleton.setdefault(_skeleton(tokens), c)
        return c
