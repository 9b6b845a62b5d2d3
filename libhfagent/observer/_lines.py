"""Bytes to log lines: splitting on ``\\n``, overlong lines, decoding (pure, no I/O)."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["MAX_LINE", "TAIL_BYTES", "DecodedLine", "LineSplitter", "RawLine", "decode_line"]

MAX_LINE = 1 << 20
"""Bytes of a line kept; the rest is cut off and replaced by a marker."""

TAIL_BYTES = 256
"""Bytes before a position whose checksum identifies the file it is in."""

TRUNCATION_MARKER = "…[truncated {} bytes]"


class RawLine(NamedTuple):
    """One line as read.

    Attributes:
        data: The bytes of the line without its ``\\n`` (its first ``max_line``
            bytes when it was longer).
        end: The offset just after the line (after its ``\\n``).
        tail: Up to ``keep`` bytes of the stream ending at ``end``.
        dropped: Bytes cut off a line longer than ``max_line`` (0 for most lines).
    """

    data: bytes
    end: int
    tail: bytes
    dropped: int


class DecodedLine(NamedTuple):
    """A line as text.

    Attributes:
        text: The line, invalid UTF-8 replaced by U+FFFD, with the truncation marker.
        invalid: Whether it held bytes that are not UTF-8.
        nul: Whether it held NUL bytes.
    """

    text: str
    invalid: bool
    nul: bool


class LineSplitter:
    """Cuts a byte stream into lines, never holding more than one line's ``max_line`` bytes.

    A line is complete when its ``\\n`` has been fed; the bytes after the last
    ``\\n`` wait for more (``flush`` hands them out when the stream is over).
    A line longer than ``max_line`` keeps its first ``max_line`` bytes; the rest
    is counted in ``RawLine.dropped`` and not kept.

    Args:
        offset: The stream offset of the first byte fed.
        context: The bytes just before ``offset`` (for the first lines' ``tail``).
        max_line: Bytes of a line kept.
        keep: Length of ``RawLine.tail``.
    """

    def __init__(
        self,
        *,
        offset: int = 0,
        context: bytes = b"",
        max_line: int = MAX_LINE,
        keep: int = TAIL_BYTES,
    ) -> None:
        if max_line < keep:
            raise ValueError(f"max_line ({max_line}) must be at least keep ({keep})")
        self.offset = offset
        self._keep = keep
        self._max = max_line
        self._ctx = context[-keep:] if keep else b""
        self._part = b""
        self._dropping = False
        self._head = b""
        self._dropped = 0
        self._drop_tail = b""

    @property
    def read_offset(self) -> int:
        """The offset of the next byte to feed."""
        if self._dropping:
            return self.offset + len(self._head) + self._dropped
        return self.offset + len(self._part)

    @property
    def pending(self) -> int:
        """Bytes fed that belong to a line not complete yet."""
        return self.read_offset - self.offset

    @property
    def context(self) -> bytes:
        """Up to ``keep`` bytes of the stream ending at :attr:`offset`."""
        return self._ctx

    def last_bytes(self) -> bytes:
        """Up to ``keep`` bytes of the stream ending at :attr:`read_offset`."""
        if self._dropping:
            return self._drop_tail
        return (self._ctx + self._part)[-self._keep :]

    def feed(self, chunk: bytes) -> list[RawLine]:
        """The lines that ``chunk`` completes, in order."""
        out: list[RawLine] = []
        keep = self._keep
        if self._dropping:
            j = chunk.find(b"\n")
            if j < 0:
                self._dropped += len(chunk)
                self._drop_tail = (self._drop_tail + chunk)[-keep:]
                return out
            self._dropped += j
            end = self.offset + len(self._head) + self._dropped + 1
            tail = (self._drop_tail + chunk[: j + 1])[-keep:]
            out.append(RawLine(self._head, end, tail, self._dropped))
            self.offset = end
            self._ctx = tail
            self._dropping = False
            self._head = self._drop_tail = b""
            self._dropped = 0
            chunk = chunk[j + 1 :]
        data = self._ctx + self._part + chunk
        i = len(self._ctx)
        base = self.offset - i
        find = data.find
        max_line = self._max
        append = out.append
        while True:
            j = find(b"\n", i)
            if j < 0:
                break
            end = j + 1
            if j - i > max_line:
                append(
                    RawLine(
                        data[i : i + max_line], base + end, data[end - keep : end], j - i - max_line
                    )
                )
            else:
                append(
                    RawLine(data[i:j], base + end, data[end - keep if end > keep else 0 : end], 0)
                )
            i = end
        rest = len(data) - i
        self.offset = base + i
        self._ctx = data[i - keep if i > keep else 0 : i]
        if rest > max_line:
            self._dropping = True
            self._head = data[i : i + max_line]
            self._dropped = rest - max_line
            self._drop_tail = data[-keep:]
            self._part = b""
        else:
            self._part = data[i:]
        return out

    def flush(self) -> RawLine | None:
        """The last line when it has no ``\\n`` (the stream is over), or None."""
        if self._dropping:
            line = RawLine(
                self._head,
                self.offset + len(self._head) + self._dropped,
                self._drop_tail,
                self._dropped,
            )
            self._dropping = False
            self._head = b""
            self._dropped = 0
            self._drop_tail = b""
        elif self._part:
            tail = (self._ctx + self._part)[-self._keep :]
            line = RawLine(self._part, self.offset + len(self._part), tail, 0)
            self._part = b""
        else:
            return None
        self.offset = line.end
        self._ctx = line.tail
        return line


def decode_line(data: bytes, dropped: int = 0) -> DecodedLine:
    """A line's bytes as text.

    Invalid UTF-8 is replaced by U+FFFD. A run of NUL bytes at the start (the
    hole a ``copytruncate`` leaves when the writer does not append) is removed;
    other NUL bytes become U+FFFD. A trailing ``\\r`` is removed. A line cut
    off (``dropped`` > 0) ends with ``…[truncated N bytes]``; a character cut in
    two by the cut is counted in N.

    Args:
        data: The line without its ``\\n``.
        dropped: Bytes cut off after ``data``.
    """
    nul = b"\x00" in data
    if nul:
        data = data.lstrip(b"\x00").replace(b"\x00", b"\xef\xbf\xbd")
    if data.endswith(b"\r"):
        data = data[:-1]
    invalid = False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if dropped and exc.reason == "unexpected end of data":
            dropped += len(data) - exc.start
            data = data[: exc.start]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            invalid = True
            text = data.decode("utf-8", "replace")
    if dropped:
        text += TRUNCATION_MARKER.format(dropped)
    return DecodedLine(text, invalid, nul)
