"""Verdicts on raw shell command lines: ``allow``, ``confirm`` or ``deny``, with reasons.

:func:`check_command` parses the command the way a POSIX shell would (quotes,
escapes, operators, redirections, ``$(…)``, backticks, subshells, groups,
functions, here-documents), resolves each program behind its wrappers
(``sudo``, ``env``, ``nice``, ``busybox``…), normalises its flags, expands what
can be expanded (``~``, ``$HOME``, ``//``, ``/var/..``, ``{a,b}``, globs at a
root) and recurses into the commands it runs (``sh -c``, ``eval``, ``xargs``,
``find -exec``, pipes into an interpreter, inline ``python -c`` code). Rules are
matched on the parsed command, never on substrings: ``grep 'rm -rf /' notes``
is read-only, ``sudo /bin/rm -fr //`` is a recursive delete of ``/``.

Read-only commands are ``allow``; anything that may change the system is at
least ``confirm``; destructive commands, the configuration's forbidden
commands and anything that cannot be parsed are ``deny``. The function is pure:
it reads no file and runs nothing.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import itertools
import posixpath
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Literal

import attrs

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "Decision", "Verdict", "check_command"]

Decision = Literal["allow", "confirm", "deny"]

MAX_LENGTH = 65536
"""Longest command line (characters) analysed; longer ones are denied."""

MAX_DEPTH = 8
"""Deepest nesting (subshells, substitutions, ``sh -c`` inside ``sh -c``…) analysed."""

_ALLOW, _CONFIRM, _DENY = 0, 1, 2
_NAMES: tuple[Decision, Decision, Decision] = ("allow", "confirm", "deny")
_UNKNOWN = "\x00"  # stands for a part whose value cannot be known (``$X``, ``$(…)``)
_MAX_ALTERNATIVES = 64


@attrs.frozen
class Verdict:
    """The policy's verdict on one command line.

    Attributes:
        decision: ``allow`` (read-only), ``confirm`` (changes the system) or
            ``deny`` (destructive, forbidden or unparsable).
        reasons: Why, one short English sentence per rule that decided,
            naming the offending argument.
    """

    decision: Decision
    reasons: tuple[str, ...]

    def to_dict(self, command: str) -> dict[str, object]:
        """The ``policy check --json`` object for ``command``."""
        return {"command": command, "decision": self.decision, "reasons": list(self.reasons)}


# --------------------------------------------------------------------------- parse tree


@attrs.frozen
class _Seg:
    """A piece of a word: literal text, a variable, a substitution, or unknown."""

    kind: Literal["lit", "var", "sub", "unknown"]
    text: str = ""
    quoted: bool = False
    body: _List | None = None
    default: str | None = None


@attrs.frozen
class _Word:
    segs: tuple[_Seg, ...]
    raw: str


@attrs.define
class _Redir:
    op: str
    fd: str
    target: _Word | None
    body: str | None = None  # here-document or here-string text


@attrs.frozen
class _Simple:
    words: tuple[_Word, ...]
    redirs: tuple[_Redir, ...]


@attrs.frozen
class _Group:
    body: _List
    redirs: tuple[_Redir, ...]


@attrs.frozen
class _FuncDef:
    name: str
    body: _Simple | _Group | _FuncDef


_Command = _Simple | _Group | _FuncDef


@attrs.frozen
class _Pipeline:
    commands: tuple[_Command, ...]
    background: bool


@attrs.frozen
class _List:
    items: tuple[_Pipeline, ...]


class _ParseError(Exception):
    """The text is not a command line a shell would run."""


class _TooDeep(Exception):
    """Nesting beyond :data:`MAX_DEPTH`."""


_META = frozenset(" \t\n;&|()<>")
_RESERVED_PREFIX = ("if", "then", "else", "elif", "do", "while", "until", "!", "time")
_RESERVED_END = ("fi", "done", "esac")
_REDIR_OPS = ("&>>", "&>", ">>", ">|", ">&", "<<<", "<<-", "<<", "<>", "<&", ">", "<")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ANSI = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def _decode_escapes(text: str) -> str:
    """Decode C escapes as ``$'…'``, ``echo -e`` and ``printf`` do."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c != "\\" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        e = text[i + 1]
        i += 2
        if e in _ANSI:
            out.append(_ANSI[e])
        elif e in "eE":
            out.append("\x1b")
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            m = re.match(f"[0-9a-fA-F]{{1,{width}}}", text[i:])
            if m:
                code = int(m.group(), 16)
                out.append(chr(code) if code < 0x110000 and code else "")
                i += m.end()
            else:
                out.append("\\" + e)
        elif e in "01234567":
            digits = re.match(r"[0-7]{1,3}", text[i - 1 :])
            code = int(digits.group(), 8) & 0xFF if digits else 0
            out.append(chr(code) if code else "")
            i += (digits.end() if digits else 1) - 1
        elif e == "c":
            break
        else:
            out.append(e if e in "\\'\"?" else "\\" + e)
    return "".join(out)


class _Parser:
    """A recursive-descent parser of POSIX shell syntax (the parts that matter here)."""

    def __init__(self, text: str, depth: int) -> None:
        self.s = text
        self.n = len(text)
        self.i = 0
        self.depth = depth
        self.heredocs: list[tuple[_Redir, str, bool]] = []
        self.blocks: list[str] = []  # the keywords that must close open if/while/for

    def parse(self) -> _List:
        result = self._list(None)
        if self.i < self.n:
            raise _ParseError(f"unexpected {self.s[self.i]!r}")
        if self.blocks:
            raise _ParseError(f"missing {self.blocks[-1]!r}")
        return result

    def _keyword(self, word: str) -> None:
        """Track if/then/fi and while/do/done so that unbalanced blocks are refused."""
        if word in ("if", "while", "until"):
            self.blocks.append("fi" if word == "if" else "do")
        elif word in ("then", "else", "elif", "do", "fi", "done"):
            wanted = {"then": "fi", "else": "fi", "elif": "fi", "fi": "fi", "do": "do",
                      "done": "done"}[word]  # fmt: skip
            if not self.blocks or self.blocks[-1] != wanted:
                raise _ParseError(f"unexpected {word!r}")
            self.blocks.pop()
            if word == "do":
                self.blocks.append("done")
            elif word != "fi" and word != "done":
                self.blocks.append("fi")

    # -- helpers
    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _TooDeep

    def _at_word(self, word: str) -> bool:
        end = self.i + len(word)
        return self.s.startswith(word, self.i) and (end >= self.n or self.s[end] in _META)

    def _newline(self) -> None:
        self.i += 1
        pending, self.heredocs = self.heredocs, []
        for redir, delim, strip in pending:
            lines: list[str] = []
            while self.i < self.n:
                eol = self.s.find("\n", self.i)
                end = self.n if eol < 0 else eol
                line = self.s[self.i : end]
                self.i = end + 1 if eol >= 0 else self.n
                if (line.lstrip("\t") if strip else line) == delim:
                    break
                lines.append(line)
            redir.body = "\n".join(lines) + "\n"

    def _blank(self, newlines: bool) -> None:
        s, n = self.s, self.n
        while self.i < n:
            c = s[self.i]
            if c in " \t":
                self.i += 1
            elif c == "\\" and s.startswith("\\\n", self.i):
                self.i += 2
            elif c == "#":
                eol = s.find("\n", self.i)
                self.i = n if eol < 0 else eol
            elif c == "\n" and newlines:
                self._newline()
            else:
                break

    # -- grammar
    def _list(self, end: str | None) -> _List:
        items: list[_Pipeline] = []
        s = self.s
        while True:
            self._blank(True)
            if self.i >= self.n:
                if end is not None:
                    raise _ParseError(f"missing {end!r}")
                break
            c = s[self.i]
            if end == ")" and c == ")":
                break
            if end == "}" and self._at_word("}"):
                break
            if end == ";;" and (s.startswith(";;", self.i) or self._at_word("esac")):
                break
            if c == ";":
                raise _ParseError("unexpected ';'")
            if c in "&|)":
                raise _ParseError(f"unexpected {c!r}")
            if self._at_word("}"):
                raise _ParseError("unexpected '}'")
            commands = [self._command(end)]
            while True:
                self._blank(False)
                if s.startswith("||", self.i) or not s.startswith("|", self.i):
                    break
                self.i += 2 if s.startswith("|&", self.i) else 1
                self._blank(True)
                if self.i >= self.n or s[self.i] in ";&|)":
                    raise _ParseError("a command is missing after '|'")
                commands.append(self._command(end))
            background = False
            self._blank(False)
            if s.startswith(("&&", "||"), self.i):
                self.i += 2
                self._blank(True)
                if self.i >= self.n or s[self.i] in ";&|)":
                    raise _ParseError("a command is missing after '&&' or '||'")
            elif s.startswith(";;", self.i):
                if end != ";;":
                    raise _ParseError("unexpected ';;'")
            elif s.startswith(";", self.i):
                self.i += 1
            elif s.startswith("&", self.i):
                self.i += 1
                background = True
            elif s.startswith("\n", self.i):
                self._newline()
            items.append(_Pipeline(tuple(commands), background))
        return _List(tuple(items))

    def _command(self, end: str | None) -> _Command:
        self._blank(False)
        while word := next((w for w in _RESERVED_PREFIX if self._at_word(w)), None):
            self._keyword(word)
            self.i += len(word)
            self._blank(True)
        for word in _RESERVED_END:
            if self._at_word(word):
                if word == "esac":
                    raise _ParseError("unexpected 'esac'")
                self._keyword(word)
                self.i += len(word)
                break
        if self.i >= self.n:
            return _Simple((), ())
        s = self.s
        if s[self.i] == "(":
            self._enter()
            self.i += 1
            body = self._list(")")
            self.i += 1
            self.depth -= 1
            if not body.items:
                raise _ParseError("empty '( )'")
            return _Group(body, self._redirs_only())
        if self._at_word("{"):
            self._enter()
            self.i += 1
            body = self._list("}")
            self.i += 1
            self.depth -= 1
            if not body.items:
                raise _ParseError("empty '{ }'")
            return _Group(body, self._redirs_only())
        if self._at_word("case"):
            return self._case()
        return self._simple()

    def _redirs_only(self) -> tuple[_Redir, ...]:
        redirs: list[_Redir] = []
        while True:
            self._blank(False)
            redir = self._redirection()
            if redir is None:
                return tuple(redirs)
            redirs.append(redir)

    def _case(self) -> _Group:
        self._enter()
        self.i += 4
        self._blank(False)
        self._word()
        self._blank(True)
        if not self._at_word("in"):
            raise _ParseError("'case' without 'in'")
        self.i += 2
        items: list[_Pipeline] = []
        while True:
            self._blank(True)
            if self.i >= self.n:
                raise _ParseError("'case' without 'esac'")
            if self._at_word("esac"):
                self.i += 4
                break
            if self.s[self.i] == "(":
                self.i += 1
            while True:  # patterns: word (| word)* )
                self._blank(False)
                if self.i >= self.n:
                    raise _ParseError("unterminated 'case' pattern")
                c = self.s[self.i]
                if c == ")":
                    self.i += 1
                    break
                if c == "|":
                    self.i += 1
                    continue
                if c in _META:
                    raise _ParseError(f"unexpected {c!r} in a 'case' pattern")
                self._word()
            items.extend(self._list(";;").items)
            if self.s.startswith(";;&", self.i):
                self.i += 3
            elif self.s.startswith((";;", ";&"), self.i):
                self.i += 2
        self.depth -= 1
        return _Group(_List(tuple(items)), self._redirs_only())

    def _simple(self) -> _Command:
        words: list[_Word] = []
        redirs: list[_Redir] = []
        s = self.s
        in_test = False
        while True:
            self._blank(False)
            if self.i >= self.n:
                break
            c = s[self.i]
            if in_test and self._at_word("]]"):
                in_test = False
            elif in_test and c in "&|<>()":
                start = self.i
                while self.i < self.n and s[self.i] in "&|<>()":
                    self.i += 1
                words.append(_Word((_Seg("lit", s[start : self.i], True),), s[start : self.i]))
                continue
            if c in "<>" and s.startswith("(", self.i + 1):
                self._enter()
                self.i += 2
                body = self._list(")")
                self.i += 1
                self.depth -= 1
                words.append(_Word((_Seg("sub", body=body),), "<(…)"))
                continue
            redir = self._redirection()
            if redir is not None:
                redirs.append(redir)
                continue
            if c in "\n;&|)":
                break
            if c == "(":
                if s.startswith("((", self.i):
                    close = s.find("))", self.i)
                    if close < 0:
                        raise _ParseError("unterminated '(('")
                    self.i = close + 2
                    words.append(_Word((_Seg("unknown"),), "((…))"))
                    continue
                rest = s[self.i + 1 :].lstrip(" \t")
                if len(words) in (1, 2) and rest.startswith(")") and not redirs:
                    name = words[-1].raw
                    self.i = s.index(")", self.i) + 1
                    self._blank(True)
                    return _FuncDef(name, self._function_body())
                raise _ParseError("unexpected '('")
            if len(words) == 2 and words[0].raw == "function" and (self._at_word("{") or c == "("):
                return _FuncDef(words[1].raw, self._function_body())
            word = self._word()
            if not words and word.raw == "[[":
                in_test = True
            literal = "".join(seg.text for seg in word.segs if seg.kind == "lit")
            if not words and literal in ("for", "select"):
                self.blocks.append("do")
            words.append(word)
        if in_test:
            raise _ParseError("missing ']]'")
        return _Simple(tuple(words), tuple(redirs))

    def _function_body(self) -> _Command:
        compound = ("{", "if", "while", "until", "for", "case")
        if not (self.s.startswith("(", self.i) or any(self._at_word(w) for w in compound)):
            raise _ParseError("a function body must be a { … } or ( … ) block")
        return self._command(None)

    def _redirection(self) -> _Redir | None:
        s, j = self.s, self.i
        while j < self.n and s[j].isdigit():
            j += 1
        op = next((o for o in _REDIR_OPS if s.startswith(o, j)), None)
        if op is None or (j > self.i and op.startswith("&")):
            return None
        if op[0] == "&" and j != self.i:
            return None
        fd = s[self.i : j]
        self.i = j + len(op)
        self._blank(False)
        if self.i >= self.n or s[self.i] in _META:
            raise _ParseError(f"{op!r} without a target")
        target = self._word()
        redir = _Redir(op, fd, target)
        if op in ("<<", "<<-"):
            delim = "".join(seg.text for seg in target.segs if seg.kind == "lit")
            self.heredocs.append((redir, delim, op == "<<-"))
        return redir

    def _word(self) -> _Word:
        s, n = self.s, self.n
        start = self.i
        segs: list[_Seg] = []
        buf: list[str] = []

        def flush(quoted: bool = False) -> None:
            if buf:
                segs.append(_Seg("lit", "".join(buf), quoted))
                buf.clear()

        while self.i < n:
            c = s[self.i]
            if c in _META:
                break
            if c == "\\":
                if s.startswith("\\\n", self.i):
                    self.i += 2
                    continue
                flush()
                if self.i + 1 >= n:
                    raise _ParseError("a backslash ends the input")
                segs.append(_Seg("lit", s[self.i + 1], True))
                self.i += 2
            elif c == "'":
                close = s.find("'", self.i + 1)
                if close < 0:
                    raise _ParseError("unterminated single quote")
                flush()
                segs.append(_Seg("lit", s[self.i + 1 : close], True))
                self.i = close + 1
            elif c == '"':
                flush()
                self.i += 1
                self._dquote(segs)
            elif c == "$":
                flush()
                self._dollar(segs, False)
            elif c == "`":
                flush()
                self._backtick(segs, False)
            else:
                buf.append(c)
                self.i += 1
        flush()
        return _Word(tuple(segs), s[start : self.i])

    def _dquote(self, segs: list[_Seg]) -> None:
        s, n = self.s, self.n
        buf: list[str] = []
        while True:
            if self.i >= n:
                raise _ParseError("unterminated double quote")
            c = s[self.i]
            if c == '"':
                self.i += 1
                break
            if c == "\\" and self.i + 1 < n and s[self.i + 1] in '$`"\\\n':
                if s[self.i + 1] != "\n":
                    buf.append(s[self.i + 1])
                self.i += 2
            elif c in "$`":
                if buf:
                    segs.append(_Seg("lit", "".join(buf), True))
                    buf.clear()
                if c == "$":
                    self._dollar(segs, True)
                else:
                    self._backtick(segs, True)
            else:
                buf.append(c)
                self.i += 1
        segs.append(_Seg("lit", "".join(buf), True))

    def _dollar(self, segs: list[_Seg], quoted: bool) -> None:
        s, n = self.s, self.n
        nxt = s[self.i + 1] if self.i + 1 < n else ""
        if s.startswith("$((", self.i):
            level, j = 0, self.i + 1
            while j < n:
                if s[j] == "(":
                    level += 1
                elif s[j] == ")":
                    level -= 1
                    if level == 0:
                        break
                j += 1
            if j >= n:
                raise _ParseError("unterminated '$(('")
            self.i = j + 1
            segs.append(_Seg("unknown", quoted=quoted))
        elif nxt == "(":
            self._enter()
            self.i += 2
            body = self._list(")")
            self.i += 1
            self.depth -= 1
            segs.append(_Seg("sub", quoted=quoted, body=body))
        elif nxt == "{":
            level, j = 0, self.i + 1
            while j < n:
                if s[j] == "{":
                    level += 1
                elif s[j] == "}":
                    level -= 1
                    if level == 0:
                        break
                elif s[j] == "\\":
                    j += 1
                j += 1
            if j >= n:
                raise _ParseError("unterminated '${'")
            inner = s[self.i + 2 : j]
            self.i = j + 1
            m = _NAME_RE.match(inner) or re.match(r"[0-9]+|[@*#?$!-]", inner)
            if m is None:
                segs.append(_Seg("unknown", quoted=quoted))
                return
            rest = inner[m.end() :]
            default = None
            if rest.startswith((":-", ":=")):
                default = rest[2:]
            elif rest.startswith(("-", "=")):
                default = rest[1:]
            elif rest:
                segs.append(_Seg("unknown", quoted=quoted))
                return
            if default is not None:
                if re.search(r"[$`\\]", default):
                    default = _UNKNOWN
                else:
                    default = default.replace('"', "").replace("'", "")
            segs.append(_Seg("var", m.group(), quoted, default=default))
        elif nxt == "'" and not quoted:
            j = self.i + 2
            while j < n and s[j] != "'":
                j += 2 if s[j] == "\\" else 1
            if j >= n:
                raise _ParseError("unterminated $'…' quote")
            segs.append(_Seg("lit", _decode_escapes(s[self.i + 2 : j]), True))
            self.i = j + 1
        elif nxt == '"' and not quoted:
            self.i += 2
            self._dquote(segs)
        elif (m := _NAME_RE.match(s, self.i + 1)) is not None:
            segs.append(_Seg("var", m.group(), quoted))
            self.i = m.end()
        elif nxt and nxt in "0123456789@*#?$!-":
            segs.append(_Seg("var", nxt, quoted))
            self.i += 2
        else:
            segs.append(_Seg("lit", "$", quoted))
            self.i += 1

    def _backtick(self, segs: list[_Seg], quoted: bool) -> None:
        s, n = self.s, self.n
        j = self.i + 1
        while j < n and s[j] != "`":
            j += 2 if s[j] == "\\" else 1
        if j >= n:
            raise _ParseError("unterminated backquote")
        inner = re.sub(r"\\([`$\\])", r"\1", s[self.i + 1 : j])
        self.i = j + 1
        if self.depth + 1 > MAX_DEPTH:
            raise _TooDeep
        body = _Parser(inner, self.depth + 1).parse()
        segs.append(_Seg("sub", quoted=quoted, body=body))


