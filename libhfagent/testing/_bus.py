"""A real system bus and a real polkitd, private to a mount namespace, for D-Bus tests.

Nothing on the host changes: a holder process is started in a new mount namespace
(``unshare -m --propagation private``), and everything else happens inside it:

- a tmpfs over ``/run``, so the bus socket is ``/run/dbus/system_bus_socket`` as
  every client expects;
- copies of ``/usr/share/dbus-1/system.d``, ``/usr/share/polkit-1/actions`` and
  ``/etc/polkit-1/rules.d`` with the files under test added, bound over the originals;
- an empty folder over ``/usr/share/dbus-1/system-services``: nothing is
  bus-activated, so a stopped polkitd stays stopped;
- optionally, copies of ``/etc/passwd`` and ``/etc/group`` with extra users and groups;
- ``dbus-daemon --system`` and ``/usr/lib/polkit-1/polkitd``.

Commands run inside through ``nsenter --mount``, as root or dropped to another user
with ``setpriv``. Leaving the context kills, by pid, every process of the namespace.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import attrs

__all__ = ["BusError", "CallResult", "PrivateSystemBus"]

_SYSTEM_D: Final = "/usr/share/dbus-1/system.d"
_SERVICES: Final = "/usr/share/dbus-1/system-services"
_ACTIONS: Final = "/usr/share/polkit-1/actions"
_RULES: Final = "/etc/polkit-1/rules.d"
_POLKITD: Final = "/usr/lib/polkit-1/polkitd"
_POLKIT_NAME: Final = "org.freedesktop.PolicyKit1"
_SOCKET: Final = "/run/dbus/system_bus_socket"


class BusError(RuntimeError):
    """The private bus or polkitd could not be set up, started or reached."""


@attrs.frozen
class CallResult:
    """The reply to a method call made with :meth:`PrivateSystemBus.call`.

    Attributes:
        error: The D-Bus error name, or ``None`` for a method return.
        message: The error's message (empty for a method return).
        body: The reply's values, variants unwrapped to plain JSON values.
    """

    error: str | None
    message: str
    body: list[Any]


class PrivateSystemBus:
    """``dbus-daemon --system`` and ``polkitd`` in a private mount namespace.

    Use it as a context manager (root only)::

        with PrivateSystemBus(tmp_path, bus_policies=[conf], polkit_actions=[policy]) as bus:
            bus.start_service([sys.executable, "-m", "hf_agentd"], "org.huggingface.Agent")
            out = bus.run(["busctl", "call", ...], user=65534)

    Args:
        directory: An empty folder for the copies and the logs (``bus.log``, ``polkitd.log``).
        bus_policies: dbus-1 ``.conf`` files to add to ``system.d``.
        polkit_actions: polkit ``.policy`` files to add to the actions folder.
        polkit_rules: polkit ``.rules`` files to add to ``/etc/polkit-1/rules.d``.
        users: Extra users, name to uid (their primary group has the same name and id).
        groups: Extra groups, name to (gid, member names).
        polkit: Whether to start polkitd on entry.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        bus_policies: Iterable[str | os.PathLike[str]] = (),
        polkit_actions: Iterable[str | os.PathLike[str]] = (),
        polkit_rules: Iterable[str | os.PathLike[str]] = (),
        users: Mapping[str, int] | None = None,
        groups: Mapping[str, tuple[int, Sequence[str]]] | None = None,
        polkit: bool = True,
    ) -> None:
        self.directory = Path(directory)
        self._policies = [Path(p) for p in bus_policies]
        self._actions = [Path(p) for p in polkit_actions]
        self._rules = [Path(p) for p in polkit_rules]
        self._users = dict(users or {})
        self._groups = dict(groups or {})
        self._start_polkit = polkit
        self._holder: subprocess.Popen[bytes] | None = None
        self._bus: subprocess.Popen[bytes] | None = None
        self._polkit: subprocess.Popen[bytes] | None = None
        self._children: list[subprocess.Popen[Any]] = []

    @staticmethod
    def available() -> bool:
        """Whether this machine can run it: root, dbus-daemon, polkitd, unshare, nsenter."""
        tools = ("dbus-daemon", "unshare", "nsenter", "setpriv", "busctl")
        return (
            os.geteuid() == 0
            and all(shutil.which(t) for t in tools)
            and os.access(_POLKITD, os.X_OK)
        )

    # -- life cycle ------------------------------------------------------------------------

    def __enter__(self) -> Self:
        try:
            self._enter()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _enter(self) -> None:
        if not self.available():
            raise BusError("a private system bus needs root, dbus-daemon, polkitd and util-linux")
        self.directory.mkdir(parents=True, exist_ok=True)
        own_ns = os.stat("/proc/self/ns/mnt").st_ino
        self._holder = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sleep", "infinity"],
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while self._ns_inode() in (None, own_ns):
            if self._holder.poll() is not None or time.monotonic() > deadline:
                raise BusError("unshare could not make a mount namespace")
            time.sleep(0.005)
        self._mount(["-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run"])
        self._exec(["mkdir", "-p", "/run/dbus"])
        self._overlay_dir(_SYSTEM_D, self._policies, "system.d")
        self._overlay_dir(_ACTIONS, self._actions, "actions")
        self._overlay_dir(_RULES, self._rules, "rules.d")
        empty = self.directory / "system-services"
        empty.mkdir()
        self._mount(["--bind", str(empty), _SERVICES])
        if self._users or self._groups:
            self._add_accounts()
        with open(self.directory / "bus.log", "ab") as log:
            self._bus = subprocess.Popen(
                self.command(["dbus-daemon", "--system", "--nofork", "--nopidfile"]),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self._wait(lambda: os.path.exists(self.socket_path), "dbus-daemon", 30, self._bus)
        if self._start_polkit:
            self.start_polkit()

    def close(self) -> None:
        """Stop every process of the namespace (by pid), then the namespace."""
        for child in reversed(self._children):
            _terminate(child)
        self._children.clear()
        if self._polkit is not None:
            _terminate(self._polkit)
            self._polkit = None
        if self._bus is not None:
            _terminate(self._bus)
            self._bus = None
        inode = self._ns_inode()
        holder = self._holder
        if holder is not None and inode is not None:
            for pid in _pids_in_namespace(inode, exclude=holder.pid):
                _kill(pid)
        if holder is not None:
            _terminate(holder)
            self._holder = None

    # -- inside the namespace --------------------------------------------------------------

    @property
    def pid(self) -> int:
        """The pid of the process holding the namespace (for ``nsenter -t``)."""
        if self._holder is None:
            raise BusError("the private bus is not running")
        return self._holder.pid

    @property
    def socket_path(self) -> str:
        """The bus socket, reachable from outside the namespace (as root)."""
        return f"/proc/{self.pid}/root{_SOCKET}"

    @property
    def address(self) -> str:
        """The bus address for a client outside the namespace (as root)."""
        return f"unix:path={self.socket_path}"

    def command(self, argv: Sequence[str], user: int | str | None = None) -> list[str]:
        """The argv that runs ``argv`` in the namespace, as ``user`` (uid or name) if given."""
        prefix = ["nsenter", f"--target={self.pid}", "--mount", "--"]
        if user is None:
            return [*prefix, *argv]
        uid, gid, groups = self._identity(user)
        drop = ["setpriv", f"--reuid={uid}", f"--regid={gid}"]
        drop += [f"--groups={','.join(map(str, groups))}"] if groups else ["--clear-groups"]
        return [*prefix, *drop, "--", *argv]

    def run(
        self,
        argv: Sequence[str],
        *,
        user: int | str | None = None,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in the namespace and wait for it (output captured as text)."""
        return subprocess.run(
            self.command(argv, user),
            capture_output=True,
            text=True,
            env=self._env(env),
            input=input,
            timeout=timeout,
            check=False,
        )

    def popen(
        self,
        argv: Sequence[str],
        *,
        user: int | str | None = None,
        env: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> subprocess.Popen[Any]:
        """Start a command in the namespace; it is stopped when the bus is."""
        child: subprocess.Popen[Any] = subprocess.Popen(
            self.command(argv, user), env=self._env(env), **kwargs
        )
        self._children.append(child)
        return child

    def call(
        self,
        destination: str,
        path: str,
        interface: str,
        member: str,
        signature: str = "",
        body: Sequence[Any] = (),
        *,
        user: int | str | None = None,
        interactive: bool = False,
        timeout: float = 60,
    ) -> CallResult:
        """Call a method from a client process in the namespace, as ``user``.

        ``body`` is JSON-like; a variant is given as ``[signature, value]``. The
        caller sets the allow-interactive-authorization flag only if ``interactive``.

        Raises:
            BusError: The client could not run or reach the bus.
        """
        request = {
            "destination": destination,
            "path": path,
            "interface": interface,
            "member": member,
            "signature": signature,
            "body": list(body),
            "interactive": interactive,
        }
        out = self.run(
            [sys.executable, "-m", "libhfagent.testing._bus"],
            user=user,
            input=json.dumps(request),
            timeout=timeout,
        )
        if out.returncode != 0:
            raise BusError(f"the client failed (exit {out.returncode}): {out.stderr[-2000:]}")
        reply = json.loads(out.stdout)
        return CallResult(reply["error"], reply["message"], reply["body"])

    def start_service(
        self,
        argv: Sequence[str],
        name: str,
        *,
        env: Mapping[str, str] | None = None,
        log: str | None = None,
        timeout: float = 30,
    ) -> subprocess.Popen[Any]:
        """Start a service as root in the namespace and wait until it owns ``name``.

        Its standard output and error go to ``directory/LOG`` (default: ``NAME.log``).

        Raises:
            BusError: It exited, or did not take the name in time (its log is in the message).
        """
        path = self.directory / (log or f"{name}.log")
        with open(path, "ab") as out:
            child = self.popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            self._wait(lambda: self.has_owner(name), name, timeout, child)
        except BusError as exc:
            tail = path.read_text(errors="replace")[-3000:]
            raise BusError(f"{exc}\n{path}:\n{tail}") from None
        return child

    def has_owner(self, name: str) -> bool:
        """Whether ``name`` is owned on the bus."""
        out = self.run(
            [
                "busctl",
                "call",
                "org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "NameHasOwner",
                "s",
                name,
            ],
            timeout=10,
        )
        return out.stdout.strip() == "b true"

    def start_polkit(self) -> None:
        """Start polkitd (the project's actions and rules installed) and wait for its name."""
        if self._polkit is not None:
            return
        with open(self.directory / "polkitd.log", "ab") as log:
            self._polkit = subprocess.Popen(
                self.command([_POLKITD, "--no-debug"]),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self._wait(lambda: self.has_owner(_POLKIT_NAME), "polkitd", 30, self._polkit)

    def stop_polkit(self) -> None:
        """Stop polkitd; nothing re-activates it."""
        if self._polkit is not None:
            _terminate(self._polkit)
            self._polkit = None
        self._wait(lambda: not self.has_owner(_POLKIT_NAME), "polkitd to leave the bus")

    # -- helpers ---------------------------------------------------------------------------

    def _ns_inode(self) -> int | None:
        if self._holder is None:
            return None
        try:
            return os.stat(f"/proc/{self._holder.pid}/ns/mnt").st_ino
        except OSError:
            return None

    def _env(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DBUS_SYSTEM_BUS_ADDRESS", "DBUS_SESSION_BUS_ADDRESS")
        }
        env.update(extra or {})
        return env

    def _exec(self, argv: Sequence[str], **kwargs: Any) -> str:
        out = subprocess.run(
            self.command(argv),
            stdout=subprocess.PIPE,
            stderr=kwargs.pop("stderr", subprocess.PIPE),
            text=True,
            timeout=30,
            check=False,
            **kwargs,
        )
        if out.returncode != 0:
            raise BusError(f"{' '.join(argv)}: exit {out.returncode}: {out.stderr}")
        return str(out.stdout)

    def _mount(self, args: Sequence[str]) -> None:
        self._exec(["mount", *args])

    def _overlay_dir(self, target: str, extra: Sequence[Path], name: str) -> None:
        """Bind a copy of ``target`` with ``extra`` files added over it."""
        if not extra:
            return
        copy = self.directory / name
        if os.path.isdir(target):
            shutil.copytree(target, copy, symlinks=True)
            st = os.stat(target)
            os.chown(copy, st.st_uid, st.st_gid)
            os.chmod(copy, st.st_mode & 0o7777)
        else:
            copy.mkdir()
        for file in extra:
            dest = copy / file.name
            shutil.copyfile(file, dest)
            dest.chmod(0o644)
            st = os.stat(copy)
            os.chown(dest, st.st_uid, st.st_gid)
        self._mount(["--bind", str(copy), target])

    def _add_accounts(self) -> None:
        passwd = Path("/etc/passwd").read_text()
        group = Path("/etc/group").read_text()
        for name, uid in self._users.items():
            passwd += f"{name}:x:{uid}:{uid}:libhfagent test user:/nonexistent:/usr/sbin/nologin\n"
            group += f"{name}:x:{uid}:\n"
        for name, (gid, members) in self._groups.items():
            group += f"{name}:x:{gid}:{','.join(members)}\n"
        for filename, text in (("passwd", passwd), ("group", group)):
            copy = self.directory / filename
            copy.write_text(text)
            copy.chmod(0o644)
            self._mount(["--bind", str(copy), f"/etc/{filename}"])

    def _identity(self, user: int | str) -> tuple[int, int, list[int]]:
        """uid, primary gid and supplementary groups of a user, as seen in the namespace."""
        if isinstance(user, int) and user not in self._users.values():
            return user, user, []
        name = (
            user if isinstance(user, str) else next(n for n, u in self._users.items() if u == user)
        )
        if name in self._users:
            uid = self._users[name]
            groups = [gid for gid, members in self._groups.values() if name in members]
            return uid, uid, groups
        import pwd

        entry = pwd.getpwnam(name)
        return entry.pw_uid, entry.pw_gid, []

    def _wait(
        self,
        ready: Any,
        what: str,
        timeout: float = 30,
        child: subprocess.Popen[Any] | None = None,
    ) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if child is not None and child.poll() is not None:
                raise BusError(f"{what}: exited with status {child.returncode}")
            if time.monotonic() > deadline:
                raise BusError(f"{what}: not ready after {timeout:g} s")
            time.sleep(0.02)


def _terminate(child: subprocess.Popen[Any]) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _pids_in_namespace(inode: int, exclude: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in (exclude, os.getpid()):
            continue
        with contextlib.suppress(OSError):
            if os.stat(f"/proc/{entry}/ns/mnt").st_ino == inode:
                pids.append(int(entry))
    return pids


# -- the client of PrivateSystemBus.call (``python -m libhfagent.testing._bus``) ----------


def _to_wire(value: Any, type_: Any) -> Any:
    """A JSON value as dbus-fast wants it for one complete type (``[sig, value]`` for ``v``)."""
    from dbus_fast import Variant

    code = type_.token
    if code == "v":
        sig, inner = value
        from dbus_fast.signature import SignatureTree

        return Variant(sig, _to_wire(inner, SignatureTree(sig).types[0]))
    if code == "a":
        child = type_.children[0]
        if child.token.startswith("{"):
            key_t, value_t = child.children
            return {_to_wire(k, key_t): _to_wire(v, value_t) for k, v in value.items()}
        return [_to_wire(v, child) for v in value]
    if code == "(":
        return [_to_wire(v, t) for v, t in zip(value, type_.children, strict=True)]
    if code == "d":
        return float(value)
    return value


def _from_wire(value: Any) -> Any:
    from dbus_fast import Variant

    if isinstance(value, Variant):
        return _from_wire(value.value)
    if isinstance(value, dict):
        return {str(k): _from_wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_from_wire(v) for v in value]
    if isinstance(value, bytes):
        return list(value)
    return value


async def _client(request: Mapping[str, Any]) -> dict[str, Any]:
    from dbus_fast import BusType, Message, MessageFlag, MessageType
    from dbus_fast.aio import MessageBus
    from dbus_fast.signature import SignatureTree

    tree = SignatureTree(request["signature"])
    body = [_to_wire(v, t) for v, t in zip(request["body"], tree.types, strict=True)]
    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    try:
        flags = MessageFlag.ALLOW_INTERACTIVE_AUTHORIZATION if request["interactive"] else 0
        reply = await bus.call(
            Message(
                destination=request["destination"],
                path=request["path"],
                interface=request["interface"],
                member=request["member"],
                signature=request["signature"],
                body=body,
                flags=flags,
            )
        )
    finally:
        bus.disconnect()
    if reply.message_type is MessageType.ERROR:
        text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
        return {"error": reply.error_name, "message": text, "body": []}
    return {"error": None, "message": "", "body": _from_wire(reply.body)}


if __name__ == "__main__":
    import asyncio

    sys.stdout.write(json.dumps(asyncio.run(_client(json.load(sys.stdin)))) + "\n")
