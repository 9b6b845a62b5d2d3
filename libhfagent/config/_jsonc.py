"""JSON with comments: a parser that knows where every key is, and a text editor.

``hf-agent.json`` is JSON plus ``//`` and ``/* */`` comments, with trailing
commas accepted. The standard :mod:`json` module can read neither comments nor
report where a key was, so this module parses the text itself and keeps, for
every key path, the line it starts on; validation errors can then say
``(line 7)``. :func:`update_text` edits a document in place, leaving the
comments and formatting of everything it does not change as they were.

Everything here is pure: text in, values out, no I/O.
"""

from __future__ import annotations

import bisect
import json
import json.decoder
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TypeAlias

import attrs

from libhfagent._errors import ConfigError

__all__ = ["JsoncDocument", "KeyPath", "format_key_path", "parse_jsonc", "update_text"]

KeyPath: TypeAlias = tuple[str | int, ...]
"""Where a value sits in a document: object keys (``str``) and list indices (``int``)."""

_MAX_DEPTH = 256
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_INDENT = re.compile(r"[ \t]*")
# The json module's own string scanner; its type stubs leave it out.
_scanstring: Callable[[str, int, bool], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
_KEYWORDS: tuple[tuple[str, object], ...] = (("true", True), ("false", False), ("null", None))


@attrs.frozen
class JsoncDocument:
    """A parsed JSON-with-comments document.

    Attributes:
        value: The decoded value: ``dict`` (in file order), ``list``, ``str``,
            ``int``, ``float``, ``bool`` or ``None``, as :func:`json.loads`
            would return it.
        lines: For every key path in the document, the 1-based line where
            that key (or list element) starts; the empty path ``()`` maps to
            the line of the top-level value. A read-only mapping.
    """

    value: object
    lines: Mapping[KeyPath, int]

    def line_of(self, path: KeyPath) -> int | None:
        """The line of ``path``, or of its nearest ancestor present in the document.

        Args:
            path: A key path such as ``("modules", "scheduler", "jobs", 0, "cron")``.

        Returns:
            A 1-based line number, or ``None`` for an empty document map.
        """
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path)


def format_key_path(path: KeyPath) -> str:
    """The dotted form of a key path, as error messages show it.

    Args:
        path: A key path.

    Returns:
        For example ``modules.scheduler.jobs[0].cron``; keys that are not plain
        identifiers are written as ``["a key"]``.
    """
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENTIFIER.fullmatch(part):
            out.append(f".{part}" if out else part)
        else:
            out.append(f"[{json.dumps(part, ensure_ascii=False)}]")
    return "".join(out)


def parse_jsonc(text: str, *, origin: str | None = None) -> JsoncDocument:
    """Parse JSON with ``//`` and ``/* */`` comments and trailing commas.

    Args:
        text: The document. A leading byte-order mark is ignored.
        origin: The file name to record on errors.

    Returns:
        The value and the line of every key path.

    Raises:
        ConfigError: The text is not valid; the message ends with
            ``(line L, column C)``, and ``line`` is set.
    """
    value, spans = _Parser(text, origin).parse()
    lines = {path: span.line for path, span in spans.items()}
    return JsoncDocument(value=value, lines=MappingProxyType(lines))


def update_text(text: str, changes: Mapping[str, object], *, origin: str | None = None) -> str:
    """Set values in a JSON-with-comments document, keeping everything else as it was.

    A key that exists has its value's text replaced in place. A key that does
    not is inserted as the first member of its parent object, indented like
    its siblings, and missing parent objects are created. Comments, blank
    lines and the formatting of untouched values are preserved; replacing an
    object or a list replaces the comments inside it too. When several new
    keys go into the same object they appear in the order given.

    Args:
        text: The current document; its top-level value must be an object.
        changes: Dotted key paths (``"agent.language"``) and their new values,
            any JSON-serialisable value. A numeric part addresses an existing
            list element (``"modules.scheduler.jobs.0.cron"``). No path may be
            a prefix of another.
        origin: The file name to record on errors.

    Returns:
        The edited document; it parses to the original value with the changes
        applied.

    Raises:
        ConfigError: The document does not parse, a path is empty, overlaps
            another or runs through a value that is not an object, or a value
            cannot be written as JSON.
    """
    paths = {dotted: _split_dotted(dotted, origin) for dotted in changes}
    for dotted, value in changes.items():
        try:
            json.dumps(value, allow_nan=False)
        except ValueError:
            reason = "NaN and infinite numbers have no JSON form"
        except TypeError as error:
            reason = str(error)
        else:
            continue
        raise ConfigError(
            f"{dotted}: cannot be written as JSON: {reason}", key=dotted, origin=origin
        )
    for dotted, parts in paths.items():
        for other, other_parts in paths.items():
            if other != dotted and other_parts[: len(parts)] == parts:
                raise ConfigError(
                    f"{other}: overlaps {dotted}; set one or the other", key=other, origin=origin
                )
    # Applied last to first: each new key becomes its parent's first member,
    # so the keys added to one object end up in the order they were given.
    for dotted in reversed(list(changes)):
        text = _apply_change(text, dotted, paths[dotted], changes[dotted], origin)
    _Parser(text, origin).parse()
    return text


