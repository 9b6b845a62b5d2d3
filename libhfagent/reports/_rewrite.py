"""A report rewritten by a text-generation model, kept only when its numbers are the report's.

A language model may drop, round or invent numbers. :func:`rewrite` asks the
model for a shorter, friendlier version of a report and returns it only when
the set of numbers it contains is exactly the report's (compared as values,
whatever the grouping and decimal separators: ``1 234``, ``1,234`` and
``1234`` are the same number, as are ``58,8 %`` and ``58.8%``); otherwise the
report itself is returned.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Literal

__all__ = ["numbers", "rewrite"]

_PROMPTS: dict[str, str] = {
    "en": (
        "Rewrite this server report so that it is shorter and friendlier. "
        "Keep every number exactly as it is and add no other number.\n\n"
        "Report:\n{text}\n\nRewritten report:\n"
    ),
    "fr": (
        "Réécris ce rapport de serveur pour qu'il soit plus court et plus aimable. "
        "Garde chaque nombre tel quel et n'ajoute aucun autre nombre.\n\n"
        "Rapport :\n{text}\n\nRapport réécrit :\n"
    ),
}

_SPACES = " \u00a0\u202f\u2009"
# A number grouped with spaces (1 234 567,5), else digits with . or , between them.
_NUMBER = re.compile(
    rf"(?<![\w.,])(?P<sign>[-\u2212](?=\d))?"
    rf"(?P<body>\d{{1,3}}(?:[{_SPACES}]\d{{3}})+(?![\d])(?:[.,]\d+)?"
    rf"|\d+(?:[.,]\d+)*)"
)
_SPACE_RE = re.compile(f"[{_SPACES}]")


def _value(body: str) -> str:
    """The number a token stands for, normalised; a dotted literal (an address) as is."""
    grouped = _SPACE_RE.search(body) is not None
    digits = _SPACE_RE.sub("", body)
    parts = re.split(r"([.,])", digits)
    groups, seps = parts[0::2], parts[1::2]
    if not seps:
        integer, fraction = digits, ""
    elif grouped:
        integer, fraction = groups[0], groups[1]
    elif len(seps) == 1:
        head, tail = groups
        thousands = len(tail) == 3 and 1 <= len(head) <= 3 and not head.startswith("0")
        integer, fraction = (head + tail, "") if thousands else (head, tail)
    else:
        last = seps[-1]
        grouping = seps[:-1] if last != seps[0] else seps
        if len(set(grouping)) != 1 or not all(len(g) == 3 for g in groups[1:-1]):
            return digits  # 192.168.1.10, 1.2.3: not one number
        if last == seps[0]:  # 1,234,567: every separator groups thousands
            if len(groups[-1]) != 3 or len(groups[0]) > 3:
                return digits
            integer, fraction = "".join(groups), ""
        else:  # 1,234.5 or 1.234,5
            integer, fraction = "".join(groups[:-1]), groups[-1]
    try:
        value = Decimal(f"{integer}.{fraction}" if fraction else integer)
    except InvalidOperation:
        return digits
    return format(value.normalize(), "f")


def numbers(text: str) -> frozenset[str]:
    """The numbers in ``text``, normalised (``1 234,50`` → ``1234.5``; ``-3`` → ``-3``).

    A run of dotted digits that is not one number (an IP address, a version)
    is kept as written.
    """
    found = set()
    for match in _NUMBER.finditer(text):
        value = _value(match["body"])
        if match["sign"] and value != "0" and re.fullmatch(r"[\d.]+", value):
            value = "-" + value
        found.add(value)
    return frozenset(found)


def rewrite(text: str, generator: Callable[[str], str], *, lang: Literal["fr", "en"]) -> str:
    """A shorter, friendlier version of a report, or the report itself.

    Args:
        text: The report, as it would be shown.
        generator: Returns a model's continuation of a prompt (for instance
            ``TextGenerator(source).generate``).
        lang: The report's language, the language of the prompt.

    Returns:
        The model's version when it is not empty and holds exactly the
        report's numbers (none lost, none changed, none added); else ``text``.

    Raises:
        Whatever ``generator`` raises (``ModelError`` for a model that fails).
    """
    if not text.strip():
        return text
    candidate = generator(_PROMPTS[lang].format(text=text)).strip()
    if not candidate or numbers(candidate) != numbers(text):
        return text
    return candidate
