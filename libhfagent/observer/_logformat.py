"""Access logs in a custom format: nginx ``log_format`` and Apache ``LogFormat`` strings.

:func:`compile_log_format` turns the format string of the server's configuration
into a parser: a line in, a dictionary of typed values (or ``None``) out. The
parser never raises on bad input and runs in time linear in the line's length:
every variable matches up to the first character of the text that follows it in
the format, without backtracking (a 5 MB line of garbage costs one pass).

Keys are nginx variable names without ``$``; Apache directives map to the same
names, so one consumer reads both:

===================== ============================ ===================================
key                   nginx                        Apache
===================== ============================ ===================================
remote_addr           ``$remote_addr``             ``%h``, ``%a``, ``%{c}a``
ident                 –                            ``%l``
remote_user           ``$remote_user``             ``%u``
time_local            ``$time_local``              ``%t``
time_iso8601          ``$time_iso8601``            –
msec                  ``$msec``                    –
request               ``$request``                 ``%r``
status                ``$status``                  ``%s``, ``%>s``
body_bytes_sent       ``$body_bytes_sent``         ``%b``, ``%B``
bytes_sent            ``$bytes_sent``              ``%O``
request_length        ``$request_length``          ``%I``
request_time          ``$request_time`` (s)        ``%D`` (µs → s), ``%T`` (s)
upstream_response_time ``$upstream_response_time`` –
http_referer          ``$http_referer``            ``%{Referer}i``
http_user_agent       ``$http_user_agent``         ``%{User-Agent}i``
http_<name>           ``$http_<name>``             ``%{Name}i``
host                  ``$host``                    ``%V``
server_name           ``$server_name``             ``%v``
server_port           ``$server_port``             ``%p``
request_method        ``$request_method``          ``%m``
uri                   ``$uri``                     ``%U``
args                  ``$args``                    ``%q``
server_protocol       ``$server_protocol``         ``%H``
pid                   ``$pid``                     ``%P``
===================== ============================ ===================================

Any other nginx variable is kept as text under its own name; any other Apache
directive as text under ``apache_<letter>`` or ``apache_<letter>_<name>``.

Values are converted: counts and sizes to ``int`` (``-`` to ``0`` for sizes, else
``None``), times of requests to ``float`` seconds (several upstream times are
summed), ``time_local``/``time_iso8601``/``msec`` to timezone-aware datetimes,
``-`` to ``None`` for text; ``\\xHH`` and ``\\"`` escapes are decoded. A line
whose status or time cannot be converted is not a line of the format (``None``).
When the format has ``request``, the dictionary also holds ``method``, ``path``,
``query`` and ``protocol`` split from it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any, Literal

from .._errors import ConfigError
from ._access import parse_clf_time

__all__ = [
    "APACHE_COMBINED",
    "NGINX_COMBINED",
    "LogFormatParser",
    "compile_log_format",
]

NGINX_COMBINED = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent"'
)
"""nginx's predefined ``combined`` format."""

APACHE_COMBINED = '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"'
"""Apache's usual ``combined`` format."""

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_NGINX_VAR = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")
_APACHE_DIRECTIVE = re.compile(r"%(?:!?[0-9,]+)?([<>]?)(?:\{([^}]*)\})?([a-zA-Z%])")
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v"}

_INT_FIELDS = {
    "status",
    "request_length",
    "connection",
    "connection_requests",
    "server_port",
    "remote_port",
    "pid",
    "content_length",
}
_SIZE_FIELDS = {"body_bytes_sent", "bytes_sent"}
_SECONDS_FIELDS = {
    "request_time",
    "upstream_response_time",
    "upstream_connect_time",
    "upstream_header_time",
}
_TIME_FIELDS = {"time_local", "time_iso8601", "msec"}

_APACHE_SIMPLE = {
    "h": "remote_addr",
    "a": "remote_addr",
    "l": "ident",
    "u": "remote_user",
    "t": "time_local",
    "r": "request",
    "s": "status",
    "b": "body_bytes_sent",
    "B": "body_bytes_sent",
    "O": "bytes_sent",
    "I": "request_length",
    "D": "request_time",
    "T": "request_time",
    "v": "server_name",
    "V": "host",
    "p": "server_port",
    "m": "request_method",
    "U": "uri",
    "q": "args",
    "H": "server_protocol",
    "P": "pid",
    "X": "connection_status",
    "L": "request_log_id",
    "k": "connection_requests",
}

