"""Following log files like ``tail -F``: rotations, restarts, bad input, exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import gzip
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from libhfagent.observer import Event, Severity
from libhfagent.observer._follow import FilePosition, FileSource
from libhfagent.observer._lines import LineSplitter, decode_line
from libhfagent.observer._state import PositionStore

UTC = dt.UTC


def aio(fn: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test in a fresh event loop (no asyncio plugin needed)."""

    @functools.wraps(fn)
    def run(*args: object, **kwargs: object) -> None:
        asyncio.run(fn(*args, **kwargs))  # type: ignore[arg-type]

    return run


# -- pure parts -------------------------------------------------------------------------------


def test_splitter_lines_offsets_and_partial_line() -> None:
    sp = LineSplitter(keep=4, max_line=16)
    out = sp.feed(b"ab\ncd\nef")
    assert [(r.data, r.end, r.tail) for r in out] == [(b"ab", 3, b"ab\n"), (b"cd", 6, b"\ncd\n")]
    assert (sp.offset, sp.read_offset, sp.pending) == (6, 8, 2)
    assert sp.feed(b"g") == []
    (r,) = sp.feed(b"\n")
    assert (r.data, r.end, r.tail) == (b"efg", 10, b"efg\n")
    assert sp.flush() is None
    sp.feed(b"no newline")
    last = sp.flush()
    assert last is not None and (last.data, last.end) == (b"no newline", 20)


def test_splitter_truncates_a_long_line_without_keeping_it() -> None:
    sp = LineSplitter(max_line=1024, keep=16)
    chunk = b"x" * 65536
    for _ in range(160):  # 10 MiB without a newline
        assert sp.feed(chunk) == []
        assert len(sp._head) <= 1024 and sp._part == b""
    (r,) = sp.feed(b"yz\nnext\n")[:1]
    assert r.data == b"x" * 1024
    assert r.dropped == 160 * 65536 + 2 - 1024
    assert r.end == 160 * 65536 + 3 and r.tail.endswith(b"yz\n")
    text = decode_line(r.data, r.dropped).text
    assert text.endswith(f"…[truncated {r.dropped} bytes]")


def test_decode_invalid_utf8_and_nul() -> None:
    assert decode_line(b"caf\xc3\xa9") == ("café", False, False)
    bad = decode_line(b"a\xffb")
    assert bad.text == "a\ufffdb" and bad.invalid
    nul = decode_line(b"\x00\x00\x00hello\x00world\r")
    assert nul.text == "hello\ufffdworld" and nul.nul and not nul.invalid
    # A character cut in two by the truncation is not an invalid byte.
    cut = decode_line("é".encode()[:1], 5)
    assert cut.text == "…[truncated 6 bytes]" and not cut.invalid


# -- helpers ----------------------------------------------------------------------------------


async def collect(
    source: FileSource,
    n: int,
    *,
    timeout: float = 10,
    commit: bool = True,
    during: Callable[[int], None] | None = None,
) -> list[Event]:
    """The first ``n`` events of ``source.follow()``, committed; ``during(k)`` after k events."""
    got: list[Event] = []
    gen = source.follow()
    async with contextlib.aclosing(gen), asyncio.timeout(timeout):
        if during is not None:
            during(0)
        async for event in gen:
            got.append(event)
            if commit and "position" in event.fields:
                source.commit(event)
            if during is not None:
                during(len(got))
            if len(got) >= n:
                break
    return got


def messages(events: list[Event]) -> list[str]:
    return [e.message for e in events]


def src(path: Path, state: Path, **kw: object) -> FileSource:
    kw.setdefault("start", "beginning")
    kw.setdefault("interval", 0.05)
    return FileSource(path, name="t", store=PositionStore(state), **kw)  # type: ignore[arg-type]


def append(path: Path, text: str | bytes) -> None:
    with open(path, "ab") as f:
        f.write(text.encode() if isinstance(text, str) else text)


