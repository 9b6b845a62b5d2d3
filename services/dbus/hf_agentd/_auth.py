"""Who is calling, and may they: the caller's uid from the bus, then polkit's verdict."""

from __future__ import annotations

import asyncio
from typing import Final

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

__all__ = ["INTERACTIVE_REQUIRED", "NOT_AUTHORIZED", "Authorizer", "Denied"]

NOT_AUTHORIZED: Final = "org.huggingface.Agent1.Error.NotAuthorized"
INTERACTIVE_REQUIRED: Final = "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"

_POLKIT: Final = "org.freedesktop.PolicyKit1"
_POLKIT_PATH: Final = "/org/freedesktop/PolicyKit1/Authority"
_POLKIT_IFACE: Final = "org.freedesktop.PolicyKit1.Authority"
_ALLOW_USER_INTERACTION: Final = 1

#: How long polkit may take: a quick check, or one where a person types a password.
_TIMEOUT: Final = 25.0
_INTERACTIVE_TIMEOUT: Final = 300.0


class Denied(Exception):
    """The caller may not run the method; carries the D-Bus error to reply with.

    Attributes:
        name: The D-Bus error name.
        text: The message, for a person.
    """

    def __init__(self, name: str, text: str) -> None:
        super().__init__(text)
        self.name = name
        self.text = text


class Authorizer:
    """Authorises method calls through polkit, for the calling bus name.

    Root is allowed without asking polkit. When polkit cannot be reached, or
    answers with an error, the call is denied.

    Args:
        bus: The service's bus connection.
    """

    def __init__(self, bus: MessageBus) -> None:
        self._bus = bus

    async def check(self, sender: str, action: str, interactive: bool) -> int:
        """Allow the call or raise :class:`Denied`.

        Args:
            sender: The caller's unique bus name.
            action: The polkit action id the method needs.
            interactive: Whether the caller allowed interactive authorisation.

        Returns:
            The caller's uid.

        Raises:
            Denied: With the D-Bus error to send back.
        """
        uid = await self._uid(sender)
        if uid == 0:
            return uid
        request = Message(
            destination=_POLKIT,
            path=_POLKIT_PATH,
            interface=_POLKIT_IFACE,
            member="CheckAuthorization",
            signature="(sa{sv})sa{ss}us",
            body=[
                ["system-bus-name", {"name": Variant("s", sender)}],
                action,
                {},
                _ALLOW_USER_INTERACTION if interactive else 0,
                "",
            ],
        )
        timeout = _INTERACTIVE_TIMEOUT if interactive else _TIMEOUT
        try:
            reply = await asyncio.wait_for(self._bus.call(request), timeout)
        except (TimeoutError, OSError, EOFError) as exc:
            raise Denied(
                NOT_AUTHORIZED, f"{action}: polkit did not answer ({type(exc).__name__}); denied"
            ) from None
        if reply.message_type is MessageType.ERROR or reply.signature != "(bba{ss})":
            reason = reply.error_name or f"reply of type {reply.signature!r}"
            raise Denied(
                NOT_AUTHORIZED,
                f"{action}: polkit cannot be reached ({reason}); only root may call",
            )
        authorized, challenge, _details = reply.body[0]
        if authorized:
            return uid
        if challenge and not interactive:
            raise Denied(
                INTERACTIVE_REQUIRED,
                f"{action}: authentication is required; call again allowing interactive "
                "authorization (busctl --allow-interactive-authorization=yes, or hfa-query "
                "on a terminal)",
            )
        raise Denied(NOT_AUTHORIZED, f"{action}: not authorized (uid {uid})")

    async def _uid(self, sender: str) -> int:
        reply = await self._bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member="GetConnectionUnixUser",
                signature="s",
                body=[sender],
            )
        )
        if reply.message_type is MessageType.ERROR or reply.signature != "u":
            raise Denied(NOT_AUTHORIZED, "the caller's identity cannot be established; denied")
        return int(reply.body[0])
