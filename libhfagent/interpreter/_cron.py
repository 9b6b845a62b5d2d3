"""Schedule phrases → five-field cron expressions. Pure functions on folded text.

"tous les jours à 2h du matin" → ``0 2 * * *``, "every sunday at 3am" →
``0 3 * * 0``, "chaque heure" → ``0 * * * *``, "tous les lundis à 8h30" →
``30 8 * * 1``, "every 15 minutes" → ``*/15 * * * *``, "le 1er de chaque
mois" → ``0 0 1 * *``, "weekdays at 18:00" → ``0 18 * * 1-5``; an explicit
expression is taken as written.
"""

from __future__ import annotations

import re

import attrs

from ._entities import _NUMBER_WORDS

__all__ = ["Schedule", "find_schedule"]


@attrs.frozen
class Schedule:
    """A schedule found in a request.

    Attributes:
        cron: The five-field cron expression.
        spans: The ``(start, end)`` spans of the folded text that said it.
    """

    cron: str
    spans: tuple[tuple[int, int], ...]


_DAYS = {
    "dimanche": 0,
    "lundi": 1,
    "mardi": 2,
    "mercredi": 3,
    "jeudi": 4,
    "vendredi": 5,
    "samedi": 6,
    "sunday": 0,
    "monday": 1,
    "tuesday": 2,
    "wednesday": 3,
    "thursday": 4,
    "friday": 5,
    "saturday": 6,
}
_DAY = (
    r"(dimanche|lundi|mardi|mercredi|jeudi|vendredi|samedi|"
    r"sunday|monday|tuesday|wednesday|thursday|friday|saturday)s?"
)
_NUMS = _NUMBER_WORDS  # one table of number words (fr/en) for the whole interpreter
_N = r"(\d+|" + "|".join(_NUMS) + r")"

_FIELD = r"(?:\*|\d+)(?:[-/,](?:\*|\d+))*(?:/\d+)?"
_EXPLICIT = re.compile(r"(?<![\w*/,-])(" + r"\s+".join([_FIELD] * 5) + r")(?![\w*/,-])")
_MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}

_EVERY = r"(?:every|each|chaque|tou(?:te)?s les|tous les|toutes les)"
_MINUTES = re.compile(
    r"\b" + _EVERY + r"\s+(?:the\s+)?" + _N + r"\s*(?:minutes?|mins?|mn)\b"
    r"|\b(?:every|each|chaque|toutes les)\s+(minute)s?\b"
    r"|\b(?:every|toutes les)\s+(?:half[- ]hour|demi-heures?|demi heures?)\b"
)
_HOURS = re.compile(r"\b" + _EVERY + r"\s+(?:the\s+)?" + _N + r"\s*(?:heures?|hours?|h)\b")
_HOURLY = re.compile(
    r"\b(?:every hour|each hour|chaque heure|toutes les heures|hourly|once an hour|"
    r"une fois par heure|heure par heure|every 1 hours?)\b"
)
_DAILY = re.compile(
    r"\b(?:every ?day|each day|daily|every night|each night|nightly|every morning|"
    r"every evening|once a day|tous les jours|chaque jour|quotidiennement|chaque nuit|"
    r"toutes les nuits|tous les soirs|chaque soir|tous les matins|chaque matin|"
    r"une fois par jour|par jour|quotidien(?:ne)?)\b"
)
_WEEKDAYS = re.compile(
    r"\b(?:weekdays|every weekday|on weekdays|week days|business days|working days|"
    r"(?:les |tous les |chaque )?jours? ouvr(?:es|ables|e)|en semaine|"
    r"du lundi au vendredi|(?:from )?monday (?:to|through|thru|-) friday|mon-fri|lun-ven)\b"
)
_WEEKEND = re.compile(
    r"\b(?:(?:every |on |on the )?week-?ends?|(?:le |les |chaque )?week-?ends?|"
    r"samedi et dimanche|saturday and sunday)\b"
)
_WEEKLY = re.compile(
    r"\b(?:every week|each week|weekly|once a week|chaque semaine|toutes les semaines|"
    r"une fois par semaine|hebdomadaire(?:ment)?)\b"
)
_DAY_NAME = re.compile(r"\b" + _DAY + r"\b")
_DAY_CONTEXT = re.compile(
    r"\b(?:every|each|on|chaque|tous les|le|les|on the)\s+(?:\w+\s+)?" + _DAY + r"\b|\b" + _DAY
)
_MONTHLY_DAY = re.compile(
    r"\b(?:le |on the |the |tous les |every )?(\d{1,2}|premier|first)\s*(?:er|st|nd|rd|th|e)?"
    r"\s+(?:de chaque mois|du mois|of (?:every|each|the) month|de tous les mois|"
    r"of every month|monthly)\b"
    r"|\b(?:every|each) month on the (\d{1,2})\s*(?:st|nd|rd|th)?\b"
    r"|\b(?:chaque mois|tous les mois) le (\d{1,2}|premier)\s*(?:er|e)?\b"
)
_MONTHLY = re.compile(
    r"\b(?:every month|each month|monthly|once a month|chaque mois|tous les mois|"
    r"une fois par mois|mensuel(?:le)?(?:ment)?)\b"
)

