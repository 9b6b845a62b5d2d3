"""systemd over D-Bus (org.freedesktop.systemd1): unit states and jobs, awaited."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import attrs

from .._errors import ExecutionError

__all__ = ["Systemd", "UnitState", "parse_systemctl_show"]

_DEST = "org.freedesktop.systemd1"
_PATH = "/org/freedesktop/systemd1"
_MANAGER = "org.freedesktop.systemd1.Manager"
_UNIT = "org.freedesktop.systemd1.Unit"
_VERBS = {
    "start": "StartUnit",
    "stop": "StopUnit",
    "restart": "RestartUnit",
    "reload": "ReloadUnit",
}
#: Properties naming the units that depend on a unit.
_DEPENDENTS = ("RequiredBy", "RequisiteOf", "WantedBy", "BoundBy", "PartOf")


@attrs.frozen
class UnitState:
    """What systemd says of a unit.

    Attributes:
        name: The unit name.
        load_state: ``loaded``, ``not-found``…
        active_state: ``active``, ``inactive``, ``failed``…
        sub_state: ``running``, ``dead``, ``exited``…
        unit_file_state: ``enabled``, ``disabled``, ``static``… (empty when unknown).
        dependents: Units that require, want or are bound to it.
    """

    name: str
    load_state: str
    active_state: str
    sub_state: str
    unit_file_state: str = ""
    dependents: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**attrs.asdict(self), "dependents": list(self.dependents)}


def _state(name: str, props: Mapping[str, Any]) -> UnitState:
    deps: list[str] = []
    for key in ("RequiredBy", "RequisiteOf", "WantedBy", "BoundBy"):
        value = props.get(key) or []
        deps.extend(value.split() if isinstance(value, str) else value)
    return UnitState(
        name=name,
        load_state=str(props.get("LoadState", "")),
        active_state=str(props.get("ActiveState", "")),
        sub_state=str(props.get("SubState", "")),
        unit_file_state=str(props.get("UnitFileState", "")),
        dependents=tuple(sorted(set(deps))),
    )


def parse_systemctl_show(name: str, text: str) -> UnitState:
    """A unit's state from ``systemctl show -p …`` output (``Key=value`` lines)."""
    props: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            props[key] = value
    return _state(props.get("Id", name), props)


class Systemd:
    """The systemd manager on the system bus (``$DBUS_SYSTEM_BUS_ADDRESS`` is honoured).

    Args:
        address: A D-Bus address to use instead of the system bus.
        timeout: Seconds to wait for a job to finish.
    """

    def __init__(self, address: str | None = None, *, timeout: float = 90.0) -> None:
        self._address = address
        self._timeout = timeout

    async def _connect(self) -> Any:
        from dbus_fast import BusType
        from dbus_fast.aio import MessageBus

        try:
            if self._address:
                return await MessageBus(bus_address=self._address).connect()
            return await MessageBus(bus_type=BusType.SYSTEM).connect()
        except (OSError, ValueError) as exc:
            raise ExecutionError(
                f"systemd: cannot reach the system bus ({exc}); is dbus running?"
            ) from exc

    @staticmethod
    async def _call(bus: Any, path: str, iface: str, member: str, sig: str, body: list[Any]) -> Any:
        from dbus_fast import Message, MessageType

        reply = await bus.call(
            Message(
                destination=_DEST,
                path=path,
                interface=iface,
                member=member,
                signature=sig,
                body=body,
            )
        )
        if reply.message_type == MessageType.ERROR:
            detail = reply.body[0] if reply.body else ""
            raise ExecutionError(f"systemd: {member}: {reply.error_name}: {detail}")
        return reply.body

    async def _unit_state(self, bus: Any, unit: str) -> UnitState:
        (path,) = await self._call(bus, _PATH, _MANAGER, "LoadUnit", "s", [unit])
        (props,) = await self._call(
            bus, path, "org.freedesktop.DBus.Properties", "GetAll", "s", [_UNIT]
        )
        return _state(unit, {k: v.value for k, v in props.items()})

    def unit_state(self, unit: str) -> UnitState:
        """The unit's state and dependents.

        Raises:
            ExecutionError: systemd cannot be reached.
        """

        async def go() -> UnitState:
            bus = await self._connect()
            try:
                return await self._unit_state(bus, unit)
            finally:
                bus.disconnect()

        return asyncio.run(go())

    def job(self, verb: str, unit: str) -> str:
        """Start, stop, restart or reload a unit and wait for its job; returns the job's result.

        Returns:
            ``done``, ``failed``, ``canceled``, ``timeout``, ``dependency`` or ``skipped``.

        Raises:
            ExecutionError: systemd refused the job or did not finish it in time.
        """
        from dbus_fast import Message, MessageType

        async def go() -> str:
            bus = await self._connect()
            finished: dict[str, str] = {}
            event = asyncio.Event()

            def on_message(msg: Any) -> None:
                if msg.message_type == MessageType.SIGNAL and msg.member == "JobRemoved":
                    _id, job, _unit, result = msg.body
                    finished[job] = result
                    event.set()

            try:
                bus.add_message_handler(on_message)
                await bus.call(
                    Message(
                        destination="org.freedesktop.DBus",
                        path="/org/freedesktop/DBus",
                        interface="org.freedesktop.DBus",
                        member="AddMatch",
                        signature="s",
                        body=[f"type='signal',interface='{_MANAGER}',member='JobRemoved'"],
                    )
                )
                await self._call(bus, _PATH, _MANAGER, "Subscribe", "", [])
                (job,) = await self._call(
                    bus, _PATH, _MANAGER, _VERBS[verb], "ss", [unit, "replace"]
                )
                loop = asyncio.get_running_loop()
                deadline = loop.time() + self._timeout
                while job not in finished:
                    event.clear()
                    left = deadline - loop.time()
                    if left <= 0:
                        raise ExecutionError(
                            f"systemd: the {verb} job of {unit} did not finish within "
                            f"{self._timeout:g} s"
                        )
                    try:
                        await asyncio.wait_for(event.wait(), left)
                    except TimeoutError:
                        continue
                return finished[job]
            finally:
                bus.disconnect()

        return asyncio.run(go())
