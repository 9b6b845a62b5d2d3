"""What every Observer source offers: history by time, and a live stream."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from typing import Protocol, runtime_checkable

from ._events import Event, Metric

__all__ = ["Source"]


@runtime_checkable
class Source(Protocol):
    """One source of events or metrics (a followed file, the journal, kmsg, metrics, units).

    ``read`` serves reports (history, nothing persisted); ``follow`` serves the agent
    (live, resumes from the position saved in its ``PositionStore``).
    """

    name: str

    def read(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> Iterator[Event | Metric]:
        """What the source holds between ``since`` and ``until``, oldest first."""
        ...

    def follow(self) -> AsyncIterator[Event | Metric]:
        """New events as they come, from the saved position; runs until cancelled."""
        ...