Converter = Callable[[str], Any]


class _Invalid(Exception):
    """A value cannot be converted: the line is not a line of the format."""


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text

    def one(m: re.Match[str]) -> str:
        code = m.group(1)
        if code[0] == "x" and len(code) == 3:
            return chr(int(code[1:], 16))
        if code[0] == "u" and len(code) == 5:
            return chr(int(code[1:], 16))
        return _SIMPLE_ESCAPES.get(code, code)

    decoded = _ESCAPE.sub(one, text)
    # \xHH escapes are bytes of UTF-8 text: recombine them.
    try:
        return decoded.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return decoded


def _text(value: str) -> str | None:
    return None if value in ("-", "") else _unescape(value)


def _int(value: str) -> int | None:
    if value in ("-", ""):
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 19:
        raise _Invalid
    return int(value)


def _size(value: str) -> int:
    number = _int(value)
    return 0 if number is None else number


def _seconds(value: str) -> float | None:
    if value in ("-", ""):
        return None
    total = 0.0
    seen = False
    for part in re.split(r"[,:] ?", value):
        part = part.strip()
        if part in ("-", ""):
            continue
        try:
            total += float(part)
        except ValueError:
            raise _Invalid from None
        seen = True
    return total if seen else None


def _micros_to_seconds(value: str) -> float | None:
    number = _int(value)
    return None if number is None else number / 1_000_000


def _clf_time(value: str) -> dt.datetime:
    when = parse_clf_time(value)
    if when is None:
        raise _Invalid
    return when


def _iso_time(value: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise _Invalid from None
    if when.tzinfo is None:
        raise _Invalid
    return when


def _msec(value: str) -> dt.datetime:
    try:
        seconds = float(value)
        return _EPOCH + dt.timedelta(seconds=seconds)
    except (ValueError, OverflowError):
        raise _Invalid from None


def _converter(key: str, apache_letter: str | None = None) -> Converter:
    if apache_letter == "D":
        return _micros_to_seconds
    if apache_letter == "T":
        return _seconds
    if key == "time_local":
        return _clf_time
    if key == "time_iso8601":
        return _iso_time
    if key == "msec":
        return _msec
    if key in _INT_FIELDS:
        return _int
    if key in _SIZE_FIELDS:
        return _size
    if key in _SECONDS_FIELDS:
        return _seconds
    return _text


def _split_request(fields: dict[str, Any]) -> None:
    request = fields.get("request")
    method = path = query = protocol = None
    if isinstance(request, str):
        parts = request.split(" ")
        if len(parts) == 3 and parts[2].startswith("HTTP/") and parts[0].isalpha():
            method, protocol = parts[0], parts[2]
            path, _, query = parts[1].partition("?")
        elif len(parts) == 2 and parts[0].isalpha() and parts[1][:1] == "/":
            method = parts[0]
            path, _, query = parts[1].partition("?")
        else:
            path, query = request, ""
    fields["method"] = method
    fields["path"] = path
    fields["query"] = query
    fields["protocol"] = protocol


class LogFormatParser:
    """A parser for one access-log format (see :func:`compile_log_format`).

    Attributes:
        format: The format string it was compiled from.
        style: ``nginx`` or ``apache``.
        fields: The keys of its dictionaries, in format order (``request`` adds
            ``method``, ``path``, ``query`` and ``protocol``).
        pattern: The compiled regular expression.
    """

    def __init__(
        self,
        fmt: str,
        style: str,
        pattern: re.Pattern[str],
        keys: list[str],
        converters: list[Converter],
    ) -> None:
        self.format = fmt
        self.style = style
        self.pattern = pattern
        self._keys = keys
        self._converters = converters
        extra = ["method", "path", "query", "protocol"] if "request" in keys else []
        self.fields: tuple[str, ...] = tuple(dict.fromkeys(keys + extra))

    def __call__(self, line: str) -> dict[str, Any] | None:
        """Parse one line.

        Returns:
            Key to typed value, or ``None`` when the line is not of this format.
        """
        m = self.pattern.fullmatch(line.rstrip("\r\n"))
        if m is None:
            return None
        fields: dict[str, Any] = {}
        try:
            for key, convert, value in zip(self._keys, self._converters, m.groups(), strict=True):
                converted = convert(value)
                if key not in fields or fields[key] is None:
                    fields[key] = converted
        except (_Invalid, ValueError, OverflowError):
            return None
        if "request" in fields:
            _split_request(fields)
        return fields

    def __repr__(self) -> str:
        return f"LogFormatParser({self.format!r}, style={self.style!r})"


# A format is a list of items: ("text", literal, None) or ("var", key, apache letter).
_Item = tuple[Literal["text", "var"], str, str | None]


def _nginx_items(fmt: str) -> list[_Item]:
    items: list[_Item] = []
    pos = 0
    for m in _NGINX_VAR.finditer(fmt):
        if m.start() > pos:
            items.append(("text", fmt[pos : m.start()], None))
        items.append(("var", (m.group(1) or m.group(2)).lower(), None))
        pos = m.end()
    if pos < len(fmt):
        items.append(("text", fmt[pos:], None))
    return items


def _apache_items(fmt: str) -> list[_Item]:
    items: list[_Item] = []
    pos = 0
    text = ""
    for m in _APACHE_DIRECTIVE.finditer(fmt):
        text += fmt[pos : m.start()]
        pos = m.end()
        letter, arg = m.group(3), m.group(2)
        if letter == "%":
            text += "%"
            continue
        if text:
            items.append(("text", text, None))
            text = ""
        items.append(("var", _apache_key(letter, arg), letter))
    text += fmt[pos:]
    if text:
        items.append(("text", text, None))
    return items


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "_", text.lower())