# --------------------------------------------------------------------------- expansion helpers

_PROTECT = str.maketrans({"{": "\ue000", ",": "\ue001", "}": "\ue002"})
_UNPROTECT = str.maketrans({"\ue000": "{", "\ue001": ",", "\ue002": "}"})
_HOLE = 0xE100
_HOLE_MAX = 0xF8FF - _HOLE
_HOLE_SPLIT = re.compile("([\ue100-\uf8ff])")
_BRACE_CHARS = re.compile(r"[{},]")


def _find_brace(s: str) -> tuple[int, int, list[str]] | None:
    """The first ``{a,b}`` or ``{1..3}`` group of ``s``: (start, end, options)."""
    stack: list[tuple[int, list[int]]] = []
    for m in _BRACE_CHARS.finditer(s):
        c, pos = m.group(), m.start()
        if c == "{":
            stack.append((pos, []))
        elif c == "," and stack:
            stack[-1][1].append(pos)
        elif c == "}" and stack:
            start, commas = stack.pop()
            if commas:
                bounds = [start, *commas, pos]
                return start, pos, [s[a + 1 : b] for a, b in itertools.pairwise(bounds)]
            inner = s[start + 1 : pos]
            seq = re.fullmatch(r"(-?\d+)\.\.(-?\d+)|([A-Za-z])\.\.([A-Za-z])", inner)
            if seq:
                if seq.group(1) is not None:
                    a, b = int(seq.group(1)), int(seq.group(2))
                    step = 1 if b >= a else -1
                    values = [str(v) for v in range(a, b + step, step)[:_MAX_ALTERNATIVES]]
                else:
                    a, b = ord(seq.group(3)), ord(seq.group(4))
                    step = 1 if b >= a else -1
                    values = [chr(v) for v in range(a, b + step, step)]
                return start, pos, values
    return None


def _brace_expand(text: str) -> list[str]:
    """Bash brace expansion, capped at :data:`_MAX_ALTERNATIVES` results."""
    done: list[str] = []
    todo = [text]
    steps = 0
    while todo:
        s = todo.pop(0)
        steps += 1
        group = None
        if steps <= _MAX_ALTERNATIVES and len(done) + len(todo) < _MAX_ALTERNATIVES:
            group = _find_brace(s)
        if group is None:
            done.append(s)
            continue
        start, end, options = group
        todo[0:0] = [s[:start] + opt + s[end + 1 :] for opt in options]
    return done


def _has_glob(s: str) -> bool:
    return "*" in s or "?" in s or "[" in s


def _broad(comp: str) -> bool:
    """Whether a glob component matches nearly every name (``*``, ``.*``, ``?*``)."""
    return _has_glob(comp) and not re.sub(r"\[[^]]*\]|[*?.]", "", comp)


def _comp_match(comp: str, literal: str) -> bool:
    return comp == literal or (_has_glob(comp) and fnmatch.fnmatchcase(literal, comp))


