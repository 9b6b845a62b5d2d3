"""The kernel source: /dev/kmsg records, fixture files, positions across restarts."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import stat
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from libhfagent._errors import SourceError
from libhfagent.observer._events import Event, Severity
from libhfagent.observer._kmsg import KmsgSource, ata_port_disks, parse_kmsg_record
from libhfagent.observer._source import Source
from libhfagent.observer._state import PositionStore

BOOT = dt.datetime(2024, 5, 1, 8, 0, 0, tzinfo=dt.UTC)
BOOT_A = "11111111-2222-3333-4444-555555555555"
BOOT_B = "99999999-2222-3333-4444-555555555555"

FIXTURE = [
    "6,100,1000000,-;Linux version 6.1.0-18-amd64",
    "3,101,2000000,-;I/O error, dev sdb, sector 2048 op 0x0:(READ) flags 0x80700 phys_seg 1",
    " SUBSYSTEM=block",
    " DEVICE=b8:16",
    "3,102,3000000,-;ata1.00: failed command: READ FPDMA QUEUED",
    "3,103,4000000,-;ata1: hard resetting link",
    "4,104,5000000,-;nvme nvme0: I/O 123 QID 4 timeout, reset controller",
    "3,105,6000000,-;Out of memory: Killed process 1234 (java) total-vm:8345678kB, "
    "anon-rss:4123456kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:9000kB oom_score_adj:0",
    "6,106,7000000,-;app[77]: segfault at 0 ip 00007f3a2b4c5d6e sp 00007ffd1234abcd error 4 in "
    "libc.so.6[7f3a2b400000+195000]",
    "14,107,8000000,-;Out of memory: Killed process 1 (init) written by a user program",
    "this line is not a record",
    "2,108,9000000,-;EXT4-fs error (device sda1): ext4_find_entry:1455: inode #2: comm ls: x",
]


def _write(path: Path, lines: list[str]) -> Path:
    with path.open("a", encoding="utf-8") as fh:
        fh.writelines(line + "\n" for line in lines)
    return path


def _source(
    path: Path, store: PositionStore | None = None, boot_id: str = BOOT_A, **kwargs: Any
) -> KmsgSource:
    return KmsgSource(
        path, store=store, boot_id=boot_id, boot_time=BOOT, host="box", poll_interval=0.05, **kwargs
    )


def test_parse_records() -> None:
    record = parse_kmsg_record(
        b"6,339,5140900,-,caller=T1;NET: \\x5c registered \\xc3\\xa9t\\xff\n"
        b" SUBSYSTEM=net\n DEVICE=+net:lo\n"
    )
    assert record is not None
    assert (record.facility, record.severity, record.seq, record.usec, record.flags) == (
        0,
        6,
        339,
        5140900,
        "-",
    )
    assert record.message == "NET: \\ registered \u00e9t\ufffd"
    assert dict(record.properties) == {"SUBSYSTEM": "net", "DEVICE": "+net:lo"}
    user = parse_kmsg_record("14,5,7,c;hello")
    assert user is not None and (user.facility, user.severity, user.flags) == (1, 6, "c")
    for bad in ("", "hello", "6,1,2;missing flags field", "x,1,2,-;bad", "6,1,2,-"):
        assert parse_kmsg_record(bad) is None


def test_a_kmsg_source_is_a_source(tmp_path: Path) -> None:
    assert isinstance(_source(tmp_path / "k"), Source)


def test_read_fixture_classifies_kernel_messages(tmp_path: Path) -> None:
    src = _source(_write(tmp_path / "kmsg.txt", FIXTURE))
    events = list(src.read())
    assert src.malformed == 1
    assert [e.fields["seq"] for e in events] == list(range(100, 109))
    first = events[0]
    assert isinstance(first, Event)
    assert first.timestamp == BOOT + dt.timedelta(seconds=1)
    assert (first.source, first.host, first.severity) == ("kernel", "box", Severity.INFO)
    assert "kind" not in first.fields
    by_seq = {e.fields["seq"]: e.fields for e in events}
    assert by_seq[101]["kind"] == "io_error" and by_seq[101]["device"] == "sdb"
    assert by_seq[101]["sector"] == 2048 and by_seq[101]["operation"] == "read"
    assert by_seq[101]["SUBSYSTEM"] == "block" and by_seq[101]["DEVICE"] == "b8:16"
    assert by_seq[102]["kind"] == "ata_error" and by_seq[102]["command"] == "READ FPDMA QUEUED"
    assert by_seq[103]["kind"] == "ata_reset"
    assert by_seq[104]["kind"] == "nvme_timeout" and by_seq[104]["device"] == "nvme0"
    assert by_seq[105]["kind"] == "oom_kill" and by_seq[105]["pid"] == 1234
    assert by_seq[105]["process"] == "java"
    assert by_seq[106]["kind"] == "segfault" and by_seq[106]["library"] == "libc.so.6"
    # Only the kernel (facility 0) is believed: a program can write anything to /dev/kmsg.
    assert by_seq[107]["facility"] == 1 and "kind" not in by_seq[107]
    assert by_seq[108]["kind"] == "fs_error" and by_seq[108]["disk"] == "sda"
    window = list(
        src.read(since=BOOT + dt.timedelta(seconds=3), until=BOOT + dt.timedelta(seconds=5))
    )
    assert [e.fields["seq"] for e in window] == [102, 103]


def test_ata_port_maps_to_disk_through_sysfs(tmp_path: Path) -> None:
    sysfs = tmp_path / "sys"
    port = sysfs / "devices/pci0000:00/0000:00:1f.2/ata1"
    (port / "host0/target0:0:0/0:0:0:0/block/sda").mkdir(parents=True)
    (sysfs / "class/ata_port/ata1").mkdir(parents=True)
    (sysfs / "class/ata_port/ata1/device").symlink_to(port)
    assert ata_port_disks("ata1", sysfs) == ["sda"]
    assert ata_port_disks("ata2", sysfs) == []
    assert ata_port_disks("../etc", sysfs) == []
    src = _source(_write(tmp_path / "kmsg.txt", FIXTURE[4:6]), sysfs=sysfs)
    assert [e.fields.get("disk") for e in src.read()] == ["sda", "sda"]


class Collector:
    """Consumes a follow() stream in a task, as the agent does."""

    def __init__(self, agen: AsyncIterator[Any]) -> None:
        self.events: list[Any] = []
        self.agen = agen
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        async for event in self.agen:
            self.events.append(event)

    async def wait_for(self, n: int, timeout: float = 10) -> list[Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.events) < n:
            if self.task.done():
                self.task.result()
                raise AssertionError(f"stream ended after {len(self.events)} events")
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"only {len(self.events)} of {n} events")
            await asyncio.sleep(0.01)
        return self.events[:n]

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def _record(seq: int, text: str = "") -> str:
    return f"6,{seq},{seq * 1000},-;message {seq}{text}"


def _run_once(src: KmsgSource, n: int, ack: int, linger: float = 0.2) -> list[Any]:
    async def run() -> list[Any]:
        stream = Collector(src.follow())
        got = await stream.wait_for(n)
        for event in got[:ack]:
            src.commit(event)
        await asyncio.sleep(linger)
        await stream.close()
        return stream.events

    return asyncio.run(run())


def test_restart_in_the_same_boot_emits_no_duplicate(tmp_path: Path) -> None:
    path = _write(tmp_path / "kmsg.txt", [_record(i) for i in range(1, 11)])
    store = PositionStore(tmp_path / "state")
    first = _run_once(_source(path, store), 10, ack=6)
    assert [e.fields["seq"] for e in first] == list(range(1, 11))
    assert store.load("kmsg-kernel") == {"boot_id": BOOT_A, "seq": 6, "extra": {}}
    _write(path, [_record(i) for i in range(11, 14)])
    second = _run_once(_source(path, store), 7, ack=7)
    assert [e.fields["seq"] for e in second] == list(range(7, 14))
    third = _run_once(_source(path, store), 0, ack=0)
    assert third == []


def test_new_boot_starts_over(tmp_path: Path) -> None:
    path = _write(tmp_path / "kmsg.txt", [_record(i) for i in range(1, 6)])
    store = PositionStore(tmp_path / "state")
    _run_once(_source(path, store), 5, ack=5)
    path.write_text("".join(_record(i) + "\n" for i in range(1, 4)))  # after a reboot
    again = _run_once(_source(path, store, boot_id=BOOT_B), 3, ack=3)
    assert [(e.fields["seq"], e.fields["boot_id"]) for e in again] == [
        (1, BOOT_B),
        (2, BOOT_B),
        (3, BOOT_B),
    ]


def test_overwritten_records_are_counted_and_reported(tmp_path: Path) -> None:
    path = _write(tmp_path / "kmsg.txt", [_record(i) for i in range(1, 4)])
    store = PositionStore(tmp_path / "state")
    _run_once(_source(path, store), 3, ack=3)
    # While the agent was down the ring buffer wrapped: 4..9 are gone.
    path.write_text("".join(_record(i) + "\n" for i in range(10, 13)))
    src = _source(path, store)
    events = _run_once(src, 4, ack=1)
    lost = events[0]
    assert lost.fields["kind"] == "lost" and lost.fields["lost"] == 6
    assert lost.severity is Severity.WARNING and "6 kernel messages" in lost.message
    assert [e.fields["seq"] for e in events[1:]] == [10, 11, 12]
    assert src.lost == 6
    # Acknowledging the loss report keeps the record after it.
    assert [e.fields["seq"] for e in _run_once(_source(path, store), 3, ack=0)] == [10, 11, 12]


def test_follow_picks_up_appended_records(tmp_path: Path) -> None:
    path = _write(tmp_path / "kmsg.txt", [_record(1)])
    src = _source(path, PositionStore(tmp_path / "s"))

    async def run() -> list[int]:
        stream = Collector(src.follow())
        await stream.wait_for(1)
        with path.open("a") as fh:
            fh.write(_record(2) + "\n" + _record(3)[:10])  # the third is half written
            fh.flush()
            await asyncio.sleep(0.2)
            assert len(stream.events) == 2
            fh.write(_record(3)[10:] + "\n")
        await stream.wait_for(3)
        await stream.close()
        return [e.fields["seq"] for e in stream.events]

    assert asyncio.run(run()) == [1, 2, 3]


def test_errors_are_source_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="missing"):
        list(_source(tmp_path / "missing").read())
    with pytest.raises(SourceError, match="timezone"):
        KmsgSource(tmp_path / "k", boot_time=dt.datetime(2024, 1, 1))


def test_commit_keeps_extra_and_refuses_foreign_events(tmp_path: Path) -> None:
    path = _write(tmp_path / "kmsg.txt", [_record(i) for i in range(1, 4)])
    src = _source(path)  # no store: commits are kept in memory
    events = _run_once(src, 3, ack=0)
    src.commit(events[0], extra={"alerts": 1})
    assert src.committed_extra == {"alerts": 1}
    assert [e.fields["seq"] for e in _run_once(src, 2, ack=0)] == [2, 3]
    other = Event(timestamp=BOOT, source="journal", message="x", fields={"seq": 1})
    with pytest.raises(ValueError, match="kmsg source 'kernel'"):
        src.commit(other)


def _kmsg_unavailable() -> str | None:
    """Why the real /dev/kmsg cannot be used here, or None."""
    if os.geteuid() != 0:
        return "writing to /dev/kmsg needs root"
    try:
        if not stat.S_ISCHR(os.stat("/dev/kmsg").st_mode):
            return "/dev/kmsg is not a character device here"
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        return f"/dev/kmsg cannot be opened: {exc.strerror}"
    os.close(fd)
    return None


@pytest.mark.system
def test_real_kmsg_round_trip_without_duplicates(tmp_path: Path) -> None:
    reason = _kmsg_unavailable()
    if reason is not None:
        pytest.skip(reason)
    tag = f"hfagent-test: {uuid.uuid4().hex}"
    store = PositionStore(tmp_path / "state")
    src = KmsgSource(store=store, poll_interval=0.05)

    async def run(src: KmsgSource, text: str | None, want: str) -> list[Event]:
        stream = Collector(src.follow())
        await asyncio.sleep(0.2)  # reads what the buffer holds first
        if text is not None:
            with open("/dev/kmsg", "w") as fh:
                fh.write(f"<4>{text}\n")
        deadline = asyncio.get_running_loop().time() + 10
        while not any(want in e.message for e in stream.events):
            assert asyncio.get_running_loop().time() < deadline, "message not read back"
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        for event in stream.events:
            src.commit(event)
        await stream.close()
        return [e for e in stream.events if tag in e.message]

    mine = asyncio.run(run(src, tag + " one", tag + " one"))
    assert len(mine) == 1
    event = mine[0]
    assert event.severity is Severity.WARNING and event.fields["facility"] == 1
    assert abs(event.timestamp - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    assert event.fields["boot_id"] == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    # A restart sees the second message only: the first was committed.
    again = asyncio.run(
        run(KmsgSource(store=store, poll_interval=0.05), tag + " two", tag + " two")
    )
    assert [e.message for e in again] == [tag + " two"]
    history = [e.message for e in KmsgSource().read() if tag in e.message]
    assert history == [tag + " one", tag + " two"]
