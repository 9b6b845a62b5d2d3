"""Suggestions: learnt patterns offered to the administrator, with their evidence."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from .._i18n import fmt_duration, fmt_int, fmt_percent, translator
from ._associations import Evidence, Pattern

__all__ = [
    "Reply",
    "Signal",
    "Status",
    "Suggestion",
    "action_step",
    "describe_action",
    "describe_trigger",
]

Status = Literal["proposed", "accepted", "automated", "rejected"]
Reply = Literal["accept", "reject", "automate", "expected"]
REPLIES: tuple[str, ...] = ("accept", "reject", "automate", "expected")


@attrs.frozen
class Signal:
    """Something the Learner noticed.

    Attributes:
        kind: ``metric_anomaly``, ``burst``, ``new_template``, ``error_rate``,
            ``suggestion_added`` (a new pattern) or ``suggestion_due`` (a learnt
            trigger fired again: propose its action now).
        key: The trigger key (``metric:memory_usage{}:high``…) or the suggestion's trigger.
        at: When.
        score: How unusual, in [0, 1].
        fields: Details (value, expected, template id, suggestion id, ``auto``…).
    """

    kind: str
    key: str
    at: dt.datetime
    score: float = 1.0
    fields: Mapping[str, Any] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kind": self.kind,
            "key": self.key,
            "at": self.at.isoformat(),
            "score": round(self.score, 4),
            **dict(self.fields),
        }


def suggestion_id(trigger: str, action: str) -> str:
    """The stable id of the suggestion for a (trigger, action) pair."""
    return hashlib.sha256(f"{trigger}\0{action}".encode()).hexdigest()[:12]


@attrs.frozen
class Suggestion:
    """A learnt pattern offered to the administrator.

    Attributes:
        id: Stable id (from the trigger and the action).
        trigger: What comes first (a trigger key).
        action: What the administrators then did (an action key).
        status: ``proposed``, ``accepted`` (accepted at least once), ``automated``
            (runs on its own within the policy) or ``rejected`` (stops).
        evidence: The dated occurrences.
        episodes: How many times the trigger happened.
        confidence: Share of the trigger's episodes followed by the action.
        lift: How much likelier than chance.
        accepted_runs: Times an administrator accepted to run it.
        created: When it was first suggested (POSIX seconds).
        updated: Last change (POSIX seconds).
    """

    id: str
    trigger: str
    action: str
    status: Status
    evidence: tuple[Evidence, ...]
    episodes: int
    confidence: float
    lift: float
    accepted_runs: int = 0
    created: float = 0.0
    updated: float = 0.0

    @classmethod
    def from_pattern(cls, pattern: Pattern, now: float) -> Suggestion:
        """A new suggestion for a pattern just learnt."""
        return cls(
            suggestion_id(pattern.trigger, pattern.action),
            pattern.trigger,
            pattern.action,
            "proposed",
            pattern.evidence,
            pattern.episodes,
            pattern.confidence,
            pattern.lift,
            created=now,
            updated=now,
        )

    def refreshed(self, pattern: Pattern) -> Suggestion:
        """The same suggestion with the pattern's latest evidence."""
        return attrs.evolve(
            self,
            evidence=pattern.evidence,
            episodes=pattern.episodes,
            confidence=pattern.confidence,
            lift=pattern.lift,
        )

    @property
    def lead_time(self) -> float:
        """Median seconds from trigger to action."""
        leads = sorted(e.lead for e in self.evidence)
        if not leads:
            return 0.0
        mid = len(leads) // 2
        return leads[mid] if len(leads) % 2 else (leads[mid - 1] + leads[mid]) / 2

    def step(self) -> tuple[str, dict[str, Any]]:
        """The plan step that carries out the suggested action."""
        return action_step(self.action)

    def text(self, lang: str) -> str:
        """One sentence with the evidence, in ``lang``."""
        _ = translator(lang).gettext
        return _(
            "%(trigger)s, then %(action)s: %(support)s times out of %(episodes)s "
            "(%(share)s), typically %(lead)s later."
        ) % {
            "trigger": describe_trigger(self.trigger, lang),
            "action": describe_action(self.action, lang),
            "support": fmt_int(len(self.evidence), lang),
            "episodes": fmt_int(self.episodes, lang),
            "share": fmt_percent(self.confidence, lang),
            "lead": fmt_duration(self.lead_time, lang),
        }

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        """JSON-ready form (``hf-agent learn suggestions --json``, D-Bus ListSuggestions)."""
        step, args = self.step()
        return {
            "id": self.id,
            "trigger": self.trigger,
            "action": self.action,
            "status": self.status,
            "support": len(self.evidence),
            "episodes": self.episodes,
            "confidence": round(self.confidence, 4),
            "lift": round(self.lift, 3),
            "lead_time": round(self.lead_time, 1),
            "accepted_runs": self.accepted_runs,
            "step": {"action": step, "args": args},
            "evidence": [
                {
                    "trigger_at": _iso(e.trigger_at),
                    "action_at": _iso(e.action_at),
                    "firings": e.firings,
                }
                for e in self.evidence
            ],
            "text": self.text(lang),
        }

    def to_state(self) -> dict[str, Any]:
        """What the store keeps."""
        state = attrs.asdict(self, recurse=False)
        state["evidence"] = [[e.trigger_at, e.action_at, e.firings] for e in self.evidence]
        return state

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Suggestion:
        """Back from :meth:`to_state`."""
        values = dict(state)
        values["evidence"] = tuple(
            Evidence(float(t), float(a), int(n)) for t, a, n in values["evidence"]
        )
        return cls(**values)


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def action_step(action: str) -> tuple[str, dict[str, Any]]:
    """The plan step (action id, args) of an action key such as ``service.restart:apache2``."""
    name, _, target = action.partition(":")
    if name.startswith("service.") and target:
        return name, {"service": target}
    if name.startswith("login"):
        return "none", {"user": target}
    return name, ({"target": target} if target else {})


def describe_trigger(key: str, lang: str) -> str:
    """A trigger key in words."""
    _ = translator(lang).gettext
    parts = key.split(":")
    if parts[0] == "metric" and len(parts) >= 3:
        series, direction = ":".join(parts[1:-1]), parts[-1]
        name = series.split("{", 1)[0]
        if direction == "low":
            return _("%(metric)s fell below its usual level") % {"metric": name}
        return _("%(metric)s climbed above its usual level") % {"metric": name}
    if parts[0] == "log" and len(parts) >= 3:
        kind = parts[-1]
        source = parts[1]
        if kind == "burst" and len(parts) == 4:
            return _("a burst of log template %(template)s in %(source)s") % {
                "template": parts[2],
                "source": source,
            }
        if kind == "new_template" and len(parts) == 4:
            return _("a new kind of log line (%(template)s) in %(source)s") % {
                "template": parts[2],
                "source": source,
            }
        if kind == "error_rate":
            return _("the error rate of %(source)s rose") % {"source": source}
    return key


def describe_action(key: str, lang: str) -> str:
    """An action key in words."""
    _ = translator(lang).gettext
    name, _sep, target = key.partition(":")
    words = {
        "service.restart": _("%(target)s was restarted"),
        "service.start": _("%(target)s was started"),
        "service.stop": _("%(target)s was stopped"),
        "login": _("%(target)s logged in"),
    }
    if name in words and target:
        return words[name] % {"target": target}
    return key