class Later:
    """Does things to the files from inside the event loop, a little later."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[None]] = []

    def __call__(self, delay: float, fn: Callable[[], None]) -> None:
        async def run() -> None:
            await asyncio.sleep(delay)
            fn()

        self.tasks.append(asyncio.get_running_loop().create_task(run()))

    async def wait(self) -> None:
        await asyncio.gather(*self.tasks)


# -- following --------------------------------------------------------------------------------


@pytest.mark.parametrize("inotify", [True, False], ids=["inotify", "poll"])
@aio
async def test_follow_partial_line_rename_rotation_and_rest_of_old_file(
    tmp_path: Path, inotify: bool
) -> None:
    log = tmp_path / "app.log"
    log.write_text("one\ntwo\nthr")
    source = src(log, tmp_path / "state", use_inotify=inotify)
    later = Later()

    def act(k: int) -> None:
        if k == 2:
            later(0.15, lambda: append(log, "ee\n"))
        if k == 3:

            def rotate() -> None:
                log.rename(tmp_path / "app.log.1")
                # The writer still has the old file open for a moment.
                append(tmp_path / "app.log.1", "four\nfive without newline")
                log.write_text("new one\n")

            later(0.15, rotate)

    got = await collect(source, 6, during=act)
    await later.wait()
    assert messages(got) == ["one", "two", "three", "four", "five without newline", "new one"]
    assert source.watch_mode == ("inotify" if inotify else "poll")
    assert source.stats.rotations == 1
    assert got[-1].fields["file"] == str(log)
    assert got[-2].fields["file"] == str(log)  # read through the old descriptor


@aio
async def test_follow_copytruncate(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("a1\na2\n")
    source = src(log, tmp_path / "state")
    later = Later()

    def act(k: int) -> None:
        if k == 2:

            def copytruncate() -> None:
                append(log, "a3\n")  # written after the follower's last read, before the copy
                shutil.copyfile(log, tmp_path / "app.log.1")
                with open(log, "r+b") as f:
                    f.truncate(0)
                append(log, "b1 is longer than what was there\n")

            later(0.15, copytruncate)

    got = await collect(source, 4, during=act)
    await later.wait()
    assert messages(got) == ["a1", "a2", "a3", "b1 is longer than what was there"]
    assert source.stats.truncations == 1


@aio
async def test_follow_deletion_and_recreation(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("x1\n")
    source = src(log, tmp_path / "state")
    later = Later()

    def act(k: int) -> None:
        if k == 1:

            def delete() -> None:
                append(log, "x2\n")
                log.unlink()

            later(0.1, delete)
            later(0.4, lambda: log.write_text("y1\n"))

    got = await collect(source, 3, during=act)
    await later.wait()
    assert messages(got) == ["x1", "x2", "y1"]


@aio
async def test_start_at_end_then_restart_resumes_exactly(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("old1\nold2\npartial")
    state = tmp_path / "state"
    later = Later()

    def act(k: int) -> None:
        if k == 0:
            later(0.1, lambda: append(log, " done\nnew1\nnew2\nnew3\n"))

    first = FileSource(log, name="t", store=PositionStore(state), start="end", interval=0.05)
    got = await collect(first, 2, during=act)
    assert messages(got) == ["partial done", "new1"]
    await later.wait()
    doc = PositionStore(state).load(first.key)
    assert doc is not None
    assert (doc["inode"], doc["offset"]) == (
        os.stat(log).st_ino,
        len("old1\nold2\npartial done\nnew1\n"),
    )
    assert doc["tail_len"] == len("old1\nold2\npartial done\nnew1\n")
    # A new process: resumes after the committed line, nothing twice.
    again = FileSource(log, name="t", store=PositionStore(state), start="end", interval=0.05)
    assert messages(await collect(again, 2)) == ["new2", "new3"]


@aio
async def test_catch_up_reads_unfinished_rotations_and_gz(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    state = tmp_path / "state"
    log.write_text("".join(f"L{i}\n" for i in range(5)))
    source = src(log, state)
    got = await collect(source, 3)
    assert messages(got) == ["L0", "L1", "L2"]
    # Down: two rotations, the older one compressed (inode changes), as logrotate does.
    os.rename(log, tmp_path / "app.log.1")
    append(tmp_path / "app.log.1", "L5\n")
    log.write_text("M0\nM1\n")
    with open(tmp_path / "app.log.1", "rb") as f, gzip.open(tmp_path / "app.log.2.gz", "wb") as g:
        shutil.copyfileobj(f, g)
    os.unlink(tmp_path / "app.log.1")
    os.rename(log, tmp_path / "app.log.1")
    log.write_text("N0\n")
    again = src(log, state)
    got = await collect(again, 6)
    assert messages(got) == ["L3", "L4", "L5", "M0", "M1", "N0"]
    assert got[0].fields["file"] == str(tmp_path / "app.log.2.gz")
    assert got[0].fields["position"].compressed
    # Killed while reading the .gz: resumes inside it.


@aio
async def test_restart_inside_a_gz_copy(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    state = tmp_path / "state"
    with gzip.open(tmp_path / "app.log.1.gz", "wt") as g:
        g.write("".join(f"G{i}\n" for i in range(4)))
    log.write_text("H0\n")
    first = src(log, state)
    assert messages(await collect(first, 2)) == ["G0", "G1"]
    second = src(log, state)
    assert messages(await collect(second, 3)) == ["G2", "G3", "H0"]


@aio
async def test_replaced_file_with_same_inode_is_read_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    state = tmp_path / "state"
    log.write_text("aaaa\nbbbb\n")
    first = src(log, state)
    assert messages(await collect(first, 2)) == ["aaaa", "bbbb"]
    ino = os.stat(log).st_ino
    # Rewritten in place, same inode, same length: only the checksum tells.
    with open(log, "r+b") as f:
        f.write(b"cccc\ndddd\neeee\n")
    assert os.stat(log).st_ino == ino
    second = src(log, state)
    assert messages(await collect(second, 3)) == ["cccc", "dddd", "eeee"]
    assert second.stats.unmatched == 1


@aio
async def test_bad_input_invalid_utf8_nul_and_a_10_mb_line(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    big = b"A" * (10 * 1024 * 1024)
    log.write_bytes(
        b"ok\nbad \xff\xfe byte\n\x00\x00\x00after hole\nin\x00side\n" + big + b"\nlast\n"
    )
    source = src(log, tmp_path / "state")
    got = await collect(source, 6)
    assert got[0].message == "ok"
    assert got[1].message == "bad \ufffd\ufffd byte" and got[1].fields["invalid_utf8"]
    assert got[2].message == "after hole"
    assert got[3].message == "in\ufffdside"
    limit = 1 << 20
    dropped = len(big) - limit
    assert got[4].message == "A" * limit + f"…[truncated {dropped} bytes]"
    assert got[4].fields["truncated_bytes"] == dropped
    assert got[5].message == "last"
    s = source.stats
    assert (s.lines, s.invalid, s.nul, s.truncated, s.truncated_bytes) == (6, 1, 2, 1, dropped)


@aio
async def test_clock_going_backwards_keeps_order_and_offsets(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    times = ["10:00:00", "10:00:05", "09:00:00", "09:00:01", "10:00:06"]
    lines = [
        f'192.0.2.{i} - - [01/Mar/2026:{t} +0000] "GET /p{i} HTTP/1.1" 200 5 "-" "x"\n'
        for i, t in enumerate(times)
    ]
    log.write_text("".join(lines))
    state = tmp_path / "state"
    first = src(log, state, parser="access")
    got = await collect(first, 3)
    assert [e.fields["path"] for e in got] == ["/p0", "/p1", "/p2"]
    assert got[2].timestamp == dt.datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    offsets = [e.fields["offset"] for e in got]
    assert offsets == sorted(offsets)
    second = src(log, state, parser="access")
    got2 = await collect(second, 2)
    assert [e.fields["path"] for e in got2] == ["/p3", "/p4"]
    # History by time takes each line by its own time, in file order.
    window = list(
        first.read(
            since=dt.datetime(2026, 3, 1, 9, 0, 1, tzinfo=UTC),
            until=dt.datetime(2026, 3, 1, 10, 0, 6, tzinfo=UTC),
        )
    )
    assert [e.fields["path"] for e in window] == ["/p0", "/p1", "/p3"]


@aio
async def test_parsed_fields_and_severity(tmp_path: Path) -> None:
    log = tmp_path / "mixed.log"
    log.write_text(
        '203.0.113.9 - - [02/Mar/2026:11:00:00 +0100] "GET /x?q=1 HTTP/1.1" 503 0 "-" "ua"\n'
        "<11>1 2026-03-02T10:00:01Z web sshd 42 - - boom\n"
        "no time here\n"
    )
    source = src(log, tmp_path / "state")
    before = dt.datetime.now(UTC)
    a, b, c = await collect(source, 3)
    assert a.timestamp == dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert (a.severity, a.fields["status"], a.fields["path"], a.fields["query"]) == (
        Severity.ERROR,
        503,
        "/x",
        "q=1",
    )
    assert (b.severity, b.host, b.fields["app"], b.fields["pid"]) == (
        Severity.ERROR,
        "web",
        "sshd",
        42,
    )
    assert b.timestamp == dt.datetime(2026, 3, 2, 10, 0, 1, tzinfo=UTC)
    assert c.timestamp >= before and c.severity == Severity.INFO
    assert all(e.source == "t" for e in (a, b, c))


def test_position_store_round_trip(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("hello\n")
    store = PositionStore(tmp_path / "state")
    source = FileSource(log, name="t", store=store)
    st = os.stat(log)
    pos = FilePosition(
        source.key, str(log), st.st_dev, st.st_ino, 6, b"hello\n", False, st.st_mtime
    )
    source.commit(pos, extra={"out_len": 12})
    doc = store.load(source.key)
    assert doc is not None
    assert doc["offset"] == 6 and doc["inode"] == st.st_ino and doc["extra"] == {"out_len": 12}
    assert doc["tail_len"] == 6 and len(doc["tail_sha256"]) == 64
    again = FileSource(log, name="t", store=store)
    assert again.committed_extra == {"out_len": 12}
    with pytest.raises(ValueError, match="not read by"):
        again.commit(Event(timestamp=dt.datetime.now(UTC), source="t", message="x"))
    # A document from elsewhere is an error that says what to do.
    store.save(source.key, {"version": 99})
    from libhfagent._errors import SourceError

    with pytest.raises(SourceError, match="delete it"):
        _ = FileSource(log, name="t", store=store).committed_extra


# -- permission denied (needs a user that is not root) -----------------------------------------

_PERMISSION_FOLLOWER = r"""
import asyncio, json, sys
from libhfagent.observer._follow import FileSource
async def main():
    src = FileSource(sys.argv[1], name="denied", start="beginning", interval=0.1)
    out = []
    async for e in src.follow():
        out.append({"sev": int(e.severity), "msg": e.message})
        print(json.dumps(out[-1]), flush=True)
        if e.message == "readable now":
            break
    print(json.dumps({"errors": src.stats.errors}), flush=True)
