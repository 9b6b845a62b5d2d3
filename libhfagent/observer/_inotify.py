"""Waking up when a log file changes: inotify on its directory, or a timer.

inotify is reached through ``ctypes`` (``inotify_init1``, ``inotify_add_watch``):
its non-blocking descriptor is read by the asyncio loop (``loop.add_reader``).
Where inotify cannot be used (no libc symbol, the per-user limit reached, a
directory that does not exist yet) the watch falls back to polling, and tries
inotify again at each timeout.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import struct
from pathlib import Path

__all__ = ["DirectoryWatch", "inotify_available"]

IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000

_MASK = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
)
_HEADER = struct.Struct("iIII")

_libc: ctypes.CDLL | None = None
_libc_loaded = False


def _load_libc() -> ctypes.CDLL | None:
    global _libc, _libc_loaded
    if not _libc_loaded:
        _libc_loaded = True
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.inotify_init1.argtypes = [ctypes.c_int]
            libc.inotify_init1.restype = ctypes.c_int
            libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
            libc.inotify_add_watch.restype = ctypes.c_int
        except (OSError, AttributeError):
            return None
        _libc = libc
    return _libc


def inotify_available() -> bool:
    """Whether this system's C library offers inotify."""
    return _load_libc() is not None


class DirectoryWatch:
    """Tells when files whose name starts with ``prefix`` change in ``directory``.

    Args:
        directory: The folder of the followed file.
        prefix: The followed file's name: its rotated copies start with it too.
        interval: Seconds between two looks when polling (and the longest wait
            with inotify, as a safety net).
        use_inotify: False to poll even where inotify works.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        prefix: str,
        interval: float,
        *,
        use_inotify: bool = True,
    ) -> None:
        self.directory = Path(directory)
        self.prefix = os.fsencode(prefix)
        self.interval = interval
        self._use_inotify = use_inotify
        self._fd = -1
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()

    @property
    def mode(self) -> str:
        """``"inotify"`` or ``"poll"``."""
        return "inotify" if self._fd >= 0 else "poll"

    def start(self) -> None:
        """Start watching (inside a running event loop)."""
        self._loop = asyncio.get_running_loop()
        self._try_inotify()

    def _try_inotify(self) -> None:
        if not self._use_inotify or self._fd >= 0 or self._loop is None:
            return
        libc = _load_libc()
        if libc is None:
            return
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            return
        if libc.inotify_add_watch(fd, os.fsencode(self.directory), _MASK) < 0:
            os.close(fd)
            return
        self._fd = fd
        self._loop.add_reader(fd, self._on_readable)

    def _drop_inotify(self) -> None:
        if self._fd >= 0:
            if self._loop is not None:
                self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1

    def _on_readable(self) -> None:
        wake = False
        lost = False
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                break
            except OSError:
                lost = True
                break
            if not data:
                break
            pos = 0
            while pos + _HEADER.size <= len(data):
                _wd, mask, _cookie, length = _HEADER.unpack_from(data, pos)
                name = data[pos + _HEADER.size : pos + _HEADER.size + length].rstrip(b"\0")
                pos += _HEADER.size + length
                if mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF):
                    lost = True
                if mask & IN_Q_OVERFLOW or lost or name.startswith(self.prefix):
                    wake = True
        if lost:
            # The directory went away: poll until it is back.
            self._drop_inotify()
            wake = True
        if wake:
            self._wake.set()

    async def wait(self) -> None:
        """Return when a watched file changed, or after ``interval`` seconds."""
        if self._fd < 0:
            self._try_inotify()
        if not self._wake.is_set():
            try:
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()
            except TimeoutError:
                pass
        self._wake.clear()

    def close(self) -> None:
        """Stop watching."""
        self._drop_inotify()