# Times: "a 2h", "à 8h30", "2h du matin", "at 3am", "at 3:30 pm", "at 15:00", "a 14 heures",
# "a midi", "at noon", "minuit", "midnight". A bare "2h" is a duration, not a time.
_SUFFIX = (
    r"am|pm|a\.m\.|p\.m\.|du matin|du soir|de l'apres-midi|de l'apres midi|in the morning|"
    r"in the afternoon|in the evening|at night|de la nuit"
)
_TIME = re.compile(
    r"\b(?:a|at|vers|around|des|@|et|and)\s+(?P<h1>\d{1,2})\s*(?:h|:|heures?|hours?)\s*(?P<m1>\d{2})?"
    r"(?:\s*(?P<s1>" + _SUFFIX + r"))?(?![\w:])"
    r"|\b(?:(?:a|at|vers|around|@)\s+)?(?P<h2>\d{1,2})\s*(?:h|:|heures?)?\s*(?P<m2>\d{2})?\s*(?P<s2>"
    + _SUFFIX
    + r")(?![\w])"
    r"|\b(?P<h3>\d{1,2}):(?P<m3>\d{2})(?![\w:])"
    r"|\b(?:a|at|vers|around)\s+(?P<h4>\d{1,2})(?:\s*(?:o'clock|oclock))?(?![\w:/.])"
    r"|\b(?:a |at |vers |around )?(?P<word>midi|noon|minuit|midnight)\b"
)


_NOT_A_TIME = re.compile(
    r"\b(?:depuis|since|from|entre|between|after|apres|before|avant|until|jusqu'?a?|"
    r"till|de|du)\s*$"
)


def _num(token: str) -> int:
    return int(token) if token.isdigit() else _NUMS[token]


