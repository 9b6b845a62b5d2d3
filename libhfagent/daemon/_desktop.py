"""Show one desktop notification on one session bus (org.freedesktop.Notifications).

A user's session bus accepts only that user: ``dbus-daemon --session`` refuses
even root (checked: the EXTERNAL authentication of uid 0 is rejected and the
connection closed). So:

- on a bus of the agent's own uid, :func:`notify` calls the server with dbus-fast;
- on another user's bus, :func:`notify_as` runs ``busctl`` (package ``systemd``)
  as that user (``subprocess`` with ``user=``, ``group=``, no supplementary
  groups): a small C client, so no Python interpreter, module path or agent state
  has to be reachable by the user, and it starts in a few milliseconds.

Both escape the body when the server interprets markup in it (the
``body-markup`` capability), so it shows as written.

The notification is a mapping: ``summary``, ``body``, ``urgency`` (0 low,
1 normal, 2 critical), ``app_name``, ``expire_timeout`` (ms; -1 the server's
default, 0 never), optional ``category``.
"""

from __future__ import annotations

import asyncio
import html
import json
import shutil
from collections.abc import Mapping, Sequence
from typing import Any, Final

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

__all__ = ["NotifyError", "busctl_args", "notify", "notify_as"]

_NAME: Final = "org.freedesktop.Notifications"
_PATH: Final = "/org/freedesktop/Notifications"


class NotifyError(RuntimeError):
    """The notification server or the bus refused or did not answer."""


def _fields(note: Mapping[str, Any], caps: Sequence[str]) -> tuple[str, str, str, int, int, str]:
    body = str(note.get("body", ""))
    if "body-markup" in caps:
        body = html.escape(body, quote=False)
    return (
        str(note.get("app_name", "hf-agent")),
        str(note.get("summary", "")),
        body,
        int(note.get("urgency", 1)),
        int(note.get("expire_timeout", -1)),
        str(note.get("category", "")),
    )


async def _call(bus: MessageBus, member: str, signature: str = "", body: Any = ()) -> list[Any]:
    reply = await bus.call(
        Message(
            destination=_NAME,
            path=_PATH,
            interface=_NAME,
            member=member,
            signature=signature,
            body=list(body),
        )
    )
    if reply is None:  # pragma: no cover - only for NO_REPLY_EXPECTED calls
        raise NotifyError(f"{member}: no reply")
    if reply.message_type == MessageType.ERROR:
        detail = f": {reply.body[0]}" if reply.body else ""
        raise NotifyError(f"{member}: {reply.error_name}{detail}")
    return list(reply.body)


async def notify(address: str, note: Mapping[str, Any], *, timeout: float = 10.0) -> int:
    """Show a notification on the bus at ``address``, connecting as the current user.

    Args:
        address: The bus address (``unix:path=/run/user/1000/bus``).
        note: The notification (see the module's documentation).
        timeout: Seconds for connecting and both calls together.

    Returns:
        The id the notification server gave it.

    Raises:
        NotifyError: The server replied with an error (nothing owns the name...).
        OSError: The bus cannot be reached or refused the connection.
        TimeoutError: The bus or the server did not answer in time.
    """
    async with asyncio.timeout(timeout):
        bus = await MessageBus(bus_address=address).connect()
        try:
            (caps,) = await _call(bus, "GetCapabilities")
            app, summary, body, urgency, expire, category = _fields(note, caps)
            hints = {"urgency": Variant("y", urgency)}
            if category:
                hints["category"] = Variant("s", category)
            (nid,) = await _call(
                bus,
                "Notify",
                "susssasa{sv}i",
                (app, 0, "", summary, body, [], hints, expire),
            )
            return int(nid)
        finally:
            bus.disconnect()


def busctl_args(
    address: str, note: Mapping[str, Any] | None, caps: Sequence[str] = (), timeout: float = 10
) -> list[str]:
    """The ``busctl`` command calling ``GetCapabilities`` (``note`` None) or ``Notify``."""
    head = [
        shutil.which("busctl") or "/usr/bin/busctl",
        f"--address={address}",
        "--json=short",
        f"--timeout={max(1, round(timeout))}",
        "--",  # a summary or body starting with "-" is not an option
        "call",
        _NAME,
        _PATH,
        _NAME,
    ]
    if note is None:
        return [*head, "GetCapabilities"]
    app, summary, body, urgency, expire, category = _fields(note, caps)
    hints = ["1", "urgency", "y", str(urgency)]
    if category:
        hints = ["2", "urgency", "y", str(urgency), "category", "s", category]
    # a{sv} is written as its count then key, type, value; as: its count then items.
    return [
        *(*head, "Notify", "susssasa{sv}i", app, "0", "", summary, body, "0"),
        *hints,
        str(expire),
    ]


async def _busctl(argv: list[str], user: int, group: int, timeout: float) -> Any:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        user=user,
        group=group,
        extra_groups=[],
        cwd="/",
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "SYSTEMD_LOG_LEVEL": "err"},
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout + 5)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise NotifyError(err.decode(errors="replace").strip() or f"busctl: exit {proc.returncode}")
    return json.loads(out)["data"]


async def notify_as(
    address: str, note: Mapping[str, Any], *, user: int, group: int, timeout: float = 10.0
) -> int:
    """Show a notification on the bus at ``address`` as ``user`` (needs root).

    Args:
        address: The bus address.
        note: The notification (see the module's documentation).
        user: The uid to connect as (the bus owner).
        group: The gid to connect as.
        timeout: Seconds for each of the two calls.

    Returns:
        The id the notification server gave it.

    Raises:
        NotifyError: busctl failed (its message says why).
        OSError: busctl could not be started as that user.
        TimeoutError: busctl did not finish in time.
    """
    (caps,) = await _busctl(busctl_args(address, None, timeout=timeout), user, group, timeout)
    (nid,) = await _busctl(busctl_args(address, note, caps, timeout), user, group, timeout)
    return int(nid)
