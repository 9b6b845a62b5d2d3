"""The service on the bus: authorise each call, run it in a worker thread, reply.

Every call to ``org.huggingface.Agent1`` goes through :meth:`Daemon._on_message`
(a low-level handler that sees the sender and the allow-interactive flag),
then polkit for the method's action, and only then are its arguments looked at.
Library work runs in a thread pool so that the bus loop keeps answering other
callers (and the watchdog) while an analysis reads a large log.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import os
import signal
from collections.abc import Callable
from typing import Any, Final
from xml.sax.saxutils import quoteattr

from dbus_fast import (
    BusType,
    Message,
    MessageFlag,
    MessageType,
    NameFlag,
    RequestNameReply,
)
from dbus_fast.aio import MessageBus
from dbus_fast.introspection import Method

from libhfagent import Config, ConfigError, HFAgentError
from libhfagent.daemon._engine import Engine, named

from ._api import ACTIONS, BUS_NAME, INTERFACE, OBJECT_PATH, check_interface, load_interface
from ._auth import Authorizer, Denied
from ._convert import to_vardict
from ._methods import HANDLERS, WANTS_CALLER, Context, Result, state_for

__all__ = ["Daemon", "notify"]

log = logging.getLogger("hf_agentd")

INVALID_ARGS: Final = "org.freedesktop.DBus.Error.InvalidArgs"
FAILED: Final = "org.huggingface.Agent1.Error.Failed"
_INTROSPECTABLE: Final = "org.freedesktop.DBus.Introspectable"
_STANDARD_XML: Final = """\
  <interface name="org.freedesktop.DBus.Introspectable">
    <method name="Introspect"><arg name="xml" type="s" direction="out"/></method>
  </interface>
  <interface name="org.freedesktop.DBus.Peer">
    <method name="Ping"/>
    <method name="GetMachineId"><arg name="machine_uuid" type="s" direction="out"/></method>
  </interface>