def _show(argv: Sequence[str], limit: int = 100) -> str:
    words = []
    for a in argv:
        a = a.replace(_UNKNOWN, "$?")
        words.append(a if a and not re.search(r"[\s'\"]", a) else repr(a))
    text = " ".join(words)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clip(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- paths

_PROTECTED = (
    "/", "/bin", "/boot", "/boot/efi", "/dev", "/efi", "/etc", "/etc/ssh", "/etc/pam.d",
    "/etc/systemd", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/lib/modules",
    "/media", "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/usr",
    "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/lib32", "/usr/lib64", "/usr/libexec",
    "/usr/local", "/usr/share", "/usr/include", "/var", "/var/lib", "/var/lib/dpkg",
    "/var/lib/apt", "/var/log", "/var/spool",
)  # fmt: skip
_CONTENTS_ALLOWED = frozenset({"/var/log"})  # ``rm -rf /var/log/*`` is a confirm, not a deny
_CRITICAL = (
    "/etc/passwd", "/etc/passwd-", "/etc/shadow", "/etc/shadow-", "/etc/group",
    "/etc/group-", "/etc/gshadow", "/etc/gshadow-", "/etc/sudoers", "/etc/sudoers.d",
    "/etc/sudoers.d/*", "/etc/fstab", "/etc/crypttab", "/etc/pam.d/*", "/etc/login.defs",
    "/etc/nsswitch.conf", "/etc/ld.so.preload", "/etc/ld.so.conf", "/etc/inittab",
    "/etc/securetty", "/etc/ssh/sshd_config", "/etc/security/*",
    "/boot/vmlinuz*", "/boot/initrd*", "/boot/grub/grub.cfg", "/bin/sh", "/bin/bash",
    "/bin/dash", "/usr/bin/sh", "/usr/bin/bash", "/usr/bin/dash", "/bin/su", "/usr/bin/su",
    "/usr/bin/sudo", "/sbin/init", "/usr/sbin/init", "/lib/systemd/systemd",
    "/usr/lib/systemd/systemd", "/lib*/ld-linux*", "/usr/lib*/ld-linux*", "/lib/*/ld-linux*",
    "/usr/lib/*/ld-linux*", "/lib/*/libc.so*", "/usr/lib/*/libc.so*",
)  # fmt: skip
_AUTH_FILES = ("/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow", "/etc/sudoers")
_SECRET_FILES = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-", "/etc/sudoers")
_BLOCK_DEVICE = re.compile(
    r"/dev/(sd[a-z]+\d*|hd[a-z]+\d*|vd[a-z]+\d*|xvd[a-z]+\d*|nvme\d+(n\d+(p\d+)?)?"
    r"|mmcblk\d+(p\d+)?|md\d+|md/.+|dm-\d+|mapper/.+|disk/.+|loop\d+|nbd\d+|sr\d+"
    r"|bcache\d+|zram\d+|rbd\d+|mem|kmem|port|root)"
)
_DEVICE_SAMPLES = ("/dev/sda", "/dev/sda1", "/dev/nvme0n1", "/dev/vda", "/dev/xvda",
                   "/dev/hda", "/dev/mmcblk0", "/dev/md0", "/dev/dm-0")  # fmt: skip
_SINKS = re.compile(r"/dev/(null|zero|full|random|urandom|stdout|stderr|stdin|tty\w*|console"
                    r"|fd/\d+|pts/\d+)")  # fmt: skip


def _critical(p: str) -> bool:
    for c in _CRITICAL:
        if fnmatch.fnmatchcase(p, c):
            return True
        if _has_glob(p) and not _has_glob(c) and fnmatch.fnmatchcase(c, p):
            return True
    return False


def _block_device(p: str) -> bool:
    if _BLOCK_DEVICE.fullmatch(p):
        return True
    return _has_glob(p) and any(fnmatch.fnmatchcase(d, p) for d in _DEVICE_SAMPLES)


def _touches_one(comps: list[str], q: str, contents: bool) -> str | None:
    """The part of protected ``q`` that path ``comps`` (maybe a glob) covers, if any."""
    qc = [c for c in q.split("/") if c]
    n, k = len(comps), len(qc)
    if n <= k:
        if all(_comp_match(comps[i], qc[i]) for i in range(n)):
            return "/" + "/".join(qc[:n])
        return None
    if (
        contents
        and all(_comp_match(comps[i], qc[i]) for i in range(k))
        and all(_broad(c) for c in comps[k:])
    ):
        return "/" + "/".join(comps)
    return None


# --------------------------------------------------------------------------- wrappers


def _opts_end(args: Sequence[str], valued: str = "", long_valued: Sequence[str] = ()) -> int:
    """Index of the first operand of ``args`` (after options and ``--``)."""
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            return i + 1
        if a.startswith("--"):
            name = a[2:].split("=", 1)[0]
            i += 2 if "=" not in a and name in long_valued else 1
            continue
        if a.startswith("-") and len(a) > 1:
            for k, ch in enumerate(a[1:], 1):
                if ch in valued:
                    if k == len(a) - 1:
                        i += 1
                    break
            i += 1
            continue
        return i
    return i


def _w_sudo(args: list[str]) -> list[str] | None:
    i = _opts_end(args, "ugCDrtTUpR", ("user", "group", "close-from", "chdir", "role",
                                        "type", "other-user", "prompt", "host",
                                        "command-timeout"))  # fmt: skip
    opts = args[:i]
    if any(o in ("-e", "--edit") for o in opts):
        return ["sudoedit", *args[i:]]
    if not args[i:] and any(o in ("-s", "-i", "--shell", "--login") for o in opts):
        return ["sh"]
    return args[i:] or None


def _w_env(args: list[str]) -> list[str] | None:
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            i += 1
            break
        if a in ("-u", "--unset", "-C", "--chdir"):
            i += 2
        elif a in ("-S", "--split-string") and i + 1 < len(args):
            return args[i + 1].split() + args[i + 2 :]
        elif a.startswith("--split-string="):
            return a.split("=", 1)[1].split() + args[i + 1 :]
        elif a.startswith("-S") and len(a) > 2:
            return a[2:].split() + args[i + 1 :]
        elif (
            (a.startswith("-") and a != "-") or a == "-" or re.match(r"[A-Za-z_][A-Za-z0-9_]*=", a)
        ):
            i += 1
        else:
            break
    while i < len(args) and re.match(r"[A-Za-z_][A-Za-z0-9_]*=", args[i]):
        i += 1
    return args[i:] or None


def _w_simple(valued: str = "", long_valued: Sequence[str] = (), skip: int = 0,
              stop: str = "") -> Callable[[list[str]], list[str] | None]:  # fmt: skip
    def unwrap(args: list[str]) -> list[str] | None:
        i = _opts_end(args, valued, long_valued)
        if stop and any(a.startswith("-") and set(a[1:]) & set(stop) for a in args[:i]):
            return None
        return args[i + skip :] or None

    return unwrap


def _w_su(args: list[str]) -> list[str] | None:
    for i, a in enumerate(args):
        if a in ("-c", "--command") and i + 1 < len(args):
            return ["sh", "-c", args[i + 1]]
        if a.startswith("--command="):
            return ["sh", "-c", a.split("=", 1)[1]]
    return None


def _w_runuser(args: list[str]) -> list[str] | None:
    if "-u" in args or any(a.startswith("--user") for a in args):
        return _w_simple("ugG", ("user", "group", "supp-group"))(args)
    return _w_su(args)


def _w_flock(args: list[str]) -> list[str] | None:
    i = _opts_end(args, "wE", ("timeout", "conflict-exit-code"))
    rest = args[i + 1 :]
    if rest[:1] in (["-c"], ["--command"]) and len(rest) > 1:
        return ["sh", "-c", rest[1]]
    return rest or None


def _w_watch(args: list[str]) -> list[str] | None:
    i = _opts_end(args, "nq", ("interval", "equexit"))
    rest = args[i:]
    if not rest:
        return None
    if any(a in ("-x", "--exec") for a in args[:i]):
        return rest
    return ["sh", "-c", " ".join(rest)]


def _w_chroot(args: list[str]) -> list[str] | None:
    i = _opts_end(args, "", ("userspec", "groups"))
    return args[i + 1 :] or ["sh"]


def _w_shell_string(args: list[str]) -> list[str] | None:
    """``sg GROUP CMD``, ``script -c CMD``: a command string run by a shell."""
    for i, a in enumerate(args):
        if a in ("-c", "--command") and i + 1 < len(args):
            return ["sh", "-c", args[i + 1]]
    if len(args) >= 2 and not args[0].startswith("-"):
        return ["sh", "-c", " ".join(args[1:])]
    return None


_WRAPPERS: dict[str, Callable[[list[str]], list[str] | None]] = {
    "sudo": _w_sudo,
    "doas": _w_simple("uC"),
    "pkexec": _w_simple("", ("user",)),
    "env": _w_env,
    "nice": _w_simple("n", ("adjustment",)),
    "nohup": _w_simple(),
    "setsid": _w_simple(),
    "builtin": _w_simple(),
    "command": _w_simple(stop="vV"),
    "exec": _w_simple("a"),
    "time": _w_simple("fo", ("format", "output")),
    "unbuffer": _w_simple(),
    "stdbuf": _w_simple("ioe", ("input", "output", "error")),
    "ionice": _w_simple("cnpPu", ("class", "classdata", "pid", "pgid", "uid"), stop="pPu"),
    "chrt": _w_simple("", (), skip=1, stop="p"),
    "taskset": _w_simple("", (), skip=1, stop="p"),
    "timeout": _w_simple("sk", ("signal", "kill-after"), skip=1),
    "chroot": _w_chroot,
    "flock": _w_flock,
    "strace": _w_simple("oeEpsSuaIbPX", ("output",), stop="p"),
    "ltrace": _w_simple("oeEpsSuaIbPX", ("output",), stop="p"),
    "systemd-run": _w_simple("uMHpE", ("unit", "property", "host", "machine", "uid", "gid",
                                       "nice", "setenv", "description", "slice",
                                       "working-directory", "on-calendar", "on-active")),
    "nsenter": _w_simple("tSGw", ("target", "setuid", "setgid", "wd")),
    "unshare": _w_simple("", ("propagation", "setgroups", "map-user", "map-group")),
    "runuser": _w_runuser,
    "su": _w_su,
    "sg": _w_shell_string,
    "script": _w_shell_string,
    "busybox": _w_simple(),
    "toybox": _w_simple(),
    "watch": _w_watch,
    "firejail": _w_simple(),
    "torsocks": _w_simple(),
    "proxychains": _w_simple("f"),
    "proxychains4": _w_simple("f"),
    "fakeroot": _w_simple(),
    "catchsegv": _w_simple(),
}  # fmt: skip
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


def _unwrap(argv: list[str]) -> list[str]:
    """Strip wrappers (``sudo -u root --``, ``env X=1``, ``nice -n 5``…) off ``argv``."""
    for _ in range(32):
        while argv and _ASSIGNMENT.match(argv[0]):
            argv = argv[1:]
        if not argv:
            return argv
        base = posixpath.basename(argv[0])
        wrapper = _WRAPPERS.get(base)
        if wrapper is None:
            return argv
        inner = wrapper(argv[1:])
        if inner is None:
            return argv
        argv = inner
    return argv


_FAMILY = (
    (re.compile(r"mkfs(\..*)?|mke2fs|mkdosfs|mkntfs|mkexfatfs|mkfs\w*"), "mkfs"),
    (re.compile(r"python[0-9.]*|pypy[0-9.]*"), "python"),
    (re.compile(r"perl[0-9.]*"), "perl"),
    (re.compile(r"ruby[0-9.]*"), "ruby"),
    (re.compile(r"php[0-9.]*"), "php"),
    (re.compile(r"node|nodejs|deno|bun"), "node"),
    (re.compile(r"lua[0-9.]*|luajit"), "lua"),
    (re.compile(r"i?p?6?tables(-legacy|-nft)?|ip6?tables"), "iptables"),
    (re.compile(r"[gmn]?awk|busybox-awk"), "awk"),
)


def _family(base: str) -> str:
    for pattern, name in _FAMILY:
        if pattern.fullmatch(base):
            return name
    return base


# --------------------------------------------------------------------------- analysis


@attrs.frozen
class _Out:
    """What a command writes on its standard output, as far as it is known."""

    kind: Literal["none", "text", "decode", "download", "paths", "unknown"] = "unknown"
    text: str | None = None
    paths: tuple[str, ...] = ()
    source: str = ""


@attrs.frozen
class _Forbidden:
    entry: str
    program: str
    flags: frozenset[str]
    args: tuple[str, ...]


_LONG_FLAGS = {"recursive": "r", "force": "f"}


def _norm_flags(args: Sequence[str]) -> tuple[frozenset[str], list[str]]:
    """Flags as single letters (``-rf`` = ``-r -f`` = ``--recursive --force``) and operands."""
    flags: set[str] = set()
    operands: list[str] = []
    end = False
    for a in args:
        if end or a == "-" or not a.startswith("-"):
            operands.append(a)
        elif a == "--":
            end = True
        elif a.startswith("--"):
            name = a[2:].split("=", 1)[0]
            flags.add(_LONG_FLAGS.get(name, "--" + name))
        else:
            flags.update("r" if ch == "R" else ch for ch in a[1:])
    return frozenset(flags), operands


_INTERPRETERS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish", "csh",
                           "tcsh", "python", "perl", "ruby", "php", "node", "lua", "eval",
                           "source", ".", "tclsh", "Rscript", "osascript"})  # fmt: skip
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish", "csh", "tcsh"})


class _Analyser:
    """Walks a parse tree, collecting (severity, reason) findings."""

    def __init__(self, home: str, forbidden: Sequence[_Forbidden]) -> None:
        self.home = home
        self.forbidden = forbidden
        self.findings: list[tuple[int, str]] = []
        self.env: dict[str, tuple[str, ...]] = {}
        self.aliases: dict[str, str] = {}
        self.functions: set[str] = set()
        self.cwd: str | None = None
        self.sub_outputs: list[_Out] = []
        self.protected = (*_PROTECTED, home)

    # -- findings
    def add(self, severity: int, reason: str) -> None:
        self.findings.append((severity, reason))

    def allow(self, base: str) -> None:
        self.add(_ALLOW, f"read-only: {base}")

    def verdict(self) -> Verdict:
        if not self.findings:
            return Verdict("allow", ("nothing to run",))
        worst = max(s for s, _ in self.findings)
        reasons = dict.fromkeys(r for s, r in self.findings if s == worst)
        return Verdict(_NAMES[worst], tuple(reasons))

    def worst(self) -> int:
        return max((s for s, _ in self.findings), default=_ALLOW)

    def sub_analysis(self, text: str, depth: int) -> _Analyser:
        """Analyse ``text`` apart (for code inside strings); its findings stay its own."""
        sub = _Analyser(self.home, self.forbidden)
        sub.cwd, sub.env = self.cwd, dict(self.env)
        sub.run_text(text, depth)
        return sub

    # -- entry points
    def run_text(self, text: str, depth: int) -> _Out:
        if depth > MAX_DEPTH:
            self.add(_DENY, f"nested too deeply ({_clip(text)})")
            return _Out()
        try:
            tree = _Parser(text, depth).parse()
        except _ParseError as exc:
            self.add(_DENY, f"cannot parse: {exc} ({_clip(text)})")
            return _Out()
        except _TooDeep:
            self.add(_DENY, f"nested too deeply ({_clip(text)})")
            return _Out()
        saved = self.cwd
        out = self.run_list(tree, depth)
        if depth:
            self.cwd = saved
        return out

    def run_list(self, tree: _List, depth: int) -> _Out:
        out = _Out("none")
        for pipeline in tree.items:
            out = _Out("none")
            for k, command in enumerate(pipeline.commands):
                out = self.run_command(command, depth, out if k else None)
        return out

    def run_command(self, command: _Command, depth: int, stdin: _Out | None) -> _Out:
        if isinstance(command, _Simple):
            saved, self.sub_outputs = self.sub_outputs, []
            try:
                return self.run_simple(command, depth, stdin)
            finally:
                self.sub_outputs = saved
        if isinstance(command, _Group):
            for redir in command.redirs:
                self.redirection(redir, depth)
            return self.run_list(command.body, depth)
        self.functions.add(command.name)
        if _calls_itself(command.body, command.name, False):
            name = command.name
            self.add(_DENY, f"fork bomb: function {name} starts copies of itself ({name}|{name}&)")
        self.run_command(command.body, depth, None)
        return _Out("none")

    # -- expansion
    def var(self, seg: _Seg) -> tuple[str, ...]:
        if seg.text == "HOME":
            return (self.home,)
        if seg.text == "PWD" and self.cwd:
            return (self.cwd,)
        if seg.text in self.env:
            return self.env[seg.text]
        if seg.default is not None:
            return (seg.default,)
        return (_UNKNOWN,)

    def expand(self, word: _Word, depth: int) -> list[str]:
        parts: list[str] = []
        holes: list[tuple[tuple[str, ...], bool]] = []
        quoted = False
        for idx, seg in enumerate(word.segs):
            if seg.kind == "lit":
                text = seg.text
                if seg.quoted:
                    quoted = True
                    parts.append(text.translate(_PROTECT))
                    continue
                if idx == 0 and text.startswith("~"):
                    m = re.match(r"~([A-Za-z0-9_.-]*)(?=/|$)", text)
                    if m:
                        user = m.group(1)
                        home = (
                            self.home
                            if not user
                            else "/root"
                            if user == "root"
                            else ("/home/" + user)
                        )
                        holes.append(((home,), True))
                        parts.append(chr(_HOLE + len(holes) - 1))
                        text = text[m.end() :]
                parts.append(text)
                continue
            if seg.kind == "var":
                values = self.var(seg)
            elif seg.kind == "sub" and seg.body is not None:
                out = self.run_list(seg.body, depth)
                self.sub_outputs.append(out)
                known = out.text is not None and out.kind in ("text", "decode")
                values = (out.text.rstrip("\n"),) if out.text is not None and known else (_UNKNOWN,)
            else:
                values = (_UNKNOWN,)
            quoted = quoted or seg.quoted
            if len(holes) >= _HOLE_MAX:
                return [_UNKNOWN]
            holes.append((values, seg.quoted))
            parts.append(chr(_HOLE + len(holes) - 1))
        template = "".join(parts)
        alternatives = _brace_expand(template) if "{" in template else [template]
        results: list[str] = []
        for alternative in alternatives:
            for fields in _fill(alternative, holes):
                results.extend(f.translate(_UNPROTECT) for f in fields if f or quoted)
            if len(results) >= _MAX_ALTERNATIVES:
                break
        return results[:_MAX_ALTERNATIVES]

    # -- paths
    def absolute(self, p: str) -> str | None:
        if not p.startswith("/"):
            if self.cwd is None:
                return None
            p = self.cwd + "/" + p
        p = posixpath.normpath(p)
        if p.startswith("//"):
            p = "/" + p.lstrip("/")
        return p

    def paths(self, arg: str) -> list[tuple[str | None, bool]]:
        """Where ``arg`` may point: (absolute path or None if unknowable, from a guess)."""
        if _UNKNOWN not in arg:
            return [(self.absolute(arg), False)]
        out: list[tuple[str | None, bool]] = []
        empty = arg.replace(_UNKNOWN, "")
        if empty:
            out.append((self.absolute(empty), True))
        out.append((self.absolute(arg.replace(_UNKNOWN, "*")), True))
        return out

    def touches(self, p: str, contents: bool = True) -> str | None:
        comps = [c for c in p.split("/") if c]
        for q in self.protected:
            hit = _touches_one(comps, q, contents and q not in _CONTENTS_ALLOWED)
            if hit is not None:
                return hit
        return None

    def delete(self, arg: str, recursive: bool, show: str, what: str = "delete") -> None:
        for p, guess in self.paths(arg):
            if p is None:
                continue
            if_empty = " if a variable is empty" if guess else ""
            hit = self.touches(p) if recursive else None
            if hit is not None:
                self.add(_DENY, f"recursive {what} of {hit}{if_empty} ({show})")
                return
            if _critical(p):
                self.add(_DENY, f"{what}s critical file {p}{if_empty} ({show})")
                return
        self.add(_CONFIRM, f"{what}s {arg.replace(_UNKNOWN, '$?')} ({show})")

    def write(self, arg: str, append: bool, show: str) -> bool:
        """Check a write to ``arg``; False when it goes nowhere (``/dev/null``)."""
        for p, guess in self.paths(arg):
            if p is None:
                continue
            if_empty = " if a variable is empty" if guess else ""
            if not guess and _SINKS.fullmatch(p):
                return False
            if _block_device(p):
                self.add(_DENY, f"writes to block device {p} ({show})")
                return True
            if p == "/proc/sysrq-trigger":
                self.add(_DENY, f"triggers a kernel SysRq action ({show})")
                return True
            if _critical(p):
                self.add(_DENY, f"overwrites critical file {p}{if_empty} ({show})")
                return True
            if not append and p.startswith("/etc/"):
                self.add(_DENY, f"truncates {p}{if_empty} ({show})")
                return True
        self.add(_CONFIRM, f"writes to {arg.replace(_UNKNOWN, '$?')} ({show})")
        return True

    def destination(self, dest: str, sources: Sequence[str], show: str, verb: str) -> None:
        """Check a copy/move/link target (a critical file, a device, /dev/null)."""
        for p, _guess in self.paths(dest):
            if p is None:
                continue
            if p == "/dev/null" and verb == "moves":
                self.add(_DENY, f"moves files onto /dev/null ({show})")
                return
            targets = [p]
            if p in ("/etc", "/boot", "/bin", "/sbin", "/usr/bin", "/usr/sbin"):
                targets += [p + "/" + posixpath.basename(s.rstrip("/")) for s in sources]
            for t in targets:
                if _critical(t):
                    self.add(_DENY, f"{verb} onto critical file {t} ({show})")
                    return
            if _block_device(p):
                self.add(_DENY, f"{verb} onto block device {p} ({show})")
                return

    # -- simple commands
    def redirection(
        self, redir: _Redir, depth: int, written: list[str] | None = None
    ) -> _Out | None:
        """Check a redirection; the standard input it gives, if it is one."""
        op = redir.op
        if op in ("<<", "<<-"):
            return _Out("text", redir.body or "", source="here-document")
        targets = self.expand(redir.target, depth) if redir.target is not None else []
        if op == "<<<":
            return _Out("text", " ".join(targets) + "\n", source="here-string")
        if op == "<":
            return _Out("unknown", source="<")
        if op in (">&", "<&") and all(re.fullmatch(r"\d+-?|-", t) for t in targets):
            return None
        for t in targets:
            self.write(t, op in (">>", "&>>", "<>"), f"{redir.fd}{op} {t}")
            if written is not None and redir.fd in ("", "1"):
                written.append(t)
        return None

    def scheduled(self, target: str, out: _Out | None, depth: int) -> None:
        """Text written to a cron table, a boot or login script: what it will run."""
        if out is None or out.text is None:
            return
        for p, _guess in self.paths(target):
            if p is None:
                continue
            if p == "/etc/crontab" or p.startswith("/etc/cron.d/"):
                commands = _cron_commands(out.text, user_field=True)
            elif p.startswith("/var/spool/cron/"):
                commands = _cron_commands(out.text, user_field=False)
            elif p.startswith(_STARTUP_SCRIPTS) or p == self.home + "/.bashrc":
                commands = [out.text]
            else:
                continue
            for command in commands:
                self.deny_from(command, depth, f"schedules a destructive command in {p}")
            return

    def deny_from(self, text: str, depth: int, what: str) -> None:
        """Deny when shell ``text``, run later or elsewhere, would be denied."""
        sub = self.sub_analysis(text, depth + 1)
        for severity, reason in sub.findings:
            if severity == _DENY and not reason.startswith("cannot parse"):
                self.add(_DENY, f"{what}: {reason}")

    def run_simple(self, command: _Simple, depth: int, stdin: _Out | None) -> _Out:
        words = list(command.words)
        assignments: list[tuple[str, tuple[str, ...]]] = []
        while words and words[0].segs and words[0].segs[0].kind == "lit":
            first = words[0].segs[0]
            m = None if first.quoted else re.match(r"([A-Za-z_][A-Za-z0-9_]*)\+?=", first.text)
            if m is None:
                break
            rest = (attrs.evolve(first, text=first.text[m.end() :]), *words[0].segs[1:])
            values = tuple(self.expand(_Word(rest, words[0].raw), depth)) or ("",)
            assignments.append((m.group(1), values))
            words.pop(0)
        argv: list[str] = []
        for word in words:
            argv.extend(self.expand(word, depth))
        written: list[str] = []
        for redir in command.redirs:
            given = self.redirection(redir, depth, written)
            if given is not None:
                stdin = given
        if not argv:
            for name, values in assignments:
                self.env[name] = values
            return _Out("none")
        out = self.run_argv(argv, depth, stdin)
        for target in written:
            self.scheduled(target, out, depth)
        return out

    def run_argv(self, argv: list[str], depth: int, stdin: _Out | None) -> _Out:
        if depth > MAX_DEPTH:
            self.add(_DENY, f"nested too deeply ({_show(argv)})")
            return _Out()
        show = _show(argv)
        argv = _unwrap(argv)
        if not argv:
            return _Out("none")
        program = argv[0]
        if _UNKNOWN in program:
            self.add(_CONFIRM, f"the program cannot be determined ({show})")
            flags, operands = _norm_flags(argv[1:])
            if {"r", "f"} <= flags:
                for operand in operands:
                    self.delete(operand, True, show)
            return _Out()
        base = posixpath.basename(program) or program
        if _has_glob(base) and base not in _READ_ONLY:
            candidates = [p for p in _RULES if fnmatch.fnmatchcase(p, base)][:8]
            if not candidates:
                self.add(_CONFIRM, f"unknown program {base} ({show})")
            for candidate in candidates:
                self.run_argv([candidate, *argv[1:]], depth + 1, stdin)
            return _Out()
        if base in self.aliases and base not in argv[1:]:
            alias = self.aliases.pop(base)
            try:
                return self.run_text(" ".join([alias, *argv[1:]]), depth + 1)
            finally:
                self.aliases[base] = alias
        if base in self.functions:
            self.add(_ALLOW, f"calls function {base}")
            return _Out()
        family = _family(base)
        args = argv[1:]
        self.check_forbidden(base, args, show)
        if family in _INTERPRETERS or base in _INTERPRETERS:
            for out in self.sub_outputs:
                if out.kind in ("download", "decode"):
                    what = "downloaded" if out.kind == "download" else "decoded"
                    self.add(_DENY, f"runs {what} code ({out.source} … in {base}: {show})")
        if args in (["--version"], ["--help"]):
            self.allow(base)
            return _Out()
        rule = _RULES.get(family)
        if rule is not None:
            return rule(self, base, args, depth, stdin, show)
        if family in _READ_ONLY:
            self.allow(base)
            return _Out()
        self.add(_CONFIRM, f"{base} may change the system ({show})")
        return _Out()

    def check_forbidden(self, base: str, args: list[str], show: str) -> None:
        if not self.forbidden:
            return
        flags, operands = _norm_flags(args)
        for entry in self.forbidden:
            if base != entry.program and not base.startswith(entry.program + "."):
                continue
            if not entry.flags <= flags:
                continue
            if all(self.operand_matches(x, operands) for x in entry.args):
                self.add(_DENY, f"forbidden by security.forbidden_commands: {entry.entry} ({show})")
                return

    def operand_matches(self, wanted: str, operands: list[str]) -> bool:
        if not wanted.startswith("/"):
            return wanted in operands
        target = self.absolute(wanted) or wanted
        for operand in operands:
            for p, _guess in self.paths(operand):
                if p is not None and _touches_one([c for c in p.split("/") if c], target, True):
                    return True
        return False


