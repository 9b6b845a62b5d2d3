"""The audit log: a hash-chained, signed, append-only record of what the agent did.

Each record is one JSON line of ``<state_dir>/audit/audit.jsonl``. It carries
``seq`` (1, 2, …), ``time`` (UTC, ISO 8601), ``prev_hash`` (the previous
record's ``hash``, 64 zeros for the first), ``hash`` (SHA-256 hex of the
record's canonical JSON without ``hash`` and ``sig``) and ``sig`` (Ed25519
signature of the ASCII ``hash``, base64). A record is on disk (fsynced) before
:meth:`AuditLog.append` returns: the caller acts only after. Anyone holding
``ed25519.pub`` can check the chain with :func:`verify`.
"""

from __future__ import annotations

import base64
import binascii
import collections
import contextlib
import errno
import fcntl
import hashlib
import json
import os
import stat
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .._errors import AuditError

__all__ = [
    "GENESIS_HASH",
    "JOURNAL_MESSAGE_ID",
    "AuditLog",
    "VerifyResult",
    "record_hash",
    "verify",
]

#: The ``prev_hash`` of the first record.
GENESIS_HASH = "0" * 64
#: The journal MESSAGE_ID of audit copies (``journalctl MESSAGE_ID=…``).
JOURNAL_MESSAGE_ID = "f38c89f22e264aaea3bc7ffd561b49aa"

LOG_NAME = "audit.jsonl"
KEY_NAME = "ed25519.key"
PUB_NAME = "ed25519.pub"
_RESERVED = ("seq", "time", "prev_hash", "hash", "sig")
_CHUNK = 65536


@attrs.frozen
class VerifyResult:
    """What :func:`verify` found.

    Attributes:
        ok: Whether every record is intact and the chain unbroken.
        records: How many records verified (before the first bad one).
        first_bad_line: The 1-based line of the first bad record, if any.
        first_bad_seq: Its ``seq`` when it could be read.
        reason: Why it is bad, in English; empty when ``ok``.
    """

    ok: bool
    records: int
    first_bad_line: int | None = None
    first_bad_seq: int | None = None
    reason: str = ""


def canonical_json(record: Mapping[str, Any]) -> bytes:
    """The canonical UTF-8 JSON of a record (sorted keys, no spaces)."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 hex of a record's canonical JSON, without its ``hash`` and ``sig``."""
    body = {k: v for k, v in record.items() if k not in ("hash", "sig")}
    return hashlib.sha256(canonical_json(body)).hexdigest()


