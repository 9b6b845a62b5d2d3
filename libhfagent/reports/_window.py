"""Keeping the records of a time window: what every report does first."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Protocol, TypeVar

from ..observer._files import LineCounts

__all__ = ["FUTURE_SKEW", "within"]

#: Lines dated up to this far ahead of the clock are accepted (clock skew between hosts).
FUTURE_SKEW = dt.timedelta(minutes=5)


class _Dated(Protocol):
    @property
    def time(self) -> dt.datetime: ...


R = TypeVar("R", bound=_Dated)


def within(
    records: Iterable[R | None],
    counts: LineCounts,
    *,
    end: dt.datetime,
    start: dt.datetime | None = None,
) -> Iterator[R]:
    """The records dated in ``[start, end + FUTURE_SKEW]``, in order.

    ``None`` (a line that did not parse) is counted in ``counts.unparsed``, a
    record dated after ``end`` plus :data:`FUTURE_SKEW` in ``counts.future``;
    records before ``start`` are dropped.
    """
    limit = end + FUTURE_SKEW
    for rec in records:
        if rec is None:
            counts.unparsed += 1
            continue
        when = rec.time
        if when > limit:
            counts.future += 1
        elif start is None or when >= start:
            yield rec