_STARTUP_SCRIPTS = ("/etc/cron.hourly/", "/etc/cron.daily/", "/etc/cron.weekly/",
                    "/etc/cron.monthly/", "/etc/init.d/", "/etc/rc.local", "/etc/profile",
                    "/etc/bash.bashrc", "/root/.bashrc", "/root/.profile",
                    "/etc/systemd/system/")  # fmt: skip


def _cron_commands(text: str, user_field: bool) -> list[str]:
    """The commands of crontab lines (``m h dom mon dow [user] command``)."""
    commands = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or _ASSIGNMENT.match(line):
            continue
        fields = line.split(None, (1 if line.startswith("@") else 5) + int(user_field))
        if len(fields) == (2 if line.startswith("@") else 6) + int(user_field):
            commands.append(fields[-1])
    return commands


def _fill(template: str, holes: list[tuple[tuple[str, ...], bool]]) -> list[list[str]]:
    """Put the holes' values in; unquoted values split into fields. Alternatives of fields."""
    alternatives: list[list[str]] = [[""]]
    for piece in _HOLE_SPLIT.split(template):
        if len(piece) == 1 and _HOLE <= ord(piece) < _HOLE + len(holes):
            values, quoted = holes[ord(piece) - _HOLE]
            grown: list[list[str]] = []
            for fields in alternatives:
                for value in values:
                    f = fields.copy()
                    if quoted or not re.search(r"\s", value):
                        f[-1] += value
                    else:
                        pieces = value.split()
                        if value[:1].isspace() and f[-1]:
                            f.append("")
                        if pieces:
                            f[-1] += pieces[0]
                            f.extend(pieces[1:])
                        if value[-1:].isspace():
                            f.append("")
                    grown.append(f)
                    if len(grown) >= 16:
                        break
            alternatives = grown
        elif piece:
            for f in alternatives:
                f[-1] += piece
    return alternatives


def _calls_itself(command: _Command, name: str, multiple: bool) -> bool:
    """Whether ``command`` runs ``name`` in a pipeline or in the background."""
    if isinstance(command, _Simple):
        return multiple and bool(command.words) and command.words[0].raw == name
    if isinstance(command, _FuncDef):
        return False
    for pipeline in command.body.items:
        many = multiple or pipeline.background or len(pipeline.commands) > 1
        if any(_calls_itself(c, name, many) for c in pipeline.commands):
            return True
    return False


# --------------------------------------------------------------------------- program rules

_Rule = Callable[[_Analyser, str, list[str], int, "_Out | None", str], _Out]
_RULES: dict[str, _Rule] = {}


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _rule(*names: str) -> Callable[[_Rule], _Rule]:
    def register(fn: _Rule) -> _Rule:
        for name in names:
            _RULES[name] = fn
        return fn

    return register


_READ_ONLY = _words("""
pvs lvs vgs pvdisplay vgdisplay lvdisplay pvscan vgscan lvscan lsscsi lsinitramfs
ls ll la l dir vdir tree exa eza lsd cat tac head tail less more most grep egrep fgrep rg ag
ack zgrep zegrep zfgrep zcat bzcat xzcat zstdcat zless zmore bzgrep xzgrep cut uniq wc diff
diff3 sdiff cmp comm stat file locate mlocate plocate which whereis type pwd uptime who w id
whoami uname df du free vmstat iostat mpstat sar pidstat ps pgrep pidof pstree lsof ss
netstat ping ping6 traceroute traceroute6 tracepath mtr dig host nslookup drill whois lsblk
blkid lscpu lsusb lspci lsmod modinfo lshw lsns lslocks lsipc findmnt nproc arch getconf tty
groups users last lastlog lastb getent printenv test [ [[ true false : sleep basename
dirname realpath readlink namei md5sum sha1sum sha224sum sha256sum sha384sum sha512sum b2sum
cksum sum od hexdump hd strings nl fold fmt column expand unexpand paste join seq yes jq top
htop atop iotop iftop nethogs glances btop sensors lsattr getfacl man info apropos whatis
help tldr cal ncal bc dc expr factor numfmt locale hostid getenforce sestatus aa-status
systemd-analyze systemd-cgls systemd-cgtop systemd-detect-virt journalctl-list dpkg-query
apt-cache lsb_release neofetch screenfetch pwdx vnstat wait jobs exit logout return break
continue shift clear reset tput cd pushd popd dirs  unset shopt umask ulimit let hash
getopts caller times trap iptables-save ip6tables-save ipcs tcpdump
  cpupower turbostat powertop needrestart checkrestart debsums command atq
""")


@_rule("echo")
def _r_echo(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
            show: str) -> _Out:  # fmt: skip
    a.allow(base)
    escapes = False
    while args and re.fullmatch(r"-[neE]+", args[0]):
        escapes = escapes or "e" in args[0]
        args = args[1:]
    text = " ".join(args) + "\n"
    if any(_UNKNOWN in x for x in args):
        return _Out("unknown", source=base)
    return _Out("text", _decode_escapes(text) if escapes else text, source=base)


@_rule("printf")
def _r_printf(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
              show: str) -> _Out:  # fmt: skip
    a.allow(base)
    if args[:1] == ["-v"]:
        return _Out("none")
    if not args or any(_UNKNOWN in x for x in args):
        return _Out("unknown", source=base)
    values = iter(args[1:])
    text = re.sub(r"%(%|[-+ #0-9.]*[sbdiqc])",
                  lambda m: "%" if m.group(1) == "%" else next(values, ""),
                  _decode_escapes(args[0]))  # fmt: skip
    return _Out("text", text, source=base)


@_rule("cat")
def _r_cat(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
           show: str) -> _Out:  # fmt: skip
    a.allow(base)
    files = [x for x in args if not x.startswith("-") or x == "-"]
    if (not files or files == ["-"]) and stdin is not None:
        return stdin
    return _Out("unknown", source=base)


@_rule("base64", "base32", "basenc", "uudecode", "xxd", "rev", "tr", "gunzip", "gzip",
       "bunzip2", "bzip2", "xz", "unxz", "zstd", "openssl")  # fmt: skip
def _r_decoder(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
               show: str) -> _Out:  # fmt: skip
    flags, operands = _norm_flags(args)
    decoding = bool(flags & {"d", "D", "--decode"}) or base in (
        "uudecode",
        "gunzip",
        "unxz",
        "bunzip2",
        "rev",
        "tr",
    )
    if base == "xxd":
        decoding = "r" in flags or "--revert" in flags
    if (
        base in ("gzip", "bzip2", "xz", "zstd", "gunzip", "unxz", "bunzip2")
        and not (flags & {"c", "--stdout", "t", "l", "--list", "--test"})
        and operands
    ):
        a.add(_CONFIRM, f"{base} replaces the files it (de)compresses ({show})")
        return _Out("unknown", source=base)
    if base == "openssl":
        sub = operands[0] if operands else ""
        decoding = sub in ("enc", "base64", "smime", "cms", "aes-256-cbc", "des3") and "d" in flags
        if "-out" in args:
            target = args[args.index("-out") + 1] if args.index("-out") + 1 < len(args) else ""
            a.write(target, False, show)
        elif sub in ("version", "x509", "verify", "ciphers", "s_client", "req", "crl", "rsa",
                     "ec", "pkey", "dgst", "list", "asn1parse", "enc", "base64", "speed",
                     "rand", "errstr", "sess_id", ""):  # fmt: skip
            a.allow(base)
        else:
            a.add(_CONFIRM, f"openssl {sub} may write keys or certificates ({show})")
    else:
        a.allow(base)
    if not decoding:
        return _Out("unknown", source=base)
    text = None
    if stdin is not None and stdin.text is not None:
        if base in ("base64", "basenc"):
            try:
                text = base64.b64decode(re.sub(r"\s", "", stdin.text) + "==").decode(
                    "utf-8", "replace"
                )
            except (binascii.Error, ValueError):
                text = None
        elif base == "rev":
            text = "\n".join(line[::-1] for line in stdin.text.rstrip("\n").split("\n")) + "\n"
    return _Out("decode", text, source=f"{base} -d" if base != "rev" else base)