@attrs.frozen
class _Span:
    """Where a key path sits in the text: its key (or element) and its value."""

    key_start: int
    start: int
    end: int
    line: int


class _Parser:
    """Recursive-descent parser recording the span of every key path."""

    def __init__(self, text: str, origin: str | None) -> None:
        self.text = text
        self.origin = origin
        self.pos = 1 if text.startswith("\ufeff") else 0
        self.spans: dict[KeyPath, _Span] = {}
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def parse(self) -> tuple[object, dict[KeyPath, _Span]]:
        self._skip()
        if self.pos >= len(self.text):
            raise self._error("empty file: expected a JSON value", self.pos)
        start = self.pos
        value = self._value((), 0)
        self.spans[()] = _Span(start, start, self.pos, self.line(start))
        self._skip()
        if self.pos < len(self.text):
            raise self._error("unexpected text after the end of the JSON value", self.pos)
        return value, self.spans

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self._line_starts, offset)

    def _error(self, message: str, offset: int, key: str | None = None) -> ConfigError:
        line = self.line(offset)
        column = offset - self._line_starts[line - 1] + 1
        return ConfigError(
            f"{message} (line {line}, column {column})", key=key, line=line, origin=self.origin
        )

    def _skip(self) -> None:
        """Move past whitespace and comments."""
        text = self.text
        while True:
            self.pos = _match_end(_WHITESPACE, text, self.pos)
            if text.startswith("//", self.pos):
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            elif text.startswith("/*", self.pos):
                end = text.find("*/", self.pos + 2)
                if end < 0:
                    raise self._error("unterminated /* comment", self.pos)
                self.pos = end + 2
            else:
                return

    def _peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def _value(self, path: KeyPath, depth: int) -> object:
        char = self._peek()
        if char == "{":
            return self._object(path, depth)
        if char == "[":
            return self._array(path, depth)
        if char == '"':
            return self._string()
        if char == "-" or "0" <= char <= "9":
            return self._number()
        for word, value in _KEYWORDS:
            if self.text.startswith(word, self.pos):
                self.pos += len(word)
                return value
        if not char:
            raise self._error("unexpected end of file: expected a value", self.pos)
        if char == "'":
            raise self._error("strings must be in double quotes", self.pos)
        raise self._error(f"expected a value, got {char!r}", self.pos)

    def _enter(self, depth: int) -> None:
        if depth >= _MAX_DEPTH:
            raise self._error(f"values nested more than {_MAX_DEPTH} levels deep", self.pos)

    def _object(self, path: KeyPath, depth: int) -> dict[str, object]:
        self._enter(depth)
        opened = self.pos
        self.pos += 1
        result: dict[str, object] = {}
        self._skip()
        if self._peek() == "}":
            self.pos += 1
            return result
        while True:
            if self._peek() != '"':
                raise self._unexpected(opened, "object", "a string key or '}'")
            key_start = self.pos
            key = self._string()
            member = (*path, key)
            if key in result:
                first = self.spans[member].line
                line = self.line(key_start)
                raise ConfigError(
                    f"duplicate key {json.dumps(key, ensure_ascii=False)} (line {line}); "
                    f"first defined on line {first}",
                    key=format_key_path(member),
                    line=line,
                    origin=self.origin,
                )
            self._skip()
            if self._peek() != ":":
                raise self._unexpected(opened, "object", "':' after the key")
            self.pos += 1
            self._skip()
            start = self.pos
            result[key] = self._value(member, depth + 1)
            self.spans[member] = _Span(key_start, start, self.pos, self.line(key_start))
            if self._closed(opened, "object", "}", "',' or '}' after an object member"):
                return result

    def _array(self, path: KeyPath, depth: int) -> list[object]:
        self._enter(depth)
        opened = self.pos
        self.pos += 1
        result: list[object] = []
        self._skip()
        if self._peek() == "]":
            self.pos += 1
            return result
        while True:
            element = (*path, len(result))
            start = self.pos
            if self._peek() in ("", ",", "]"):
                raise self._unexpected(opened, "list", "a value")
            result.append(self._value(element, depth + 1))
            self.spans[element] = _Span(start, start, self.pos, self.line(start))
            if self._closed(opened, "list", "]", "',' or ']' after a list element"):
                return result

    def _closed(self, opened: int, kind: str, close: str, expected: str) -> bool:
        """Step over what follows a member or an element; true at the closing bracket.

        A comma before the bracket (a trailing comma) is accepted.
        """
        self._skip()
        char = self._peek()
        if char == ",":
            self.pos += 1
            self._skip()
            char = self._peek()
        elif char != close:
            raise self._unexpected(opened, kind, expected)
        if char == close:
            self.pos += 1
            return True
        return False

    def _unexpected(self, opened: int, kind: str, expected: str) -> ConfigError:
        if self.pos >= len(self.text):
            return self._error(
                f"unexpected end of file: the {kind} opened on line {self.line(opened)} "
                f"is not closed",
                self.pos,
            )
        return self._error(f"expected {expected}", self.pos)

    def _string(self) -> str:
        start = self.pos
        try:
            value, self.pos = _scanstring(self.text, start + 1, True)
        except json.JSONDecodeError as error:
            if error.msg.startswith("Unterminated") or self.text[error.pos] in "\r\n":
                raise self._error("unterminated string", start) from None
            if error.msg.startswith("Invalid control character"):
                raise self._error(
                    f"invalid control character {self.text[error.pos]!r} in a string "
                    f"(write it as a \\u escape)",
                    error.pos,
                ) from None
            raise self._error("invalid escape in a string", error.pos) from None
        return value

    def _number(self) -> int | float:
        match = _NUMBER.match(self.text, self.pos)
        if match is None:
            raise self._error("invalid number", self.pos)
        literal = match.group()
        try:
            number = float(literal) if match.group(1) or match.group(2) else int(literal)
        except ValueError:
            raise self._error("number too long", self.pos) from None
        self.pos = match.end()
        return number