"""


def notify(state: str) -> None:
    """Tell systemd (``sd_notify``) when started by it; nothing otherwise."""
    if not os.environ.get("NOTIFY_SOCKET"):
        return
    from systemd import daemon

    daemon.notify(state)


class _RetryingSocket:
    """The bus socket, whose ``send`` reports 0 bytes sent when the buffer is full.

    dbus-fast 5's writer takes EAGAIN on its non-blocking socket for a lost
    connection (python-dbus-next#153, still so in dbus-fast 5.2): with a few
    hundred callers at once the service dropped off the bus. Told "0 bytes
    sent", the writer waits until the socket is writable and tries again.
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock

    def send(self, data: Any) -> int:
        try:
            return int(self._sock.send(data))
        except BlockingIOError:
            return 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _retry_full_socket(bus: MessageBus) -> None:
    writer = getattr(bus, "_writer", None)
    if writer is not None and hasattr(writer, "sock"):
        writer.sock = _RetryingSocket(writer.sock)


class Daemon:
    """``org.huggingface.Agent`` on a bus, serving the library through :class:`Context`.

    Args:
        context: The configuration, agent and start time the methods share.
        bus_type: The system bus (the product) or the session bus (development).
        bus_address: Connect here instead of the ``bus_type``'s usual address.
        workers: Threads running library calls.
        engine: Run the agent's engine (follow the sources, learn, runbooks, alerts,
            scheduled jobs) on the same loop, its notices sent as the interface's
            signals; without it, only the methods are served.

    Raises:
        InterfaceError: A method of the interface has no polkit action or no implementation.
    """

    def __init__(
        self,
        context: Context,
        *,
        bus_type: BusType = BusType.SYSTEM,
        bus_address: str | None = None,
        workers: int = 4,
        engine: bool = True,
    ) -> None:
        interface = load_interface()
        check_interface(interface, ACTIONS, HANDLERS)
        self._methods: dict[str, Method] = {m.name: m for m in interface.methods}
        self._signals = {s.name: s.signature for s in interface.signals}
        self._context = context
        self._bus_type = bus_type
        self._bus_address = bus_address
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="hfa")
        self._tasks: set[asyncio.Task[None]] = set()
        self._bus: MessageBus | None = None
        self._authorizer: Authorizer | None = None
        self._stop = asyncio.Event()
        self._with_engine = engine
        self.engine: Engine | None = None
        self.engine_error = ""
        self.calls = 0
        self.denied = 0

    async def run(self) -> None:
        """Connect, take the bus name, tell systemd, serve until SIGTERM/SIGINT or bus loss.

        Raises:
            RuntimeError: The bus name is owned by another process.
        """
        loop = asyncio.get_running_loop()
        if self._with_engine:  # built before the name is taken: READY means ready
            self.engine = await loop.run_in_executor(
                self._pool,
                functools.partial(
                    Engine, self._context.state.config, listeners=[self._on_engine_notice]
                ),
            )
        bus = MessageBus(bus_address=self._bus_address, bus_type=self._bus_type)
        await bus.connect()
        _retry_full_socket(bus)
        self._bus, self._authorizer = bus, Authorizer(bus)
        bus.add_message_handler(self._on_message)
        reply = await bus.request_name(BUS_NAME, NameFlag.DO_NOT_QUEUE)
        if reply is not RequestNameReply.PRIMARY_OWNER:
            bus.disconnect()
            raise RuntimeError(f"the bus name {BUS_NAME} is already owned by another process")
        for signum, action in (
            (signal.SIGTERM, self._stop.set),
            (signal.SIGINT, self._stop.set),
            (signal.SIGHUP, self._reload_on_signal),
        ):
            loop.add_signal_handler(signum, action)
        watchdog = asyncio.ensure_future(self._watchdog())
        lost = asyncio.ensure_future(bus.wait_for_disconnect())  # type: ignore[no-untyped-call]
        stopped = asyncio.ensure_future(self._stop.wait())
        waited = {lost, stopped}
        engine_task = None
        if self.engine is not None:
            engine_task = asyncio.ensure_future(self.engine.run())
            waited.add(engine_task)
        log.info("serving %s on %s", BUS_NAME, bus.unique_name)
        notify(f"READY=1\nSTATUS={self._status()}")
        try:
            await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
            if engine_task is not None and engine_task.done():
                engine_task.result()  # the engine's failure is the service's
                raise RuntimeError("the engine stopped")
            if not stopped.done():
                raise RuntimeError("the bus connection was lost")
        finally:
            notify("STOPPING=1\nSTATUS=Stopping")
            if self.engine is not None and engine_task is not None and not engine_task.done():
                self.engine.stop()  # jobs finish, offsets and the Learner's state are saved
                await asyncio.wait({engine_task})
            for fut in (watchdog, lost, stopped):
                fut.cancel()
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(signum)
            if self._tasks:  # let calls in flight reply, a little while
                await asyncio.wait(set(self._tasks), timeout=5)
            bus.disconnect()
            self._pool.shutdown(wait=False, cancel_futures=True)

    def stop(self) -> None:
        """Ask :meth:`run` to return."""
        self._stop.set()

    def emit(self, name: str, *body: Any) -> None:
        """Send one of the interface's signals (``EventDetected``, ``PlanExecuted`` …).

        Raises:
            KeyError: The interface declares no such signal.
        """
        signature = self._signals[name]
        if self._bus is not None:
            self._bus.send(Message.new_signal(OBJECT_PATH, INTERFACE, name, signature, list(body)))

    def _on_engine_notice(self, name: str, body: Any) -> None:
        """The engine's notices as the interface's signals."""
        if name == "PlanExecuted":
            rest = {k: v for k, v in body.items() if k != "plan_id"}
            self.emit(name, str(body.get("plan_id", "")), to_vardict(rest))
        else:
            self.emit(name, to_vardict(body))

    # -- the bus side ----------------------------------------------------------------------

    def _on_message(self, msg: Message) -> Message | bool:
        if msg.message_type is not MessageType.METHOD_CALL:
            return False
        if msg.interface == _INTROSPECTABLE and msg.member == "Introspect":
            return self._introspect(msg)
        if msg.path != OBJECT_PATH or msg.interface not in (INTERFACE, None):
            return False
        if msg.member not in self._methods:
            if msg.interface is None:
                return False  # perhaps Peer.Ping without an interface: dbus-fast answers
            return Message.new_error(
                msg,
                "org.freedesktop.DBus.Error.UnknownMethod",
                f"{INTERFACE} has no method {msg.member}",
            )
        task = asyncio.ensure_future(self._handle(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _handle(self, msg: Message) -> None:
        self.calls += 1
        method = self._methods[msg.member or ""]
        try:
            reply = await self._call(msg, method)
        except Denied as exc:
            self.denied += 1
            log.info("%s.%s from %s: %s", INTERFACE, msg.member, msg.sender, exc.text)
            reply = Message.new_error(msg, exc.name, exc.text)
        except HFAgentError as exc:
            reply = Message.new_error(msg, exc.dbus_name, str(exc))
        except Exception as exc:  # a bug: the journal gets the traceback, the caller does not
            log.exception("%s.%s failed", INTERFACE, msg.member)
            reply = Message.new_error(
                msg,
                FAILED,
                f"{msg.member}: internal error ({type(exc).__name__}); "
                "the service's journal has the details",
            )
        if self._bus is not None and not msg.flags & MessageFlag.NO_REPLY_EXPECTED:
            with contextlib.suppress(Exception):  # the caller may be gone
                self._bus.send(reply)

    async def _call(self, msg: Message, method: Method) -> Message:
        if self._authorizer is None:  # not connected: cannot happen once run() serves
            raise Denied(FAILED, "the service is not connected")
        interactive = bool(msg.flags & MessageFlag.ALLOW_INTERACTIVE_AUTHORIZATION)
        # Authorisation comes before the arguments are even looked at.
        uid = await self._authorizer.check(msg.sender or "", ACTIONS[method.name], interactive)
        if msg.signature != method.in_signature:
            raise Denied(
                INVALID_ARGS,
                f"{method.name} takes ({method.in_signature}), got ({msg.signature})",
            )
        if method.name == "Reload":
            await self._reload(strict=True)
            return Message.new_method_return(msg, "", [])
        handler: Callable[..., Result] = HANDLERS[method.name]
        if method.name in WANTS_CALLER:  # recorded in the audit log as the actor
            handler = functools.partial(handler, caller={"uid": uid, "bus_name": msg.sender or ""})
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._pool, handler, self._context, *msg.body)
        if method.name == "Execute" and isinstance(result, dict):
            outcome = {k: v.value for k, v in result.items()}
            self._on_engine_notice("PlanExecuted", {"plan_id": msg.body[0], **outcome})
        body = [] if method.out_signature == "" else [result]
        return Message.new_method_return(msg, method.out_signature, body)

    def _introspect(self, msg: Message) -> Message | bool:
        path = msg.path or "/"
        if path == OBJECT_PATH:
            from ._api import interface_xml

            xml = interface_xml()
            head, _, tail = xml.rpartition("</node>")
            return Message.new_method_return(msg, "s", [head + _STANDARD_XML + "</node>" + tail])
        prefix = path.rstrip("/") + "/"
        if not OBJECT_PATH.startswith(prefix):
            return False
        child = OBJECT_PATH[len(prefix) :].split("/")[0]
        xml = f"<node>\n{_STANDARD_XML}  <node name={quoteattr(child)}/>\n</node>\n"
        return Message.new_method_return(msg, "s", [xml])

    # -- systemd ---------------------------------------------------------------------------

    def _status(self) -> str:
        served = f"Serving {INTERFACE}: {self.calls} calls, {self.denied} denied"
        return served + (f"; {self.engine.status()}" if self.engine is not None else "")

    async def _watchdog(self) -> None:
        """Ping systemd's watchdog from the bus loop: a stuck loop stops the pings."""
        usec = os.environ.get("WATCHDOG_USEC")
        pid = os.environ.get("WATCHDOG_PID")
        interval = int(usec) / 2e6 if usec and usec.isdigit() and int(usec) > 0 else 30.0
        watched = usec is not None and (pid is None or pid == str(os.getpid()))
        while True:
            notify(("WATCHDOG=1\n" if watched else "") + f"STATUS={self._status()}")
            await asyncio.sleep(interval)

    def _reload_on_signal(self) -> None:
        task = asyncio.ensure_future(self._reload())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reload(self, *, strict: bool = False) -> None:
        """Re-read the configuration; a broken one is refused and the old one stays.

        Raises:
            HFAgentError: With ``strict``, when the configuration is refused.
        """
        notify("RELOADING=1")
        loop = asyncio.get_running_loop()
        try:
            config = await loop.run_in_executor(self._pool, Config.load, self._context.config_path)
            state = await loop.run_in_executor(self._pool, state_for, config)
            if self.engine is not None:  # refuses (raises) before anything changed
                parts = await loop.run_in_executor(self._pool, self.engine.prepare, config)
                self.engine.swap(parts)
            self._context.state = state
            self.engine_error = ""
            log.info("configuration reloaded from %s", config.origin or "built-in defaults")
        except HFAgentError as exc:
            why = named(exc)  # the file, as the CLI's errors name it
            self.engine_error = f"reload refused, the previous configuration stays: {why}"
            log.error("%s", self.engine_error)
            if self.engine is not None:
                self.engine.last_error = self.engine_error
            if strict:
                if isinstance(exc, ConfigError) and why != str(exc):
                    raise ConfigError(why, key=exc.key, line=exc.line, origin=exc.origin) from exc
                raise
        finally:
            notify(f"READY=1\nSTATUS={self._status()}")