_DOWNLOADERS = ("curl", "wget", "fetch", "aria2c", "http", "https", "lynx", "links", "w3m", "nc",
                "ncat", "netcat", "socat", "telnet", "ftp", "tftp", "lwp-download")  # fmt: skip


@_rule(*_DOWNLOADERS)
def _r_download(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
                show: str) -> _Out:  # fmt: skip
    for i, x in enumerate(args):
        target = None
        if (base == "curl" and x in ("-o", "--output") and i + 1 < len(args)) or (
            base == "wget" and x in ("-O", "--output-document") and i + 1 < len(args)
        ):
            target = args[i + 1]
        elif x.startswith(("--output=", "--output-document=")):
            target = x.split("=", 1)[1]
        elif base == "wget" and re.fullmatch(r"-\w*O\S+", x):
            target = x[x.index("O") + 1 :]
        if target and target != "-":
            a.write(target, False, show)
    a.add(_CONFIRM, f"{base} reaches the network ({show})")
    return _Out("download", source=base)


def _stdin_code(a: _Analyser, base: str, stdin: _Out | None, depth: int, show: str,
                shell: bool) -> _Out:  # fmt: skip
    kind = "a shell" if shell else base
    if stdin is None:
        a.add(_CONFIRM, f"starts an interactive {kind} ({show})")
        return _Out()
    if stdin.kind == "download":
        a.add(_DENY, f"pipes downloaded code into {kind} ({stdin.source} … | {show})")
    elif stdin.kind == "decode":
        a.add(_DENY, f"pipes decoded data into {kind} ({stdin.source} … | {show})")
    if stdin.text is not None and stdin.kind in ("text", "decode"):
        if shell:
            a.run_text(stdin.text, depth + 1)
        else:
            _code(a, base, stdin.text, depth)
        a.add(_CONFIRM, f"runs code given on its input ({stdin.source} … | {show})")
    else:
        a.add(_CONFIRM, f"pipes data into {kind} ({show})")
    return _Out()


@_rule(*_SHELLS)
def _r_shell(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
             show: str) -> _Out:  # fmt: skip
    command = stdin_script = False
    i = 0
    while i < len(args):
        x = args[i]
        if x == "--":
            i += 1
            break
        if x.startswith("-") and not x.startswith("--") and "s" in x[1:]:
            stdin_script = True
        if x in ("-o", "+o", "-O", "+O", "--rcfile", "--init-file"):
            i += 2
            continue
        if x.startswith("-") and not x.startswith("--") and "c" in x[1:]:
            command = True
        elif not x.startswith(("-", "+")) or x in ("-", "+"):
            break
        i += 1
    rest = args[i:]
    if command:
        if not rest:
            a.add(_CONFIRM, f"{base} -c without a command ({show})")
            return _Out()
        return a.run_text(rest[0], depth + 1)
    if rest and rest[0] != "-" and not stdin_script:
        a.add(_CONFIRM, f"runs the script {rest[0]} ({show})")
        return _Out()
    return _stdin_code(a, base, stdin, depth, show, True)


@_rule("eval")
def _r_eval(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
            show: str) -> _Out:  # fmt: skip
    return a.run_text(" ".join(args), depth + 1)


@_rule("source", ".")
def _r_source(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
              show: str) -> _Out:  # fmt: skip
    a.add(_CONFIRM, f"runs the script {args[0] if args else ''} in this shell ({show})")
    return _Out()


_CODE_CALLS = re.compile(
    r"\b(os\.system|os\.popen|os\.exec\w*|subprocess|popen|system|exec|spawn\w*|Popen|"
    r"check_output|check_call|IO\.popen|child_process|execSync|spawnSync|shell_exec|"
    r"passthru|proc_open|qx)\b|`"
)
_CODE_STRINGS = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"|`([^`]*)`")
_CODE_LISTS = re.compile(r"[\[(]\s*((?:(?:'[^']*'|\"[^\"]*\")\s*,?\s*){2,})[\])]")
_CODE_DELETE = re.compile(
    r"\b(rmtree|rm_rf|rm_r|remove_dir_all|removedirs|rmdir|unlink|remove|rm)\s*\(?\s*"
    r"(?:[A-Za-z_.]+\()?\s*['\"]([^'\"]+)['\"]"
)
_CODE_OPEN = re.compile(r"\bopen\s*\(\s*['\"](/[^'\"]+)['\"]\s*,\s*['\"]([wa])")


def _code(a: _Analyser, lang: str, code: str, depth: int) -> None:
    """Inline code (``python -c``, ``perl -e``…): what its shell strings and calls do."""
    show = f"{lang}: {_clip(code, 50)}"
    if re.search(r"\bfork\b", code) and re.search(r"\b(while|for|loop|until)\b", code):
        a.add(_DENY, f"fork bomb: forks in a loop ({show})")
    for m in _CODE_DELETE.finditer(code):
        recursive = m.group(1) not in ("unlink", "remove", "rmdir")
        a.delete(m.group(2), recursive, show)
    for m in _CODE_OPEN.finditer(code):
        a.write(m.group(1), m.group(2) == "a", show)
    if _CODE_CALLS.search(code):
        strings = [
            next(g for g in m.groups() if g is not None) for m in _CODE_STRINGS.finditer(code)
        ]
        for m in _CODE_LISTS.finditer(code):
            strings.append(" ".join(s.strip("'\"") for s in re.findall(r"'[^']*'|\"[^\"]*\"",
                                                                      m.group(1))))  # fmt: skip
        for text in strings[:32]:
            sub = a.sub_analysis(text.replace("\\n", "\n"), depth + 1)
            denies = [r for s, r in sub.findings if s == _DENY and not r.startswith("cannot")]
            for reason in denies:
                a.add(_DENY, reason)
        a.add(_CONFIRM, f"runs shell commands from {lang} code ({show})")
    a.add(_CONFIRM, f"runs inline {lang} code ({show})")


@_rule("python", "perl", "ruby", "php", "node", "lua", "tclsh", "Rscript")
def _r_interpreter(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
                   show: str) -> _Out:  # fmt: skip
    lang = _family(base)
    code_flags = {"python": "c", "perl": "eE", "ruby": "e", "php": "r", "node": "ep",
                  "lua": "e", "Rscript": "e"}.get(lang, "")  # fmt: skip
    codes: list[str] = []
    inplace = False
    i = 0
    while i < len(args):
        x = args[i]
        if x == "--" or not x.startswith("-") or x == "-":
            break
        if x in ("--eval", "--print") and i + 1 < len(args):
            codes.append(args[i + 1])
            i += 2
            continue
        if x in ("-m",) and lang == "python":
            a.add(_CONFIRM, f"runs the python module {args[i + 1] if i + 1 < len(args) else ''} "
                            f"({show})")  # fmt: skip
            return _Out()
        taken = False
        for k, ch in enumerate(x[1:], 1):
            if ch == "i" and lang in ("perl", "ruby"):
                inplace = True
            if ch in code_flags:
                value = x[k + 1 :] or (args[i + 1] if i + 1 < len(args) else "")
                codes.append(value)
                taken = not x[k + 1 :]
                break
            if lang == "python" and ch in "WXQ":
                taken = not x[k + 1 :]
                break
        i += 2 if taken else 1
    rest = args[i:]
    if codes:
        for code in codes:
            _code(a, lang, code, depth)
        if inplace:
            for target in rest:
                _edit_in_place(a, target, show)
        return _Out("unknown", source=base)
    if rest and rest[0] not in ("-", "--"):
        a.add(_CONFIRM, f"runs the {lang} script {rest[0]} ({show})")
        return _Out()
    return _stdin_code(a, base, stdin, depth, show, False)


def _edit_in_place(a: _Analyser, target: str, show: str) -> None:
    for p, _guess in a.paths(target):
        if p is not None and _critical(p):
            a.add(_DENY, f"edits critical file {p} in place ({show})")
            return
    a.add(_CONFIRM, f"edits {target.replace(_UNKNOWN, '$?')} in place ({show})")


@_rule("awk")
def _r_awk(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
           show: str) -> _Out:  # fmt: skip
    i = 0
    program = None
    while i < len(args):
        x = args[i]
        if x in ("-F", "-v", "-f", "--field-separator", "--assign", "--file") and i + 1 < len(args):
            if x in ("-f", "--file"):
                a.add(_CONFIRM, f"runs the awk script {args[i + 1]} ({show})")
                return _Out()
            i += 2
            continue
        if x == "--":
            i += 1
            break
        if x.startswith("-") and x != "-":
            i += 1
            continue
        break
    if i < len(args):
        program = args[i]
    if program is None:
        a.allow(base)
        return _Out("unknown", source=base)
    if re.search(r"\bsystem\s*\(|\|\s*getline|\|&|print[f]?\b[^;}]*\|\s*\"", program):
        for m in _CODE_STRINGS.finditer(program):
            text = next(g for g in m.groups() if g is not None)
            sub = a.sub_analysis(text, depth + 1)
            for s, r in sub.findings:
                if s == _DENY and not r.startswith("cannot"):
                    a.add(_DENY, r)
        a.add(_CONFIRM, f"awk runs shell commands ({show})")
    elif re.search(r"print[f]?\b[^;}]*>>?\s*(\"|[A-Za-z_$])", program):
        a.add(_CONFIRM, f"awk writes to a file ({show})")
    else:
        a.allow(base)
    return _Out("unknown", source=base)


@_rule("sed")
def _r_sed(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
           show: str) -> _Out:  # fmt: skip
    inplace = False
    scripts: list[str] = []
    operands: list[str] = []
    i = 0
    while i < len(args):
        x = args[i]
        if x == "--":
            operands += args[i + 1 :]
            break
        if x.startswith("--"):
            if x.startswith("--in-place"):
                inplace = True
            elif x.startswith(("--expression=", "--file=")):
                scripts.append(x.split("=", 1)[1])
            elif x in ("--expression", "--file", "--line-length") and i + 1 < len(args):
                scripts.append(args[i + 1])
                i += 1
        elif x.startswith("-") and len(x) > 1:
            for k, ch in enumerate(x[1:], 1):
                if ch == "i":
                    inplace = True
                    break
                if ch in "ef":
                    value = x[k + 1 :]
                    if not value and i + 1 < len(args):
                        value = args[i + 1]
                        i += 1
                    scripts.append(value if ch == "e" else "")
                    break
                if ch == "l":
                    if not x[k + 1 :]:
                        i += 1
                    break
        else:
            operands.append(x)
        i += 1
    if not scripts and operands:
        scripts, operands = [operands[0]], operands[1:]
    script = "\n".join(scripts)
    if re.search(r"(^|[;\n{}])\s*\d*[ew]\s", script) or re.search(
        r"/[gpiImM0-9]*[ew]([\s;}]|$)", script
    ):
        a.add(_CONFIRM, f"the sed script runs commands or writes files ({show})")
    if inplace:
        for target in operands:
            _edit_in_place(a, target, show)
        if not operands:
            a.add(_CONFIRM, f"sed -i ({show})")
    else:
        a.allow(base)
    return _Out("unknown", source=base)


@_rule("sort")
def _r_sort(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
            show: str) -> _Out:  # fmt: skip
    for i, x in enumerate(args):
        if x in ("-o", "--output") and i + 1 < len(args):
            a.write(args[i + 1], False, show)
        elif x.startswith("--output="):
            a.write(x.split("=", 1)[1], False, show)
        elif re.fullmatch(r"-[a-zA-Z]*o\S+", x):
            a.write(x[x.index("o") + 1 :], False, show)
    a.allow(base)
    return _Out("unknown", source=base)


@_rule("tee")
def _r_tee(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
           show: str) -> _Out:  # fmt: skip
    flags, files = _norm_flags(args)
    written = [f for f in files if a.write(f, "a" in flags or "--append" in flags, show)]
    for target in written:
        a.scheduled(target, stdin, depth)
    if not written:
        a.allow(base)
    return stdin or _Out()


_NARROWING = frozenset(
    [
        "-name",
        "-iname",
        "-path",
        "-ipath",
        "-wholename",
        "-iwholename",
        "-regex",
        "-iregex",
        "-lname",
        "-ilname",
        "-newer",
        "-anewer",
        "-cnewer",
        "-mtime",
        "-mmin",
        "-atime",
        "-amin",
        "-ctime",
        "-cmin",
        "-size",
        "-user",
        "-group",
        "-uid",
        "-gid",
        "-perm",
        "-inum",
        "-samefile",
        "-links",
        "-used",
        "-newermt",
        "-newerct",
        "-newerat",
    ]
)
_NARROWING_BARE = frozenset({"-empty", "-nouser", "-nogroup"})
_FIND_ONE_ARG = frozenset(
    ["-type", "-xtype", "-maxdepth", "-mindepth", "-printf", "-fstype", "-context", "-files0-from"]
)