asyncio.run(main())
"""


@pytest.mark.system
def test_permission_denied_is_an_error_event_and_retried(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to take its own read-anything capabilities away")
    log = tmp_path / "secret.log"
    log.write_text("readable now\n")
    log.chmod(0o000)
    # Root without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH obeys the file's mode.
    argv = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    argv += [sys.executable, "-c", _PERMISSION_FOLLOWER, str(log)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert first["sev"] == int(Severity.ERROR)
        assert "permission denied" in first["msg"] and str(log) in first["msg"]
        time.sleep(0.5)  # several retries, no new event for the same error
        log.chmod(0o600)
        second = json.loads(proc.stdout.readline())
        assert second == {"sev": int(Severity.INFO), "msg": "readable now"}
        stats = json.loads(proc.stdout.readline())
        assert stats["errors"] >= 2
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


# -- exactly once over 100,000 lines, rotations and kill -9 ------------------------------------

_WRITER = r"""
import gzip, glob, json, os, random, re, shutil, sys, time
log, total, seed, state = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = random.Random(seed)
numbered = re.compile(re.escape(os.path.basename(log)) + r"\.(\d+)(\.gz)?$")

def compress(src, dst):
    with open(src, "rb") as f, gzip.open(dst, "wb") as g:   # written in place, as logrotate
        shutil.copyfileobj(f, g, 4096)
    os.unlink(src)