def _split_dotted(dotted: str, origin: str | None) -> tuple[str, ...]:
    parts = tuple(dotted.split("."))
    if not all(parts):
        raise ConfigError(
            f"{dotted!r}: not a dotted key path such as 'agent.language'",
            key=dotted,
            origin=origin,
        )
    return parts


def _apply_change(
    text: str, dotted: str, parts: tuple[str, ...], value: object, origin: str | None
) -> str:
    """Set one dotted key path in ``text``."""
    parser = _Parser(text, origin)
    node, spans = parser.parse()
    newline = "\r\n" if "\r\n" in text else "\n"
    unit = _indent_unit(text, node, spans)
    path: KeyPath = ()
    for index, part in enumerate(parts):
        if isinstance(node, dict):
            if part not in node:
                for key in reversed(parts[index + 1 :]):
                    value = {key: value}
                return _insert_member(text, node, path, spans, part, value, unit, newline)
            node = node[part]
            path = (*path, part)
        elif isinstance(node, list) and part.isascii() and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
            path = (*path, int(part))
        else:
            where = format_key_path(path) or "the top level"
            raise ConfigError(
                f"{dotted}: cannot set {part!r} in {where}, which is not an object",
                key=dotted,
                line=spans[path].line,
                origin=origin,
            )
    span = spans[path]
    rendered = _render(value, _line_indent(text, span.key_start), unit, newline)
    return text[: span.start] + rendered + text[span.end :]


