"""Previewed plans kept in ``<state_dir>/plans/<plan_id>.json``, and their ids.

A plan id is ``sha256(canonical plan JSON + preview digest)[:16]``: the same steps
previewed over the same files get the same id, and any change to either gives
another.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from .._atomic import write_atomic
from .._errors import RequestError
from ._preview import Preview, PreviewEntry

__all__ = ["PlanRecord", "PlanStore", "canonical_plan", "changed_since", "plan_id_of"]

_PLAN_ID = re.compile(r"[0-9a-f]{16}")


def canonical_plan(
    request: str, lang: str, intent: str, steps: Sequence[tuple[str, Mapping[str, Any]]]
) -> str:
    """The canonical JSON of a plan (sorted keys, no spaces)."""
    return json.dumps(
        {
            "request": request,
            "lang": lang,
            "intent": intent,
            "steps": [{"action": a, "args": dict(args)} for a, args in steps],
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def plan_id_of(canonical: str, digest: str) -> str:
    """``sha256(canonical plan JSON + preview digest)[:16]``."""
    return hashlib.sha256((canonical + digest).encode("utf-8", "surrogateescape")).hexdigest()[:16]


@attrs.frozen
class PlanRecord:
    """A previewed plan, as kept on disk.

    Attributes:
        plan_id: Its id.
        canonical: The canonical plan JSON (request, language, intent, concrete steps).
        preview: Its preview.
        decisions: The policy's decision and reason for each step when it was previewed.
        state: ``previewed``, ``applied``, ``failed`` or ``undone``.
        results: What each step that ran reported, with what undoing it needs.
    """

    plan_id: str
    canonical: str
    preview: Preview
    decisions: tuple[tuple[str, str], ...] = ()
    state: str = "previewed"
    results: tuple[Mapping[str, Any], ...] = ()

    @property
    def plan(self) -> dict[str, Any]:
        """The plan: request, lang, intent and steps."""
        data: dict[str, Any] = json.loads(self.canonical)
        return data

    @property
    def steps(self) -> list[tuple[str, dict[str, Any]]]:
        """The concrete steps, in order."""
        return [(s["action"], s["args"]) for s in self.plan["steps"]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "plan_id": self.plan_id,
            "canonical": self.canonical,
            "preview": self.preview.to_dict(),
            "decisions": [list(d) for d in self.decisions],
            "state": self.state,
            "results": [dict(r) for r in self.results],
        }


class PlanStore:
    """The plans folder of the state directory.

    Args:
        state_dir: The agent's state directory.
    """

    def __init__(self, state_dir: Path) -> None:
        self.dir = Path(state_dir) / "plans"

    def path(self, plan_id: str) -> Path:
        """Where a plan is kept.

        Raises:
            RequestError: ``plan_id`` is not 16 hexadecimal digits.
        """
        if not isinstance(plan_id, str) or not _PLAN_ID.fullmatch(plan_id):
            raise RequestError(f"plan id: expected 16 hexadecimal digits, got {plan_id!r}")
        return self.dir / f"{plan_id}.json"

    def save(self, record: PlanRecord) -> None:
        """Write a plan atomically (0600)."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = json.dumps(record.to_dict(), ensure_ascii=False)
        write_atomic(self.path(record.plan_id), data, mode=0o600)

    def load(self, plan_id: str) -> PlanRecord:
        """A kept plan, its id checked against its content.

        Raises:
            RequestError: No such plan, or its file was altered.
        """
        path = self.path(plan_id)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RequestError(
                f"plan {plan_id}: no such previewed plan in {self.dir}; preview it first "
                '(hf-agent ask "…")'
            ) from None
        except (OSError, ValueError) as exc:
            raise RequestError(f"plan {plan_id}: cannot read {path}: {exc}") from exc
        preview = Preview.from_dict(data["preview"])
        record = PlanRecord(
            plan_id=data["plan_id"],
            canonical=data["canonical"],
            preview=preview,
            decisions=tuple((d[0], d[1]) for d in data.get("decisions", ())),
            state=data.get("state", "previewed"),
            results=tuple(data.get("results", ())),
        )
        if plan_id_of(record.canonical, preview.digest) != plan_id or record.plan_id != plan_id:
            raise RequestError(
                f"plan {plan_id}: {path} does not match its id (it was altered); preview again"
            )
        return record


def changed_since(entries: Sequence[PreviewEntry], *, ignore_under: str = "") -> list[str]:
    """What differs now from the files as previewed (path, size, mtime, inode), one line each.

    Files to be created must not exist yet (except under ``ignore_under``: the
    agent's own state, such as the quarantine).
    """
    changes: list[str] = []
    for e in entries:
        try:
            st: os.stat_result | None = os.lstat(e.path)
        except FileNotFoundError:
            st = None
        except OSError as exc:
            changes.append(f"{e.path}: cannot be read ({exc.strerror})")
            continue
        if e.change == "created":
            if st is not None and not stat.S_ISDIR(st.st_mode):
                if ignore_under and e.path.startswith(ignore_under.rstrip("/") + "/"):
                    continue
                changes.append(f"{e.path}: exists now (the preview created it)")
            continue
        if st is None:
            changes.append(f"{e.path}: no longer exists")
            continue
        if st.st_ino != e.inode:
            changes.append(f"{e.path}: replaced by another file (inode {e.inode} → {st.st_ino})")
        elif e.kind != "dir" and st.st_size != e.size_before:
            changes.append(f"{e.path}: size {e.size_before} → {st.st_size} bytes")
        elif e.kind != "dir" and st.st_mtime_ns != e.mtime_ns:
            changes.append(f"{e.path}: modified since the preview")
    return changes