def shift():
    found = []
    for name in os.listdir(os.path.dirname(log)):
        m = numbered.match(name)
        if m:
            found.append((int(m.group(1)), bool(m.group(2))))
    for n, gz in sorted(found, reverse=True):
        src = f"{log}.{n}" + (".gz" if gz else "")
        if gz:
            os.rename(src, f"{log}.{n + 1}.gz")
        else:
            compress(src, f"{log}.{n + 1}.gz")

def wait_committed(fd):
    size, ino = os.fstat(fd).st_size, os.fstat(fd).st_ino
    deadline = time.time() + 120
    while time.time() < deadline:
        for p in glob.glob(os.path.join(state, "*.json")):
            try:
                doc = json.load(open(p))
            except (OSError, ValueError):
                continue
            if doc.get("inode") == ino and doc.get("offset") == size:
                return
        time.sleep(0.02)
    raise SystemExit("the follower never caught up before the deletion")

def opened():
    return os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

fd = opened()
kinds = ["rename", "copytruncate", "rename_compress", "rename", "copytruncate"]
rotations = 0
next_rot = rng.randint(2000, 7000)
deleted = False
for i in range(total):
    line = (f"{i:06d} " + "x" * rng.randint(0, 90) + "\n").encode()
    if rng.random() < 0.005:
        cut = rng.randint(1, len(line) - 1)
        os.write(fd, line[:cut]); time.sleep(0.002); os.write(fd, line[cut:])
    else:
        os.write(fd, line)
    if i % 250 == 0:
        time.sleep(0.02)
    if i == total // 2 and not deleted:
        deleted = True
        wait_committed(fd)
        os.close(fd); os.unlink(log); time.sleep(0.05); fd = opened()
        print("deleted", flush=True)
    elif i == next_rot:
        kind = kinds[rotations % len(kinds)]
        rotations += 1
        next_rot = i + rng.randint(2000, 7000)
        shift()
        if kind == "copytruncate":
            shutil.copyfile(log, log + ".1")
            os.ftruncate(fd, 0)
        else:
            os.close(fd)
            os.rename(log, log + ".1")
            fd = opened()
            if kind == "rename_compress":
                compress(log + ".1", log + ".1.gz")
        print(kind, flush=True)
