"""Counting an access log over a time window: the numbers behind ``logs.summarize``."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from typing import Any

import attrs

from ..observer._access import AccessRecord
from ..observer._files import LineCounts
from ._window import within

__all__ = ["AccessSummary", "summarize_access"]


@attrs.frozen
class AccessSummary:
    """Requests of an access log in a time window, and those matching a status.

    Attributes:
        source: The source name (``nginx``) or the file read.
        files: The files read, oldest first.
        start: Start of the window (inclusive), or ``None`` for the whole log.
        end: End of the window (inclusive).
        status: The status code asked for, or ``None`` for every request.
        total: Requests in the window.
        matched: Requests in the window with the status asked for.
        by_status: Requests in the window by status code.
        top_paths: Most requested paths among the matched requests, with counts.
        top_clients: Clients with the most matched requests, with counts.
        by_hour: Matched requests per hour (ISO 8601 start of the hour), oldest first.
        first: Time of the first matched request.
        last: Time of the last matched request.
        counts: What reading met besides good lines (invalid, unparsed, future…).
        timezone: The time zone of ``by_hour``.
    """

    source: str
    files: tuple[str, ...]
    start: dt.datetime | None
    end: dt.datetime
    status: int | None
    total: int
    matched: int
    by_status: dict[int, int]
    top_paths: tuple[tuple[str, int], ...]
    top_clients: tuple[tuple[str, int], ...]
    by_hour: tuple[tuple[str, int], ...]
    first: dt.datetime | None
    last: dt.datetime | None
    counts: LineCounts
    timezone: str = "UTC"

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``hf-agent logs summarize --json`` (without ``text``)."""
        return {
            "source": self.source,
            "files": list(self.files),
            "since": None if self.start is None else self.start.isoformat(timespec="seconds"),
            "until": self.end.isoformat(timespec="seconds"),
            "status": self.status,
            "total": self.total,
            "matched": self.matched,
            "by_status": {str(code): n for code, n in sorted(self.by_status.items())},
            "top_paths": [[p, n] for p, n in self.top_paths],
            "top_clients": [[c, n] for c, n in self.top_clients],
            "by_hour": {h: n for h, n in self.by_hour},
            "first": None if self.first is None else self.first.isoformat(),
            "last": None if self.last is None else self.last.isoformat(),
            "timezone": self.timezone,
            "skipped": {
                "invalid": self.counts.invalid,
                "unparsed": self.counts.unparsed,
                "future": self.counts.future,
            },
            "damaged_files": list(self.counts.damaged),
            "lines": self.counts.lines,
        }


def summarize_access(
    records: Iterable[AccessRecord | None],
    *,
    source: str,
    end: dt.datetime,
    start: dt.datetime | None = None,
    status: int | None = None,
    top: int = 10,
    tz: dt.tzinfo = dt.UTC,
    counts: LineCounts | None = None,
) -> AccessSummary:
    """Count the requests of an access log inside ``[start, end]``.

    Args:
        records: Parsed lines; ``None`` stands for a line that did not parse and
            is counted in ``counts.unparsed``.
        source: Name shown in the report.
        end: End of the window, timezone-aware (usually now).
        start: Start of the window, or ``None`` for no lower bound.
        status: Only requests with this status are "matched"; ``None`` matches all.
        top: How many paths and clients to keep.
        tz: Time zone of the hourly breakdown.
        counts: Reading counters to complete (the caller's, so files and invalid
            lines seen while reading are reported too).

    Returns:
        The summary. Lines dated after ``end`` plus the allowed clock skew are
        counted in ``counts.future``; lines before ``start`` are ignored.
    """
    counts = counts if counts is not None else LineCounts()
    by_status: Counter[int] = Counter()
    paths: Counter[str] = Counter()
    clients: Counter[str] = Counter()
    hours: Counter[dt.datetime] = Counter()
    total = matched = 0
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    for rec in within(records, counts, end=end, start=start):
        when = rec.time
        total += 1
        by_status[rec.status] += 1
        if status is not None and rec.status != status:
            continue
        matched += 1
        paths[rec.path] += 1
        clients[rec.client] += 1
        hours[when.astimezone(tz).replace(minute=0, second=0, microsecond=0)] += 1
        if first is None or when < first:
            first = when
        if last is None or when > last:
            last = when
    # Hours of the local clock (a zone may be ahead of UTC by 5 h 45 min).
    by_hour = tuple((h.isoformat(timespec="minutes"), n) for h, n in sorted(hours.items()))
    return AccessSummary(
        source=source,
        files=tuple(counts.files),
        start=start,
        end=end,
        status=status,
        total=total,
        matched=matched,
        by_status=dict(by_status),
        top_paths=_top(paths, top),
        top_clients=_top(clients, top),
        by_hour=by_hour,
        first=first,
        last=last,
        counts=counts,
        timezone=str(tz),
    )


def _top(counter: Counter[str], n: int) -> tuple[tuple[str, int], ...]:
    # Ties broken by name so that reports are deterministic.
    return tuple(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:n])
