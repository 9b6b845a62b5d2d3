"""The metrics source, measuring this machine for real."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
from collections import namedtuple
from collections.abc import Iterable
from pathlib import Path

import psutil
import pytest

from libhfagent.config import Config
from libhfagent.observer._events import Event, Metric, Severity
from libhfagent.observer._metrics import METRIC_GROUPS, MetricsSource, cpu_busy_percent
from libhfagent.observer._source import Source


def by_name(items: Iterable[Event | Metric]) -> dict[str, list[Metric]]:
    out: dict[str, list[Metric]] = {}
    for item in items:
        assert isinstance(item, Metric), f"unexpected event: {item}"
        out.setdefault(item.name, []).append(item)
    return out


def test_a_source() -> None:
    assert isinstance(MetricsSource(), Source)
    assert MetricsSource().name == "metrics"


def test_real_sample_of_this_machine() -> None:
    source = MetricsSource(1.0, top=3)
    first = by_name(source.collect())
    # The first sample primes the rates: no CPU, disk I/O, network or process CPU yet.
    assert not {"cpu_load", "disk_util", "net_rx_bytes_s", "process_cpu"} & set(first)
    assert {"load1", "memory_usage", "disk_space", "process_memory_bytes"} <= set(first)
    # Some disk I/O of our own between the two samples.
    with open("/proc/self/stat", "rb") as f:
        f.read()
    items = by_name(source.collect())

    (cpu,) = items["cpu_load"]
    assert 0.0 <= cpu.value <= 100.0 and dict(cpu.labels) == {}
    assert cpu.timestamp.tzinfo is not None
    for name in ("load1", "load5", "load15"):
        (load,) = items[name]
        assert 0.0 <= load.value < 1000

    (memory,) = items["memory_usage"]
    assert 0.0 < memory.value < 100.0
    assert int(memory.labels["total"]) == psutil.virtual_memory().total
    assert 0 < items["memory_available_bytes"][0].value <= int(memory.labels["total"])
    assert 0.0 <= items["swap_usage"][0].value <= 100.0

    mounts = {m.labels["mount"]: m for m in items["disk_space"]}
    assert "/" in mounts
    root = mounts["/"]
    assert 0.0 < root.value < 100.0 and root.labels["fstype"] not in ("tmpfs", "overlay")
    assert set(root.labels) == {"mount", "device", "fstype"}
    assert not any(m.labels["fstype"] in ("tmpfs", "proc", "sysfs") for m in items["disk_space"])

    # Whole disks only (from /sys/block), each with its eight iostat figures.
    whole = set(os.listdir("/sys/block"))
    devices = {m.labels["device"] for m in items["disk_util"]}
    assert devices and devices <= whole
    for name in ("disk_await_ms", "disk_r_await_ms", "disk_w_await_ms", "disk_read_iops",
                 "disk_write_iops", "disk_read_bytes_s", "disk_write_bytes_s"):  # fmt: skip
        assert {m.labels["device"] for m in items[name]} == devices
        assert all(m.value >= 0 for m in items[name])
    assert all(0.0 <= m.value <= 100.0 for m in items["disk_util"])

    interfaces = {m.labels["interface"] for m in items["net_rx_bytes_s"]}
    assert "lo" not in interfaces
    assert interfaces == set(psutil.net_if_stats()) - {"lo"}
    for name in ("net_tx_bytes_s", "net_rx_errors_s", "net_tx_errors_s", "net_rx_drops_s"):
        assert {m.labels["interface"] for m in items[name]} == interfaces

    for name in ("process_cpu", "process_memory_bytes"):
        top = items[name]
        assert [m.labels["rank"] for m in top] == ["1", "2", "3"]
        values = [m.value for m in top]
        assert values == sorted(values, reverse=True)
        assert all(set(m.labels) == {"pid", "name", "rank"} for m in top)
    assert items["process_memory_bytes"][0].value > 1_000_000


def test_top_process_by_cpu_is_found() -> None:
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        source = MetricsSource(1.0, metrics=(), top=2)
        source.collect()
        psutil.Process(busy.pid).cpu_times()  # make sure it has started
        asyncio.run(asyncio.sleep(0.5))
        top = by_name(source.collect())["process_cpu"]
        assert str(busy.pid) in {m.labels["pid"] for m in top}
        mine = next(m for m in top if m.labels["pid"] == str(busy.pid))
        assert mine.value > 30.0 and mine.labels["name"].startswith("python")
    finally:
        busy.kill()
        busy.wait()


def test_groups_and_mounts_select() -> None:
    source = MetricsSource(metrics=("disk_space",), mounts=["/"], top=0)
    source.collect()
    items = by_name(source.collect())
    assert set(items) == {"disk_space", "disk_free_bytes"}
    assert [m.labels["mount"] for m in items["disk_space"]] == ["/"]
    with pytest.raises(ValueError, match="unknown metric groups disk"):
        MetricsSource(metrics=("disk",))
    with pytest.raises(ValueError, match="interval must be positive"):
        MetricsSource(0)


def test_from_config() -> None:
    config = Config.from_text(
        '{"modules": {"monitoring": {"interval": 2.5, "metrics": ["cpu_load", "network"]}}}',
        env={},
    )
    source = MetricsSource.from_config(config, top=0)
    assert source.interval == 2.5 and source.metrics == ("cpu_load", "network")


def test_missing_diskstats_is_an_error_event(tmp_path: Path) -> None:
    source = MetricsSource(metrics=("disk_io", "memory_usage"), top=0, proc=tmp_path)
    items = source.collect()
    errors = [i for i in items if isinstance(i, Event)]
    assert len(errors) == 1
    (error,) = errors
    assert error.source == "metrics" and error.severity == Severity.ERROR
    assert error.fields["group"] == "disk_io"
    assert f"cannot read {tmp_path}/diskstats" in error.message
    # The other groups are still measured.
    assert any(isinstance(i, Metric) and i.name == "memory_usage" for i in items)


def test_truncated_diskstats_is_an_error_event_then_recovers(tmp_path: Path) -> None:
    stats = tmp_path / "diskstats"
    sys_block = tmp_path / "sys" / "block"
    sys_block.mkdir(parents=True)
    (sys_block / "sda").mkdir()
    stats.write_text("   8       0 sda 100 0 800 50 10 0 80 20 0 60 70\n")
    source = MetricsSource(metrics=("disk_io",), top=0, proc=tmp_path, sys=tmp_path / "sys")
    assert source.collect() == []
    stats.write_text("   8       0 sda 100 0 800\n")  # a truncated read
    (error,) = source.collect()
    assert isinstance(error, Event) and "line 1: expected at least 14 fields" in error.message
    stats.write_text("   8       0 sda 100 0 800 50 10 0 80 20 0 60 70\n")
    assert source.collect() == []  # primed again, no rate against a bad sample
    stats.write_text(
        "   8       0 sda 200 0 1600 150 10 0 80 20 0 160 170\n"
        "   8       1 sda1 200 0 1600 150 10 0 80 20 0 160 170\n"
    )
    items = by_name(source.collect())
    assert [m.labels["device"] for m in items["disk_r_await_ms"]] == ["sda"]
    assert items["disk_r_await_ms"][0].value == 1.0  # 100 ms over 100 reads


def test_cpu_busy_percent() -> None:
    times = namedtuple("times", "user nice system idle iowait irq softirq steal guest guest_nice")
    a = times(100, 0, 50, 800, 50, 0, 0, 0, 10, 0)
    b = times(160, 0, 70, 860, 60, 0, 0, 0, 20, 0)
    # Δ: user 60 (10 of them guest, not counted twice), system 20, idle 60, iowait 10
    # -> busy 80 of 150.
    assert cpu_busy_percent(a, b) == 53.33
    assert cpu_busy_percent(a, a) == 0.0


def test_read_and_follow() -> None:
    source = MetricsSource(0.2, metrics=("cpu_load",), top=0)
    names = {m.name for m in source.read() if isinstance(m, Metric)}
    assert names == {"cpu_load", "load1", "load5", "load15"}

    async def three() -> list[dt.datetime]:
        stamps: list[dt.datetime] = []
        follower = MetricsSource(0.2, metrics=("cpu_load",), top=0).follow()
        async for item in follower:
            assert isinstance(item, Metric)
            if item.name == "cpu_load":
                stamps.append(item.timestamp)
                if len(stamps) == 3:
                    break
        await follower.aclose()  # type: ignore[attr-defined]
        return stamps

    stamps = asyncio.run(three())
    assert stamps == sorted(stamps) and len(set(stamps)) == 3


def test_groups_constant_matches_the_configuration() -> None:
    from typing import get_args

    from libhfagent.config._model import Metric as ConfigMetric

    assert set(METRIC_GROUPS) == set(get_args(ConfigMetric))
