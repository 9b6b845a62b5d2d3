"""Fuzzing hf-agentd's methods on a real bus: wrong signatures, odd values, huge strings.

Every call gets a method return or a documented error (never the internal-error
reply, never a traceback), and the service answers normally afterwards.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from dbus_fast import Message, MessageFlag, MessageType, Variant
from dbus_fast.aio import MessageBus
from test_dbus_service import IFACE, NAME, PATH, agent_bus, write_agent_config

from libhfagent.testing._bus import PrivateSystemBus

pytestmark = pytest.mark.system

#: What bad input may get back: argument errors, or the part that is not built yet.
EXPECTED_ERRORS = {
    "org.freedesktop.DBus.Error.InvalidArgs",
    "org.huggingface.Agent1.Error.InvalidArgument",
    "org.huggingface.Agent1.Error.NotSupported",
    "org.freedesktop.DBus.Error.UnknownMethod",
}
METHODS = [
    "Interpret",
    "GetStatus",
    "Analyze",
    "Ask",
    "Execute",
    "ListSuggestions",
    "ReplySuggestion",
    "ReadAudit",
    "VerifyAudit",
]


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateSystemBus]:
    if not PrivateSystemBus.available():
        pytest.skip("needs root, dbus-daemon and polkitd")
    directory = tmp_path_factory.mktemp("fuzz")
    with agent_bus(directory, write_agent_config(directory)) as private:
        yield private


def random_text(rng: random.Random, size: int) -> str:
    alphabet = "abcdefghij nginx404/ééà€\u200b\U0001f600\t\n'\"$;|&`"
    return "".join(rng.choice(alphabet) for _ in range(size))


def random_variant(rng: random.Random, depth: int = 0) -> Variant:
    kind = rng.choice(["s", "i", "u", "x", "t", "d", "b", "as", "ay", "a{sv}", "v", "(si)", "ax"])
    if depth > 3 and kind in ("a{sv}", "v"):
        kind = "s"
    value: Any
    if kind == "s":
        value = random_text(rng, rng.randrange(0, 40))
    elif kind in ("i", "x"):
        value = rng.randrange(-(2**31), 2**31)
    elif kind in ("u", "t"):
        value = rng.randrange(0, 2**32)
    elif kind == "d":
        value = rng.choice([0.0, -1.0, 1e308, float("inf"), float("nan"), 3.5])
    elif kind == "b":
        value = rng.random() < 0.5
    elif kind == "as":
        value = [random_text(rng, 5) for _ in range(rng.randrange(4))]
    elif kind == "ay":
        value = bytes(rng.randrange(256) for _ in range(8))
    elif kind == "a{sv}":
        value = random_options(rng, depth + 1)
    elif kind == "v":
        value = random_variant(rng, depth + 1)
    elif kind == "(si)":
        value = [random_text(rng, 3), rng.randrange(100)]
    else:
        value = [rng.randrange(-5, 5) for _ in range(3)]
    return Variant(kind, value)


OPTION_KEYS = ["since", "status", "lang", "top", "max_retry", "find_time", "metric", "x", ""]


def random_options(rng: random.Random, depth: int = 0) -> dict[str, Variant]:
    return {rng.choice(OPTION_KEYS): random_variant(rng, depth) for _ in range(rng.randrange(4))}


def random_call(rng: random.Random) -> tuple[str, str, list[Any]]:
    """A method with arguments that may or may not match its signature."""
    method = rng.choice(METHODS)
    text = rng.choice(
        [
            random_text(rng, rng.randrange(0, 60)),
            "nginx",
            "auth",
            "system",
            "/etc/shadow",
            "../../etc/passwd",
            "summarize the 404 errors of nginx",
            "",
        ]
    )
    shapes: list[tuple[str, list[Any]]] = [
        ("sa{sv}", [text, random_options(rng)]),
        ("a{sv}", [random_options(rng)]),
        ("ss", [text, random_text(rng, 5)]),
        ("", []),
        ("s", [text]),
        ("i", [rng.randrange(100)]),
        ("as", [[text]]),
        ("v", [random_variant(rng)]),
        ("ay", [b"\x00\xff"]),
        ("a{sv}s", [random_options(rng), text]),
    ]
    signature, body = rng.choice(shapes)
    return method, signature, body


async def call_all(address: str, calls: list[tuple[str, str, list[Any], int]]) -> list[Message]:
    client = await MessageBus(bus_address=address).connect()
    try:
        return [
            await client.call(
                Message(
                    destination=NAME,
                    path=PATH,
                    interface=IFACE if flags >= 0 else None,
                    member=member,
                    signature=signature,
                    body=body,
                    flags=MessageFlag(max(flags, 0)),
                )
            )
            for member, signature, body, flags in calls
        ]
    finally:
        client.disconnect()


def check_replies(replies: list[Message]) -> None:
    for reply in replies:
        if reply.message_type is MessageType.ERROR:
            assert reply.error_name in EXPECTED_ERRORS, (reply.error_name, reply.body)
            text = reply.body[0]
            assert "Traceback" not in text and "internal error" not in text, text


def status_ok(bus: PrivateSystemBus) -> bool:
    reply = bus.call(NAME, PATH, IFACE, "GetStatus")
    return reply.error is None and reply.body[0]["health"] == "ok"


def test_random_calls(bus: PrivateSystemBus) -> None:
    rng = random.Random(20240611)
    calls = [(*random_call(rng), 0) for _ in range(400)]
    replies = asyncio.run(call_all(bus.address, calls))
    check_replies(replies)
    kinds = {r.error_name or "return" for r in replies}
    assert kinds >= {
        "return",
        "org.freedesktop.DBus.Error.InvalidArgs",
        "org.huggingface.Agent1.Error.InvalidArgument",
    }
    assert status_ok(bus)


def test_huge_and_odd_arguments(bus: PrivateSystemBus) -> None:
    huge = "x" * 4_000_000
    deep: Variant = Variant("s", "bottom")
    for _ in range(30):
        deep = Variant("v", deep)
    calls = [
        ("Interpret", "sa{sv}", [huge, {}], 0),
        ("Ask", "sa{sv}", ["nginx " * 100_000, {}], 0),
        ("Analyze", "sa{sv}", ["/" + "a" * 1_000_000, {}], 0),
        ("Analyze", "sa{sv}", ["nginx", {"k" * 100_000: Variant("s", "v")}], 0),
        ("Analyze", "sa{sv}", ["nginx", {"since": deep}], 0),
        ("Analyze", "sa{sv}", ["nginx", {"since": Variant("d", float("nan"))}], 0),
        ("Analyze", "sa{sv}", ["nginx", {"since": Variant("t", 2**64 - 1)}], 0),
        ("Analyze", "sa{sv}", ["nginx", {"status": Variant("x", -(2**63))}], 0),
        ("Analyze", "sa{sv}", ["nginx", {"top": Variant("i", -1)}], 0),
        ("Interpret", "sa{sv}", ["\x00" * 0 + "\u202e\ufeff", {}], 0),
        ("ReplySuggestion", "ss", ["", huge], 0),
        ("Interpret", "sa{sv}", ["restart nginx", {}], -1),  # no interface field
        ("NoSuchMethod", "", [], 0),
    ]
    replies = asyncio.run(call_all(bus.address, calls))
    check_replies(replies)
    assert replies[0].error_name == "org.huggingface.Agent1.Error.InvalidArgument"
    assert "at most 4096" in replies[0].body[0]
    assert replies[11].message_type is MessageType.METHOD_RETURN
    assert status_ok(bus)


def test_calls_without_reply_and_clients_that_leave(bus: PrivateSystemBus) -> None:
    async def scenario() -> None:
        client = await MessageBus(bus_address=bus.address).connect()
        for _ in range(50):
            client.send(
                Message(
                    destination=NAME,
                    path=PATH,
                    interface=IFACE,
                    member="Analyze",
                    signature="sa{sv}",
                    body=["nginx", {}],
                    flags=MessageFlag.NO_REPLY_EXPECTED,
                )
            )
        # Leave with calls in flight.
        client.send(
            Message(
                destination=NAME,
                path=PATH,
                interface=IFACE,
                member="Ask",
                signature="sa{sv}",
                body=["summarize the nginx logs", {}],
            )
        )
        client.disconnect()

    asyncio.run(scenario())
    assert status_ok(bus)


def _wire(message: Message) -> bytes:
    return bytes(message._marshall(False))


def _raw_client(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(path)
    sock.sendall(b"\0AUTH EXTERNAL " + b"0".hex().encode() + b"\r\n")
    assert sock.recv(4096).startswith(b"OK ")
    sock.sendall(b"BEGIN\r\n")
    hello = Message(
        destination="org.freedesktop.DBus",
        path="/org/freedesktop/DBus",
        interface="org.freedesktop.DBus",
        member="Hello",
        serial=1,
    )
    sock.sendall(_wire(hello))
    return sock


@pytest.mark.parametrize("where", ["request", "option key", "option value"])
def test_invalid_utf8_on_the_wire(bus: PrivateSystemBus, where: str) -> None:
    marker = "QQQQQQQQ"
    body: list[Any] = {
        "request": [marker, {}],
        "option key": ["nginx", {marker: Variant("s", "x")}],
        "option value": ["nginx", {"lang": Variant("s", marker)}],
    }[where]
    wire = _wire(
        Message(
            destination=NAME,
            path=PATH,
            interface=IFACE,
            member="Interpret" if where == "request" else "Analyze",
            signature="sa{sv}",
            body=body,
            serial=2,
        )
    )
    assert wire.count(marker.encode()) == 1
    bad = wire.replace(marker.encode(), b"\xff\xfe\xc3\x28\xed\xa0\x80\xc0")
    assert struct.unpack_from("<I", bad, 4)[0] == struct.unpack_from("<I", wire, 4)[0]
    sock = _raw_client(bus.socket_path)
    try:
        sock.sendall(bad)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    finally:
        sock.close()
    # The bus validates UTF-8: it drops the sender (the read ends), and the service
    # never sees the message, so no reply of it comes back.
    assert b"Agent1.Error" not in received and b"a{sv}" not in received
    assert status_ok(bus)


def test_the_service_process_survived(bus: PrivateSystemBus) -> None:
    assert bus.has_owner(NAME)
    log = (bus.directory / "hf-agentd.log").read_text()
    assert "Traceback" not in log


def test_many_clients_at_once(bus: PrivateSystemBus) -> None:
    """200 connections calling together: every call answered, the service stays on the bus.

    (dbus-fast alone drops the connection when its socket buffer fills: see
    ``hf_agentd._daemon._RetryingSocket``.)
    """

    async def scenario() -> list[Message]:
        clients = [await MessageBus(bus_address=bus.address).connect() for _ in range(200)]
        try:
            replies = await asyncio.gather(
                *(
                    c.call(
                        Message(
                            destination=NAME,
                            path=PATH,
                            interface=IFACE,
                            member="Interpret",
                            signature="sa{sv}",
                            body=["summarize the 404 errors of nginx", {}],
                        )
                    )
                    for c in clients
                    for _ in range(10)
                )
            )
        finally:
            for c in clients:
                c.disconnect()
        return list(replies)

    replies = asyncio.run(scenario())
    assert len(replies) == 2000
    assert all(r.message_type is MessageType.METHOD_RETURN for r in replies)
    assert status_ok(bus)
