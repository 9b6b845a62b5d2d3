"""What a test server received, kept for the test thread to wait on."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

__all__ = ["Inbox"]

T = TypeVar("T")


class Inbox(Generic[T]):
    """A thread-safe list that a server thread appends to and a test waits on.

    Args:
        noun: What the items are, plural, for the timeout message ("messages").
    """

    def __init__(self, noun: str) -> None:
        self._noun = noun
        self._items: list[T] = []
        self._cond = threading.Condition()

    def add(self, item: T) -> None:
        """Keep ``item`` and wake the waiters."""
        with self._cond:
            self._items.append(item)
            self._cond.notify_all()

    def items(self) -> list[T]:
        """Everything received so far, oldest first (a copy)."""
        with self._cond:
            return list(self._items)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[T]:
        """Wait until at least ``count`` items arrived, and return them all.

        Raises:
            TimeoutError: Fewer arrived within ``timeout`` seconds.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._items) >= count, timeout):
                raise TimeoutError(f"{len(self._items)} of {count} {self._noun} in {timeout} s")
            return list(self._items)
