"""SSH authentication failures over a time window: the numbers behind ``security scan``."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from typing import Any

import attrs

from ..learner._bruteforce import BruteForceDetector, Offender
from ..observer._auth import parse_auth_message
from ..observer._files import LineCounts
from ..observer._syslog import SyslogRecord
from ._window import within

__all__ = ["SecuritySummary", "summarize_auth"]


@attrs.frozen
class SecuritySummary:
    """Failed SSH logins of a window, and the sources that crossed the threshold.

    Attributes:
        source: The source name (``auth``) or the file read.
        files: The files read, oldest first.
        start: Start of the window, or ``None`` for the whole log.
        end: End of the window.
        failures: Failed attempts (one attempt counted once however many lines it logged).
        offenders: Sources with ``max_retry`` failures within ``find_time`` seconds.
        max_retry: The threshold's count.
        find_time: The threshold's window, in seconds.
        logins: Successful logins as ``((user, address), count)``, most frequent first.
        invalid_users: Unknown user names tried, with counts, most frequent first.
        counts: What reading met besides good lines.
    """

    source: str
    files: tuple[str, ...]
    start: dt.datetime | None
    end: dt.datetime
    failures: int
    offenders: tuple[Offender, ...]
    max_retry: int
    find_time: float
    logins: tuple[tuple[tuple[str, str], int], ...]
    invalid_users: tuple[tuple[str, int], ...]
    counts: LineCounts

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``hf-agent security scan --json`` (without ``text``)."""
        return {
            "source": self.source,
            "files": list(self.files),
            "since": None if self.start is None else self.start.isoformat(timespec="seconds"),
            "until": self.end.isoformat(timespec="seconds"),
            "failures": self.failures,
            "offenders": [
                {
                    "ip": o.ip,
                    "failures": o.failures,
                    "first": o.first.isoformat(),
                    "last": o.last.isoformat(),
                }
                for o in self.offenders
            ],
            "threshold": {"max_retry": self.max_retry, "find_time": self.find_time},
            "logins": [{"user": user, "ip": ip, "count": n} for (user, ip), n in self.logins],
            "invalid_users": [[u, n] for u, n in self.invalid_users],
            "skipped": {
                "invalid": self.counts.invalid,
                "future": self.counts.future,
            },
            "lines": self.counts.lines,
        }


def summarize_auth(
    records: Iterable[SyslogRecord | None],
    *,
    source: str,
    end: dt.datetime,
    start: dt.datetime | None = None,
    max_retry: int = 5,
    find_time: float = 600.0,
    ignore_successful: bool = False,
    top: int = 10,
    counts: LineCounts | None = None,
) -> SecuritySummary:
    """Count the failed SSH logins of syslog records inside ``[start, end]``.

    Args:
        records: Parsed syslog lines in log order; ``None`` stands for a line that
            is not syslog (counted in ``counts.unparsed``).
        source: Name shown in the report.
        end: End of the window, timezone-aware.
        start: Start of the window, or ``None``.
        max_retry: Failures within ``find_time`` that make an offender (fail2ban: 5).
        find_time: The threshold's window in seconds (fail2ban: 600).
        ignore_successful: Do not report sources that also logged in successfully.
        top: How many invalid user names to keep.
        counts: Reading counters to complete.
    """
    counts = counts if counts is not None else LineCounts()
    detector = BruteForceDetector(
        max_retry=max_retry, find_time=find_time, ignore_successful=ignore_successful
    )
    logins: Counter[tuple[str, str]] = Counter()
    invalid: Counter[str] = Counter()
    for rec in within(records, counts, end=end, start=start):
        event = parse_auth_message(rec.app, rec.pid, rec.message)
        if event is None:
            continue
        detector.feed(rec.time, event, log_host=rec.host)
        if event.kind == "success" and event.ip is not None:
            logins[(event.user or "?", event.ip)] += event.count
        elif event.kind == "invalid_user" and event.user is not None:
            invalid[event.user] += event.count
    return SecuritySummary(
        source=source,
        files=tuple(counts.files),
        start=start,
        end=end,
        failures=detector.failures,
        offenders=tuple(detector.offenders()),
        max_retry=max_retry,
        find_time=find_time,
        logins=tuple(sorted(logins.items(), key=lambda kv: (-kv[1], kv[0]))),
        invalid_users=tuple(sorted(invalid.items(), key=lambda kv: (-kv[1], kv[0]))[:top]),
        counts=counts,
    )