def _insert_member(
    text: str,
    parent: dict[str, object],
    path: KeyPath,
    spans: Mapping[KeyPath, _Span],
    key: str,
    value: object,
    unit: str,
    newline: str,
) -> str:
    """Insert ``"key": value`` as the first member of the object at ``path``."""
    brace = spans[path].start
    after_brace = brace + 1
    name = json.dumps(key, ensure_ascii=False)
    if parent:
        first = spans[(*path, next(iter(parent)))].key_start
        line_start = text.rfind("\n", 0, first) + 1
        indent = text[line_start:first]
        if indent.strip(" \t"):
            # The first member shares its line with something else: stay on that line.
            member = f"{name}: {_render(value, '', '', newline)}, "
            return text[:first] + member + text[first:]
        member = f"{name}: {_render(value, indent, unit, newline)},"
        line_end = _end_of_brace_line(text, after_brace)
        if line_end is not None:
            return text[:line_end] + indent + member + newline + text[line_end:]
        return text[:after_brace] + newline + indent + member + text[after_brace:]
    close = spans[path].end - 1
    inner = text[after_brace:close]
    outer_indent = _line_indent(text, brace)
    indent = outer_indent + unit
    if inner.strip(" \t\r\n"):
        # An empty object holding only comments: the comments follow the new member.
        member = f"{name}: {_render(value, indent, unit, newline)}"
        return text[:after_brace] + newline + indent + member + text[after_brace:]
    if "\n" not in inner:
        member = f"{name}: {_render(value, '', '', newline)}"
        return text[:after_brace] + member + text[close:]
    member = f"{name}: {_render(value, indent, unit, newline)}"
    return text[:after_brace] + newline + indent + member + newline + outer_indent + text[close:]


def _end_of_brace_line(text: str, offset: int) -> int | None:
    """The start of the next line if only blanks and comments follow ``offset`` on its line."""
    while True:
        offset = _match_end(_INDENT, text, offset)
        if text.startswith("/*", offset):
            end = text.find("*/", offset + 2)
            if end < 0 or "\n" in text[offset:end]:
                return None
            offset = end + 2
            continue
        if text.startswith("//", offset):
            end = text.find("\n", offset)
            return None if end < 0 else end + 1
        if text.startswith("\r\n", offset):
            return offset + 2
        if text.startswith("\n", offset):
            return offset + 1
        return None


def _match_end(pattern: re.Pattern[str], text: str, offset: int) -> int:
    """Where a match of ``pattern`` (which may match nothing) starting at ``offset`` ends."""
    match = pattern.match(text, offset)
    return offset if match is None else match.end()


def _line_indent(text: str, offset: int) -> str:
    """The blanks at the start of the line holding ``offset``."""
    line_start = text.rfind("\n", 0, offset) + 1
    return text[line_start : _match_end(_INDENT, text, line_start)]


def _indent_unit(text: str, root: object, spans: Mapping[KeyPath, _Span]) -> str:
    """One level of indentation, as the document's top-level members use it."""
    if isinstance(root, dict) and root:
        first = spans[(next(iter(root)),)].key_start
        indent = text[text.rfind("\n", 0, first) + 1 : first]
        root_indent = _line_indent(text, spans[()].start)
        deeper = indent.startswith(root_indent) and len(indent) > len(root_indent)
        if deeper and not indent.strip(" \t"):
            return indent[len(root_indent) :]
    return "  "


def _render(value: object, indent: str, unit: str, newline: str) -> str:
    """``value`` as JSON text for a line indented by ``indent``.

    With a ``unit``, objects and lists holding containers are laid out one
    member per line; other values stay on one line.
    """
    if unit and isinstance(value, dict) and value:
        inner = indent + unit
        members = [
            f"{_dumps(key)}: {_render(item, inner, unit, newline)}" for key, item in value.items()
        ]
        return _lay_out("{", members, "}", indent, inner, newline)
    if unit and isinstance(value, list) and any(isinstance(i, dict | list) and i for i in value):
        inner = indent + unit
        elements = [_render(item, inner, unit, newline) for item in value]
        return _lay_out("[", elements, "]", indent, inner, newline)
    return _dumps(value)


def _lay_out(
    opening: str, items: list[str], closing: str, indent: str, inner: str, newline: str
) -> str:
    separator = "," + newline + inner
    return f"{opening}{newline}{inner}{separator.join(items)}{newline}{indent}{closing}"


def _dumps(value: object) -> str:
    """``value`` as one line of JSON, non-ASCII characters kept as they are."""
    rendered = json.dumps(value, ensure_ascii=False)
    try:
        rendered.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates cannot be written: keep them escaped
        rendered = json.dumps(value)
    return rendered