@_rule("find")
def _r_find(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
            show: str) -> _Out:  # fmt: skip
    i = 0
    while (i < len(args) and args[i] in ("-H", "-L", "-P", "-D")) or (
        i < len(args) and re.fullmatch(r"-O\d", args[i])
    ):
        i += 2 if args[i] == "-D" else 1
    roots: list[str] = []
    while i < len(args) and not args[i].startswith("-") and args[i] not in ("(", "!", ")", ","):
        roots.append(args[i])
        i += 1
    roots = roots or ["."]
    expr = args[i:]
    narrowing = other = False
    name: str | None = None
    actions: list[tuple[str, list[str]]] = []
    j = 0
    while j < len(expr):
        t = expr[j]
        if t in ("-exec", "-execdir", "-ok", "-okdir"):
            k = j + 1
            while k < len(expr) and not (
                expr[k] == ";" or (expr[k] == "+" and expr[k - 1] == "{}")
            ):
                k += 1
            actions.append(("exec", expr[j + 1 : k]))
            j = k + 1
            continue
        if t == "-delete":
            actions.append(("delete", []))
        elif t in ("-fprint", "-fprint0", "-fls", "-fprintf") and j + 1 < len(expr):
            actions.append(("write", [expr[j + 1]]))
            j += 3 if t == "-fprintf" else 2
            continue
        elif t in _NARROWING and j + 1 < len(expr):
            value = expr[j + 1]
            if not (t in ("-name", "-iname", "-path", "-ipath", "-wholename") and _broad(value)):
                narrowing = True
                if t == "-name" and "/" not in value and name is None:
                    name = value
                elif t != "-name":
                    other = True
            j += 2
            continue
        elif t in _NARROWING_BARE:
            narrowing = True
        elif t in _FIND_ONE_ARG:
            j += 2
            continue
        j += 1
    if set(expr) & {"-o", "-or", ",", "!", "-not"}:
        narrowing = False  # alternatives and negations may match everything
    child = name if name is not None and not other else "{}"
    found = tuple(r if not narrowing else r.rstrip("/") + "/" + child for r in roots)
    for action, params in actions:
        if action == "write":
            a.write(params[0], False, show)
        elif action == "delete":
            for root in roots:
                if narrowing:
                    a.add(_CONFIRM, f"deletes matching files under {root} ({show})")
                else:
                    a.delete(root, True, show)
        elif not params:
            a.add(_DENY, f"cannot parse: find -exec without a command ({show})")
        else:
            for path in found[:8]:
                a.run_argv([p.replace("{}", path) for p in params], depth + 1, None)
    if not actions:
        a.allow(base)
    return _Out("paths", paths=found, source=base)


@_rule("xargs")
def _r_xargs(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
             show: str) -> _Out:  # fmt: skip
    replace = None
    i = 0
    while i < len(args):
        x = args[i]
        if x == "--":
            i += 1
            break
        if not x.startswith("-") or x == "-":
            break
        if x == "-I" and i + 1 < len(args):
            replace = args[i + 1]
            i += 2
            continue
        if x.startswith("-I"):
            replace = x[2:]
        elif x.startswith("-i") or x.startswith("--replace"):
            replace = x.split("=", 1)[1] if "=" in x else (x[2:] or "{}")
        elif x in ("-L", "-n", "-P", "-s", "-d", "-E", "-a", "-l") and i + 1 < len(args):
            i += 2
            continue
        i += 1
    command = args[i:] or ["echo"]
    if stdin is not None and stdin.kind == "paths":
        items = list(stdin.paths)
    elif stdin is not None and stdin.text is not None:
        items = stdin.text.split()
    else:
        items = [_UNKNOWN]
    items = items[:16] or [_UNKNOWN]
    if replace:
        for item in items[:8]:
            a.run_argv([c.replace(replace, item) for c in command], depth + 1, None)
    else:
        a.run_argv([*command, *items], depth + 1, None)
    return _Out()


@_rule("parallel")
def _r_parallel(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
                show: str) -> _Out:  # fmt: skip
    i = _opts_end(args, "jSIanN", ("jobs", "sshlogin", "arg-file"))
    rest = args[i:]
    command, items = rest, [_UNKNOWN]
    for sep in (":::", "::::"):
        if sep in rest:
            k = rest.index(sep)
            command, items = rest[:k], [x for x in rest[k + 1 :] if x not in (":::", "::::")]
    if stdin is not None and stdin.text is not None and items == [_UNKNOWN]:
        items = stdin.text.split()
    text = " ".join(command)
    for item in items[:8]:
        a.run_text(text.replace("{}", item) if "{}" in text else f"{text} {item}", depth + 1)
    return _Out()


@_rule("ssh")
def _r_ssh(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
           show: str) -> _Out:  # fmt: skip
    i = _opts_end(args, "bcDEeFIiJLlmOopQRSWw")
    host, remote = (args[i], args[i + 1 :]) if i < len(args) else ("", [])
    if not host:
        a.allow(base)
    elif remote:
        sub = a.sub_analysis(" ".join(remote), depth + 1)
        for s, r in sub.findings:
            if s == _DENY:
                a.add(_DENY, f"on {host}: {r}")
        a.add(_CONFIRM, f"runs a command on {host} over ssh ({show})")
    else:
        a.add(_CONFIRM, f"opens a remote shell on {host} ({show})")
    return _Out("unknown", source=base)


@_rule("rm", "unlink")
def _r_rm(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
          show: str) -> _Out:  # fmt: skip
    flags, operands = _norm_flags(args)
    if "--no-preserve-root" in flags:
        a.add(_DENY, f"rm --no-preserve-root ({show})")
    if not operands:
        a.add(_CONFIRM, f"{base} ({show})")
    if "d" in flags and "r" not in flags:
        return _r_rmdir(a, base, operands, depth, stdin, show)
    for operand in operands:
        a.delete(operand, "r" in flags, show)
    return _Out()


@_rule("rmdir")
def _r_rmdir(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
             show: str) -> _Out:  # fmt: skip
    _flags, operands = _norm_flags(args)
    for operand in operands:
        hit = next((p for p, _g in a.paths(operand) if p in a.protected), None)
        if hit is not None:
            a.add(_DENY, f"removes protected directory {hit} ({show})")
        else:
            a.add(_CONFIRM, f"removes directory {operand.replace(_UNKNOWN, '$?')} ({show})")
    return _Out()


@_rule("shred", "srm", "wipe")
def _r_shred(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
             show: str) -> _Out:  # fmt: skip
    _flags, operands = _norm_flags(args)
    for operand in operands:
        bad = [
            p
            for p, _g in a.paths(operand)
            if (p is None and _UNKNOWN in operand)
            or (p is not None and (_block_device(p) or _critical(p) or a.touches(p)))
            or (p is not None and p.startswith("/dev/"))
        ]
        if bad:
            a.add(_DENY, f"{base} destroys {bad[0] or operand} beyond recovery ({show})")
        else:
            a.add(_CONFIRM, f"{base} destroys {operand} beyond recovery ({show})")
    if not operands:
        a.add(_CONFIRM, f"{base} ({show})")
    return _Out()


@_rule("dd")
def _r_dd(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
          show: str) -> _Out:  # fmt: skip
    operands = dict(x.split("=", 1) for x in args if "=" in x)
    if "of" in operands:
        if not a.write(operands["of"], "conv=notrunc" in args, show):
            a.allow(base)
        return _Out("none")
    a.allow(base)
    return _Out("unknown", source=base)


@_rule("mkfs", "wipefs", "blkdiscard", "sgdisk", "fdisk", "sfdisk", "gdisk", "cfdisk", "cgdisk",
       "parted", "mkswap", "badblocks", "hdparm", "nvme", "cryptsetup", "mdadm", "pvremove",
       "vgremove", "lvremove", "zpool", "zfs", "dmsetup", "sdparm")  # fmt: skip
def _r_disk(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
            show: str) -> _Out:  # fmt: skip
    family = _family(base)
    flags, operands = _norm_flags(args)
    words = set(operands)
    read_only: bool
    if family == "mkfs":
        a.add(_DENY, f"{base} formats a filesystem, erasing it ({show})")
        return _Out()
    if base == "wipefs":
        read_only = not (flags & {"a", "o", "--all", "--offset"})
    elif base == "sgdisk":
        read_only = bool(flags) and flags <= {"p", "i", "v", "--print", "--info", "--verify"}
    elif base in ("fdisk", "sfdisk", "gdisk", "cfdisk", "cgdisk"):
        read_only = bool(flags & {"l", "--list", "d", "--dump", "s", "--show-size", "J", "--json",
                                  "V", "--verify", "--list-free", "F"})  # fmt: skip
    elif base == "parted":
        writes = {"mklabel", "mktable", "rm", "mkpart", "resizepart", "resize", "rescue", "name",
                  "set", "toggle", "mkfs", "mkpartfs", "move", "cp"}  # fmt: skip
        shows = bool(words & {"print", "p", "help", "unit"}) and not words & writes
        read_only = "l" in flags or "--list" in flags or shows
    elif base == "mkswap":
        if any(p and _block_device(p) for o in operands for p, _g in a.paths(o)):
            a.add(_DENY, f"mkswap erases a device ({show})")
        else:
            a.add(_CONFIRM, f"mkswap formats a swap file ({show})")
        return _Out()
    elif base == "badblocks":
        if "w" in flags:
            a.add(_DENY, f"badblocks -w erases the device ({show})")
            return _Out()
        read_only = "n" not in flags
    elif base == "hdparm":
        dangerous = {"--security-erase", "--security-erase-enhanced", "--trim-sector-ranges",
                     "--make-bad-sector", "--write-sector", "--dco-restore", "--security-set-pass",
                     "--fwdownload"}  # fmt: skip
        if flags & dangerous:
            a.add(_DENY, f"hdparm erases or overwrites the disk ({show})")
            return _Out()
        read_only = flags <= set("IitTgCHvr") and not any(
            re.fullmatch(r"-[a-zA-Z]+\d+", x) for x in args
        )
    elif base in ("nvme", "cryptsetup", "mdadm", "zpool", "zfs", "dmsetup"):
        erase = {"format", "sanitize", "delete-ns", "luksFormat", "erase", "luksErase",
                 "destroy", "labelclear", "remove_all", "wipe_table"}  # fmt: skip
        if words & erase or (flags & {"--zero-superblock", "--create", "C"} and base == "mdadm"):
            a.add(_DENY, f"{base} erases a device or pool ({show})")
            return _Out()
        read_only = bool(words & {"list", "smart-log", "id-ctrl", "id-ns", "status", "luksDump",
                                  "isLuks", "iostat", "get", "info", "ls", "table"}) or bool(
            flags & {"D", "--detail", "E", "--examine", "Q", "--query"})  # fmt: skip
    elif base in ("pvremove", "vgremove", "lvremove"):
        a.add(_DENY, f"{base} destroys LVM volumes ({show})")
        return _Out()
    elif base == "blkdiscard":
        a.add(_DENY, f"blkdiscard discards every block of the device ({show})")
        return _Out()
    else:
        read_only = False
    if read_only:
        a.allow(base)
    else:
        a.add(_DENY, f"{base} rewrites disk partitions or signatures ({show})")
    return _Out("unknown", source=base)


def _mode_danger(mode: str, critical: bool, secret: bool) -> str | None:
    """Why a chmod mode is dangerous on a system path, or None."""
    if re.fullmatch(r"[0-7]{3,4}", mode):
        digits = mode[-3:]
        special = int(mode[0]) if len(mode) == 4 else 0
        if digits == "000":
            return "removes every permission"
        if int(digits[2]) & 2:
            return "makes it world-writable"
        if secret and int(digits[2]) & 4:
            return "makes a secret world-readable"
        if special & 6 and critical:
            return "sets setuid/setgid"
        if not critical and not int(digits[0]) & 1:
            return "makes a directory untraversable"
        return None
    for clause in mode.split(","):
        m = re.fullmatch(r"([ugoa]*)([-+=])([rwxXst]*)", clause)
        if m is None:
            continue
        who, op, perms = m.groups()
        everyone = who in ("", "a") or "o" in who
        if op == "+" and "w" in perms and everyone:
            return "makes it world-writable"
        if op == "+" and "s" in perms and critical:
            return "sets setuid/setgid"
        if op == "+" and "r" in perms and everyone and secret:
            return "makes a secret world-readable"
        if (
            op in "-="
            and (who in ("", "a", "u", "ugo"))
            and ("x" in perms or "r" in perms or (op == "=" and not perms))
        ):
            return "removes essential permissions"
    return None


_SETUID_TARGETS = re.compile(r".*/(sh|bash|dash|zsh|ksh|python[0-9.]*|perl|find|vim?|less|awk|"
                             r"gawk|env|cp|tee|dd|chmod|chown|nano|ruby|node|php)")  # fmt: skip


@_rule("chmod", "chown", "chgrp", "chattr", "setfacl")
def _r_chmod(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
             show: str) -> _Out:  # fmt: skip
    recursive = False
    positional: list[str] = []
    reference = False
    end = False
    for x in args:
        if end or not x.startswith("-") or x == "-":
            positional.append(x)
        elif x == "--":
            end = True
        elif x == "--recursive":
            recursive = True
        elif x.startswith("--reference"):
            reference = True
        elif x.startswith("--"):
            continue
        elif (
            base == "chmod"
            and re.fullmatch(r"-[rwxXstugoa=+,-]+", x)
            and not re.fullmatch(r"-[Rfvc]+", x)
        ) or (base == "chattr" and not re.fullmatch(r"-[RVf]+", x)):
            positional.append(x)
        else:
            recursive = recursive or "R" in x
    if base == "setfacl":
        positional = [p for p in positional if p.startswith("/") or _UNKNOWN in p or "/" in p]
        mode = ""
        targets = positional
    else:
        mode = "" if reference or not positional else positional[0]
        targets = positional if reference else positional[1:]
    verb = {"chmod": "chmod", "chown": "chown", "chgrp": "chgrp"}.get(base, base)
    for target in targets:
        denied = False
        for p, guess in a.paths(target):
            if p is None:
                continue
            if_empty = " if a variable is empty" if guess else ""
            if recursive and (hit := a.touches(p)) is not None:
                a.add(_DENY, f"recursive {verb} of {hit}{if_empty} ({show})")
                denied = True
                break
            critical, secret = _critical(p), p in _SECRET_FILES
            if base == "chmod" and (critical or p in a.protected or _SETUID_TARGETS.fullmatch(p)):
                danger = _mode_danger(mode, critical or bool(_SETUID_TARGETS.fullmatch(p)), secret)
                if danger:
                    a.add(_DENY, f"chmod {mode} on {p} {danger} ({show})")
                    denied = True
                    break
            if (
                base in ("chown", "chgrp")
                and (p == "/" or critical)
                and not re.fullmatch(r"(root|0)?([:.](root|0|shadow|42))?", mode)
            ):
                a.add(_DENY, f"{verb} {mode} on {p} gives a system file away ({show})")
                denied = True
                break
        if not denied:
            a.add(_CONFIRM, f"{verb} changes {target.replace(_UNKNOWN, '$?')} ({show})")
    if not targets:
        a.add(_CONFIRM, f"{verb} ({show})")
    return _Out()


