"""A private D-Bus session bus with a real notification server on it.

- :class:`SessionBus`: ``dbus-daemon --session`` listening on a socket in a
  temporary folder, owned by a chosen user (as a user's ``/run/user/UID/bus`` is:
  only that user may connect).
- :class:`NotificationServer`: dunst (Debian package ``dunst``), the notification
  daemon, on that bus, drawing on a private ``Xvfb`` display (package ``xvfb``;
  the display number is the first free one, chosen by Xvfb itself). Its own
  history (``dunstctl history``) tells what it received; a dunstrc written for
  the test makes it record the urgency it understood.

Both are context managers that stop, by pid, every process they started.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import attrs

__all__ = ["NotificationServer", "ReceivedNotification", "SessionBus", "SessionError"]

_SESSION_CONF: Final = """<!DOCTYPE busconfig PUBLIC
 "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""

# Each urgency section prefixes the rendered message with the urgency dunst understood.
_DUNSTRC: Final = """[global]
    history_length = 1000
    markup = full
[urgency_low]
    format = "low|%s|%b"
    timeout = 0
[urgency_normal]
    format = "normal|%s|%b"
    timeout = 0
[urgency_critical]
    format = "critical|%s|%b"
    timeout = 0
"""


class SessionError(RuntimeError):
    """The session bus or the notification server could not be started or read."""


def _stop(proc: subprocess.Popen[Any] | None) -> None:
    if proc is None or proc.poll() is not None:
        if proc is not None:
            proc.wait()
        return
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _wait(test: Callable[[], bool], what: str, proc: subprocess.Popen[Any], log: Path) -> None:
    deadline = time.monotonic() + 20
    while not test():
        if proc.poll() is not None:
            raise SessionError(f"{what} exited ({proc.returncode}): {_tail(log)}")
        if time.monotonic() > deadline:
            raise SessionError(f"{what} did not start in 20 s: {_tail(log)}")
        time.sleep(0.01)


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-1000:].strip()
    except OSError:
        return ""


class SessionBus:
    """A private ``dbus-daemon --session``, owned by ``uid``; a context manager.

    ::

        with SessionBus(tmp_path, uid=65534) as bus:
            bus.address  # "unix:path=/tmp/.../bus"

    Args:
        directory: A folder for the configuration and ``bus.log``. The socket is in a
            folder of its own under the system's temporary folder, owned by the bus
            owner (who may not be able to reach ``directory``), removed on exit.
        uid: The user who owns the bus (only this user may connect); ``None``: the
            current user. Another user needs root.
        gid: That user's group; ``None``: the same number as ``uid``.
    """

    def __init__(
        self, directory: str | os.PathLike[str], *, uid: int | None = None, gid: int | None = None
    ) -> None:
        self.directory = Path(directory)
        self.uid = os.geteuid() if uid is None else uid
        self.gid = (os.getegid() if uid is None else uid) if gid is None else gid
        self._proc: subprocess.Popen[bytes] | None = None
        self._runtime: Path | None = None
        self.address = ""

    @staticmethod
    def available() -> bool:
        """Whether ``dbus-daemon`` is installed."""
        return shutil.which("dbus-daemon") is not None

    @property
    def runtime_dir(self) -> Path:
        """The bus owner's folder holding the socket (like ``/run/user/UID``)."""
        if self._runtime is None:
            raise SessionError("the session bus is not running")
        return self._runtime

    @property
    def socket_path(self) -> Path:
        """The bus socket."""
        return self.runtime_dir / "bus"

    @property
    def pid(self) -> int:
        """The pid of dbus-daemon."""
        if self._proc is None:
            raise SessionError("the session bus is not running")
        return self._proc.pid

    def user_kwargs(self) -> dict[str, Any]:
        """``subprocess`` arguments that run a command as the bus owner."""
        if (self.uid, self.gid) == (os.geteuid(), os.getegid()):
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def run(
        self, argv: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """Run a command as the bus owner, with ``DBUS_SESSION_BUS_ADDRESS`` set."""
        full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.runtime_dir)}
        full |= {"DBUS_SESSION_BUS_ADDRESS": self.address} | (env or {})
        return subprocess.run(
            list(argv),
            env=full,
            cwd="/",
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **self.user_kwargs(),
        )

    def has_owner(self, name: str) -> bool:
        """Whether someone owns the bus name ``name``."""
        out = self.run(
            [
                "busctl",
                f"--address={self.address}",
                "call",
                "org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "NameHasOwner",
                "s",
                name,
            ]
        )
        return out.returncode == 0 and out.stdout.strip() == "b true"

    def __enter__(self) -> Self:
        if not self.available():
            raise SessionError("a session bus needs dbus-daemon (Debian package dbus)")
        self.directory.mkdir(parents=True, exist_ok=True)
        self._runtime = Path(tempfile.mkdtemp(prefix="hf-agent-session-"))
        if (self.uid, self.gid) != (os.geteuid(), os.getegid()):
            os.chown(self._runtime, self.uid, self.gid)
        conf = self._runtime / "session.conf"
        conf.write_text(_SESSION_CONF.format(socket=self.socket_path), encoding="utf-8")
        log = self.directory / "bus.log"
        with open(log, "ab") as err:
            self._proc = subprocess.Popen(
                [
                    "dbus-daemon",
                    f"--config-file={conf}",
                    "--nofork",
                    "--nopidfile",
                    "--print-address=1",
                ],
                stdout=subprocess.PIPE,
                stderr=err,
                stdin=subprocess.DEVNULL,
                cwd="/",
                **self.user_kwargs(),
            )
        try:
            assert self._proc.stdout is not None  # noqa: S101 - stdout=PIPE
            line = self._proc.stdout.readline().decode().strip()
            if not line:
                raise SessionError(f"dbus-daemon printed no address: {_tail(log)}")
            self.address = line
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

    def close(self) -> None:
        """Stop dbus-daemon and remove its socket folder."""
        if self._proc is not None:
            _stop(self._proc)
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None
        if self._runtime is not None:
            shutil.rmtree(self._runtime, ignore_errors=True)
            self._runtime = None


