"""Log files on disk: their rotated siblings and their lines."""

from __future__ import annotations

import errno
import gzip
import os
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import attrs

from .._errors import SourceError

__all__ = ["LineCounts", "is_rotated_name", "iter_lines", "rotation_chain"]

# access.log.1, access.log.2.gz, access.log-20261124, access.log-20261124.gz
_ROTATED = re.compile(r"^(?P<base>.+?)(?:\.(?P<num>\d+)|-(?P<date>\d{8}(?:\d{2})?))(?:\.gz)?$")


def is_rotated_name(name: str) -> bool:
    """Tell whether a file name is a rotated copy (``x.log.1``, ``x.log.2.gz``, ``x.log-20261124``).

    Args:
        name: A file name, without its directory.
    """
    return _ROTATED.match(name) is not None


def rotation_chain(path: str | os.PathLike[str]) -> list[Path]:
    """List a log file and its rotated copies, newest first.

    ``access.log`` comes first, then ``access.log.1``, ``access.log.2.gz``…
    (logrotate's numbered scheme) or the ``-YYYYMMDD`` copies (its ``dateext``
    scheme), newest first. The live file is included only when it exists.

    Args:
        path: The live log file.

    Returns:
        The existing files, newest first.

    Raises:
        SourceError: The file or its directory cannot be looked at (permissions).
    """
    live = Path(path)
    chain: list[tuple[tuple[int, int], Path]] = []
    try:
        os.stat(live)
        chain.append(((0, 0), live))
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise SourceError(f"cannot read {live}: {exc.strerror}", path=str(live)) from exc
    try:
        siblings = os.listdir(live.parent)
    except (FileNotFoundError, NotADirectoryError):
        return [p for _, p in chain]
    except OSError as exc:
        raise SourceError(f"cannot read {live.parent}: {exc.strerror}", path=str(live)) from exc
    for name in siblings:
        m = _ROTATED.match(name)
        if m is None or m.group("base") != live.name:
            continue
        # Numbered copies grow older with the number; dated copies with a smaller date.
        key = (1, int(m.group("num"))) if m.group("num") else (2, -int(m.group("date")))
        chain.append((key, live.parent / name))
    chain.sort(key=lambda item: item[0])
    return [p for _, p in chain]


@attrs.define
class LineCounts:
    """What reading some lines met besides good lines.

    Attributes:
        lines: Lines read.
        invalid: Lines skipped because they are not UTF-8 text (invalid bytes, NUL).
        unparsed: Text lines that are not in the expected format.
        future: Lines dated in the future (beyond the allowed clock skew).
        before: Lines dated before the window, skipped without being parsed.
        files: Files read, oldest first.
        damaged: Compressed files that ended early or are corrupt (read up to the damage).
    """

    lines: int = 0
    invalid: int = 0
    unparsed: int = 0
    future: int = 0
    before: int = 0
    files: list[str] = attrs.Factory(list)
    damaged: list[str] = attrs.Factory(list)


def _open(path: Path) -> IO[bytes]:
    if path.name.endswith(".gz"):
        return gzip.GzipFile(path, "rb")  # type: ignore[return-value]  # a binary stream
    return open(path, "rb")


def iter_lines(path: Path, counts: LineCounts) -> Iterator[str]:
    """Yield the text lines of a log file (plain or gzip), skipping what is not text.

    Lines that are not valid UTF-8 or hold NUL bytes are counted in
    ``counts.invalid`` and skipped; a truncated or corrupt ``.gz`` is read up to
    the damage and named in ``counts.damaged``.

    Raises:
        SourceError: The file cannot be opened (missing, permission denied, a directory).
    """
    try:
        handle = _open(path)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        if exc.errno == errno.EISDIR:
            reason = "it is a directory"
        raise SourceError(f"cannot read {path}: {reason}", path=str(path)) from exc
    counts.files.append(str(path))
    with handle:
        try:
            for raw in handle:
                counts.lines += 1
                if b"\x00" in raw:
                    counts.invalid += 1
                    continue
                try:
                    yield raw.decode("utf-8")
                except UnicodeDecodeError:
                    counts.invalid += 1
        except (EOFError, gzip.BadGzipFile, zlib.error):
            counts.damaged.append(str(path))
        except OSError as exc:
            raise SourceError(f"cannot read {path}: {exc.strerror or exc}", path=str(path)) from exc
