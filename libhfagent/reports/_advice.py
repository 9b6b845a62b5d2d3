"""Right-sizing advice and learnt suggestions in words, in French or English."""

from __future__ import annotations

from .._i18n import fmt_decimal, fmt_int, fmt_percent, translator
from ..learner._profiles import Advice, describe_slots

__all__ = ["render_advice"]

_DAY_NAMES = {
    "en": {
        "mon": "Mon",
        "tue": "Tue",
        "wed": "Wed",
        "thu": "Thu",
        "fri": "Fri",
        "sat": "Sat",
        "sun": "Sun",
    },
    "fr": {
        "mon": "lun",
        "tue": "mar",
        "wed": "mer",
        "thu": "jeu",
        "fri": "ven",
        "sat": "sam",
        "sun": "dim",
    },
}


def _days(days: list[str], lang: str) -> str:
    names = _DAY_NAMES.get(lang, _DAY_NAMES["en"])
    order = list(names)
    indexes = [order.index(d) for d in days]
    if len(indexes) > 2 and indexes == list(range(indexes[0], indexes[-1] + 1)):
        return f"{names[days[0]]}–{names[days[-1]]}"
    return ", ".join(names[d] for d in days)


def _windows(slots: tuple[int, ...], lang: str) -> str:
    parts = []
    for window in describe_slots(slots)[:4]:
        hours = (
            f"{window['from']}h–{window['to']}h"
            if lang == "fr"
            else (f"{window['from']:02d}:00–{window['to']:02d}:00")
        )
        parts.append(f"{_days(window['days'], lang)} {hours}")
    more = len(describe_slots(slots)) - 4
    if more > 0:
        parts.append(
            translator(lang).gettext("and %(count)s more") % {"count": fmt_int(more, lang)}
        )
    return "; ".join(parts)


def render_advice(advice: Advice, lang: str) -> str:
    """The advice as a short report: the finding, the sizes, the saving and its arithmetic."""
    _ = translator(lang).gettext
    if not advice.enough_history:
        return _(
            "Not enough usage history for right-sizing advice yet: %(days)s days of the "
            "14 needed (the agent learns CPU and memory use by hour of the week)."
        ) % {"days": fmt_decimal(advice.days, lang, 1)}
    lines = [
        _("Current size: %(name)s (%(vcpus)s vCPU, %(memory)s GiB).")
        % {
            "name": advice.current.name,
            "vcpus": fmt_decimal(advice.current.vcpus, lang, 0),
            "memory": fmt_decimal(advice.current.memory_gib, lang, 0),
        }
    ]
    for period in advice.periods:
        lines.append(
            _(
                "%(windows)s: %(name)s (%(vcpus)s vCPU, %(memory)s GiB) — 95th percentile "
                "%(cpu)s CPU, %(mem)s memory of today's machine, %(hours)s h a week."
            )
            % {
                "windows": _windows(period.slots, lang),
                "name": period.size.name,
                "vcpus": fmt_decimal(period.size.vcpus, lang, 0),
                "memory": fmt_decimal(period.size.memory_gib, lang, 0),
                "cpu": fmt_percent(period.cpu_p95 / 100, lang),
                "mem": fmt_percent(period.memory_p95 / 100, lang),
                "hours": fmt_int(len(period.slots), lang),
            }
        )
    arithmetic = " + ".join(
        f"{fmt_int(len(p.slots), lang)} h × {fmt_decimal(p.size.price, lang)}"
        for p in advice.periods
    )
    key = (
        _(
            "Estimated saving: %(saving)s (%(advised)s = %(arithmetic)s, against %(current)s = "
            "168 h × %(price)s a week; a size may reach %(target)s at the 95th percentile)."
        )
        if advice.saving >= 0
        else _(
            "This machine is too small at its busiest: %(saving)s more (%(advised)s = "
            "%(arithmetic)s, against %(current)s = 168 h × %(price)s a week; a size may reach "
            "%(target)s at the 95th percentile)."
        )
    )
    lines.append(
        key
        % {
            "saving": fmt_percent(abs(advice.saving), lang),
            "advised": fmt_decimal(advice.advised_cost, lang),
            "arithmetic": arithmetic,
            "current": fmt_decimal(advice.current_cost, lang),
            "price": fmt_decimal(advice.current.price, lang),
            "target": fmt_percent(advice.target, lang),
        }
    )
    return "\n".join(lines)
