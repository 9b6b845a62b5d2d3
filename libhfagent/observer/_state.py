"""Positions of the sources (file offsets, journal cursors, kmsg sequence numbers), on disk.

Each source keeps one small JSON document under ``<state_dir>/observer/``. Writes are
atomic (temporary file, fsync, rename, fsync of the directory): after a crash the
document is either the old one or the new one, never a torn mix.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from .._atomic import write_atomic
from .._errors import SourceError

__all__ = ["PositionStore"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class PositionStore:
    """Where each source remembers how far it has read.

    Args:
        directory: The folder of the documents, usually ``<agent.state_dir>/observer``.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        if not key:
            raise ValueError("empty position key")
        return self.directory / (_UNSAFE.sub("_", key) + ".json")

    def load(self, key: str) -> dict[str, Any] | None:
        """The document saved under ``key``, or None when there is none.

        Raises:
            SourceError: The document exists but cannot be read or is not JSON.
        """
        path = self._path(key)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SourceError(f"{path}: cannot read the saved position: {exc.strerror}") from exc
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SourceError(f"{path}: saved position is not JSON (line {exc.lineno})") from exc
        if not isinstance(value, dict):
            raise SourceError(f"{path}: saved position is not a JSON object")
        return value

    def save(self, key: str, value: dict[str, Any]) -> None:
        """Replace the document under ``key`` atomically and durably."""
        path = self._path(key)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(path, json.dumps(value, sort_keys=True, separators=(",", ":")))

    def delete(self, key: str) -> None:
        """Forget the position under ``key`` (no error when there is none)."""
        self._path(key).unlink(missing_ok=True)
