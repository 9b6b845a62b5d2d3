"""Reports as text, in the request's language (gettext)."""

from __future__ import annotations

import datetime as dt
import os

from .._i18n import fmt_decimal, fmt_duration, fmt_int, fmt_percent, fmt_time, translator
from ..observer._system import SystemSnapshot
from ._access import AccessSummary
from ._security import SecuritySummary

__all__ = ["render_access", "render_security", "render_system"]

_SOURCE_NAMES = {"nginx": "Nginx", "apache": "Apache"}
#: Hours listed one by one up to this many; beyond, only the busiest.
_MAX_HOURS = 24


def _bytes(n: float, lang: str) -> str:
    units = ("B", "KB", "MB", "GB", "TB") if lang == "en" else ("o", "Ko", "Mo", "Go", "To")
    value = float(n)
    for unit in units:
        if value < 1000 or unit == units[-1]:
            text = f"{value:.0f}" if unit == units[0] else f"{value:.1f}"
            return (text.replace(".", ",") if lang == "fr" else text) + "\u00a0" + unit
        value /= 1000
    raise AssertionError("unreachable")


def _heading(name: str, start: dt.datetime | None, end: dt.datetime, lang: str) -> str:
    _ = translator(lang).gettext
    if start is None:
        return _("%(source)s, whole log") % {"source": name}
    return _("%(source)s, last %(period)s (%(start)s to %(end)s, %(tz)s)") % {
        "source": name,
        "period": fmt_duration((end - start).total_seconds(), lang),
        "start": fmt_time(start, lang),
        "end": fmt_time(end, lang),
        "tz": str(end.tzinfo),
    }


def render_access(summary: AccessSummary, lang: str) -> str:
    """The human report of an access-log summary."""
    t = translator(lang)
    _, n_ = t.gettext, t.ngettext
    tz = (summary.start.tzinfo if summary.start is not None else None) or dt.UTC
    name = _SOURCE_NAMES.get(summary.source, summary.source)
    lines = [_heading(name, summary.start, summary.end, lang)]
    total = n_("%(n)s request in all", "%(n)s requests in all", summary.total) % {
        "n": fmt_int(summary.total, lang)
    }
    if summary.total == 0:
        lines.append(_("No request was logged in this period."))
    elif summary.status is not None:
        share = fmt_percent(summary.matched / summary.total, lang)
        what = (
            n_("%(n)s %(code)s error", "%(n)s %(code)s errors", summary.matched)
            if summary.status >= 400
            else n_("%(n)s %(code)s response", "%(n)s %(code)s responses", summary.matched)
        ) % {"n": fmt_int(summary.matched, lang), "code": summary.status}
        lines.append(
            _("%(total)s, of which %(what)s (%(share)s of the traffic).")
            % {"total": total, "what": what, "share": share}
        )
    else:
        lines.append(total + ".")
        if summary.by_status:
            codes = ", ".join(
                f"{code} ({fmt_int(n, lang)})" for code, n in sorted(summary.by_status.items())
            )
            lines.append(_("By status: %(codes)s.") % {"codes": codes})
    if summary.matched:
        paths = ", ".join(f"{p} ({fmt_int(n, lang)})" for p, n in summary.top_paths[:5])
        label = (
            _("Most requested missing paths: %(items)s.")
            if summary.status == 404
            else _("Most requested paths: %(items)s.")
        )
        lines.append(label % {"items": paths})
        clients = ", ".join(f"{c} ({fmt_int(n, lang)})" for c, n in summary.top_clients[:5])
        lines.append(_("Top clients: %(items)s.") % {"items": clients})
        lines.append(_hours(summary, lang, tz))
        first, last = summary.first or summary.end, summary.last or summary.end  # set when matched
        lines.append(
            _("First at %(first)s, last at %(last)s.")
            % {"first": fmt_time(first, lang, tz), "last": fmt_time(last, lang, tz)}
        )
    skipped = []
    c = summary.counts
    if c.invalid:
        skipped.append(
            n_(
                "%(n)s unreadable line (invalid UTF-8 or binary)",
                "%(n)s unreadable lines (invalid UTF-8 or binary)",
                c.invalid,
            )
            % {"n": fmt_int(c.invalid, lang)}
        )
    if c.unparsed:
        skipped.append(
            n_(
                "%(n)s line not in access-log format",
                "%(n)s lines not in access-log format",
                c.unparsed,
            )
            % {"n": fmt_int(c.unparsed, lang)}
        )
    if c.future:
        skipped.append(
            n_("%(n)s line dated in the future", "%(n)s lines dated in the future", c.future)
            % {"n": fmt_int(c.future, lang)}
        )
    if skipped:
        lines.append(_("Skipped: %(items)s.") % {"items": ", ".join(skipped)})
    for path in c.damaged:
        lines.append(_("Warning: %(file)s is damaged; read up to the damage.") % {"file": path})
    if summary.files:
        lines.append(
            _("Files read: %(files)s.")
            % {"files": ", ".join(os.path.basename(f) for f in summary.files)}
        )
    return "\n".join(lines)


def _hours(summary: AccessSummary, lang: str, tz: dt.tzinfo) -> str:
    _ = translator(lang).gettext
    hours = [(dt.datetime.fromisoformat(h), n) for h, n in summary.by_hour]
    if len(hours) > _MAX_HOURS:
        hours = sorted(sorted(hours, key=lambda hn: -hn[1])[:5])
        label = _("Busiest hours: %(items)s.")
    else:
        label = _("By hour: %(items)s.")
    items = ", ".join(f"{fmt_time(h, lang, tz)} ({fmt_int(n, lang)})" for h, n in hours)
    return label % {"items": items}


