"""Real journal files, written by ``systemd-journal-remote`` from entries a test gives.

Entries are serialised in the Journal Export Format
(https://systemd.io/JOURNAL_EXPORT_FORMATS/): ``FIELD=value`` lines, a blank line
between entries, and the binary-safe form (field name, newline, little-endian
64-bit length, raw bytes, newline) for values holding a newline, another control
character or bytes that are not UTF-8. ``systemd-journal-remote`` then turns the
export into a genuine ``.journal`` file that :class:`systemd.journal.Reader`
reads like any file journald wrote. Timestamps and the boot id are fixed by the
caller or derived from the entry's position, so the same entries always give the
same journal content.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import struct
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

__all__ = [
    "DEFAULT_BOOT_ID",
    "DEFAULT_START",
    "JOURNAL_REMOTE",
    "JournalBuildError",
    "build_journal",
    "export_entries",
]

JOURNAL_REMOTE: Final = "/lib/systemd/systemd-journal-remote"
"""Where Debian's ``systemd-journal-remote`` package installs the writer."""

DEFAULT_START: Final = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
"""The time of the first entry when entries do not give their own."""

DEFAULT_BOOT_ID: Final = "0123456789abcdef0123456789abcdef"
"""The ``_BOOT_ID`` of entries that do not give their own."""

_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_FIELD_NAME: Final = re.compile(r"_{0,2}[A-Z0-9][A-Z0-9_]{0,63}")
_PLAIN: Final = re.compile(rb"[^\x00-\x08\x0a-\x1f\x7f]*")
_MONOTONIC_BASE: Final = 1_000_000  # one second after boot


class JournalBuildError(RuntimeError):
    """The journal file could not be written (writer missing, bad entry, writer failed)."""


def _micros(value: object, key: str, index: int) -> int:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise JournalBuildError(f"entry {index}: {key} must be timezone-aware, got {value!r}")
        delta = value - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise JournalBuildError(
        f"entry {index}: {key} must be a datetime or a number of microseconds, got {value!r}"
    )


def _as_bytes(value: object, key: str, index: int) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value).encode()
    raise JournalBuildError(f"entry {index}: {key} must be str, bytes or int, got {value!r}")


def _is_plain(data: bytes) -> bool:
    if _PLAIN.fullmatch(data) is None:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def export_entries(
    entries: Iterable[Mapping[str, object]],
    *,
    start: dt.datetime = DEFAULT_START,
    step: dt.timedelta = dt.timedelta(seconds=1),
    boot_id: str = DEFAULT_BOOT_ID,
) -> bytes:
    """Serialise entries in the Journal Export Format.

    Args:
        entries: One mapping per entry, field name to value (``str``, ``bytes`` or
            ``int``). ``__REALTIME_TIMESTAMP`` may be a timezone-aware datetime or
            microseconds since the epoch; when absent it is ``start + i * step``
            for the i-th entry. ``__MONOTONIC_TIMESTAMP`` defaults to one second
            after boot plus ``i * step``, ``_BOOT_ID`` to ``boot_id``.
        start: The time of entry 0 when it has no ``__REALTIME_TIMESTAMP``.
        step: The time between consecutive entries without their own time.
        boot_id: The ``_BOOT_ID`` (32 lowercase hex digits) of entries without one.

    Returns:
        The export, ready for ``systemd-journal-remote``.

    Raises:
        JournalBuildError: A field name or value cannot be written.
    """
    if re.fullmatch(r"[0-9a-f]{32}", boot_id) is None:
        raise JournalBuildError(f"boot id must be 32 lowercase hex digits, got {boot_id!r}")
    step_us = _micros(_EPOCH + step, "step", -1)
    base = _micros(start, "start", -1)
    out = bytearray()
    for index, entry in enumerate(entries):
        fields = dict(entry)
        realtime = _micros(
            fields.pop("__REALTIME_TIMESTAMP", base + index * step_us),
            "__REALTIME_TIMESTAMP",
            index,
        )
        monotonic = _micros(
            fields.pop("__MONOTONIC_TIMESTAMP", _MONOTONIC_BASE + index * step_us),
            "__MONOTONIC_TIMESTAMP",
            index,
        )
        boot = _as_bytes(fields.pop("_BOOT_ID", boot_id), "_BOOT_ID", index)
        out += b"__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n" % (realtime, monotonic)
        out += b"_BOOT_ID=" + boot + b"\n"
        for key, value in fields.items():
            if _FIELD_NAME.fullmatch(key) is None or key.startswith("__"):
                raise JournalBuildError(
                    f"entry {index}: {key!r} is not a journal field name "
                    "(upper-case letters, digits and '_', at most 64 characters)"
                )
            data = _as_bytes(value, key, index)
            if _is_plain(data):
                out += key.encode() + b"=" + data + b"\n"
            else:
                out += key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        out += b"\n"
    return bytes(out)


def build_journal(
    entries: Iterable[Mapping[str, object]],
    path: str | os.PathLike[str],
    *,
    start: dt.datetime = DEFAULT_START,
    step: dt.timedelta = dt.timedelta(seconds=1),
    boot_id: str = DEFAULT_BOOT_ID,
    binary: str = JOURNAL_REMOTE,
) -> Path:
    """Write entries to a real journal file with ``systemd-journal-remote``.

    When ``path`` already exists the entries are appended to it, as journald would
    append them; a reader following the file sees them arrive.

    Args:
        entries: The entries (see :func:`export_entries`).
        path: The journal file; its name must end in ``.journal``.
        start: The time of entry 0 when it has no ``__REALTIME_TIMESTAMP``.
        step: The time between consecutive entries without their own time.
        boot_id: The ``_BOOT_ID`` of entries without one.
        binary: The ``systemd-journal-remote`` executable.

    Returns:
        The journal file.

    Raises:
        JournalBuildError: The writer is not installed, an entry cannot be written,
            or the writer failed (its message is included).
    """
    target = Path(path)
    if target.suffix != ".journal":
        raise JournalBuildError(
            f"{target}: the journal file name must end in .journal (systemd-journal-remote "
            "refuses other names)"
        )
    if not os.access(binary, os.X_OK):
        raise JournalBuildError(
            f"{binary} not found or not executable: install the Debian package "
            "systemd-journal-remote (scripts/bootstrap does)"
        )
    export = export_entries(entries, start=start, step=step, boot_id=boot_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        dir=target.parent, prefix=".export-", suffix=".txt", delete=False
    ) as tmp:
        tmp.write(export)
    try:
        result = subprocess.run(
            [binary, "--compress=no", "-o", str(target), tmp.name],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    finally:
        os.unlink(tmp.name)
    if result.returncode != 0:
        raise JournalBuildError(
            f"{binary} failed with status {result.returncode} writing {target}: "
            + (result.stderr.strip() or "(no message)")
        )
    return target
