"""Values between D-Bus and the library: JSON-like results to ``a{sv}``, options from ``a{sv}``.

D-Bus has no null: a dictionary key whose value is ``None`` is left out, and a
``None`` inside a list becomes an empty ``av``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

from dbus_fast import Variant

from libhfagent import RequestError

__all__ = ["Kind", "parse_options", "to_vardict", "to_variant"]

_INT64: Final = range(-(2**63), 2**63)


def to_variant(value: Any) -> Variant:
    """A JSON-like value (dicts, lists, str, int, float, bool, None) as a typed Variant.

    Raises:
        TypeError: The value holds something JSON does not.
    """
    if isinstance(value, bool):
        return Variant("b", value)
    if isinstance(value, int):
        return Variant("x", value) if value in _INT64 else Variant("s", str(value))
    if isinstance(value, float):
        return Variant("d", value)
    if isinstance(value, str):
        return Variant("s", value)
    if isinstance(value, Mapping):
        return Variant("a{sv}", to_vardict(value))
    if isinstance(value, Sequence):
        return _list_variant(value)
    if value is None:
        return Variant("av", [])
    raise TypeError(f"cannot send a {type(value).__name__} over D-Bus")


def to_vardict(value: Mapping[Any, Any]) -> dict[str, Variant]:
    """A JSON object as ``a{sv}`` (keys as strings, ``None`` values left out)."""
    return {str(k): to_variant(v) for k, v in value.items() if v is not None}


def _list_variant(items: Sequence[Any]) -> Variant:
    if items and all(isinstance(i, str) for i in items):
        return Variant("as", list(items))
    if items and all(isinstance(i, bool) for i in items):
        return Variant("ab", list(items))
    if items and all(isinstance(i, int) and not isinstance(i, bool) and i in _INT64 for i in items):
        return Variant("ax", list(items))
    if items and all(isinstance(i, Mapping) for i in items):
        return Variant("aa{sv}", [to_vardict(i) for i in items])
    return Variant("av", [to_variant(i) for i in items])


Kind = Literal["str", "int", "seconds", "bool", "strings", "lang"]

_INTEGER_SIGNATURES: Final = frozenset("ynqiuxt")


def parse_options(
    method: str, options: Mapping[str, Variant], accepted: Mapping[str, Kind]
) -> dict[str, Any]:
    """Check and unwrap a method's ``a{sv}`` options.

    Args:
        method: The method's name, for messages.
        options: What the caller sent.
        accepted: Option name to the kind of value it takes.

    Returns:
        The options given, as plain Python values.

    Raises:
        RequestError: An option is unknown or has a value of the wrong type.
    """
    out: dict[str, Any] = {}
    for key, variant in options.items():
        kind = accepted.get(key)
        if kind is None:
            known = ", ".join(sorted(accepted)) or "none"
            raise RequestError(f'{method}: unknown option "{_clip(key)}"; it accepts: {known}')
        out[key] = _unwrap(method, key, kind, variant)
    return out


def _unwrap(method: str, key: str, kind: Kind, variant: Variant) -> Any:
    sig, value = variant.signature, variant.value
    if kind in ("str", "lang") and sig == "s":
        if kind == "lang" and value not in ("fr", "en"):
            raise RequestError(
                f'{method}: option "lang" must be "fr" or "en", got "{_clip(value)}"'
            )
        return value
    if kind == "int" and sig in _INTEGER_SIGNATURES:
        return int(value)
    if kind == "seconds" and (sig in _INTEGER_SIGNATURES or sig == "d"):
        return float(value) if sig == "d" else int(value)
    if kind == "bool" and sig == "b":
        return bool(value)
    if kind == "strings" and sig == "as":
        return list(value)
    expected = {
        "str": "a string (s)",
        "lang": 'a string (s), "fr" or "en"',
        "int": "an integer (i, u, x, t…)",
        "seconds": "a number of seconds (an integer type or d)",
        "bool": "a boolean (b)",
        "strings": "a list of strings (as)",
    }[kind]
    raise RequestError(f'{method}: option "{key}" must be {expected}, got type "{sig}"')


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