class AuditLog:
    """The audit log of one state directory.

    Args:
        state_dir: The agent's state directory; the log lives in ``audit/`` below it.
        journal: Also send a short copy of each record to the systemd journal
            (best effort).
    """

    def __init__(self, state_dir: str | os.PathLike[str], *, journal: bool = True) -> None:
        self.directory = Path(state_dir) / "audit"
        self.path = self.directory / LOG_NAME
        self.key_path = self.directory / KEY_NAME
        self.public_key_path = self.directory / PUB_NAME
        self._journal = journal
        self._key: Ed25519PrivateKey | None = None

    # -- writing -----------------------------------------------------------

    def append(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Add a record, on disk and fsynced before returning.

        Args:
            record: The caller's fields (``actor``, ``request``, ``intent``,
                ``plan_id``, ``decision``, ``reasons``, ``outcome``, ``event``…),
                JSON-able. ``seq``, ``time``, ``prev_hash``, ``hash`` and ``sig``
                are set here.

        Returns:
            The record as written.

        Raises:
            AuditError: The record could not be written (disk full, read-only
                file system, permissions, bad key, damaged log); the log is left
                as it was and the caller must not act.
        """
        fields = {k: v for k, v in record.items() if k not in _RESERVED}
        try:
            canonical_json(fields)
        except (TypeError, ValueError) as exc:
            raise AuditError(f"audit: the record cannot be written as JSON: {exc}") from None
        key = self._private_key()
        with self._locked_log() as (fd, created):
            seq, prev_hash, size = self._tail(fd)
            written: list[dict[str, Any]] = []
            if size is not None:
                discarded = os.fstat(fd).st_size - size
                self._truncate(fd, size)
                recovered = {"event": "recovered", "discarded_bytes": discarded}
                written.append(self._write(fd, key, recovered, seq + 1, prev_hash))
                seq, prev_hash = written[-1]["seq"], written[-1]["hash"]
            written.append(self._write(fd, key, fields, seq + 1, prev_hash))
            if created:
                self._fsync_dir()
        for item in written:
            self._send_to_journal(item)
        return written[-1]

    @contextlib.contextmanager
    def _locked_log(self) -> Iterator[tuple[int, bool]]:
        self._make_directory()
        created = False
        try:
            try:
                fd = os.open(
                    self.path,
                    os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW,
                    0o600,
                )
                created = True
            except FileExistsError:
                fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError as exc:
            raise _os_error("cannot open", self.path, exc) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as exc:
                raise _os_error("cannot lock", self.path, exc) from None
            yield fd, created
        finally:
            os.close(fd)

    def _tail(self, fd: int) -> tuple[int, str, int | None]:
        """The last record's seq and hash, and the size to truncate to if the tail is torn."""
        try:
            size = os.fstat(fd).st_size
            if size == 0:
                return 0, GENESIS_HASH, None
            end = size
            last_byte = os.pread(fd, 1, size - 1)
            torn: int | None = None
            if last_byte != b"\n":
                cut = _last_newline(fd, size)
                torn = cut
                end = cut
            if end == 0:
                return 0, GENESIS_HASH, torn
            start = _last_newline(fd, end - 1)
            line = os.pread(fd, end - start, start)
        except OSError as exc:
            raise _os_error("cannot read", self.path, exc) from None
        try:
            last = json.loads(line)
            seq, prev = last["seq"], last["hash"]
            if not isinstance(seq, int) or not isinstance(prev, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise AuditError(
                f"audit: the last record of {self.path} is damaged; nothing was done. "
                "Run 'hf-agent audit verify' and move the damaged log aside."
            ) from None
        return seq, prev, torn

    def _truncate(self, fd: int, size: int) -> None:
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        except OSError as exc:
            raise _os_error("cannot cut the torn last line of", self.path, exc) from None

    def _write(
        self,
        fd: int,
        key: Ed25519PrivateKey,
        fields: Mapping[str, Any],
        seq: int,
        prev_hash: str,
    ) -> dict[str, Any]:
        full: dict[str, Any] = dict(fields)
        full["seq"] = seq
        full["time"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        full["prev_hash"] = prev_hash
        digest = record_hash(full)
        full["hash"] = digest
        full["sig"] = base64.b64encode(key.sign(digest.encode("ascii"))).decode("ascii")
        data = canonical_json(full) + b"\n"
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                done = os.write(fd, view)
                view = view[done:]
            os.fsync(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
                os.fsync(fd)
            raise _os_error("cannot write", self.path, exc) from None
        return full

    def _fsync_dir(self) -> None:
        try:
            dfd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as exc:
            raise _os_error("cannot sync the directory", self.directory, exc) from None

    def _make_directory(self) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise _os_error("cannot create", self.directory, exc) from None

    def _send_to_journal(self, record: Mapping[str, Any]) -> None:
        if not self._journal:
            return
        try:
            from systemd import journal

            what = " ".join(
                str(record[k]) for k in ("event", "intent", "decision") if record.get(k)
            )
            journal.send(
                MESSAGE=f"hf-agent audit #{record['seq']}: {what}".rstrip(),
                MESSAGE_ID=JOURNAL_MESSAGE_ID,
                HF_AGENT_SEQ=str(record["seq"]),
                HF_AGENT_HASH=str(record["hash"]),
                SYSLOG_IDENTIFIER="hf-agent",
            )
        except Exception:  # the journal copy is best effort
            return

    # -- the key -----------------------------------------------------------

    def _private_key(self) -> Ed25519PrivateKey:
        if self._key is None:
            self._make_directory()
            key = self._load_key()
            if key is None:
                key = self._create_key()
            self._write_public_key(key.public_key())
            self._key = key
        return self._key

    def _load_key(self) -> Ed25519PrivateKey | None:
        try:
            fd = os.open(self.key_path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _os_error("cannot open the signing key", self.key_path, exc) from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise AuditError(f"audit: {self.key_path} is not a regular file")
            if info.st_mode & 0o077:
                raise AuditError(
                    f"audit: the signing key {self.key_path} is readable by others "
                    f"(mode {stat.S_IMODE(info.st_mode):04o}); it may have leaked. "
                    f"Make it private (chmod 600) or replace it; nothing was done."
                )
            with os.fdopen(os.dup(fd), "rb") as handle:
                pem = handle.read()
        except OSError as exc:
            raise _os_error("cannot read the signing key", self.key_path, exc) from None
        finally:
            os.close(fd)
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise AuditError(f"audit: {self.key_path} is not a PEM private key: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise AuditError(f"audit: {self.key_path} is not an Ed25519 key")
        return key

    def _create_key(self) -> Ed25519PrivateKey:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        temp = self.directory / f".{KEY_NAME}.{os.getpid()}"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, pem)
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(temp, self.key_path)
            except FileExistsError:
                loaded = self._load_key()
                if loaded is None:
                    raise AuditError(f"audit: {self.key_path} vanished while reading it") from None
                return loaded
            finally:
                os.unlink(temp)
            self._fsync_dir()
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise _os_error("cannot create the signing key", self.key_path, exc) from None
        return key

    def _write_public_key(self, public: Ed25519PublicKey) -> None:
        pem = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        try:
            if self.public_key_path.read_bytes() == pem:
                return
        except OSError:
            pass
        temp = self.directory / f".{PUB_NAME}.{os.getpid()}"
        try:
            temp.write_bytes(pem)
            os.chmod(temp, 0o644)
            os.replace(temp, self.public_key_path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise _os_error("cannot write the public key", self.public_key_path, exc) from None

    # -- reading -----------------------------------------------------------

    def verify(self, path: str | None = None, public_key: str | None = None) -> VerifyResult:
        """Check this log (or ``path``); see :func:`verify`."""
        return verify(path or self.path, public_key)

    def read(self, last: int | None = None) -> list[dict[str, Any]]:
        """The records, oldest first.

        Args:
            last: Only the last ``last`` records.

        Returns:
            The parsed records; an incomplete last line is left out.

        Raises:
            AuditError: The log cannot be read or a line is not a JSON object.
        """
        keep: collections.deque[dict[str, Any]] = collections.deque(
            maxlen=last if last is not None and last >= 0 else None
        )
        if last == 0:
            return []
        for number, line, complete in _lines(Path(self.path)):
            if not complete:
                break
            try:
                item = json.loads(line)
            except ValueError:
                item = None
            if not isinstance(item, dict):
                raise AuditError(
                    f"audit: {self.path}, line {number} is not a JSON record; "
                    "run 'hf-agent audit verify'"
                )
            keep.append(item)
        return list(keep)


def verify(path: str | os.PathLike[str], public_key: str | None = None) -> VerifyResult:
    """Check every record of an audit log: order, chain, hashes and signatures.

    Args:
        path: The log file.
        public_key: The Ed25519 public key, PEM; by default ``ed25519.pub``
            beside the log.

    Returns:
        The result, naming the first bad record (line, seq, why).

    Raises:
        AuditError: The log or the key cannot be read, or the key is not an
            Ed25519 public key.
    """
    log = Path(path)
    if not log.exists():
        return VerifyResult(ok=True, records=0)
    key = _public_key(log, public_key)
    expected_prev = GENESIS_HASH
    count = 0
    for number, line, complete in _lines(log):
        if not complete:
            reason: str | None = (
                "incomplete last line: a write was interrupted; the next append recovers it"
            )
            seq = None
        else:
            reason, seq, digest = _check_line(line, key, count + 1, expected_prev)
        if reason is not None:
            return VerifyResult(False, count, number, seq, reason)
        expected_prev = digest
        count += 1
    return VerifyResult(ok=True, records=count)


def _check_line(
    line: bytes, key: Ed25519PublicKey, expected_seq: int, expected_prev: str
) -> tuple[str | None, int | None, str]:
    """(why the line is bad or None, its seq when readable, its hash)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"not valid JSON ({exc.msg}, column {exc.colno})", None, ""
    except ValueError:
        return "not valid UTF-8 JSON", None, ""
    if not isinstance(record, dict):
        return "not a JSON object", None, ""
    seq = record.get("seq")
    shown = seq if isinstance(seq, int) and not isinstance(seq, bool) else None
    stored = record.get("hash")
    if not isinstance(stored, str) or record_hash(record) != stored:
        return "the hash does not match the content (the record was altered)", shown, ""
    try:
        signature = base64.b64decode(str(record.get("sig")), validate=True)
        key.verify(signature, stored.encode("ascii"))
    except (InvalidSignature, binascii.Error, ValueError, UnicodeEncodeError):
        return "bad signature (altered, or signed with another key)", shown, ""
    if shown != expected_seq:
        return (
            f"seq {seq} where {expected_seq} was expected (a record is missing or out of order)",
            shown,
            "",
        )
    if record.get("prev_hash") != expected_prev:
        return "prev_hash is not the previous record's hash (the chain is broken)", shown, ""
    return None, shown, stored


def _public_key(log: Path, given: str | None) -> Ed25519PublicKey:
    source = "the given public key"
    if given is None:
        where = log.parent / PUB_NAME
        source = str(where)
        try:
            pem = where.read_bytes()
        except OSError as exc:
            raise _os_error("cannot read the public key", where, exc) from None
    else:
        pem = given.encode()
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise AuditError(f"audit: {source} is not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise AuditError(f"audit: {source} is not an Ed25519 public key")
    return key


def _lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, bytes without newline, complete) for each line of ``path``."""
    try:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, 1):
                complete = raw.endswith(b"\n")
                yield number, raw.rstrip(b"\n"), complete
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _os_error("cannot read", path, exc) from None


def _last_newline(fd: int, end: int) -> int:
    """The offset just after the last ``\\n`` before ``end`` (0 when there is none)."""
    pos = end
    while pos > 0:
        start = max(0, pos - _CHUNK)
        chunk = os.pread(fd, pos - start, start)
        found = chunk.rfind(b"\n")
        if found >= 0:
            return start + found + 1
        pos = start
    return 0


def _os_error(what: str, path: Path | str, exc: OSError) -> AuditError:
    hints = {
        errno.ENOSPC: "the disk is full: free space",
        errno.EDQUOT: "the disk quota is exhausted: free space",
        errno.EROFS: "the file system is read-only: remount it read-write",
        errno.EACCES: "permission denied: run as the agent's user (root)",
        errno.EPERM: "permission denied: run as the agent's user (root)",
    }
    hint = hints.get(exc.errno or 0, exc.strerror or str(exc))
    return AuditError(f"audit: {what} {path}: {hint}; nothing was done")