@attrs.frozen
class ReceivedNotification:
    """A notification as the server recorded it.

    Attributes:
        id: The id the server gave it.
        app_name: The sender's application name.
        summary: The summary (title).
        body: The body, as received (markup escapes included).
        urgency: ``low``, ``normal`` or ``critical``, as the server understood it.
        timeout_ms: The expiry it applied, in milliseconds (0: never).
    """

    id: int
    app_name: str
    summary: str
    body: str
    urgency: str
    timeout_ms: int


class NotificationServer:
    """dunst on a :class:`SessionBus`, drawing on a private Xvfb; a context manager.

    dunst runs as the bus owner; Xvfb runs as the current user with access control
    off (``-ac``), on the first free display.

    Args:
        bus: A running session bus.
        directory: A folder for the logs; by default the bus's. The dunstrc goes in
            the bus owner's runtime folder.
    """

    def __init__(self, bus: SessionBus, directory: str | os.PathLike[str] | None = None) -> None:
        self.bus = bus
        self.directory = Path(directory) if directory is not None else bus.directory
        self.display = ""
        self._xvfb: subprocess.Popen[bytes] | None = None
        self._dunst: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        """Whether dunst, dunstctl, Xvfb, busctl and dbus-daemon are installed."""
        tools = ("dunst", "dunstctl", "Xvfb", "busctl", "dbus-daemon")
        return all(shutil.which(t) for t in tools)

    @property
    def pids(self) -> tuple[int, ...]:
        """The pids of Xvfb and dunst."""
        return tuple(p.pid for p in (self._xvfb, self._dunst) if p is not None)

    def __enter__(self) -> Self:
        if not self.available():
            raise SessionError("a notification server needs the Debian packages dunst and xvfb")
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        read, write = os.pipe()
        xlog = self.directory / "xvfb.log"
        try:
            with open(xlog, "ab") as err:
                self._xvfb = subprocess.Popen(
                    [
                        *("Xvfb", "-displayfd", str(write), "-ac", "-nolisten", "tcp"),
                        *("-screen", "0", "320x240x24"),
                    ],
                    pass_fds=(write,),
                    stdin=subprocess.DEVNULL,
                    stdout=err,
                    stderr=err,
                )
            os.close(write)
            write = -1
            number = b""
            while not number.endswith(b"\n"):
                chunk = os.read(read, 16)
                if not chunk:
                    raise SessionError(f"Xvfb did not start: {_tail(xlog)}")
                number += chunk
        finally:
            os.close(read)
            if write >= 0:
                os.close(write)
        self.display = f":{int(number)}"
        rc = self.bus.runtime_dir / "dunstrc"
        rc.write_text(_DUNSTRC, encoding="utf-8")
        rc.chmod(0o644)
        dlog = self.directory / "dunst.log"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.bus.runtime_dir),
            "DISPLAY": self.display,
            "DBUS_SESSION_BUS_ADDRESS": self.bus.address,
        }
        with open(dlog, "ab") as err:
            self._dunst = subprocess.Popen(
                ["dunst", "-config", str(rc)],
                env=env,
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                **self.bus.user_kwargs(),
            )
        _wait(
            lambda: self.bus.has_owner("org.freedesktop.Notifications"),
            "dunst",
            self._dunst,
            dlog,
        )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop dunst, then Xvfb."""
        _stop(self._dunst)
        self._dunst = None
        _stop(self._xvfb)
        self._xvfb = None

    def _dunstctl(self, *args: str) -> str:
        out = self.bus.run(["dunstctl", *args])
        if out.returncode != 0:
            raise SessionError(f"dunstctl {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout

    def received(self) -> list[ReceivedNotification]:
        """Every notification received so far, oldest first.

        Closes the ones on screen first, so that dunst moves them to its history.
        """
        self._dunstctl("close-all")
        data = json.loads(self._dunstctl("history"))
        found = []
        for entry in data["data"][0]:
            item = {k: v["data"] for k, v in entry.items()}
            found.append(
                ReceivedNotification(
                    id=int(item["id"]),
                    app_name=str(item["appname"]),
                    summary=str(item["summary"]),
                    body=str(item["body"]),
                    urgency=str(item["message"]).split("|", 1)[0],
                    timeout_ms=int(item["timeout"]) // 1000,
                )
            )
        return sorted(found, key=lambda n: n.id)
