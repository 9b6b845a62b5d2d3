"""Online log-template mining: messages in, stable templates out.

:class:`TemplateMiner` turns free-text log messages, one at a time, into
templates such as ``Failed password for <*> from <*> port <*> ssh2``. It is
pure: it takes strings and returns values, and its whole state is a
JSON-serialisable dictionary (:meth:`TemplateMiner.to_state`,
:meth:`TemplateMiner.from_state`). One configuration serves every kind of log.

How a message is mined:

1. **Masking** (:func:`mask_token`). The message is split on whitespace and
   the obviously variable parts of each token become ``<*>``: numbers, IPv4
   and IPv6 addresses with or without a port, ``host:port``, hexadecimal,
   UUIDs, MAC and PCI addresses, dates, times, day, month and time-zone
   names, paths (``/var/log``, ``a/b/c``, ``C:\\x``), URLs, e-mail
   addresses, dotted names (``proxy.example.org``, ``org.apache.Foo``),
   booleans, quoted words, the value of ``key=value``, and any run of word
   characters holding a digit (``blk_-1608``, ``12ms``, ``attempt_01``).
   Short names made of letters and one digit (``eth0``, ``ssh2``, ``IPv6``)
   stay, and so does every other word. A size or duration unit right after a
   variable (``12 KB``, ``3 sec``) is a variable too.
2. **Exact match.** The masked token sequence is looked up among the
   sequences already seen; most messages stop here.
3. **Same-shape match.** Otherwise the templates with as many tokens and the
   same first token are compared position by position. A template matches
   when each of its constant words is in the message at the same place,
   except that two partly masked tokens (``rhost=<*>`` and ``<*>``, or
   ``(<*>)`` and ``LOCAL(<*>)``, but not ``(uid=<*>)`` and
   ``LOGIN(uid=<*>)``) and a word right after ``user`` or ``for`` (user,
   host and service names) may differ, at no more than half the positions.
   The closest template wins and its differing positions become ``<*>``: the
   template *generalises*. A template of variables only and a message with a
   word never match, and no template generalises into variables only.
4. **Variable-length match.** Otherwise the template with the same sequence
   of constant words (the *skeleton*: the tokens that hold a letter outside
   their masked parts) is chosen, whatever the masked tokens between those
   words: ``(1.2 KB)`` or nothing, a list of any length. Each differing
   stretch becomes one ``<*>``.
5. Otherwise the message starts a new template. A word that differs is a
   different event (``session opened`` and ``session closed``), until a word
   proves variable: when the message differs at one and the same word from
   three templates that agree everywhere else, the new template has ``<*>``
   there, and it takes the next values of that word (the three earlier
   templates keep theirs).

Ids are content-derived: a template's id is a hash of the masked message that
created it, so two miners fed the same first message of an event agree on its
id. The id never changes afterwards, even when the pattern generalises, and a
message gets the same id after :meth:`~TemplateMiner.to_state` /
:meth:`~TemplateMiner.from_state` as before.

Memory is bounded: at most ``max_templates`` templates (when a new one would
exceed the cap, the rarest tenth, lowest count first and oldest first among
equals, is dropped; a dropped template that comes back is new again), the
token and sequence caches are emptied when they reach their caps (32,768 and
16,384 entries), one message counts at most :data:`MAX_TOKENS` tokens (the
rest becomes one ``<*>``) and a token longer than :data:`MAX_TOKEN_LENGTH`
characters is a variable.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .._errors import InvalidInputError

__all__ = ["MAX_TOKENS", "MAX_TOKEN_LENGTH", "WILDCARD", "Template", "TemplateMiner", "mask_token"]

WILDCARD = "<*>"
"""The mark of a variable in a template pattern."""

MAX_TOKENS = 256
"""Tokens of one message beyond this count are masked as one ``<*>``."""

MAX_TOKEN_LENGTH = 256
"""A token longer than this is a variable."""

_STATE_FORMAT = "libhfagent.template-miner"
_STATE_VERSION = 1
_TOKEN_CACHE_SIZE = 32_768
_SEQUENCE_CACHE_SIZE = 16_384

# Sub-token variables, tried where a run of [\w.-] characters starts (or after
# "=" for a value). Possessive quantifiers keep the scan linear.
_VARIABLES = re.compile(
    r"""
      (?<==)(?:"[^"]*+"|'[^']*+'|[^,;\s&)\]}>"'=]++)                    # key=value value
    | \\[^\s'"\\]*+(?:\\[^\s'"\\]*+)++                            # \\server\share, \\?\C:\x
    | (?<![\w.\-])(?=[\w.~/+:\-])
      (?:
        [A-Za-z][A-Za-z0-9+.\-]*+://\S++                                # URL
      | [\w.+\-]++@[\w\-]++(?:\.[\w\-]++)++                             # e-mail
      | [0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}  # UUID
      | (?:[0-9a-fA-F]{2}[:\-]){5}[0-9a-fA-F]{2}                        # MAC
      | \d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:Z|[+-]\d\d:?\d\d)?  # ISO 8601
      | \d{1,2}:\d\d:\d\d(?:[.,]\d+)?                                  # time
      | \d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?                            # IPv4[:port]
      | (?=[0-9a-fA-F:]*\d)(?:[0-9a-fA-F]{1,4})?(?::[0-9a-fA-F]{0,4}){2,7}(?:\.[0-9a-fA-F]++)*+
                                                                        # IPv6, PCI address
      | [\w\-]++(?:\.[\w\-]++)++:\d{1,5}\b                              # host:port
      | [\w\-]++(?:\.[\w\-]++){2,}+                                     # dotted name
      | (?:~|\.{1,2})?/[\w.\-/@%+~:]*+                                  # path
      | [\w.\-~]++(?:/[\w.\-@%+~:]*+){2,}+                              # relative path
      | [A-Za-z]:\\\S*+                                                 # Windows path
      | (?:[Tt]rue|[Ff]alse|TRUE|FALSE)\b                               # boolean
      | (?:Mon|Tue|Wed|Thu|Fri|Sat|Sun|Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec
         |UTC|GMT|EST|EDT|CST|CDT|MST|MDT|PST|PDT|CET|CEST|BST|JST)\b   # date words
      | (?![A-Za-z]{2,5}\d(?![\w.\-]))(?=[\w.\-]*?\d)[\w.\-]++           # run with a digit
      )
    """,
    re.VERBOSE,
)
_QUOTE_START = frozenset("\"'([")
_QUOTED = re.compile(r"""(?P<open>[(\[]?(?P<quote>["']))[^"']+(?P=quote)(?P<close>[)\],;:.]*)""")
_PATH = re.compile(r"/[\w.\-/@%+~:]*+")
_VALUE_STOP = re.compile(r"""[,;\s&)\]}>"'=]""")
_VALUE_END = ",;)]}>\"'"
_DOTS = re.compile(r"(\.{2,})")
_SHORT_NAME = re.compile(r"[A-Za-z]{2,5}\d")
_WORD_VARIABLES = frozenset(
    (
        *("true", "false", "True", "False", "TRUE", "FALSE"),
        *("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
        *("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
        *("UTC", "GMT", "EST", "EDT", "CST", "CDT", "MST", "MDT", "PST", "PDT", "CET", "CEST"),
        *("BST", "JST"),
    )
)
_EDGE = "()[]{}<>'\",;:.!?"
_EMPTY_PAIRS = {"()": "(<*>)", "[]": "[<*>]", "{}": "{<*>}", "''": "'<*>'", '""': '"<*>"'}
_UNITS = frozenset(
    unit + end
    for unit in ("B", "kB", "KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB", "ms", "sec", "secs")
    for end in ("", ",", ".", ";", ")")
)
_NAME_INTRO = frozenset(("user", "User", "USER", "for"))
_LETTER = re.compile(r"[^\W\d_]")
_NON_LETTERS = re.compile(r"[\W\d_]+")
_SIMILARITY = 0.5  # at most this share of a message's tokens may differ from its template
_FAMILY = 4  # a word that takes this many values (templates) becomes a variable


def mask_token(token: str) -> str:
    """Return ``token`` with its variable parts replaced by ``<*>``.

    Args:
        token: One whitespace-free token of a log message.

    Returns:
        The masked token: ``"10.0.0.1:22"`` gives ``"<*>"``, ``"(uid=0)"``
        gives ``"(uid=<*>)"``, ``"Failed"`` stays ``"Failed"``.
    """
    if token.isdigit() or len(token) > MAX_TOKEN_LENGTH:
        return WILDCARD
    if token[0] in _QUOTE_START:
        quoted = _QUOTED.fullmatch(token)
        if quoted is not None:
            return quoted["open"] + WILDCARD + quoted["quote"] + quoted["close"]
    core = token.strip(_EDGE)
    if core.isalpha():
        if core in _WORD_VARIABLES:
            return token.replace(core, WILDCARD, 1)
        return token
    if not core:
        return _EMPTY_PAIRS.get(token, token)
    if ".." in core:  # a run of dots separates ("threshold.....0")
        parts = _DOTS.split(token)
        parts[::2] = [mask_token(part) if part else part for part in parts[::2]]
        return "".join(parts)
    # The shapes below are the common ones; each gives what _VARIABLES would give.
    plain = core.replace("_", "").replace("-", "").replace(".", "")
    if plain.isalnum():
        # A single run of [\w.-]: variable when it holds a digit or is a dotted name.
        if plain.isalpha():
            if core.count(".") < 2:
                return token
        elif len(core) <= 6 and _SHORT_NAME.fullmatch(core):
            return token
        return _replace_core(token, core)
    left, colon, port = core.rpartition(":")
    if colon and port.isdigit() and len(port) <= 5 and "." in left and token[0].isalnum():
        plain = left.replace("_", "").replace("-", "").replace(".", "")
        if plain.isalnum() and left[-1] != ".":  # host:port, IPv4:port
            return _replace_core(token, core)
    if token[0] == "/":
        path = _PATH.match(token)
        if path is not None and not token[path.end() :].strip(_EDGE):
            return WILDCARD + token[path.end() :]
    key, equals, value = token.partition("=")
    if equals and value:
        key_core = key.lstrip(_EDGE)
        bare = key_core.replace("_", "").replace("-", "").replace(".", "")
        stop = _VALUE_STOP.search(value)
        end = len(value) if stop is None else stop.start()
        if (
            end
            and bare.isalpha()
            and key_core.count(".") < 2
            and key_core not in _WORD_VARIABLES
            and not value[end:].strip(_VALUE_END)
        ):
            return key + "=" + WILDCARD + value[end:]
    return _VARIABLES.sub(WILDCARD, token)


def _replace_core(token: str, core: str) -> str:
    """Return ``token`` with ``core``, its middle stripped of edge punctuation, masked."""
    if len(core) == len(token):
        return WILDCARD
    lead = len(token) - len(token.lstrip(_EDGE))
    return token[:lead] + WILDCARD + token[lead + len(core) :]


def _is_anchor(token: str) -> bool:
    """Whether ``token`` is a constant word of the skeleton."""
    return WILDCARD not in token or _LETTER.search(token.replace(WILDCARD, "")) is not None


def _letters(token: str) -> str:
    return _NON_LETTERS.sub("", token)


def _compatible(a: str, b: str) -> bool:
    """Whether two partly masked tokens may hold the same variable.

    They may when their letters agree or one has none: ``<*>,`` and
    ``LOCAL(<*>),``, but not ``(uid=<*>)`` and ``LOGIN(uid=<*>)``.
    """
    la, lb = _letters(a), _letters(b)
    return la == lb or not la or not lb


def _skeleton(tokens: Iterable[str]) -> tuple[str, ...]:
    """The constant words of ``tokens``, in order."""
    search = _LETTER.search
    return tuple(
        [t for t in tokens if WILDCARD not in t or search(t.replace(WILDCARD, "")) is not None]
    )


def _keeps_a_word(cluster: _Cluster, tokens: tuple[str, ...]) -> bool:
    """Whether generalising ``cluster`` to ``tokens`` would keep a constant word."""
    return any(a == b and _is_anchor(a) for a, b in zip(cluster.tokens, tokens, strict=True))


def _template_id(pattern: str, taken: Mapping[str, object]) -> str:
    """The id of a new template first seen as ``pattern``, not one of ``taken``."""
    digest = hashlib.blake2b(pattern.encode("utf-8", "surrogatepass"), digest_size=8)
    tid = digest.hexdigest()
    while tid in taken:  # a collision of 64-bit hashes: derive the next one deterministically
        digest.update(b"\0")
        tid = digest.hexdigest()
    return tid


@attrs.frozen
class Template:
    """A log template, as it stood when a message was added or looked up.

    Attributes:
        id: Stable identifier (16 hexadecimal digits), derived from the masked
            message that created the template; it never changes afterwards.
        pattern: The template text, variables shown as ``<*>``.
        count: Messages that matched the template so far.
    """

    id: str
    pattern: str
    count: int

    @property
    def is_new(self) -> bool:
        """Whether the template has counted one message: the add that returned it started it.

        A template dropped by the memory cap is new again when it comes back.
        """
        return self.count == 1

    @property
    def tokens(self) -> tuple[str, ...]:
        """The pattern's tokens."""
        return tuple(self.pattern.split(" ")) if self.pattern else ()


class _Cluster:
    """A template's mutable state inside the miner."""

    __slots__ = ("anchored", "count", "id", "order", "pattern", "tokens")

    def __init__(self, tid: str, tokens: list[str], count: int, order: int) -> None:
        self.id = tid
        self.tokens = tokens
        self.pattern = " ".join(tokens)
        self.count = count
        self.order = order
        self.anchored = False  # whether the skeleton has a word; set when indexed


def _bucket_key(tokens: tuple[str, ...] | list[str]) -> tuple[int, str | None]:
    """The templates a message may match: as many tokens, the same first word.

    A first token holding a variable puts the message with every other one
    whose first token holds a variable (they may still match).
    """
    first = tokens[0] if tokens else None
    return len(tokens), (None if first is None or WILDCARD in first else first)


class TemplateMiner:
    """Mines log templates online, one message at a time.

    One configuration serves every kind of log. The miner does no I/O; persist
    it with :meth:`to_state` and restore it with :meth:`from_state`.

    Example::

        miner = TemplateMiner()
        t = miner.add("Failed password for root from 10.0.0.1 port 22 ssh2")
        t.pattern  # 'Failed password for root from <*> port <*> ssh2'
        t.is_new   # True: the first message of its kind

    Args:
        max_templates: The most templates kept; the rarest are dropped beyond.

    Raises:
        ValueError: ``max_templates`` is below 1.
    """

    def __init__(self, *, max_templates: int = 10_000) -> None:
        if max_templates < 1:
            raise ValueError(f"max_templates must be at least 1, got {max_templates}")
        self._max_templates = max_templates
        self._clusters: dict[str, _Cluster] = {}
        self._buckets: dict[tuple[int, str | None], list[_Cluster]] = {}
        self._skeletons: dict[tuple[str, ...], list[_Cluster]] = {}
        self._token_cache: dict[str, str] = {}
        self._sequences: dict[tuple[str, ...], _Cluster] = {}
        self._order = 0

    # -- public API ---------------------------------------------------------

    @property
    def max_templates(self) -> int:
        """The most templates kept."""
        return self._max_templates

    def __len__(self) -> int:
        return len(self._clusters)

    def add(self, message: str) -> Template:
        """Learn from ``message`` and return its template.

        Args:
            message: One log message, without the header fields (time stamp,
                host, process) that the log format adds.

        Returns:
            The message's template, after this message was counted (and the
            pattern generalised if it had to); ``is_new`` tells whether the
            message started it.
        """
        get = self._token_cache.get
        miss = self._mask_miss
        key = tuple([get(t) or miss(t) for t in message.split(None, MAX_TOKENS)])
        cluster = self._sequences.get(key)
        if cluster is None:
            cluster = self._learn(key)
        cluster.count += 1
        return Template(cluster.id, cluster.pattern, cluster.count)

    def match(self, message: str) -> Template | None:
        """Return the template ``message`` belongs to, without learning from it.

        Args:
            message: One log message, as for :meth:`add`.

        Returns:
            The template, or None when ``message`` would start a new one.
        """
        get = self._token_cache.get
        miss = self._mask_miss
        tokens = self._normalise(
            tuple([get(t) or miss(t) for t in message.split(None, MAX_TOKENS)])
        )
        cluster = self._sequences.get(tokens)
        if cluster is None:
            found = self._search(tokens)
            cluster = found[0] if found is not None else self._find_skeleton(tokens)
        if cluster is None:
            return None
        return Template(cluster.id, cluster.pattern, cluster.count)

    def get(self, template_id: str) -> Template | None:
        """Return the template with this id, or None if there is none (any more)."""
        cluster = self._clusters.get(template_id)
        return None if cluster is None else Template(cluster.id, cluster.pattern, cluster.count)

    def templates(self) -> list[Template]:
        """Return every template, the most frequent first."""
        ordered = sorted(self._clusters.values(), key=lambda c: (-c.count, c.order))
        return [Template(c.id, c.pattern, c.count) for c in ordered]

    def to_state(self) -> dict[str, Any]:
        """Return the miner's state as JSON-serialisable data (see :meth:`from_state`)."""
        ordered = sorted(self._clusters.values(), key=lambda c: c.order)
        return {
            "format": _STATE_FORMAT,
            "version": _STATE_VERSION,
            "max_templates": self._max_templates,
            "templates": [{"id": c.id, "pattern": c.pattern, "count": c.count} for c in ordered],
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> TemplateMiner:
        """Rebuild a miner from :meth:`to_state`'s data.

        Args:
            state: What :meth:`to_state` returned, possibly through JSON.

        Returns:
            A miner that gives every message the template id the saved one
            would have given it.

        Raises:
            InvalidInputError: ``state`` is not a template miner state this
                version can read; nothing is built.
        """
        if not isinstance(state, Mapping) or state.get("format") != _STATE_FORMAT:
            raise InvalidInputError(
                f"not a template miner state: expected a mapping with format {_STATE_FORMAT!r}"
            )
        if state.get("version") != _STATE_VERSION:
            raise InvalidInputError(
                f"template miner state version {state.get('version')!r} is not supported"
                f" (this version reads {_STATE_VERSION})"
            )
        max_templates = state.get("max_templates")
        if type(max_templates) is not int or max_templates < 1:
            raise InvalidInputError(
                f"template miner state: max_templates must be a positive integer,"
                f" got {max_templates!r}"
            )
        entries = state.get("templates")
        if not isinstance(entries, list):
            raise InvalidInputError("template miner state: templates must be a list")
        miner = cls(max_templates=max_templates)
        for index, entry in enumerate(entries):
            where = f"template miner state: templates[{index}]"
            if not isinstance(entry, Mapping):
                raise InvalidInputError(f"{where} must be a mapping")
            tid, pattern, count = entry.get("id"), entry.get("pattern"), entry.get("count")
            if not isinstance(tid, str) or not tid or tid in miner._clusters:
                raise InvalidInputError(f"{where}: id must be a unique non-empty string")
            if not isinstance(pattern, str) or any(c.isspace() and c != " " for c in pattern):
                raise InvalidInputError(f"{where}: pattern must be a string of tokens")
            if type(count) is not int or count < 0:
                raise InvalidInputError(f"{where}: count must be a non-negative integer")
            tokens = pattern.split(" ") if pattern else []
            if "" in tokens:
                raise InvalidInputError(f"{where}: pattern has an empty token")
            miner._insert(_Cluster(tid, tokens, count, miner._order))
            miner._order += 1
        return miner

    # -- masking ------------------------------------------------------------

    def _mask_miss(self, token: str) -> str:
        masked = mask_token(token)
        if len(token) <= MAX_TOKEN_LENGTH:
            cache = self._token_cache
            if len(cache) >= _TOKEN_CACHE_SIZE:
                cache.clear()
            cache[token] = masked
        return masked

    @staticmethod
    def _normalise(tokens: tuple[str, ...]) -> tuple[str, ...]:
        """Apply the rules that look at neighbouring tokens: units, length cap."""
        if not _UNITS.isdisjoint(tokens):
            out = list(tokens)
            for i in range(1, len(out)):
                if out[i] in _UNITS and out[i - 1].endswith(WILDCARD):
                    out[i] = WILDCARD
            tokens = tuple(out)
        if len(tokens) > MAX_TOKENS:
            tokens = (*tokens[: MAX_TOKENS - 1], WILDCARD)
        return tokens

    # -- learning -----------------------------------------------------------

    def _learn(self, key: tuple[str, ...]) -> _Cluster:
        tokens = self._normalise(key)
        cluster = self._sequences.get(tokens) if tokens is not key else None
        if cluster is None:
            found = self._search(tokens)
            if found is not None:
                cluster = found[0]
                if found[1]:
                    self._generalise(cluster, tokens)
            else:
                cluster = self._find_skeleton(tokens)
                if cluster is not None:
                    self._align(cluster, tokens)
                else:
                    position = self._family(tokens)
                    if position is not None:
                        tokens = (*tokens[:position], WILDCARD, *tokens[position + 1 :])
                    cluster = self._create(tokens)
        sequences = self._sequences
        if len(sequences) >= _SEQUENCE_CACHE_SIZE:
            sequences.clear()
        sequences[key] = cluster
        sequences[tokens] = cluster
        return cluster

    def _search(self, tokens: tuple[str, ...]) -> tuple[_Cluster, bool] | None:
        """Find the closest template of the same shape; say whether it must generalise."""
        bucket = self._buckets.get(_bucket_key(tokens))
        if not bucket:
            return None
        limit = _SIMILARITY * len(tokens)
        # A template of variables only and a message with words never match, and a
        # template never generalises into variables only: so a message matches the
        # same template again after a reload.
        anchored = bool(_skeleton(tokens))
        best: _Cluster | None = None
        best_key = (0, 0, 0)
        for cluster in bucket:
            if cluster.anchored is not anchored:
                continue
            soft = same = kept = 0
            prev = ""
            for a, b in zip(cluster.tokens, tokens, strict=True):
                if a == b:
                    if a != WILDCARD:
                        same += 1
                        if WILDCARD not in a:
                            kept = 1
                elif a != WILDCARD:
                    if prev in _NAME_INTRO or (
                        WILDCARD in a and WILDCARD in b and _compatible(a, b)
                    ):
                        soft += 1
                    else:
                        break
                prev = b
            else:
                if soft <= limit and (kept or not anchored or _keeps_a_word(cluster, tokens)):
                    rank = (soft, -same, cluster.order)
                    if best is None or rank < best_key:
                        best, best_key = cluster, rank
        if best is None:
            return None
        return best, best_key[0] > 0

    def _family(self, tokens: tuple[str, ...]) -> int | None:
        """Where a new template for ``tokens`` should have ``<*>`` instead of a word.

        That is the position where ``tokens`` differs, word against word, from
        :data:`_FAMILY` - 1 templates that agree with it everywhere else; None
        when there is no such position.
        """
        bucket = self._buckets.get(_bucket_key(tokens))
        if not bucket or len(bucket) < _FAMILY - 1:
            return None
        counts: dict[int, int] = {}
        for cluster in bucket:
            position = -1
            for i, (a, b) in enumerate(zip(cluster.tokens, tokens, strict=True)):
                if a in (b, WILDCARD):
                    continue
                if WILDCARD in a and WILDCARD in b and _compatible(a, b):
                    continue
                if position >= 0 or WILDCARD in a or WILDCARD in b:
                    break  # a second difference, or not a word against a word
                position = i
            else:
                if position > 0:
                    counts[position] = counts.get(position, 0) + 1
        for position, count in counts.items():
            if count >= _FAMILY - 1 and _skeleton(
                (*tokens[:position], WILDCARD, *tokens[position + 1 :])
            ):
                return position
        return None

    def _generalise(self, cluster: _Cluster, tokens: tuple[str, ...]) -> None:
        new = [a if a == b else WILDCARD for a, b in zip(cluster.tokens, tokens, strict=True)]
        self._replace_tokens(cluster, new)

    def _find_skeleton(self, tokens: tuple[str, ...]) -> _Cluster | None:
        skeleton = _skeleton(tokens)
        if not skeleton:
            return None
        clusters = self._skeletons.get(skeleton)
        return clusters[0] if clusters else None

    def _align(self, cluster: _Cluster, tokens: tuple[str, ...]) -> None:
        """Generalise ``cluster`` to a message with the same skeleton and another length."""
        old = cluster.tokens
        new: list[str] = []
        i = j = 0
        while True:
            start_i, start_j = i, j
            while i < len(old) and not _is_anchor(old[i]):
                i += 1
            while j < len(tokens) and not _is_anchor(tokens[j]):
                j += 1
            gap = old[start_i:i]
            if gap == list(tokens[start_j:j]):
                new.extend(gap)
            else:
                new.append(WILDCARD)
            if i == len(old) or j == len(tokens):
                if i < len(old) or j < len(tokens):
                    new.append(WILDCARD)
                break
            new.append(old[i] if old[i] == tokens[j] else WILDCARD)
            i += 1
            j += 1
        self._replace_tokens(cluster, new)

    def _create(self, tokens: tuple[str, ...]) -> _Cluster:
        if len(self._clusters) >= self._max_templates:
            self._evict()
        pattern = " ".join(tokens)
        cluster = _Cluster(_template_id(pattern, self._clusters), list(tokens), 0, self._order)
        self._order += 1
        self._insert(cluster)
        return cluster

    def _evict(self) -> None:
        """Drop the rarest tenth of the templates (lowest count, then oldest)."""
        ordered = sorted(self._clusters.values(), key=lambda c: (c.count, c.order))
        doomed = ordered[: max(1, self._max_templates // 10)]
        for cluster in doomed:
            self._unindex(cluster)
            del self._clusters[cluster.id]
        gone = {id(c) for c in doomed}
        self._sequences = {k: c for k, c in self._sequences.items() if id(c) not in gone}

    # -- indexes ------------------------------------------------------------

    def _insert(self, cluster: _Cluster) -> None:
        self._clusters[cluster.id] = cluster
        self._index(cluster)

    def _index(self, cluster: _Cluster) -> None:
        self._buckets.setdefault(_bucket_key(cluster.tokens), []).append(cluster)
        skeleton = _skeleton(cluster.tokens)
        cluster.anchored = bool(skeleton)
        if skeleton:
            clusters = self._skeletons.setdefault(skeleton, [])
            bisect.insort(clusters, cluster, key=lambda c: c.order)

    def _unindex(self, cluster: _Cluster) -> None:
        key = _bucket_key(cluster.tokens)
        bucket = self._buckets[key]
        bucket.remove(cluster)
        if not bucket:
            del self._buckets[key]
        skeleton = _skeleton(cluster.tokens)
        if skeleton:
            clusters = self._skeletons[skeleton]
            clusters.remove(cluster)
            if not clusters:
                del self._skeletons[skeleton]

    def _replace_tokens(self, cluster: _Cluster, tokens: list[str]) -> None:
        if tokens == cluster.tokens:
            return
        self._unindex(cluster)
        cluster.tokens = tokens
        cluster.pattern = " ".join(tokens)
        self._index(cluster)
