"""systemd unit state changes, from ``org.freedesktop.systemd1`` on the system bus.

:class:`UnitTracker` is the pure core: it takes unit names and property values and
returns :class:`Event` values, one per transition of ``(ActiveState, SubState)``,
repeated signals folded away. :class:`UnitSource` is the I/O edge: it subscribes to
systemd (``Manager.Subscribe``), listens to ``PropertiesChanged`` of unit objects and
to ``UnitNew``, ``UnitRemoved`` and ``JobRemoved``, and feeds the tracker.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fnmatch
import re
import socket
import threading
from collections.abc import (
    AsyncIterator,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any, Final, TypeVar

import attrs

from .._errors import SourceError
from ._events import Event, Metric, Severity

__all__ = ["UnitSource", "UnitState", "UnitTracker", "unit_name_from_path"]

SYSTEMD: Final = "org.freedesktop.systemd1"
MANAGER_PATH: Final = "/org/freedesktop/systemd1"
MANAGER: Final = "org.freedesktop.systemd1.Manager"
UNIT: Final = "org.freedesktop.systemd1.Unit"
PROPERTIES: Final = "org.freedesktop.DBus.Properties"
_UNIT_PREFIX: Final = "/org/freedesktop/systemd1/unit/"
_ESCAPE: Final = re.compile(r"_([0-9a-fA-F]{2})")
# Unit types whose D-Bus interface has a ``Result`` property.
_RESULT_INTERFACES: Final[Mapping[str, str]] = {
    "service": "org.freedesktop.systemd1.Service",
    "socket": "org.freedesktop.systemd1.Socket",
    "mount": "org.freedesktop.systemd1.Mount",
    "swap": "org.freedesktop.systemd1.Swap",
    "timer": "org.freedesktop.systemd1.Timer",
    "path": "org.freedesktop.systemd1.Path",
    "automount": "org.freedesktop.systemd1.Automount",
    "scope": "org.freedesktop.systemd1.Scope",
}
# Job results that say a job did what it was asked (see systemd's JobRemoved).
_JOB_OK: Final = frozenset({"done", "skipped"})
T = TypeVar("T")


def unit_name_from_path(path: str) -> str | None:
    """The unit name of a systemd unit object path, or None for another path.

    ``/org/freedesktop/systemd1/unit/nginx_2eservice`` gives ``nginx.service``.
    """
    if not path.startswith(_UNIT_PREFIX) or len(path) == len(_UNIT_PREFIX):
        return None
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), path[len(_UNIT_PREFIX) :])


@attrs.frozen(slots=True)
class UnitState:
    """What systemd says of a unit at one moment.

    Attributes:
        active_state: ``active``, ``reloading``, ``inactive``, ``failed``,
            ``activating``, ``deactivating``…
        sub_state: The type-specific state (``running``, ``dead``, ``exited``…).
        result: The outcome of the last run (``success``, ``exit-code``,
            ``signal``, ``timeout``…), ``""`` when unknown or not applicable.
    """

    active_state: str
    sub_state: str
    result: str = ""


def _severity(state: UnitState) -> Severity:
    if state.active_state == "failed":
        return Severity.ERROR
    if state.result not in ("", "success"):
        return Severity.WARNING
    return Severity.INFO


class UnitTracker:
    """Turns systemd property values into transition events; does no I/O.

    Args:
        units: Unit names or globs (``nginx.service``, ``hf-*.service``) to
            report; empty reports every unit.
        host: The host name put in the events.
    """

    def __init__(self, units: Iterable[str] = (), host: str = "") -> None:
        self.units = tuple(units)
        self.host = host
        self._states: dict[str, UnitState] = {}

    def wants(self, unit: str) -> bool:
        """Whether ``unit`` passes the filter."""
        return not self.units or any(fnmatch.fnmatchcase(unit, u) for u in self.units)

    def state(self, unit: str) -> UnitState | None:
        """The last known state of ``unit``."""
        return self._states.get(unit)

    def prime(self, unit: str, state: UnitState) -> None:
        """Record a state known without a transition (from ``ListUnits``)."""
        if self.wants(unit):
            self._states[unit] = state

    def forget(self, unit: str) -> None:
        """Drop a unit systemd unloaded; a later load starts afresh."""
        self._states.pop(unit, None)

    def update(self, unit: str, changes: Mapping[str, Any], when: dt.datetime) -> Event | None:
        """Apply changed properties of ``unit``; an event when its state moved.

        Args:
            unit: The unit name.
            changes: Changed properties; ``ActiveState``, ``SubState`` and
                ``Result`` are read, the others ignored.
            when: When the change was seen, timezone-aware.

        Returns:
            An event for a new ``(ActiveState, SubState)``; None for a repeated
            state, a filtered unit, a change of ``Result`` alone, or a unit first
            seen ``inactive`` (loading a unit is not a transition).
        """
        if not self.wants(unit):
            return None
        before = self._states.get(unit)
        base = before or UnitState("", "")
        after = UnitState(
            str(changes.get("ActiveState", base.active_state)),
            str(changes.get("SubState", base.sub_state)),
            str(changes.get("Result", base.result)),
        )
        self._states[unit] = after
        if not after.active_state:
            return None
        if before is None or not before.active_state:
            # First seen (perhaps after a ``Result`` alone): no previous state.
            if after.active_state == "inactive":
                return None
            before = None
        elif (before.active_state, before.sub_state) == (after.active_state, after.sub_state):
            return None
        return self.event(unit, after, before, when)

    def event(
        self, unit: str, state: UnitState, before: UnitState | None, when: dt.datetime
    ) -> Event:
        """The event telling that ``unit`` is in ``state`` (after ``before``)."""
        previous = f"{before.active_state}/{before.sub_state}" if before else "?"
        message = f"{unit}: {previous} -> {state.active_state}/{state.sub_state}"
        if state.result and (state.active_state == "failed" or state.result != "success"):
            message += f" (result: {state.result})"
        return Event(
            timestamp=when,
            source="units",
            message=message,
            severity=_severity(state),
            host=self.host,
            fields={
                "unit": unit,
                "active_state": state.active_state,
                "sub_state": state.sub_state,
                "previous_active_state": before.active_state if before else "",
                "previous_sub_state": before.sub_state if before else "",
                "result": state.result,
            },
        )

    def job_event(self, unit: str, job: str, result: str, when: dt.datetime) -> Event | None:
        """An event for a job that did not succeed (``JobRemoved`` with a bad result)."""
        if result in _JOB_OK or not self.wants(unit):
            return None
        return Event(
            timestamp=when,
            source="units",
            message=f"{unit}: job {job} {result}",
            severity=Severity.WARNING,
            host=self.host,
            fields={"unit": unit, "job": job, "job_result": result},
        )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UnitSource:
    """systemd unit state changes from the system bus, as :class:`Event` values.

    ``follow`` yields one event per transition (``active -> deactivating ->
    inactive``, ``activating -> failed`` with ``result``); ``read`` gives the
    present state of every loaded unit (systemd keeps no history: the journal
    does).

    Args:
        bus_address: The system bus address; None for the default system bus
            (``$DBUS_SYSTEM_BUS_ADDRESS`` or ``/run/dbus/system_bus_socket``).
        units: Unit names or globs to report; empty reports every unit.
        host: The host name put in the events; by default this machine's.
        clock: Gives the events' timestamps (timezone-aware).
    """

    name = "units"

    def __init__(
        self,
        bus_address: str | None = None,
        *,
        units: Sequence[str] = (),
        host: str | None = None,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self.bus_address = bus_address
        self.units = tuple(units)
        self.host = host if host is not None else socket.gethostname()
        self._clock = clock

    # -- history: the present states ------------------------------------------------------

    def read(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> Iterator[Event | Metric]:
        """One event per loaded unit (filtered) with its present state, by name.

        ``since`` and ``until`` are accepted for the Source protocol; the states
        are the present ones whatever the window.

        Raises:
            SourceError: The system bus or systemd cannot be reached.
        """
        return iter(_run_sync(self.snapshot()))

    async def snapshot(self) -> list[Event]:
        """The present state of every loaded unit (filtered), as events, by name."""
        bus = await self._connect()
        try:
            units = await _list_units(bus)
        finally:
            bus.disconnect()
        tracker = UnitTracker(self.units, self.host)
        when = self._clock()
        return [
            tracker.event(name, state, None, when)
            for name, state in sorted(units.items())
            if tracker.wants(name)
        ]

    # -- live --------------------------------------------------------------------------

    async def follow(self) -> AsyncIterator[Event | Metric]:
        """Transitions as systemd announces them; runs until cancelled.

        Raises:
            SourceError: The bus cannot be reached, or it went away.
        """
        from dbus_fast import Message, MessageType

        bus = await self._connect()
        queue: asyncio.Queue[Message | None] = asyncio.Queue()

        def on_message(message: Message) -> None:
            if message.message_type == MessageType.SIGNAL and message.sender is not None:
                queue.put_nowait(message)

        bus.add_message_handler(on_message)
        closed = asyncio.ensure_future(bus.wait_for_disconnect())
        closed.add_done_callback(lambda _: queue.put_nowait(None))
        tracker = UnitTracker(self.units, self.host)
        try:
            for rule in (
                f"type='signal',sender='{SYSTEMD}',interface='{PROPERTIES}',"
                f"member='PropertiesChanged',path_namespace='{_UNIT_PREFIX.rstrip('/')}'",
                f"type='signal',sender='{SYSTEMD}',interface='{MANAGER}',path='{MANAGER_PATH}'",
            ):
                await _call(
                    bus,
                    "org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus",
                    "AddMatch",
                    "s",
                    [rule],
                )
            await _call(bus, SYSTEMD, MANAGER_PATH, MANAGER, "Subscribe", "", [])
            for name, state in (await _list_units(bus)).items():
                tracker.prime(name, state)
            while True:
                message = await queue.get()
                if message is None:
                    raise SourceError(
                        "the system bus closed the connection of the unit source; "
                        "check that dbus is running, then restart the agent"
                    )
                for event in await self._handle(bus, tracker, message):
                    yield event
        finally:
            closed.cancel()
            bus.remove_message_handler(on_message)
            bus.disconnect()

    async def _handle(self, bus: Any, tracker: UnitTracker, message: Any) -> list[Event]:
        when = self._clock()
        member, body = message.member, message.body
        if member == "PropertiesChanged" and body and body[0] == UNIT:
            unit = unit_name_from_path(message.path or "")
            if unit is None or not tracker.wants(unit):
                return []
            changes = {k: v.value for k, v in body[1].items()}
            if changes.get("ActiveState") == "failed" and "Result" not in changes:
                result = await _result(bus, message.path, unit)
                if result:
                    changes["Result"] = result
            event = tracker.update(unit, changes, when)
            return [event] if event is not None else []
        if member == "PropertiesChanged" and body and "Result" in body[1]:
            unit = unit_name_from_path(message.path or "")
            if unit is not None:
                tracker.update(unit, {"Result": body[1]["Result"].value}, when)
            return []
        if member == "UnitRemoved" and body:
            tracker.forget(str(body[0]))
        elif member == "JobRemoved" and len(body) == 4:
            event = tracker.job_event(str(body[2]), str(body[0]), str(body[3]), when)
            return [event] if event is not None else []
        return []

    async def _connect(self) -> Any:
        from dbus_fast import BusType
        from dbus_fast.aio import MessageBus

        where = self.bus_address or "the system bus"
        try:
            return await MessageBus(bus_address=self.bus_address, bus_type=BusType.SYSTEM).connect()
        except (OSError, EOFError, ValueError) as exc:
            raise SourceError(
                f"cannot connect to {where} to watch systemd units: {exc}; "
                "check that dbus is running (systemctl status dbus.socket)"
            ) from exc
        except Exception as exc:  # dbus-fast raises its own AuthError and friends
            raise SourceError(f"cannot connect to {where} to watch systemd units: {exc}") from exc


async def _call(
    bus: Any,
    destination: str,
    path: str,
    interface: str,
    member: str,
    signature: str,
    body: list[Any],
) -> list[Any]:
    from dbus_fast import Message, MessageType

    reply = await bus.call(
        Message(
            destination=destination,
            path=path,
            interface=interface,
            member=member,
            signature=signature,
            body=body,
        )
    )
    if reply is None or reply.message_type == MessageType.ERROR:
        detail = reply.body[0] if reply is not None and reply.body else "no reply"
        name = reply.error_name if reply is not None else ""
        raise SourceError(f"systemd refused {interface}.{member}: {name} {detail}".strip())
    return list(reply.body)


async def _list_units(bus: Any) -> dict[str, UnitState]:
    """Every loaded unit's state (``Manager.ListUnits``)."""
    (units,) = await _call(bus, SYSTEMD, MANAGER_PATH, MANAGER, "ListUnits", "", [])
    # (name, description, load, active, sub, following, path, job id, job type, job path)
    return {str(u[0]): UnitState(str(u[3]), str(u[4])) for u in units}


async def _result(bus: Any, path: str, unit: str) -> str:
    """The ``Result`` property of a unit, or ``""`` when its type has none."""
    interface = _RESULT_INTERFACES.get(unit.rsplit(".", 1)[-1])
    if interface is None:
        return ""
    with contextlib.suppress(SourceError):
        (value,) = await _call(bus, SYSTEMD, path, PROPERTIES, "Get", "ss", [interface, "Result"])
        return str(value.value)
    return ""


def _run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion, also from inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        result: T = asyncio.run(coroutine)
        return result
    box: dict[str, Any] = {}

    def worker() -> None:
        try:
            box["value"] = asyncio.run(coroutine)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=worker, name="hf-agent-units-read")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value
