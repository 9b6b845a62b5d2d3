"""The unit source: the pure tracker, then a real systemd in a namespace."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from libhfagent._errors import SourceError
from libhfagent.observer._events import Event, Severity
from libhfagent.observer._source import Source
from libhfagent.observer._units import UnitSource, UnitState, UnitTracker, unit_name_from_path
from libhfagent.testing._systemd import SystemdNamespace

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


# -- pure core ----------------------------------------------------------------------------


def test_unit_name_from_path() -> None:
    assert unit_name_from_path("/org/freedesktop/systemd1/unit/nginx_2eservice") == (
        "nginx.service"
    )
    assert unit_name_from_path("/org/freedesktop/systemd1/unit/hf_2dagent_40x_2eservice") == (
        "hf-agent@x.service"
    )
    assert unit_name_from_path("/org/freedesktop/systemd1/unit/_2d_2eslice") == "-.slice"
    assert unit_name_from_path("/org/freedesktop/systemd1") is None
    assert unit_name_from_path("/org/freedesktop/systemd1/unit/") is None


def test_tracker_reports_transitions_only() -> None:
    tracker = UnitTracker()
    tracker.prime("a.service", UnitState("active", "running"))
    assert tracker.update("a.service", {"ActiveState": "active", "SubState": "running"}, T0) is (
        None
    )
    first = tracker.update("a.service", {"ActiveState": "deactivating", "SubState": "stop"}, T0)
    assert first is not None
    assert dict(first.fields) == {
        "unit": "a.service",
        "active_state": "deactivating",
        "sub_state": "stop",
        "previous_active_state": "active",
        "previous_sub_state": "running",
        "result": "",
    }
    assert first.source == "units" and first.severity == Severity.INFO
    assert first.message == "a.service: active/running -> deactivating/stop"
    # The same signal again, and a Result alone: nothing.
    assert tracker.update("a.service", {"ActiveState": "deactivating"}, T0) is None
    assert tracker.update("a.service", {"Result": "success"}, T0) is None
    last = tracker.update("a.service", {"ActiveState": "inactive", "SubState": "dead"}, T0)
    assert last is not None and last.fields["result"] == "success"
    assert tracker.state("a.service") == UnitState("inactive", "dead", "success")


def test_tracker_failure_is_an_error_with_its_result() -> None:
    tracker = UnitTracker()
    tracker.prime("b.service", UnitState("activating", "start"))
    event = tracker.update(
        "b.service", {"ActiveState": "failed", "SubState": "failed", "Result": "exit-code"}, T0
    )
    assert event is not None and event.severity == Severity.ERROR
    assert event.message == "b.service: activating/start -> failed/failed (result: exit-code)"
    # A stop that ended badly without failing the unit is a warning.
    tracker.prime("c.service", UnitState("deactivating", "stop-sigterm"))
    warn = tracker.update(
        "c.service", {"ActiveState": "inactive", "SubState": "dead", "Result": "timeout"}, T0
    )
    assert warn is not None and warn.severity == Severity.WARNING


def test_tracker_new_units_and_filter() -> None:
    tracker = UnitTracker(["hf-*.service", "nginx.service"], host="web1")
    # A unit loaded inactive is no transition; one first seen active is.
    assert tracker.update("hf-a.service", {"ActiveState": "inactive", "SubState": "dead"}, T0) is (
        None
    )
    seen = tracker.update("hf-b.service", {"ActiveState": "active", "SubState": "running"}, T0)
    assert seen is not None and seen.fields["previous_active_state"] == ""
    assert seen.host == "web1" and seen.message.startswith("hf-b.service: ? -> ")
    assert tracker.update("sshd.service", {"ActiveState": "failed", "SubState": "failed"}, T0) is (
        None
    )
    tracker.prime("sshd.service", UnitState("active", "running"))
    assert tracker.state("sshd.service") is None
    tracker.forget("hf-b.service")
    assert tracker.state("hf-b.service") is None
    # Jobs: only those that did not succeed.
    assert tracker.job_event("nginx.service", "12", "done", T0) is None
    job = tracker.job_event("nginx.service", "13", "failed", T0)
    assert job is not None and job.fields["job_result"] == "failed"
    assert tracker.job_event("sshd.service", "14", "failed", T0) is None


def test_unit_source_is_a_source() -> None:
    assert isinstance(UnitSource("unix:path=/nonexistent"), Source)


def test_unreachable_bus_is_a_source_error(tmp_path: Path) -> None:
    source = UnitSource(f"unix:path={tmp_path}/no-bus")
    with pytest.raises(SourceError, match=r"cannot connect to unix:path=.*no-bus"):
        list(source.read())

    async def follow() -> None:
        async for _ in source.follow():
            pass

    with pytest.raises(SourceError, match="cannot connect"):
        asyncio.run(follow())


# -- a real systemd -----------------------------------------------------------------------

needs_systemd = pytest.mark.skipif(
    not SystemdNamespace.available(), reason="needs root, systemd and cgroup2"
)

UNITS = {
    "hfagent-sleep.service": "[Service]\nType=simple\nExecStart=/bin/sleep infinity\n",
    "hfagent-fail.service": "[Service]\nType=oneshot\nExecStart=/bin/false\n",
    "hfagent-crash.service": "[Service]\nType=simple\nExecStart=/bin/sh -c 'sleep 0.2; exit 3'\n",
    "hfagent-probe.service": "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n",
}


@pytest.fixture(scope="module")
def sd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SystemdNamespace]:
    with SystemdNamespace(tmp_path_factory.mktemp("sd")) as ns:
        for name, text in UNITS.items():
            ns.write_file(f"/etc/systemd/system/{name}", text)
        ns.systemctl("daemon-reload")
        yield ns


class Watcher:
    """Follows a UnitSource in a task; events land in ``events``."""

    def __init__(self, source: UnitSource) -> None:
        self.source = source
        self.events: list[Event] = []
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Watcher:
        self.task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task

    async def _run(self) -> None:
        stream: AsyncIterator[object] = self.source.follow()
        try:
            async for event in stream:
                assert isinstance(event, Event)
                self.events.append(event)
        finally:
            await stream.aclose()  # type: ignore[attr-defined]

    async def wait_for(self, unit: str, active_state: str, timeout: float = 20) -> None:
        async with asyncio.timeout(timeout):
            while not any(
                e.fields.get("unit") == unit and e.fields.get("active_state") == active_state
                for e in self.events
            ):
                if self.task is not None and self.task.done():
                    self.task.result()
                await asyncio.sleep(0.01)

    def states(self, unit: str) -> list[str]:
        return [
            f"{e.fields['active_state']}/{e.fields['sub_state']}"
            for e in self.events
            if e.fields.get("unit") == unit and "active_state" in e.fields
        ]


async def subscribed(sd: SystemdNamespace, watch: Watcher) -> None:
    """Return once the watcher sees events: toggles the probe unit until one arrives."""
    async with asyncio.timeout(30):
        while not watch.states("hfagent-probe.service"):
            await asyncio.to_thread(sd.systemctl, "restart", "hfagent-probe.service")
            await asyncio.sleep(0.05)


@pytest.mark.system
@needs_systemd
def test_follow_sees_start_stop_and_failures(sd: SystemdNamespace) -> None:
    async def scenario() -> Watcher:
        source = UnitSource(sd.bus_address, units=["hfagent-*"], host="ns")
        async with Watcher(source) as watch:
            await subscribed(sd, watch)
            await asyncio.to_thread(sd.systemctl, "start", "hfagent-sleep.service")
            await watch.wait_for("hfagent-sleep.service", "active")
            await asyncio.to_thread(sd.systemctl, "stop", "hfagent-sleep.service")
            await watch.wait_for("hfagent-sleep.service", "inactive")
            failed = await asyncio.to_thread(
                sd.systemctl, "start", "hfagent-fail.service", check=False
            )
            assert failed.returncode != 0
            await watch.wait_for("hfagent-fail.service", "failed")
            await asyncio.to_thread(sd.systemctl, "start", "hfagent-crash.service")
            await watch.wait_for("hfagent-crash.service", "failed")
            # Nothing is reported twice: a reset-failed moves it once more.
            await asyncio.to_thread(sd.systemctl, "reset-failed", "hfagent-crash.service")
            await watch.wait_for("hfagent-crash.service", "inactive")
            return watch

    watch = asyncio.run(scenario())
    assert watch.states("hfagent-sleep.service") == [
        "active/running",
        "deactivating/stop-sigterm",
        "inactive/dead",
    ]
    sleep_events = [e for e in watch.events if e.fields.get("unit") == "hfagent-sleep.service"]
    # The Service interface's Result came first (a unit loaded by the start): ignored.
    assert [e.fields["previous_active_state"] for e in sleep_events] == [
        "inactive",
        "active",
        "deactivating",
    ]
    assert all(e.severity == Severity.INFO and e.host == "ns" for e in sleep_events)

    assert watch.states("hfagent-fail.service") == ["activating/start", "failed/failed"]
    failed = [
        e
        for e in watch.events
        if e.fields.get("unit") == "hfagent-fail.service" and e.fields.get("active_state")
    ][-1]
    assert failed.severity == Severity.ERROR and failed.fields["result"] == "exit-code"
    job = [e for e in watch.events if e.fields.get("job_result") == "failed"]
    assert [e.fields["unit"] for e in job] == ["hfagent-fail.service"]

    assert watch.states("hfagent-crash.service") == [
        "active/running",
        "failed/failed",
        "inactive/dead",
    ]
    crash = [e for e in watch.events if e.fields.get("unit") == "hfagent-crash.service"]
    assert crash[1].fields["result"] == "exit-code" and crash[1].severity == Severity.ERROR
    # The filter kept systemd's own units (journald, dbus) out.
    assert {e.fields["unit"] for e in watch.events} <= set(UNITS)
    # Every transition is a change: no two consecutive states of a unit are equal.
    for unit in UNITS:
        states = watch.states(unit)
        assert all(a != b for a, b in itertools.pairwise(states))


@pytest.mark.system
@needs_systemd
def test_read_gives_present_states(sd: SystemdNamespace) -> None:
    events = list(UnitSource(sd.bus_address, units=["basic.target", "dbus.socket"]).read())
    assert [
        (e.fields["unit"], e.fields["active_state"], e.fields["sub_state"]) for e in events
    ] == [
        ("basic.target", "active", "active"),
        ("dbus.socket", "active", "running"),
    ]
    everything = list(UnitSource(sd.bus_address).read())
    assert len(everything) > 20
    assert all(isinstance(e, Event) and e.source == "units" for e in everything)


@pytest.mark.system
@needs_systemd
def test_read_inside_a_running_loop(sd: SystemdNamespace) -> None:
    async def inside() -> list[str]:
        return [str(e.fields["unit"]) for e in UnitSource(sd.bus_address, units=["-.slice"]).read()]

    assert asyncio.run(inside()) == ["-.slice"]


def test_tracker_result_before_the_first_state() -> None:
    # systemd sends the type interface (Service.Result) before Unit.ActiveState.
    tracker = UnitTracker()
    assert tracker.update("d.service", {"Result": "success"}, T0) is None
    assert tracker.update("d.service", {"ActiveState": "inactive", "SubState": "dead"}, T0) is None
    event = tracker.update("d.service", {"ActiveState": "active", "SubState": "running"}, T0)
    assert event is not None and event.fields["previous_active_state"] == "inactive"
