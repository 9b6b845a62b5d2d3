"""/proc/diskstats: parsing and iostat's await and %util, on texts written here."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libhfagent._errors import SourceError
from libhfagent.observer._diskstats import (
    DiskCounters,
    DiskRates,
    all_disk_rates,
    disk_rates,
    parse_diskstats,
)


def line(
    name: str,
    reads: int,
    sectors_read: int,
    read_ms: int,
    writes: int,
    sectors_written: int,
    write_ms: int,
    io_ms: int,
    *,
    major: int = 8,
    minor: int = 0,
    discards: tuple[int, int, int, int] | None = (0, 0, 0, 0),
    flush: tuple[int, int] | None = (0, 0),
) -> str:
    """One /proc/diskstats line (kernel 5.5+ layout unless told otherwise)."""
    fields = [major, minor, name, reads, 7, sectors_read, read_ms, writes, 3,
              sectors_written, write_ms, 0, io_ms, read_ms + write_ms]  # fmt: skip
    if discards is not None:
        fields += list(discards)
        if flush is not None:
            fields += list(flush)
    return " ".join(f"{f:>4}" if isinstance(f, int) else f for f in fields)


BEFORE = "\n".join(
    [
        line("sda", 1000, 8000, 2000, 500, 4000, 3000, 10_000),
        line("sda1", 900, 7000, 1800, 400, 3000, 2500, 9_000, minor=1),
        line("loop0", 0, 0, 0, 0, 0, 0, 0, major=7),
        line("vdb", 10, 80, 10, 0, 0, 0, 10, major=254, minor=16),
    ]
)
# Two seconds later.
AFTER = "\n".join(
    [
        line("sda", 1100, 9600, 2500, 550, 4800, 4000, 11_500),
        line("sda1", 950, 7800, 1900, 450, 3800, 3000, 9_900, minor=1),
        line("loop0", 0, 0, 0, 0, 0, 0, 0, major=7),
        line("nvme0n1", 5, 40, 1, 5, 40, 1, 2, major=259),
    ]
)


def test_parse_every_layout() -> None:
    text = "\n".join(
        [
            line("sda", 1, 2, 3, 4, 5, 6, 7, discards=None),  # before 4.18: 14 fields
            line("sdb", 1, 2, 3, 4, 5, 6, 7, discards=(8, 9, 10, 11), flush=None),  # 18
            line("sdc", 1, 2, 3, 4, 5, 6, 7, discards=(8, 9, 10, 11)),  # 5.5+: 20
            "",
        ]
    )
    disks = parse_diskstats(text)
    assert list(disks) == ["sda", "sdb", "sdc"]
    assert disks["sda"] == DiskCounters(8, 0, "sda", 1, 7, 2, 3, 4, 3, 5, 6, 0, 7, 9)
    assert disks["sdb"].discards == 8 and disks["sdb"].discard_ms == 11
    assert disks["sdc"] == DiskCounters(8, 0, "sdc", 1, 7, 2, 3, 4, 3, 5, 6, 0, 7, 9, 8, 9, 10, 11)
    assert parse_diskstats("") == {}


def test_rates_are_iostats() -> None:
    before, after = parse_diskstats(BEFORE), parse_diskstats(AFTER)
    rates = disk_rates(before["sda"], after["sda"], 2.0)
    # r_await = Δread_ms/Δreads = 500/100; w_await = 1000/50; await = 1500/150;
    # %util = Δio_ms / 2000 ms; 1600 sectors * 512 B / 2 s.
    assert rates == DiskRates(
        r_await_ms=5.0,
        w_await_ms=20.0,
        await_ms=10.0,
        util_percent=75.0,
        read_iops=50.0,
        write_iops=25.0,
        read_bytes_s=409_600.0,
        write_bytes_s=204_800.0,
    )


def test_await_counts_discards_and_util_is_capped() -> None:
    a = parse_diskstats(line("sda", 0, 0, 0, 10, 80, 30, 0, discards=(0, 0, 0, 0)))["sda"]
    b = parse_diskstats(line("sda", 0, 0, 0, 20, 160, 60, 5000, discards=(10, 0, 80, 90)))["sda"]
    rates = disk_rates(a, b, 1.0)
    assert rates.r_await_ms == 0.0  # no read: 0, as iostat prints
    assert rates.w_await_ms == 3.0
    assert rates.await_ms == (30 + 90) / (10 + 10)
    assert rates.util_percent == 100.0  # 5000 ms busy in 1 s (merged queues): capped


def test_counter_wrap() -> None:
    wrap = 1 << 32
    a = parse_diskstats(line("sda", 10, 8, wrap - 100, 0, 0, 0, wrap - 500))["sda"]
    b = parse_diskstats(line("sda", 20, 16, 100, 0, 0, 0, 1000))["sda"]
    rates = disk_rates(a, b, 2.0)
    assert rates.r_await_ms == 20.0  # (100 + 100) ms over 10 reads
    assert rates.util_percent == 75.0  # 1500 ms over 2000 ms
    big = 1 << 64
    c = parse_diskstats(line("sda", big - 5, 0, 0, 0, 0, 0, 0))["sda"]
    d = parse_diskstats(line("sda", 5, 0, 0, 0, 0, 0, 0))["sda"]
    assert disk_rates(c, d, 1.0).read_iops == 10.0


def test_devices_appearing_disappearing_and_partitions() -> None:
    before, after = parse_diskstats(BEFORE), parse_diskstats(AFTER)
    everything = all_disk_rates(before, after, 2.0)
    # vdb went away, nvme0n1 is new (no rate until a second sample), loop0 never did I/O.
    assert sorted(everything) == ["sda", "sda1"]
    assert everything["sda1"].r_await_ms == 2.0
    disks = all_disk_rates(before, after, 2.0, devices=frozenset({"sda", "nvme0n1"}))
    assert sorted(disks) == ["sda"]
    # Another device under the same name (a re-plugged disk) starts afresh.
    renumbered = parse_diskstats(line("sda", 1100, 9600, 2500, 550, 4800, 4000, 11_500, minor=16))
    assert all_disk_rates(before, renumbered, 2.0) == {}


def test_bad_input() -> None:
    with pytest.raises(SourceError, match=r"/proc/diskstats, line 2: expected at least 14"):
        parse_diskstats(line("sda", 1, 2, 3, 4, 5, 6, 7) + "\n   8   1 sda1 12 3")
    with pytest.raises(SourceError, match=r"x/diskstats, line 1: a counter is not"):
        parse_diskstats(line("sda", 1, 2, 3, 4, 5, 6, 7).replace(" 5 ", " -5 "), "x/diskstats")
    with pytest.raises(SourceError, match="not a non-negative integer"):
        parse_diskstats("8 0 sda a b c d e f g h i j k")
    a = parse_diskstats(BEFORE)
    with pytest.raises(ValueError, match="elapsed must be positive"):
        disk_rates(a["sda"], a["sda"], 0.0)
    with pytest.raises(ValueError, match="different devices"):
        disk_rates(a["sda"], a["sda1"], 1.0)


@given(st.text(alphabet="0123456789 abcdsv\n\t-²٣", max_size=300))
def test_parser_raises_only_source_errors(text: str) -> None:
    try:
        disks = parse_diskstats(text)
    except SourceError as exc:
        assert "line" in str(exc)
    else:
        assert all(isinstance(d, DiskCounters) and d.reads >= 0 for d in disks.values())


@given(
    st.lists(st.integers(0, (1 << 32) - 1), min_size=22, max_size=22),
    st.floats(0.001, 1e6),
)
def test_rates_are_finite_and_util_bounded(values: list[int], elapsed: float) -> None:
    a = DiskCounters(8, 0, "sda", *values[:11])
    b = DiskCounters(8, 0, "sda", *values[11:])
    rates = disk_rates(a, b, elapsed)
    assert 0.0 <= rates.util_percent <= 100.0
    assert all(v >= 0 for v in (rates.await_ms, rates.read_iops, rates.write_bytes_s))