def _apache_key(letter: str, arg: str | None) -> str:
    if not arg:
        return _APACHE_SIMPLE.get(letter, f"apache_{letter}")
    if letter == "i":
        return "http_" + _slug(arg)
    if letter == "a" and arg == "c":
        return "remote_addr"
    if letter == "p":
        return {"canonical": "server_port", "local": "server_port", "remote": "remote_port"}.get(
            arg, "apache_p_" + _slug(arg)
        )
    return f"apache_{letter}_" + _slug(arg)


def compile_log_format(
    fmt: str, *, style: Literal["auto", "nginx", "apache"] = "auto"
) -> LogFormatParser:
    """Compile an nginx ``log_format`` or Apache ``LogFormat`` string into a parser.

    Args:
        fmt: The format as written in the configuration, quotes and nginx's string
            concatenation removed (``'$remote_addr - $remote_user [$time_local] …'``).
        style: ``nginx`` (``$variables``), ``apache`` (``%directives``), or
            ``auto``: nginx when the format holds a ``$name``, else Apache.

    Returns:
        A callable: a line in, a dictionary of typed values (or ``None``) out.

    Raises:
        ConfigError: The format is empty, has no variable, or puts two variables
            side by side with no text between them (they cannot be told apart).
    """
    if style == "auto":
        style = "nginx" if _NGINX_VAR.search(fmt) else "apache"
    if style not in ("nginx", "apache"):
        raise ConfigError(f"log format style must be nginx, apache or auto, got {style!r}")
    items = _nginx_items(fmt) if style == "nginx" else _apache_items(fmt)
    if not any(kind == "var" for kind, _, _ in items):
        raise ConfigError(
            f"log format {fmt!r} has no {'$variable' if style == 'nginx' else '%directive'}: "
            "give the format string of the server's configuration"
        )
    parts: list[str] = []
    keys: list[str] = []
    converters: list[Converter] = []
    for index, (kind, value, letter) in enumerate(items):
        if kind == "text":
            parts.append(re.escape(value))
            continue
        key = value
        following = items[index + 1] if index + 1 < len(items) else None
        if following is not None and following[0] == "var":
            raise ConfigError(
                f"log format {fmt!r}: {key} is followed by another variable with no text "
                "between them, so a line cannot be split; put a space or a character "
                "between them in the server's format"
            )
        if letter == "t" and key == "time_local":
            parts.append(r"\[([^\]]*+)\]")  # Apache's %t writes its own brackets
        elif following is None:
            parts.append("(.*+)")
        else:
            stop = following[1][0]
            if stop == '"':
                parts.append(r'((?>[^"\\]++|\\.)*+)')
            else:
                parts.append("([^" + re.escape(stop) + "]*+)")
        keys.append(key)
        converters.append(_converter(key, letter if style == "apache" else None))
    pattern = re.compile("".join(parts), re.DOTALL)
    return LogFormatParser(fmt, style, pattern, keys, converters)
