"""Translations (gettext, English msgids) and locale-aware formatting (Babel)."""

from __future__ import annotations

import datetime as dt
import functools
import gettext
from pathlib import Path

from babel.dates import format_datetime, format_timedelta
from babel.numbers import format_decimal, format_percent

__all__ = [
    "LANGUAGES",
    "fmt_decimal",
    "fmt_duration",
    "fmt_int",
    "fmt_percent",
    "fmt_time",
    "translator",
]

LANGUAGES = ("fr", "en")
DOMAIN = "libhfagent"
LOCALE_DIR = Path(__file__).parent / "locale"
_BABEL = {"fr": "fr_FR", "en": "en_US"}


@functools.cache
def translator(lang: str) -> gettext.NullTranslations:
    """The translations of one language (English is the source language)."""
    return gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[lang], fallback=True)


def fmt_int(value: int, lang: str) -> str:
    """``1234`` → ``1 234`` (fr) or ``1,234`` (en)."""
    return str(format_decimal(value, locale=_BABEL.get(lang, "en_US")))


def fmt_decimal(value: float, lang: str, digits: int = 2) -> str:
    """``0.61`` → ``0,61`` (fr) or ``0.61`` (en), with ``digits`` decimals."""
    pattern = "#,##0." + "0" * digits if digits else "#,##0"
    return str(format_decimal(value, pattern, locale=_BABEL.get(lang, "en_US")))


def fmt_percent(ratio: float, lang: str) -> str:
    """``0.0456`` → ``4,6 %`` (fr) or ``4.6%`` (en)."""
    pattern = "#,##0.0\u202f%" if lang == "fr" else "#,##0.0%"
    return str(format_percent(ratio, pattern, locale=_BABEL.get(lang, "en_US")))


def fmt_time(value: dt.datetime, lang: str, tz: dt.tzinfo | None = None) -> str:
    """A short date and time: ``25 nov. 14:00`` (fr), ``Nov 25, 14:00`` (en)."""
    pattern = "d MMM HH:mm" if lang == "fr" else "MMM d, HH:mm"
    return str(
        format_datetime(value, pattern, tzinfo=tz or value.tzinfo, locale=_BABEL.get(lang, "en_US"))
    )


def fmt_duration(seconds: float, lang: str) -> str:
    """``86400`` → ``24 heures`` / ``24 hours``; whole days from two days on."""
    return str(
        format_timedelta(
            dt.timedelta(seconds=seconds),
            threshold=2 if seconds >= 86400 else 1,
            format="long",
            locale=_BABEL.get(lang, "en_US"),
        )
    )