@_rule("mv", "cp", "install", "ln", "rsync", "scp")
def _r_copy(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
            show: str) -> _Out:  # fmt: skip
    valued = {"mv": "tS", "cp": "tS", "install": "tSmogT", "ln": "tS", "rsync": "efT",
              "scp": "cFiJloPS"}[base]  # fmt: skip
    target_dir = None
    operands: list[str] = []
    flags: set[str] = set()
    i = 0
    while i < len(args):
        x = args[i]
        if x == "--":
            operands += args[i + 1 :]
            break
        if x.startswith("--"):
            flags.add(x.split("=", 1)[0])
            if x.startswith("--target-directory="):
                target_dir = x.split("=", 1)[1]
        elif x.startswith("-") and len(x) > 1:
            for k, ch in enumerate(x[1:], 1):
                flags.add(ch)
                if ch in valued:
                    value = x[k + 1 :] or (args[i + 1] if i + 1 < len(args) else "")
                    if not x[k + 1 :]:
                        i += 1
                    if ch == "t" and base != "rsync":
                        target_dir = value
                    break
        else:
            operands.append(x)
        i += 1
    if target_dir is not None:
        dest, sources = target_dir, operands
    elif len(operands) >= 2:
        dest, sources = operands[-1], operands[:-1]
    else:
        dest, sources = ("." if base == "ln" else ""), operands
    verb = {"mv": "moves", "ln": "links"}.get(base, "copies")
    if base == "mv":
        for source in sources:
            for p, _guess in a.paths(source):
                if p is None:
                    continue
                hit = a.touches(p)
                if hit is not None:
                    a.add(_DENY, f"moves {hit} away ({show})")
                    break
                if _critical(p):
                    a.add(_DENY, f"moves critical file {p} away ({show})")
                    break
    if dest:
        a.destination(dest, sources, show, verb)
        if base == "rsync" and any(f.startswith("--delete") or f == "--remove-source-files"
                                   for f in flags):  # fmt: skip
            for p, _guess in a.paths(dest):
                if p is not None and (hit := a.touches(p, contents=False)) is not None:
                    a.add(_DENY, f"rsync --delete onto {hit} ({show})")
                    break
    a.add(_CONFIRM, f"{verb} files ({show})")
    return _Out()


@_rule("truncate")
def _r_truncate(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
                show: str) -> _Out:  # fmt: skip
    i, operands = 0, []
    while i < len(args):
        x = args[i]
        if x in ("-s", "-r", "--size", "--reference"):
            i += 2
            continue
        if not x.startswith("-"):
            operands.append(x)
        i += 1
    for operand in operands:
        a.write(operand, False, show)
    return _Out()


_SIGNALS = {"1": "HUP", "2": "INT", "3": "QUIT", "6": "ABRT", "9": "KILL", "15": "TERM",
            "0": "0", "19": "STOP", "18": "CONT", "10": "USR1", "12": "USR2"}  # fmt: skip


@_rule("kill")
def _r_kill(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
            show: str) -> _Out:  # fmt: skip
    signal, given, pids = "TERM", False, []
    i = 0
    while i < len(args):
        x = args[i]
        if x == "--":
            pids += args[i + 1 :]
            break
        if x in ("-l", "-L", "--list", "--table"):
            a.allow(base)
            return _Out()
        if x in ("-s", "-n", "--signal") and i + 1 < len(args):
            signal, given = args[i + 1], True
            i += 2
            continue
        if x.startswith("-") and not given and not pids:
            signal, given = x[1:], True
        else:
            pids.append(x)
        i += 1
    signal = signal.upper().removeprefix("SIG")
    signal = _SIGNALS.get(signal, signal)
    for pid in pids:
        if pid == "-1" and signal != "0":
            a.add(_DENY, f"kill -{signal} -1 signals every process ({show})")
        elif pid == "1" and signal not in ("0", "HUP", "CONT", "USR1", "USR2"):
            a.add(_DENY, f"kill -{signal} 1 kills init ({show})")
    a.add(_CONFIRM, f"sends SIG{signal} to processes ({show})")
    return _Out()


@_rule("pkill", "killall", "killall5", "skill", "slay")
def _r_pkill(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
             show: str) -> _Out:  # fmt: skip
    _flags, operands = _norm_flags([x for x in args if not re.fullmatch(r"-[A-Z0-9]+", x)])
    if base == "killall5" or any(
        o in ("init", "systemd", "1", ".", ".*", "", "^") for o in operands
    ):
        a.add(_DENY, f"{base} kills init or every process ({show})")
    a.add(_CONFIRM, f"{base} kills processes ({show})")
    return _Out()


@_rule("shutdown", "reboot", "halt", "poweroff", "init", "telinit", "kexec")
def _r_power(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
             show: str) -> _Out:  # fmt: skip
    if base == "shutdown" and any(x in ("-c", "--cancel", "-k", "--show") for x in args):
        a.add(_CONFIRM, f"shutdown {' '.join(args)} ({show})")
    elif base == "init" and not (set(args) & {"0", "6", "1", "s", "S", "single", "emergency"}):
        a.add(_CONFIRM, f"init {' '.join(args)} ({show})")
    elif base == "telinit" and set(args) <= {"q", "Q", "u", "U"} and args:
        a.add(_CONFIRM, f"telinit reloads init ({show})")
    elif base == "kexec" and not set(args) & {"-e", "--exec", "-f", "--force"}:
        a.add(_CONFIRM, f"kexec loads a kernel ({show})")
    elif base in ("reboot", "halt", "poweroff") and any(x in ("-w", "--wtmp-only") for x in args):
        a.add(_CONFIRM, f"{base} --wtmp-only ({show})")
    else:
        a.add(_DENY, f"{base} stops or restarts the machine ({show})")
    return _Out()


_SYSTEMCTL_RO = frozenset(
    [
        "status",
        "is-active",
        "is-enabled",
        "is-failed",
        "is-system-running",
        "list-units",
        "list-unit-files",
        "list-sockets",
        "list-timers",
        "list-jobs",
        "list-dependencies",
        "list-machines",
        "list-paths",
        "list-automounts",
        "show",
        "cat",
        "help",
        "show-environment",
        "get-default",
    ]
)
_SYSTEMCTL_DOWN = frozenset(
    [
        "poweroff",
        "reboot",
        "halt",
        "kexec",
        "soft-reboot",
        "emergency",
        "rescue",
        "suspend",
        "hibernate",
        "hybrid-sleep",
        "suspend-then-hibernate",
    ]
)
_DOWN_TARGETS = frozenset(
    [
        "rescue",
        "emergency",
        "poweroff",
        "reboot",
        "halt",
        "shutdown",
        "kexec",
        "runlevel0",
        "runlevel1",
        "runlevel6",
    ]
)


@_rule("systemctl")
def _r_systemctl(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
                 show: str) -> _Out:  # fmt: skip
    i, operands = 0, []
    while i < len(args):
        x = args[i]
        if x in ("-t", "--type", "-p", "--property", "-H", "--host", "-M", "--machine", "-n",
                 "--lines", "-o", "--output", "--state", "-s", "--signal", "--root",
                 "--job-mode", "--kill-whom", "--what", "--timestamp", "--message"):  # fmt: skip
            i += 2
            continue
        if not x.startswith("-"):
            operands.append(x)
        i += 1
    sub = operands[0] if operands else "list-units"
    units = [u.removesuffix(".target") for u in operands[1:]]
    if sub in _SYSTEMCTL_RO:
        a.allow(f"systemctl {sub}")
    elif sub in _SYSTEMCTL_DOWN:
        a.add(_DENY, f"systemctl {sub} takes the machine down ({show})")
    elif sub in ("isolate", "start") and set(units) & _DOWN_TARGETS:
        a.add(_DENY, f"systemctl {sub} {' '.join(operands[1:])} takes the machine down ({show})")
    else:
        a.add(_CONFIRM, f"systemctl {sub} changes services ({show})")
    return _Out("unknown", source=base)


@_rule("loginctl")
def _r_loginctl(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
                show: str) -> _Out:  # fmt: skip
    _flags, operands = _norm_flags(args)
    sub = operands[0] if operands else "list-sessions"
    if sub in _SYSTEMCTL_DOWN:
        a.add(_DENY, f"loginctl {sub} takes the machine down ({show})")
    elif sub.startswith(("list", "show")) or sub.endswith("-status"):
        a.allow(f"loginctl {sub}")
    else:
        a.add(_CONFIRM, f"loginctl {sub} ({show})")
    return _Out("unknown", source=base)


@_rule("at", "batch")
def _r_at(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
          show: str) -> _Out:  # fmt: skip
    flags, _operands = _norm_flags(args)
    if flags & {"l", "c"}:
        a.allow(base)
        return _Out("unknown", source=base)
    if stdin is not None and stdin.text is not None:
        a.deny_from(stdin.text, depth, "schedules a destructive command")
    a.add(_CONFIRM, f"{base} schedules a job ({show})")
    return _Out()


@_rule("crontab")
def _r_crontab(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
               show: str) -> _Out:  # fmt: skip
    flags, _operands = _norm_flags([x for i, x in enumerate(args) if i == 0 or args[i - 1] != "-u"])
    if stdin is not None and stdin.text is not None and _operands in ([], ["-"]):
        for command in _cron_commands(stdin.text, user_field=False):
            a.deny_from(command, depth, "schedules a destructive command")
    if "r" in flags:
        a.add(_DENY, f"crontab -r deletes every cron job ({show})")
    elif flags == {"l"} or flags == {"l", "u"}:
        a.allow("crontab -l")
    else:
        a.add(_CONFIRM, f"crontab changes scheduled jobs ({show})")
    return _Out("unknown", source=base)


@_rule("userdel", "deluser", "passwd", "usermod", "chage", "groupdel", "delgroup", "chpasswd",
       "chsh")  # fmt: skip
def _r_users(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
             show: str) -> _Out:  # fmt: skip
    flags, operands = _norm_flags(args)
    root = bool(set(operands) & {"root", "0"})
    if base in ("userdel", "deluser") and root:
        a.add(_DENY, f"{base} deletes the root account ({show})")
    elif base == "passwd" and root and flags & {"d", "l", "e", "--delete", "--lock", "--expire"}:
        a.add(_DENY, f"passwd locks or empties the root password ({show})")
    elif (
        base == "usermod"
        and root
        and (
            flags & {"L", "e", "--lock", "--expiredate"}
            or any(re.search(r"/(nologin|false)$", o) for o in operands)
        )
    ):
        a.add(_DENY, f"usermod locks the root account ({show})")
    elif base == "chage" and root and flags & {"E", "--expiredate"}:
        a.add(_DENY, f"chage expires the root account ({show})")
    elif base in ("groupdel", "delgroup") and set(operands) & {"root", "sudo", "wheel"}:
        a.add(_DENY, f"{base} deletes an administrators' group ({show})")
    else:
        a.add(_CONFIRM, f"{base} changes accounts ({show})")
    return _Out()


@_rule("iptables", "ip6tables", "nft", "ufw", "firewall-cmd", "iptables-restore")
def _r_firewall(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
                show: str) -> _Out:  # fmt: skip
    family = _family(base)
    if family == "iptables" and base != "iptables-restore":
        letters = "".join(x[1:] for x in args if re.fullmatch(r"-[A-Za-z]+", x))
        longs = {x for x in args if x.startswith("--")}
        if "F" in letters or "--flush" in longs:
            a.add(_DENY, f"flushes every firewall rule ({show})")
        elif "X" in letters or "--delete-chain" in longs:
            a.add(_DENY, f"deletes firewall chains ({show})")
        elif ("P" in letters or "--policy" in longs) and set(args) & {"DROP", "REJECT"}:
            a.add(_DENY, f"sets a DROP policy that can lock everyone out ({show})")
        elif set(letters) <= set("LSnvxt") and longs <= {"--list", "--list-rules", "--numeric",
                                                          "--verbose", "--line-numbers",
                                                          "--exact", "--table"}:  # fmt: skip
            a.allow(base)
        else:
            a.add(_CONFIRM, f"{base} changes the firewall ({show})")
        return _Out("unknown", source=base)
    _flags, operands = _norm_flags(args)
    if base == "nft":
        operands = " ".join(operands).split()
        if operands[:2] == ["flush", "ruleset"]:
            a.add(_DENY, f"nft flush ruleset removes the whole firewall ({show})")
        elif operands[:1] == ["list"]:
            a.allow("nft list")
        else:
            a.add(_CONFIRM, f"nft changes the firewall ({show})")
    elif base == "ufw":
        if operands[:1] in (["status"], ["show"], ["version"]) or operands[:2] == ["app", "list"]:
            a.allow(f"ufw {operands[0]}")
        else:
            a.add(_CONFIRM, f"ufw changes the firewall ({show})")
    elif base == "firewall-cmd":
        if "--panic-on" in args:
            a.add(_DENY, f"firewall-cmd --panic-on drops every packet ({show})")
        elif args and all(x.startswith(("--list", "--get", "--state", "--query", "--info",
                                        "--zone")) for x in args):  # fmt: skip
            a.allow(base)
        else:
            a.add(_CONFIRM, f"firewall-cmd changes the firewall ({show})")
    else:
        a.add(_CONFIRM, f"{base} replaces the firewall rules ({show})")
    return _Out("unknown", source=base)


_ESSENTIAL = re.compile(r"(libc6|libc-bin|bash|dash|coreutils|dpkg|apt|systemd|systemd-sysv|init|"
                        r"login|passwd|util-linux|base-files|base-passwd|sudo|perl-base|"
                        r"debianutils|grep|sed|tar|gzip|findutils|mount|sysvinit-utils|"
                        r"e2fsprogs|bsdutils|hostname|diffutils|libpam\S*|linux-image\S*|"
                        r"openssh-server|ncurses-base|libsystemd0|\*|\.\*|~i|\?installed)"
                        r"(:\w+)?")  # fmt: skip
_APT_RO = frozenset(
    [
        "list",
        "show",
        "policy",
        "search",
        "showsrc",
        "depends",
        "rdepends",
        "changelog",
        "madison",
        "showpkg",
        "stats",
        "dump",
        "dumpavail",
        "pkgnames",
        "unmet",
        "help",
        "moo",
        "rdepends",
        "why",
        "why-not",
        "versions",
    ]
)