def _times(text: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    times: list[tuple[int, int]] = []
    spans: list[tuple[int, int]] = []
    for m in _TIME.finditer(text):
        if _NOT_A_TIME.search(text[: m.start()]):
            continue  # "depuis 2h du matin", "since 3am": a window, not a schedule
        g = m.groupdict()
        suffix: str | None = None
        if g["word"] is not None:
            hour, minute = (12, 0) if g["word"] in ("midi", "noon") else (0, 0)
        else:
            for i in "1234":
                if g[f"h{i}"] is not None:
                    hour = int(g[f"h{i}"])
                    minute = int(g.get(f"m{i}") or 0)
                    suffix = g.get(f"s{i}")
                    break
            if suffix in ("pm", "p.m.", "du soir", "in the evening", "in the afternoon") or (
                suffix is not None and "apres" in suffix
            ):
                if hour < 12:
                    hour += 12
            elif suffix in ("am", "a.m.") and hour == 12:
                hour = 0
            elif suffix in ("at night", "de la nuit") and 6 <= hour < 12:
                hour += 12
        if hour > 23 or minute > 59:
            continue
        times.append((hour, minute))
        spans.append(m.span())
    return times, spans


def find_schedule(text: str) -> Schedule | None:
    """The recurring schedule a folded request names, or ``None``.

    A time alone ("à 3h") is read as every day at that time.
    """
    spans: list[tuple[int, int]] = []
    m = _EXPLICIT.search(text)
    if m is not None and ("*" in m.group(1) or "cron" in text):
        return Schedule(re.sub(r"\s+", " ", m.group(1)), (m.span(),))
    for macro, cron in _MACROS.items():
        i = text.find(macro)
        if i >= 0:
            return Schedule(cron, ((i, i + len(macro)),))

    m = _MINUTES.search(text)
    if m is not None:
        if m.group(1) is not None:
            n = _num(m.group(1))
            cron = "* * * * *" if n == 1 else f"*/{n} * * * *"
        elif m.group(2) is not None:
            cron = "* * * * *"
        else:
            cron = "*/30 * * * *"
        return Schedule(cron, (m.span(),))
    m = _HOURS.search(text)
    if m is not None:
        n = _num(m.group(1))
        minute = 0
        at = re.search(r"\b(?:a|at) (?:la minute |minute )?:?(\d{2})\b", text)
        if at is not None and int(at.group(1)) < 60:
            minute = int(at.group(1))
        return Schedule(f"{minute} {'*' if n == 1 else f'*/{n}'} * * *", (m.span(),))
    m = _HOURLY.search(text)
    if m is not None:
        minute = 0
        at = re.search(r"\b(?:a la minute|at minute|at :|a :)\s*(\d{1,2})\b", text)
        if at is not None and int(at.group(1)) < 60:
            minute = int(at.group(1))
            spans.append(at.span())
        return Schedule(f"{minute} * * * *", (m.span(), *spans))

    dom = "*"
    dow = "*"
    found = False
    m = _MONTHLY_DAY.search(text)
    if m is not None:
        token = next(g for g in m.groups() if g is not None)
        day = 1 if token in ("premier", "first") else int(token)
        if 1 <= day <= 31:
            dom, found = str(day), True
            spans.append(m.span())
    if not found:
        m = _MONTHLY.search(text)
        if m is not None:
            dom, found = "1", True
            spans.append(m.span())
    if not found:
        m = _WEEKDAYS.search(text)
        if m is not None:
            dow, found = "1-5", True
            spans.append(m.span())
    if not found:
        m = _WEEKEND.search(text)
        if m is not None:
            dow, found = "0,6", True
            spans.append(m.span())
    if not found:
        days: list[int] = []
        for m in _DAY_CONTEXT.finditer(text):
            name = next(g for g in m.groups() if g is not None)
            if _DAYS[name] not in days:
                days.append(_DAYS[name])
            spans.append(m.span())
        if days:
            dow, found = ",".join(str(d) for d in sorted(days)), True
    if not found:
        m = _WEEKLY.search(text)
        if m is not None:
            dow, found = "0", True
            spans.append(m.span())
    if not found:
        m = _DAILY.search(text)
        if m is not None:
            found = True
            spans.append(m.span())
    times, time_spans = _times(text)
    if not found and not times:
        return None
    hours, mins = "0", "0"
    if times:
        if len({mi for _, mi in times}) == 1:
            mins = str(times[0][1])
            hours = ",".join(str(h) for h in sorted({h for h, _ in times}))
        else:
            hours, mins = str(times[0][0]), str(times[0][1])
        spans.extend(time_spans)
    return Schedule(f"{mins} {hours} {dom} * {dow}", tuple(sorted(spans)))
