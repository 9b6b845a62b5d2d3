"""What admins do after what the machine does: trigger → action associations.

A *trigger* is a signal the Learner raises (``metric:memory_usage:high``,
``template:T12:burst``…); an *action* is something an administrator did
(``service.restart:apache2``). Both are plain string keys with a time.

Repeated firings of one trigger make one *episode* (a new episode starts when
the trigger has been quiet for a whole window). An action that comes within
``window`` seconds after the start of an episode is linked to it; each episode
links to at most one occurrence of each action. For a (trigger, action) pair:

- support: the linked episodes (the dated evidence);
- confidence: linked episodes / closed episodes of the trigger (episodes
  whose window is over, or that are already linked);
- lift: confidence / the chance that the action falls in a window placed at
  random (its rate × the window), so an action done every hour anyway is not
  "explained" by whatever preceded it;
- lead time: the median delay from the episode's start to the action.

A pair becomes a pattern once support, confidence and lift reach their
thresholds. Everything here is pure: values in, values out; the Learner stores
the state (:meth:`AssociationMiner.to_state`).
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

__all__ = ["AssociationMiner", "Evidence", "Pattern"]

_STATE_VERSION = 1


@attrs.frozen
class Evidence:
    """One dated occurrence of a pattern: the trigger's episode and the action after it.

    Attributes:
        trigger_at: When the episode started (POSIX seconds).
        action_at: When the action was seen (POSIX seconds).
        firings: How many times the trigger fired in the episode before the action.
    """

    trigger_at: float
    action_at: float
    firings: int = 1

    @property
    def lead(self) -> float:
        """Seconds from the trigger to the action."""
        return self.action_at - self.trigger_at


@attrs.frozen
class Pattern:
    """An action that administrators take after a trigger.

    Attributes:
        trigger: The trigger's key.
        action: The action's key.
        evidence: The linked occurrences, oldest first.
        episodes: Closed episodes of the trigger (the confidence's denominator).
        confidence: Linked / closed episodes, in [0, 1].
        lift: Confidence over the chance of the action in a random window.
    """

    trigger: str
    action: str
    evidence: tuple[Evidence, ...]
    episodes: int
    confidence: float
    lift: float

    @property
    def support(self) -> int:
        """How many times the action followed the trigger."""
        return len(self.evidence)

    @property
    def lead_time(self) -> float:
        """The median delay from trigger to action, in seconds."""
        return float(statistics.median(e.lead for e in self.evidence))


@attrs.define
class _Episode:
    start: float
    last: float
    firings: int = 1
    linked: set[str] = attrs.field(factory=set)


class AssociationMiner:
    """Learns which actions follow which triggers.

    Args:
        window: Seconds after a trigger in which an action counts as its consequence.
        min_support: Linked occurrences a pattern needs.
        min_confidence: Share of the trigger's episodes followed by the action.
        min_lift: How much likelier than chance the action must be after the trigger.
        max_evidence: Occurrences kept per pair (the most recent).
        max_keys: Triggers and actions followed at most (the least recent are forgotten).
    """

    def __init__(
        self,
        *,
        window: float = 1200.0,
        min_support: int = 3,
        min_confidence: float = 0.5,
        min_lift: float = 2.0,
        max_evidence: int = 50,
        max_keys: int = 2000,
    ) -> None:
        if window <= 0:
            raise ValueError(f"window: expected a positive number of seconds, got {window}")
        if min_support < 1:
            raise ValueError(f"min_support: expected at least 1, got {min_support}")
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence: expected a number in [0, 1], got {min_confidence}")
        self.window = float(window)
        self.min_support = min_support
        self.min_confidence = min_confidence
        self.min_lift = min_lift
        self.max_evidence = max_evidence
        self.max_keys = max_keys
        # Per trigger: its open episode, and the count of closed episodes.
        self._open: dict[str, _Episode] = {}
        self._closed: dict[str, int] = {}
        # Per (trigger, action): the linked occurrences.
        self._links: dict[tuple[str, str], deque[Evidence]] = {}
        # Per action: how many times it was seen; and the span observed.
        self._actions: dict[str, int] = {}
        self._first: float | None = None
        self._now: float | None = None

    # -- input ---------------------------------------------------------------

    def trigger(self, key: str, at: float) -> bool:
        """Record one firing of a trigger.

        Returns:
            True when the firing starts a new episode (the moment to propose an
            action learnt for this trigger), False when it continues one.
        """
        self._tick(at)
        episode = self._open.get(key)
        if episode is not None and at - episode.last <= self.window:
            episode.last = max(episode.last, at)
            episode.firings += 1
            return False
        if episode is not None:
            self._closed[key] = self._closed.get(key, 0) + 1
        self._open[key] = _Episode(start=at, last=at)
        self._forget(self._open, self._closed)
        return True

    def action(self, key: str, at: float) -> list[Pattern]:
        """Record one admin action; link it to the episodes it follows.

        Returns:
            The patterns this action completed (those that qualify now and did not before).
        """
        self._tick(at)
        self._actions[key] = self._actions.get(key, 0) + 1
        completed = []
        for trigger, episode in self._open.items():
            if key in episode.linked or not 0 <= at - episode.start <= self.window:
                continue
            before = self._pattern(trigger, key)
            episode.linked.add(key)
            links = self._links.setdefault((trigger, key), deque(maxlen=self.max_evidence))
            links.append(Evidence(episode.start, at, episode.firings))
            after = self._pattern(trigger, key)
            if after is not None and before is None:
                completed.append(after)
        if len(self._actions) > self.max_keys:
            rare = min(self._actions, key=self._actions.__getitem__)
            del self._actions[rare]
            for pair in [p for p in self._links if p[1] == rare]:
                del self._links[pair]
        return completed

    # -- output --------------------------------------------------------------

    def patterns(self) -> list[Pattern]:
        """Every pair that qualifies, most confident first."""
        found = [p for t, a in self._links if (p := self._pattern(t, a)) is not None]
        return sorted(found, key=lambda p: (-p.confidence, -p.support, p.trigger, p.action))

    def patterns_for(self, trigger: str) -> list[Pattern]:
        """The qualifying patterns whose trigger is ``trigger``."""
        return [p for p in self.patterns() if p.trigger == trigger]

    def _pattern(self, trigger: str, action: str) -> Pattern | None:
        links = self._links.get((trigger, action))
        if not links or len(links) < self.min_support:
            return None
        episode = self._open.get(trigger)
        closed = self._closed.get(trigger, 0)
        if episode is not None and (
            action in episode.linked or (self._now or 0) - episode.start > self.window
        ):
            closed += 1
        linked = min(len(links), closed) if closed else len(links)
        confidence = linked / max(closed, linked)
        lift = confidence / self._chance(action)
        if confidence < self.min_confidence or lift < self.min_lift:
            return None
        return Pattern(trigger, action, tuple(links), max(closed, linked), confidence, lift)

    def _chance(self, action: str) -> float:
        """The chance that ``action`` falls in a window placed at random."""
        if self._first is None or self._now is None:
            return 1.0
        span = max(self._now - self._first, self.window)
        return min(1.0, self._actions.get(action, 0) * self.window / span)

    def _tick(self, at: float) -> None:
        if self._first is None or at < self._first:
            self._first = at
        if self._now is None or at > self._now:
            self._now = at

    def _forget(self, *tables: dict[str, Any]) -> None:
        if len(self._open) <= self.max_keys:
            return
        oldest = min(self._open, key=lambda k: self._open[k].last)
        for table in tables:
            table.pop(oldest, None)
        for pair in [p for p in self._links if p[0] == oldest]:
            del self._links[pair]

    # -- state ---------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """The learned state, JSON-ready (see :meth:`from_state`)."""
        return {
            "version": _STATE_VERSION,
            "window": self.window,
            "open": {
                k: [e.start, e.last, e.firings, sorted(e.linked)] for k, e in self._open.items()
            },
            "closed": dict(self._closed),
            "links": [
                [t, a, [[e.trigger_at, e.action_at, e.firings] for e in links]]
                for (t, a), links in self._links.items()
            ],
            "actions": dict(self._actions),
            "first": self._first,
            "now": self._now,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], **kwargs: Any) -> AssociationMiner:
        """A miner that continues from :meth:`to_state`'s output.

        Raises:
            ValueError: The state is not one this version wrote.
        """
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"association state version {state.get('version')!r} not supported")
        miner = cls(window=state["window"], **kwargs)
        for key, (start, last, firings, linked) in state["open"].items():
            miner._open[key] = _Episode(float(start), float(last), int(firings), set(linked))
        miner._closed = {k: int(v) for k, v in state["closed"].items()}
        for trigger, action, links in state["links"]:
            miner._links[(trigger, action)] = deque(
                (Evidence(float(t), float(a), int(n)) for t, a, n in links),
                maxlen=miner.max_evidence,
            )
        miner._actions = {k: int(v) for k, v in state["actions"].items()}
        miner._first = state["first"]
        miner._now = state["now"]
        return miner

    @staticmethod
    def keys(patterns: Iterable[Pattern]) -> set[tuple[str, str]]:
        """The (trigger, action) pairs of ``patterns``."""
        return {(p.trigger, p.action) for p in patterns}
