"""The Observer: where the machine's logs are, and reading them."""

from __future__ import annotations

import datetime as dt
import glob
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from .._errors import SourceError
from ..config import Config
from ._access import AccessRecord, parse_access_line, parse_clf_time
from ._files import LineCounts, is_rotated_name, iter_lines, rotation_chain

__all__ = ["Observer"]

#: A rotated file last written this long before the window starts is still read,
#: in case its modification time was touched by a copy or a clock change.
MTIME_MARGIN = dt.timedelta(hours=1)

_PSEUDO = ("kmsg:", "journal:")


def _dated_before(line: str, start: dt.datetime) -> bool:
    """Whether an access-log line is dated before ``start``, read from its ``[time]`` alone.

    A cheap look at the timestamp spares parsing the lines a window does not
    reach; a line whose time cannot be read this way is left to the parser.
    """
    i = line.find("[")
    j = line.find("]", i)
    if i < 0 or j - i > 40:
        return False
    when = parse_clf_time(line[i + 1 : j])
    return when is not None and when < start


class Observer:
    """Turns the machine's logs into typed records.

    Args:
        config: The agent configuration (``modules.monitoring.sources`` and
            ``files_to_watch`` say where each source's files are).
    """

    def __init__(self, config: Config) -> None:
        self._config = config

    @property
    def config(self) -> Config:
        """The configuration this observer reads."""
        return self._config

    def source_names(self) -> list[str]:
        """Names of the configured sources."""
        return sorted(self._config.modules.monitoring.sources)

    def files(self, source: str) -> list[Path]:
        """The live log files of a source (rotated copies excluded).

        A source is a configured name (``nginx``) or an absolute file path.
        Globs in the configuration are expanded; files named in
        ``modules.monitoring.files_to_watch`` under a source's directory are
        added to it.

        Raises:
            SourceError: The source is neither configured nor an absolute path.
        """
        if os.path.isabs(source):
            return [Path(os.path.normpath(source))]
        sources = self._config.modules.monitoring.sources
        if source not in sources:
            known = ", ".join(sorted(sources))
            raise SourceError(
                f'unknown log source "{source}"; configured sources: {known} '
                "(add it under modules.monitoring.sources in hf-agent.json, or give a file path)"
            )
        patterns = [p for p in sources[source] if p not in _PSEUDO]
        dirs = {os.path.dirname(p) for p in patterns}
        patterns += [
            p
            for p in self._config.modules.monitoring.files_to_watch
            if os.path.dirname(p) in dirs and p not in patterns
        ]
        found: list[Path] = []
        for pattern in patterns:
            if glob.has_magic(pattern):
                matches = sorted(glob.glob(pattern))
                found += [Path(m) for m in matches if not is_rotated_name(os.path.basename(m))]
            else:
                found.append(Path(pattern))
        return found

    def access_files(self, source: str) -> list[Path]:
        """The access logs of a web source (files whose name says ``error`` are left out)."""
        if os.path.isabs(source):
            return self.files(source)
        return [p for p in self.files(source) if "error" not in p.name]

    def read_lines(
        self,
        files: Sequence[Path],
        counts: LineCounts,
        *,
        start: dt.datetime | None = None,
        progress: Callable[[int], None] | None = None,
        what: str = "log",
    ) -> Iterator[str]:
        """The text lines of log files and their rotated copies, oldest first.

        Rotated copies (``access.log.1``, ``access.log.2.gz``…) are read when the
        window reaches them: a copy last modified more than :data:`MTIME_MARGIN`
        before ``start`` cannot hold a line of the window and is skipped.

        Args:
            files: Live log files (see :meth:`files`).
            counts: Counters completed while reading (lines, invalid, files…).
            start: Start of the window, or ``None`` to read everything.
            progress: Called with the number of lines read so far, every 65,536 lines.
            what: What the files are, for the error message (``access log``).

        Raises:
            SourceError: No file exists for the source, or one cannot be read.
        """
        chains = [rotation_chain(f) for f in files]
        if not any(chains):
            names = ", ".join(str(f) for f in files) or "(none configured)"
            raise SourceError(f"no {what} found: {names} does not exist", path=names)
        floor = None if start is None else (start - MTIME_MARGIN).timestamp()
        for chain in chains:
            selected: list[Path] = []
            for path in chain:  # newest first
                try:
                    mtime = path.stat().st_mtime
                except OSError as exc:
                    raise SourceError(
                        f"cannot read {path}: {exc.strerror}", path=str(path)
                    ) from exc
                if floor is not None and mtime < floor:
                    break
                selected.append(path)
            for path in reversed(selected):
                for line in iter_lines(path, counts):
                    if progress is not None and not counts.lines & 0xFFFF:
                        progress(counts.lines)
                    yield line

    def read_access(
        self,
        files: Sequence[Path],
        counts: LineCounts,
        *,
        start: dt.datetime | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Iterator[AccessRecord | None]:
        """Parse access-log lines from files and their rotated copies, oldest first.

        Lines dated before ``start`` are skipped from their ``[time]`` alone
        (counted in ``counts.before``); see :meth:`read_lines` for the files read.

        Yields:
            One record per text line, or ``None`` for a line that is not an access-log line.

        Raises:
            SourceError: No file exists for the source, or one cannot be read.
        """
        for line in self.read_lines(
            files, counts, start=start, progress=progress, what="access log"
        ):
            if start is not None and _dated_before(line, start):
                counts.before += 1
                continue
            yield parse_access_line(line)