@_rule("apt", "apt-get", "aptitude", "dpkg", "apt-mark", "snap", "pip", "pip3", "npm")
def _r_packages(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
                show: str) -> _Out:  # fmt: skip
    flags, operands = _norm_flags(args)
    if base == "dpkg":
        ro = {"l", "L", "s", "S", "p", "c", "I", "C", "V", "--list", "--listfiles", "--status",
              "--search", "--print-avail", "--print-architecture", "--get-selections",
              "--contents", "--info", "--audit", "--verify", "--compare-versions",
              "--print-foreign-architectures"}  # fmt: skip
        removes = flags & {"r", "P", "--remove", "--purge"}
        if removes and (any(_ESSENTIAL.fullmatch(o) for o in operands) or
                         flags & {"--force-remove-essential", "--force-all"}):  # fmt: skip
            a.add(_DENY, f"dpkg removes an essential package ({show})")
        elif flags & ro and not removes and not flags & {"i", "--install", "--unpack"}:
            a.allow(base)
        else:
            a.add(_CONFIRM, f"dpkg changes installed packages ({show})")
        return _Out("unknown", source=base)
    if base == "apt-mark":
        if operands and operands[0].startswith("show"):
            a.allow("apt-mark")
        else:
            a.add(_CONFIRM, f"apt-mark changes package marks ({show})")
        return _Out("unknown", source=base)
    if base in ("snap", "pip", "pip3", "npm"):
        if operands[:1] in (["list"], ["info"], ["show"], ["search"], ["find"], ["freeze"],
                            ["version"], ["ls"], ["view"], ["outdated"], ["check"]):  # fmt: skip
            a.allow(f"{base} {operands[0]}")
        else:
            a.add(_CONFIRM, f"{base} changes installed software ({show})")
        return _Out("unknown", source=base)
    sub = operands[0] if operands else ""
    simulate = flags & {"s", "--simulate", "--dry-run", "--just-print", "--no-act", "--recon"}
    removing = sub in ("remove", "purge", "autoremove", "autopurge") or "--purge" in flags
    if removing and (any(_ESSENTIAL.fullmatch(o) for o in operands[1:]) or
                     "--allow-remove-essential" in flags) and not simulate:  # fmt: skip
        a.add(_DENY, f"{base} {sub} removes an essential package ({show})")
    elif sub in _APT_RO or simulate or (base == "apt-get" and sub == "check"):
        a.allow(f"{base} {sub}".strip())
    else:
        a.add(_CONFIRM, f"{base} {sub} changes installed packages ({show})".replace("  ", " "))
    return _Out("unknown", source=base)


@_rule("ifconfig", "route", "arp", "ethtool", "iw", "iwconfig")
def _r_netconf(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
               show: str) -> _Out:  # fmt: skip
    flags, operands = _norm_flags(args)
    shows = {"ifconfig": "asv", "route": "neFCv", "arp": "anveiH", "ethtool": "iSkgaclmTP",
             "iw": "", "iwconfig": ""}[base]  # fmt: skip
    if base == "iw":
        ok = bool(operands) and operands[-1] in ("info", "link", "scan", "dump", "list", "dev")
    else:
        ok = len(operands) <= (1 if base != "arp" else 0) and set(flags) <= set(shows)
    if ok:
        a.allow(base)
    else:
        a.add(_CONFIRM, f"{base} changes the network configuration ({show})")
    return _Out("unknown", source=base)


@_rule("journalctl", "dmesg")
def _r_logs(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
            show: str) -> _Out:  # fmt: skip
    if base == "journalctl":
        bad = [x for x in args if x.startswith(("--vacuum", "--rotate", "--flush", "--sync",
                                                "--relinquish-var", "--smart-relinquish-var",
                                                "--setup-keys", "--update-catalog"))]  # fmt: skip
    else:
        bad = [x for x in args if x in ("-c", "-C", "--clear", "--read-clear", "-D", "-E",
                                        "--console-off", "--console-on", "-n", "--console-level")
               or re.fullmatch(r"-[a-zA-Z]*[cCDE][a-zA-Z]*", x)]  # fmt: skip
    if bad:
        a.add(_CONFIRM, f"{base} {bad[0]} changes the logs ({show})")
    else:
        a.allow(base)
    return _Out("unknown", source=base)


@_rule("ip")
def _r_ip(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
          show: str) -> _Out:  # fmt: skip
    operands, i = [], 0
    while i < len(args):
        x = args[i]
        if x in ("-n", "-netns", "-b", "-batch", "-rc", "-rcvbuf", "-l", "-loops", "-f", "-family"):
            if x in ("-b", "-batch"):
                a.add(_CONFIRM, f"ip -batch runs a file of commands ({show})")
                return _Out()
            i += 2
            continue
        if not x.startswith("-"):
            operands.append(x)
        i += 1
    if operands[:2] == ["netns", "exec"] and len(operands) > 3:
        k = args.index("exec")
        return a.run_argv(args[k + 2 :], depth + 1, stdin)
    if (
        not operands
        or operands[0] in ("monitor", "mon")
        or (
            len(operands) == 1
            or operands[1] in ("show", "list", "lst", "sh", "ls", "l", "s", "get")
            or (len(operands) == 2 and operands[0] in ("a", "addr", "address", "l", "link"))
        )
    ):
        a.allow(f"ip {' '.join(operands[:2])}".strip())
    else:
        a.add(_CONFIRM, f"ip {operands[0]} {operands[1]} changes the network ({show})")
    return _Out("unknown", source=base)


_CTL_READ_ONLY = _words("""status show list-timezones query statistics timesync-status
show-timesync list lldp label list-locales list-keymaps dns domain show-cache""")


@_rule("hostname", "date", "mount", "sysctl", "tar", "hwclock", "timedatectl", "hostnamectl",
       "localectl", "resolvectl", "networkctl", "nmcli", "modprobe", "smartctl", "fuser",
       "history", "yq", "unzip", "zip", "ncdu")  # fmt: skip
def _r_conditional(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
                   show: str) -> _Out:  # fmt: skip
    flags, operands = _norm_flags(args)
    if base == "hostname":
        ok = not operands and "F" not in flags and "--file" not in flags and "b" not in flags
    elif base == "date":
        ok = not flags & {"s", "--set"} and all(o.startswith("+") for o in operands)
    elif base == "mount":
        ok = not operands and flags <= {"l", "t", "v"}
    elif base == "sysctl":
        ok = not flags & {"w", "p", "--write", "--load", "--system"} and not any(
            "=" in o for o in operands
        )
    elif base == "tar":
        mode = operands[0] if operands and not args[0].startswith("-") else ""
        letters = set(mode) | flags
        ok = ("t" in letters or "--list" in letters) and not letters & {"x", "c", "r", "u", "A"}
    elif base == "hwclock":
        ok = not flags & {"w", "s", "--systohc", "--hctosys", "--set", "--adjust"}
    elif base in ("timedatectl", "hostnamectl", "localectl", "resolvectl", "networkctl"):
        ok = not operands or operands[0] in _CTL_READ_ONLY
        ok = ok and (operands[:1] not in (["dns"], ["domain"]) or len(operands) <= 2)
    elif base == "nmcli":
        ok = (
            bool(set(operands) & {"show", "status", "list", "s"})
            or not operands
            or (operands in (["general"], ["device"], ["connection"], ["d"], ["c"], ["g"]))
        )
        ok = ok and not set(operands) & {"up", "down", "modify", "delete", "add", "connect",
                                         "disconnect", "reload", "off", "on", "edit"}  # fmt: skip
    elif base == "modprobe":
        ok = bool(flags & {"n", "--dry-run", "--show-depends", "c", "--showconfig", "D"})
    elif base == "smartctl":
        ok = not flags & {"t", "--test", "s", "--smart", "o", "S", "X", "--abort"} and not any(
            x.startswith(("--smart=", "--test=", "--offlineauto=", "--saveauto=")) for x in args
        )
    elif base == "fuser":
        ok = "k" not in flags and "--kill" not in flags
    elif base == "history":
        ok = not flags & set("cdwranps")
    elif base == "yq":
        ok = not flags & {"i", "--inplace"}
    elif base == "unzip":
        ok = bool(flags & {"l", "v", "t", "Z"})
    elif base == "ncdu":
        ok = "r" in flags
    else:
        ok = False
    if ok:
        a.allow(base)
    else:
        a.add(_CONFIRM, f"{base} may change the system ({show})")
    return _Out("unknown", source=base)


@_rule("git", "docker", "podman", "kubectl", "svn", "hg")
def _r_vcs(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
           show: str) -> _Out:  # fmt: skip
    i = _opts_end(args, "C" if base == "git" else "Hc", ("namespace", "context", "git-dir",
                                                         "work-tree", "host"))  # fmt: skip
    operands = [x for x in args[i:] if not x.startswith("-")]
    sub = operands[0] if operands else ""
    ro = {
        "git": {"status", "log", "diff", "show", "blame", "ls-files", "rev-parse", "describe",
                "shortlog", "grep", "reflog", "ls-remote", "cat-file", "version", "help"},
        "kubectl": {"get", "describe", "logs", "top", "version", "explain", "api-resources",
                    "api-versions", "cluster-info"},
    }.get(base, {"ps", "images", "logs", "inspect", "stats", "version", "info", "top", "port",
                 "diff", "history", "events", "search", "status", "log"})  # fmt: skip
    listing = sub in ("image", "container", "network", "volume", "system", "compose", "config",
                      "branch", "tag", "remote", "stash", "node", "service") and (
        len(operands) == 1 or operands[1] in ("ls", "list", "ps", "inspect", "df", "logs",
                                              "view", "-v", "show")
    ) and not set(args) & {"-d", "-D", "--delete", "-m", "-M", "add", "rm", "remove",
                           "prune"}  # fmt: skip
    if sub in ro or listing or (base == "git" and sub == "config" and
                                set(args) & {"--get", "-l", "--list", "--get-all"}):  # fmt: skip
        a.allow(f"{base} {sub}".strip())
    else:
        a.add(_CONFIRM, f"{base} {sub} may change the system ({show})".replace("  ", " "))
    return _Out("unknown", source=base)


@_rule("vi", "vim", "nvim", "nano", "emacs", "ed", "ex", "pico", "joe", "mcedit", "micro",
       "sudoedit", "visudo", "vipw", "vigr", "view")  # fmt: skip
def _r_editor(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
              show: str) -> _Out:  # fmt: skip
    a.add(_CONFIRM, f"opens an editor ({show})")
    return _Out()


@_rule("cd", "pushd")
def _r_cd(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
          show: str) -> _Out:  # fmt: skip
    operands = [x for x in args if not re.fullmatch(r"-[LPe@]+", x)]
    target = operands[0] if operands else a.home
    if target == "-" or _UNKNOWN in target:
        a.cwd = None
    else:
        a.cwd = a.absolute(target)
    a.allow(base)
    return _Out("none")


@_rule("export", "declare", "typeset", "local", "readonly", "alias", "unalias", "read",
       "mapfile", "readarray", "for", "select", "set")  # fmt: skip
def _r_variables(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
                 show: str) -> _Out:  # fmt: skip
    if base in ("for", "select"):
        if args and args[0] != "((":
            values = tuple(args[2:18]) if args[1:2] == ["in"] else ()
            a.env[args[0]] = values or (_UNKNOWN,)
        a.allow(base)
        return _Out("none")
    if base == "set" and "--" in args:
        for number, value in enumerate(args[args.index("--") + 1 :][:9], 1):
            a.env[str(number)] = (value,)
    for x in args:
        name, eq, value = x.partition("=")
        if not _NAME_RE.fullmatch(name):
            continue
        if base == "alias" and eq:
            a.aliases[name] = value
        elif base in ("read", "mapfile", "readarray") or not eq:
            a.env.pop(name, None)
            if base in ("read", "mapfile", "readarray"):
                a.env[name] = (_UNKNOWN,)
        else:
            a.env[name] = (value,)
    a.allow(base)
    return _Out("none")


@_rule("sudo", "su", "doas", "pkexec", "runuser", "chroot", "env", "nice", "watch")
def _r_wrapper_alone(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
                     show: str) -> _Out:  # fmt: skip
    listing = base == "sudo" and set(args) & {"-l", "-v", "-k", "-K", "-V"}
    if base in ("env", "nice", "watch") or listing:
        a.allow(base)
        return _Out("unknown", source=base)
    a.add(_CONFIRM, f"opens a shell as another user ({show})")
    return _Out()


@_rule("trap")
def _r_trap(a: _Analyser, base: str, args: list[str], depth: int, stdin: _Out | None,
            show: str) -> _Out:  # fmt: skip
    if len(args) >= 2 and not args[0].startswith("-"):
        a.run_text(args[0], depth + 1)
    a.allow(base)
    return _Out("none")


# --------------------------------------------------------------------------- entry point


def _compile_forbidden(entry: str, home: str) -> _Forbidden | None:
    try:
        tree = _Parser(entry, 0).parse()
    except (_ParseError, _TooDeep):
        return None
    analyser = _Analyser(home, ())
    for pipeline in tree.items:
        for command in pipeline.commands:
            if isinstance(command, _Simple) and command.words:
                argv: list[str] = []
                for word in command.words:
                    argv.extend(analyser.expand(word, 0))
                argv = _unwrap(argv)
                if argv:
                    flags, operands = _norm_flags(argv[1:])
                    program = posixpath.basename(argv[0])
                    return _Forbidden(entry, program, flags, tuple(operands))
    return None


def check_command(command: str, *, forbidden: Sequence[str] = (), home: str = "/root") -> Verdict:
    """The policy's verdict on a raw shell command line.

    Args:
        command: The command line, as a user would type it (may hold several
            commands, pipes, newlines).
        forbidden: Extra forbidden commands (``security.forbidden_commands``),
            each parsed like a command: ``rm -rf /`` forbids ``sudo /bin/rm -fr //``,
            ``mkfs`` forbids ``mkfs.ext4 /dev/sdb1``.
        home: The home directory ``~`` and ``$HOME`` stand for.

    Returns:
        ``allow`` for read-only commands, ``confirm`` for anything that may
        change the system, ``deny`` for destructive, forbidden or unparsable
        ones, with the reasons of the most severe finding.
    """
    if len(command) > MAX_LENGTH:
        return Verdict("deny", (f"too long: {len(command)} characters (limit {MAX_LENGTH})",))
    if "\x00" in command:
        return Verdict("deny", ("cannot parse: the command contains a NUL byte",))
    if any(0xE000 <= ord(c) <= 0xF8FF for c in command):
        return Verdict("deny", ("cannot parse: private-use characters",))
    home = posixpath.normpath(home) if home.startswith("/") else "/root"
    compiled = [c for c in (_compile_forbidden(e, home) for e in forbidden) if c is not None]
    analyser = _Analyser(home, compiled)
    analyser.run_text(command, 0)
    return analyser.verdict()


def _iter_corpus(text: str) -> Iterator[str]:
    """Command lines of a corpus text: one per line, ``#`` comment lines skipped."""
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            yield line