def render_system(snap: SystemSnapshot, lang: str, metric: str | None = None) -> str:
    """The human report of the machine's health (or of one metric)."""
    _ = translator(lang).gettext
    lines: list[str] = []
    if metric is None:
        lines.append(
            _("%(host)s: up %(uptime)s.")
            % {"host": snap.hostname, "uptime": fmt_duration(snap.uptime, lang)}
        )
    warnings: list[str] = []
    if metric in (None, "cpu", "load"):
        lines.append(
            _(
                "Load: %(l1)s / %(l5)s / %(l15)s (1, 5, 15 min) for %(cpus)s CPUs; "
                "CPU in use: %(cpu)s."
            )
            % {
                "l1": fmt_decimal(snap.load[0], lang),
                "l5": fmt_decimal(snap.load[1], lang),
                "l15": fmt_decimal(snap.load[2], lang),
                "cpus": snap.cpu_count,
                "cpu": fmt_percent(snap.cpu_percent / 100, lang),
            }
        )
        if snap.load[1] > snap.cpu_count:
            warnings.append(_("the load is above the number of CPUs"))
    if metric in (None, "memory"):
        lines.append(
            _("Memory: %(used)s in use of %(total)s (%(available)s available).")
            % {
                "used": fmt_percent(snap.memory_percent / 100, lang),
                "total": _bytes(snap.memory_total, lang),
                "available": _bytes(snap.memory_available, lang),
            }
        )
        if snap.memory_percent >= 90:
            warnings.append(_("memory is nearly full"))
        if snap.swap_total and snap.swap_percent >= 50:
            warnings.append(_("more than half of the swap is used"))
    if metric in (None, "disk"):
        for disk in snap.disks:
            lines.append(
                _("Disk %(mount)s: %(used)s used, %(free)s free of %(total)s.")
                % {
                    "mount": disk.mount,
                    "used": fmt_percent(disk.percent / 100, lang),
                    "free": _bytes(disk.free, lang),
                    "total": _bytes(disk.total, lang),
                }
            )
            if disk.percent >= 90:
                warnings.append(_("%(mount)s is nearly full") % {"mount": disk.mount})
    if warnings:
        lines.append(_("Attention: %(items)s.") % {"items": "; ".join(warnings)})
    else:
        lines.append(_("Nothing abnormal."))
    return "\n".join(lines)


def render_security(summary: SecuritySummary, lang: str) -> str:
    """The human report of SSH authentication failures."""
    t = translator(lang)
    _, n_ = t.gettext, t.ngettext
    tz = summary.end.tzinfo
    lines = [_heading(_("SSH logins"), summary.start, summary.end, lang)]
    if not summary.failures:
        lines.append(_("No failed login in this period."))
    else:
        lines.append(
            n_("%(n)s failed login.", "%(n)s failed logins.", summary.failures)
            % {"n": fmt_int(summary.failures, lang)}
        )
    rule = n_(
        "%(n)s failure within %(period)s",
        "%(n)s failures within %(period)s",
        summary.max_retry,
    ) % {"n": summary.max_retry, "period": fmt_duration(summary.find_time, lang)}
    if summary.offenders:
        items = "; ".join(
            n_(
                "%(ip)s: %(n)s failure, %(first)s to %(last)s",
                "%(ip)s: %(n)s failures, %(first)s to %(last)s",
                o.failures,
            )
            % {
                "ip": o.ip,
                "n": fmt_int(o.failures, lang),
                "first": fmt_time(o.first, lang, tz),
                "last": fmt_time(o.last, lang, tz),
            }
            for o in summary.offenders
        )
        lines.append(
            n_(
                "%(n)s source crossed the threshold (%(rule)s): %(items)s.",
                "%(n)s sources crossed the threshold (%(rule)s): %(items)s.",
                len(summary.offenders),
            )
            % {"n": len(summary.offenders), "rule": rule, "items": items}
        )
    elif summary.failures:
        lines.append(_("No source crossed the threshold (%(rule)s).") % {"rule": rule})
    if summary.invalid_users:
        users = ", ".join(f"{u} ({fmt_int(n, lang)})" for u, n in summary.invalid_users)
        lines.append(_("Unknown users tried: %(items)s.") % {"items": users})
    if summary.logins:
        logins = ", ".join(
            _("%(user)s from %(ip)s") % {"user": user, "ip": ip} + f" ({fmt_int(n, lang)})"
            for (user, ip), n in summary.logins[:5]
        )
        lines.append(_("Successful logins: %(items)s.") % {"items": logins})
    if summary.counts.invalid:
        lines.append(
            _("Skipped: %(items)s.")
            % {
                "items": n_(
                    "%(n)s unreadable line (invalid UTF-8 or binary)",
                    "%(n)s unreadable lines (invalid UTF-8 or binary)",
                    summary.counts.invalid,
                )
                % {"n": fmt_int(summary.counts.invalid, lang)}
            }
        )
    if summary.files:
        lines.append(
            _("Files read: %(files)s.")
            % {"files": ", ".join(os.path.basename(f) for f in summary.files)}
        )
    return "\n".join(lines)
