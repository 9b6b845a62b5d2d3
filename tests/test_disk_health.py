"""Disk health: kernel errors, rising latency and SMART make a risk level with evidence."""

from __future__ import annotations

import json
import random

import pytest

from libhfagent.learner import DiskHealth
from libhfagent.learner._disks import read_smart
from libhfagent.observer._kernel import parse_kernel_message


def kernel(health: DiskHealth, at: float, message: str):  # type: ignore[no-untyped-def]
    event = parse_kernel_message(message)
    assert event is not None, message
    return health.kernel(at, event)


def test_growing_io_errors_raise_the_level_step_by_step() -> None:
    health = DiskHealth()
    # The kernel names only the ATA port: the port stands for its disk.
    port = kernel(health, 0, "ata1.00: qc timeout (cmd 0x60)")
    assert port is not None and (port.disk, port.level) == ("ata1", "watch")
    risk = kernel(
        health, 10, "sd 0:0:0:0: [sda] tag#3 FAILED Result: hostbyte=DID_OK driverbyte=DRIVER_SENSE"
    )
    assert risk is not None and (risk.disk, risk.level) == ("sda", "watch")
    risk = kernel(
        health, 20, "blk_update_request: I/O error, dev sda, sector 2048 op 0x0:(READ) flags 0x0"
    )
    assert risk is not None and risk.level == "warning"
    assert kernel(health, 30, "I/O error, dev sda, sector 4096 op 0x1:(WRITE) flags 0x0") is None
    risk = kernel(health, 40, "I/O error, dev sda, sector 8192 op 0x0:(READ) flags 0x0")
    assert risk is not None and risk.level == "critical"
    assert [e["kind"] for e in risk.evidence] == ["scsi_error", "io_error", "io_error", "io_error"]
    assert "sector 8192" in risk.evidence[-1]["text"]
    # A day later the kernel evidence has aged out.
    (later,) = [r for r in health.risks(at=40 + 2 * 86_400) if r.disk == "sda"]
    assert later.level == "ok"


def test_medium_error_and_read_only_remount_are_critical() -> None:
    health = DiskHealth()
    risk = kernel(
        health, 0, "critical medium error, dev nvme0n1, sector 123 op 0x0:(READ) flags 0x0"
    )
    assert risk is not None and (risk.disk, risk.level) == ("nvme0n1", "critical")
    risk = kernel(health, 0, "EXT4-fs (sdb1): Remounting filesystem read-only")
    assert risk is not None and (risk.disk, risk.level) == ("sdb", "critical")


def test_other_kernel_messages_are_not_disk_evidence() -> None:
    health = DiskHealth()
    assert kernel(health, 0, "Out of memory: Killed process 1234 (java) total-vm:1kB") is None
    assert health.risks() == []


def test_rising_latency_counts_only_against_the_disk_own_usual_level() -> None:
    health = DiskHealth()
    rng = random.Random(1)
    for i in range(200):  # a slow disk, steadily 40 ms: its normal
        assert health.latency(i, "sdb", 40 + rng.uniform(-5, 5), 30) is None
    for i in range(200, 210):
        health.latency(i, "sdb", 45, 30)
    assert health.risks()[0].level == "ok"
    changes = [health.latency(i, "sdb", 400, 99) for i in range(210, 220)]
    risk = next(r for r in changes if r is not None)
    assert risk.level == "watch" and risk.evidence[-1]["kind"] == "latency"
    risk = kernel(health, 221, "I/O error, dev sdb, sector 1 op 0x0:(READ) flags 0x0")
    assert risk is not None and risk.level == "critical"  # errors + rising latency
    assert health.latency(222, "sdb", float("nan"), 0) is None


@pytest.mark.parametrize(
    ("report", "level"),
    [
        ({"smart_status": {"passed": True}}, "ok"),
        ({"smart_status": {"passed": False}}, "critical"),
        (
            {
                "smart_status": {"passed": True},
                "ata_smart_attributes": {"table": [{"id": 5, "raw": {"value": 8}}]},
            },
            "watch",
        ),
        (
            {
                "smart_status": {"passed": True},
                "ata_smart_attributes": {
                    "table": [{"id": 5, "raw": {"value": 8}}, {"id": 197, "raw": {"value": 2}}]
                },
            },
            "warning",
        ),
        (
            {
                "smart_status": {"passed": True},
                "nvme_smart_health_information_log": {
                    "critical_warning": 0,
                    "media_errors": 0,
                    "percentage_used": 95,
                },
            },
            "warning",
        ),
        ({"nonsense": [1, 2], "smart_status": "yes"}, "ok"),
    ],
)
def test_smart_reports(report: dict[str, object], level: str) -> None:
    health = DiskHealth()
    health.smart(0, "sda", report)
    (risk,) = health.risks(at=0)
    assert risk.level == level


def test_read_smart_checks_the_device_name() -> None:
    with pytest.raises(ValueError, match="block device"):
        read_smart("sda; rm -rf /")
    # On this machine the device may not exist: a missing report is None, never an exception.
    assert read_smart("hfagent-no-such-disk") is None


def test_the_learner_raises_disk_risk_from_kernel_events_and_keeps_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import datetime as dt

    from libhfagent import Config, Learner
    from libhfagent.observer import Event

    config = Config.from_text(json.dumps({"agent": {"state_dir": str(tmp_path)}}))
    learner = Learner.open(config)
    t0 = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    signals = []
    for i, sector in enumerate((8, 16, 24)):
        message = f"I/O error, dev sda, sector {sector} op 0x0:(READ) flags 0x0"
        event = Event(t0 + dt.timedelta(seconds=i), "kernel", message)
        signals += learner.observe(event)
    assert [s.key for s in signals if s.kind == "disk_risk"] == [
        "disk:sda:warning",
        "disk:sda:critical",
    ]
    learner.close()
    again = Learner.open(config)
    (risk,) = again.disk_risks()
    assert risk.level == "critical" and len(risk.evidence) == 3
    again.close()
