"""Log anomalies: bursts of a template, new templates, error-rate changes.

Log lines arrive as (time, template id, is-new, is-error). Counts are kept per
minute; when a minute closes, each template's count is compared with the rate
that template usually has (an exponentially weighted mean per minute, with a
Poisson tail test: a burst is a count the usual rate makes very unlikely), and
the errors of the minute are tested the same way against the source's usual
error share. A new
template is a signal once the warm-up is over (at first, every template is new).
Memory is bounded: at most ``max_templates`` rates are kept (least recent out).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["LogAnomaly", "LogRates"]

_MINUTE = 60.0
_STATE_VERSION = 1


@attrs.frozen
class LogAnomaly:
    """Something unusual in the logs of one source.

    Attributes:
        kind: ``burst``, ``new_template`` or ``error_rate``.
        source: The log source.
        at: POSIX seconds (the end of the minute for bursts and error rates).
        template_id: The template concerned (bursts, new templates).
        count: Lines in the minute (bursts), or errors (error rate).
        expected: The usual lines per minute (bursts) or error share (error rate).
        score: How unusual, in [0, 1].
    """

    kind: str
    source: str
    at: float
    template_id: str | None = None
    count: int = 0
    expected: float = 0.0
    score: float = 1.0

    @property
    def key(self) -> str:
        """The trigger key the association miner learns from."""
        if self.template_id is not None:
            return f"log:{self.source}:{self.template_id}:{self.kind}"
        return f"log:{self.source}:{self.kind}"


def _poisson_tail(count: int, rate: float) -> float:
    """log P(X >= count) for X ~ Poisson(rate), by the Chernoff bound (cheap, conservative)."""
    if count <= rate:
        return 0.0
    return -(rate - count + count * math.log(count / rate))


@attrs.define
class _Rate:
    mean: float = 0.0
    minutes: int = 0


class LogRates:
    """Per-source log statistics that raise :class:`LogAnomaly` values.

    Args:
        warmup: Seconds of a source's logs before new templates and bursts count.
        alpha: Weight of each closed minute in a template's usual rate.
        min_burst: Lines in a minute below which nothing is a burst.
        burst_log_p: A burst is at most this unlikely (natural log of the probability).
        min_errors: Errors in a minute below which the error rate is not judged.
        max_templates: Template rates kept at most.
    """

    def __init__(
        self,
        *,
        warmup: float = 3600.0,
        alpha: float = 0.02,
        min_burst: int = 20,
        burst_log_p: float = -20.0,
        min_errors: int = 10,
        max_templates: int = 5000,
    ) -> None:
        self.warmup = warmup
        self.alpha = alpha
        self.min_burst = min_burst
        self.burst_log_p = burst_log_p
        self.min_errors = min_errors
        self.max_templates = max_templates
        self._rates: OrderedDict[tuple[str, str], _Rate] = OrderedDict()
        self._start: dict[str, float] = {}
        self._minute: dict[str, float] = {}
        self._counts: dict[str, dict[str, int]] = {}
        self._lines: dict[str, int] = {}
        self._errors: dict[str, int] = {}
        self._error_share: dict[str, _Rate] = {}

    def add(
        self, source: str, at: float, template_id: str, *, is_new: bool, is_error: bool
    ) -> list[LogAnomaly]:
        """Count one line; returns the anomalies this line revealed (often none)."""
        if not math.isfinite(at):
            return []
        found: list[LogAnomaly] = []
        start = self._start.setdefault(source, at)
        minute = math.floor(at / _MINUTE) * _MINUTE
        current = self._minute.get(source)
        if current is None:
            self._minute[source] = minute
        elif minute > current:
            found.extend(self._close(source, current, minute))
            self._minute[source] = minute
        # A line from an earlier minute (clock went back) counts in the current one.
        counts = self._counts.setdefault(source, {})
        counts[template_id] = counts.get(template_id, 0) + 1
        self._lines[source] = self._lines.get(source, 0) + 1
        if is_error:
            self._errors[source] = self._errors.get(source, 0) + 1
        if is_new and at - start >= self.warmup:
            found.append(LogAnomaly("new_template", source, at, template_id, 1, 0.0, 1.0))
        return found

    def flush(self, source: str, now: float) -> list[LogAnomaly]:
        """Close the current minute of ``source`` if ``now`` is past it (for idle streams)."""
        current = self._minute.get(source)
        if current is None or now < current + _MINUTE:
            return []
        minute = math.floor(now / _MINUTE) * _MINUTE
        self._minute[source] = minute
        return self._close(source, current, minute)

    def _close(self, source: str, minute: float, next_minute: float) -> list[LogAnomaly]:
        found: list[LogAnomaly] = []
        counts = self._counts.pop(source, {})
        lines = self._lines.pop(source, 0)
        errors = self._errors.pop(source, 0)
        end = minute + _MINUTE
        learning = end - self._start.get(source, end) < self.warmup
        idle = int((next_minute - end) // _MINUTE)  # whole minutes with no line at all
        seen = set()
        for template_id, count in counts.items():
            key = (source, template_id)
            seen.add(key)
            rate = self._rates.get(key)
            if rate is None:
                rate = self._rates[key] = _Rate()
                if len(self._rates) > self.max_templates:
                    self._rates.popitem(last=False)
            else:
                self._rates.move_to_end(key)
            usual = max(rate.mean, 1.0 / max(rate.minutes, 1) if rate.minutes else 0.0)
            if not learning and count >= self.min_burst:
                log_p = _poisson_tail(count, max(usual, 0.05))
                if log_p <= self.burst_log_p:
                    score = min(1.0, log_p / (2 * self.burst_log_p))
                    found.append(
                        LogAnomaly("burst", source, end, template_id, count, usual, 0.5 + score / 2)
                    )
            rate.mean += self.alpha * (count - rate.mean)
            rate.minutes += 1
            self._decay(rate, idle)
        for key, rate in self._rates.items():
            if key[0] == source and key not in seen:
                self._decay(rate, 1 + idle)
        if lines:
            share = self._error_share.setdefault(source, _Rate())
            expected = max(share.mean, 1.0 / (share.minutes + 1)) * lines
            if not learning and errors >= self.min_errors:
                log_p = _poisson_tail(errors, max(expected, 0.05))
                if log_p <= self.burst_log_p:
                    score = 0.5 + min(1.0, log_p / (2 * self.burst_log_p)) / 2
                    found.append(
                        LogAnomaly("error_rate", source, end, None, errors, share.mean, score)
                    )
            share.mean += self.alpha * (errors / lines - share.mean)
            share.minutes += 1
        return found

    def _decay(self, rate: _Rate, minutes: int) -> None:
        if minutes > 0:
            rate.mean *= (1 - self.alpha) ** minutes
            rate.minutes += minutes

    def to_state(self) -> dict[str, Any]:
        """JSON-ready state (open minutes included)."""
        return {
            "version": _STATE_VERSION,
            "rates": [[s, t, r.mean, r.minutes] for (s, t), r in self._rates.items()],
            "start": dict(self._start),
            "minute": dict(self._minute),
            "counts": {s: dict(c) for s, c in self._counts.items()},
            "lines": dict(self._lines),
            "errors": dict(self._errors),
            "error_share": {s: [r.mean, r.minutes] for s, r in self._error_share.items()},
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], **kwargs: Any) -> LogRates:
        """Continue from :meth:`to_state`'s output."""
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"log-rate state version {state.get('version')!r} not supported")
        rates = cls(**kwargs)
        for source, template_id, mean, minutes in state["rates"]:
            rates._rates[(source, template_id)] = _Rate(float(mean), int(minutes))
        rates._start = {k: float(v) for k, v in state["start"].items()}
        rates._minute = {k: float(v) for k, v in state["minute"].items()}
        rates._counts = {s: {t: int(n) for t, n in c.items()} for s, c in state["counts"].items()}
        rates._lines = {k: int(v) for k, v in state["lines"].items()}
        rates._errors = {k: int(v) for k, v in state["errors"].items()}
        rates._error_share = {
            s: _Rate(float(m), int(n)) for s, (m, n) in state["error_share"].items()
        }
        return rates
