"""The Learner's state on disk: one SQLite database under the state directory.

Two tables: ``state`` holds the JSON state of each learned component (detectors,
log rates, associations, profiles), rewritten as a whole in one transaction by
:meth:`LearnerStore.save_states`; ``suggestions`` holds one row per suggestion,
written at once on every change (an admin's reply is never lost). The database
runs in WAL mode with full synchronisation: a crash keeps the last committed
transaction.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._errors import SourceError

__all__ = ["LearnerStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS state (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS suggestions (
    id TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated REAL NOT NULL
);
"""


class LearnerStore:
    """A SQLite database of learned state and suggestions.

    Args:
        path: The database file (created 0600 with its folder when missing).

    Raises:
        SourceError: The database cannot be opened or is not one this version wrote.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not self.path.exists():
                self.path.touch(mode=0o600)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise SourceError(f"{self.path}: cannot open the learner's database: {exc}") from exc

    def load_states(self) -> dict[str, Any]:
        """Every component's saved state, by name."""
        rows = self._db.execute("SELECT name, value FROM state").fetchall()
        return {name: json.loads(value) for name, value in rows}

    def save_states(self, states: Mapping[str, Any]) -> None:
        """Replace the saved states of ``states``' components, all or nothing."""
        rows = [(name, json.dumps(value, separators=(",", ":"))) for name, value in states.items()]
        with self._transaction():
            self._db.executemany("INSERT OR REPLACE INTO state(name, value) VALUES (?, ?)", rows)

    def load_suggestions(self) -> list[dict[str, Any]]:
        """The saved suggestions, oldest change first."""
        rows = self._db.execute("SELECT value FROM suggestions ORDER BY updated, id").fetchall()
        return [json.loads(value) for (value,) in rows]

    def save_suggestion(self, suggestion_id: str, value: Mapping[str, Any], updated: float) -> None:
        """Insert or replace one suggestion, durably, before returning."""
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO suggestions(id, value, updated) VALUES (?, ?, ?)",
                (suggestion_id, json.dumps(value, separators=(",", ":")), updated),
            )

    def delete_suggestion(self, suggestion_id: str) -> None:
        """Forget one suggestion."""
        with self._transaction():
            self._db.execute("DELETE FROM suggestions WHERE id = ?", (suggestion_id,))

    def close(self) -> None:
        """Close the database (the learner saves its state first)."""
        self._db.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, value: object, tb: object) -> None:
        self._db.execute("COMMIT" if kind is None else "ROLLBACK")
