"""Previews, outcomes and undo reports as text in the request's language."""

from __future__ import annotations

from typing import Any

from .._i18n import fmt_decimal, fmt_int, translator
from ._executor import Outcome, PreviewedPlan, UndoReport
from ._preview import Preview

__all__ = ["fmt_bytes", "render_outcome", "render_preview", "render_undo"]


def fmt_bytes(n: int, lang: str) -> str:
    """``1234567`` → ``1,2 MB`` (fr) / ``1.2 MB`` (en); SI units; negative sizes keep their sign."""
    sign = "-" if n < 0 else ""
    n = abs(n)
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= scale:
            return f"{sign}{fmt_decimal(n / scale, lang, 1)} {unit}"
    return f"{sign}{fmt_int(n, lang)} B"


def _known(step: dict[str, Any], lang: str) -> list[str]:
    _ = translator(lang).gettext
    report = step["report"]
    lines = []
    if "error" in report:
        lines.append("  " + _("What is known: nothing (%(error)s)") % {"error": report["error"]})
    unit = report.get("unit")
    if unit:
        lines.append(
            "  "
            + _("%(name)s is now %(active)s (%(sub)s); depending on it: %(deps)s")
            % {
                "name": unit["name"],
                "active": unit["active_state"],
                "sub": unit["sub_state"],
                "deps": ", ".join(unit["dependents"]) or _("none"),
            }
        )
    if "updates" in report:
        updates = report["updates"]
        lines.append(
            "  " + _("apt-get -s lists %(count)d packages to upgrade:") % {"count": len(updates)}
        )
        lines += [f"    {u['name']} {u['old']} → {u['new']}" for u in updates[:40]]
        if len(updates) > 40:
            lines.append(f"    … {len(updates) - 40}")
    return lines


def render_preview(previewed: PreviewedPlan, lang: str) -> str:
    """The preview's summary: totals, steps not simulated, and how to apply it."""
    _ = translator(lang).gettext
    preview: Preview = previewed.preview
    lines = [
        _(
            "Preview (copy-on-write, %(mode)s): %(deleted)s files deleted, %(created)s created, "
            "%(modified)s modified, %(freed)s freed."
        )
        % {
            "mode": preview.mode,
            "deleted": fmt_int(preview.deleted, lang),
            "created": fmt_int(preview.created, lang),
            "modified": fmt_int(preview.modified, lang),
            "freed": fmt_bytes(preview.bytes_freed, lang),
        }
    ]
    for step in preview.to_dict()["steps"]:
        if step["error"]:
            lines.append(
                _("%(action)s failed in the preview: %(error)s")
                % {"action": step["action"], "error": step["error"]}
            )
        elif not step["simulated"]:
            lines.append(
                _(
                    "%(action)s cannot be simulated: it acts on running services or installs "
                    "packages, which a copy-on-write overlay cannot show."
                )
                % {"action": step["action"]}
            )
            lines += _known(step, lang)
    return "\n".join(lines)


def render_outcome(outcome: Outcome, lang: str) -> str:
    """What applying a plan did."""
    _ = translator(lang).gettext
    lines = []
    for result in outcome.results:
        if result.applied:
            lines.append(_("Applied: %(action)s.") % {"action": result.action})
    if outcome.failed:
        lines.append(
            _("Stopped: %(error)s. The following steps did not run.") % {"error": outcome.failed}
        )
    if outcome.plan_id and any(r.applied for r in outcome.results):
        lines.append(
            _("To undo what can be undone: hf-agent undo %(plan_id)s")
            % {"plan_id": outcome.plan_id}
        )
    return "\n".join(lines)


def render_undo(report: UndoReport, lang: str) -> str:
    """What undoing a plan did and what it could not."""
    _ = translator(lang).gettext
    lines = [f"{_('Undone')}: {action}: {what}" for action, what in report.undone]
    lines += [f"{_('Not undone')}: {action}: {why}" for action, why in report.not_undone]
    if not lines:
        lines.append(_("Nothing to undo."))
    return "\n".join(lines)