os.close(fd)
print("done", rotations, flush=True)
"""

_CONSUMER = r"""
import asyncio, os, sys
from libhfagent.config import Config
from libhfagent.observer._follow import FileSource
from libhfagent.observer._observer import Observer
from libhfagent.observer._state import PositionStore
log, state, out = sys.argv[1:4]
async def main():
    src = FileSource(log, name="numbers", store=PositionStore(state), parser="none",
                     start="beginning", interval=0.2)
    length = int(src.committed_extra.get("out_len", 0))
    fd = os.open(out, os.O_WRONLY | os.O_CREAT, 0o644)
    os.ftruncate(fd, length)   # what was written after the last commit is undone
    observer = Observer(Config())
    async for batch in observer.follow_batches([src], max_batch=700):
        data = "".join(e.message[:6] + "\n" for e in batch if "position" in e.fields).encode()
        os.pwrite(fd, data, length)
        length += len(data)
        observer.commit(batch, extra={"out_len": length})
asyncio.run(main())
"""


def test_exactly_once_over_rotations_and_kill_9(tmp_path: Path) -> None:
    total = 100_000
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    state = tmp_path / "state"
    out = tmp_path / "out.txt"
    rng = random.Random(20260301)

    errors = tmp_path / "consumer.err"
    err = open(errors, "ab")  # noqa: SIM115  (closed in the finally below)

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-c", _CONSUMER, str(log), str(state), str(out)], stderr=err
        )

    def committed() -> int:
        docs = list(state.glob("*.json"))
        return int(json.loads(docs[0].read_text())["extra"]["out_len"]) if docs else 0

    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(log), str(total), "7", str(state)],
        stdout=subprocess.PIPE,
        text=True,
    )
    consumer = start()
    kills = 0
    try:
        deadline = time.monotonic() + 240
        while writer.poll() is None and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.4, 1.5))
            assert consumer.poll() is None, errors.read_text()
            consumer.send_signal(signal.SIGKILL)
            consumer.wait()
            kills += 1
            consumer = start()
        assert writer.stdout is not None
        report = writer.stdout.read().split()
        assert writer.wait(timeout=5) == 0
        assert "deleted" in report and {"rename", "copytruncate", "rename_compress"} <= set(report)
        expected = 7 * total  # "NNNNNN\n" per line
        while committed() < expected and time.monotonic() < deadline:
            time.sleep(0.1)
        # One more kill and restart: nothing more may come.
        consumer.send_signal(signal.SIGKILL)
        consumer.wait()
        kills += 1
        consumer = start()
        time.sleep(2.0)
        assert consumer.poll() is None, errors.read_text()
    finally:
        for proc in (consumer, writer):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if writer.stdout is not None:
            writer.stdout.close()
        err.close()
    numbers = [int(x) for x in out.read_bytes()[: committed()].split()]
    seen = set(numbers)
    lost = [n for n in range(total) if n not in seen]
    duplicated = len(numbers) - len(seen)
    assert kills >= 4
    assert (len(lost), duplicated) == (0, 0), f"lost {lost[:10]}…, duplicated {duplicated}"
    assert numbers == list(range(total))
    assert len(list(logs.glob("app.log.*.gz"))) >= 3
