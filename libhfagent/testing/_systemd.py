"""A throw-away systemd, booted as PID 1 of its own PID, mount and cgroup namespaces.

systemd runs on an overlay of ``/`` whose upper layer is a tmpfs, so whatever it
and the test write (unit files, the project installed, journal files, ``/etc``
changes) vanishes with it; the host's files are never written. Inside:

- ``/run``, ``/tmp`` and ``/var/tmp`` are private tmpfs;
- ``/dev`` and ``/sys`` are the host's (bind mounts), ``/proc`` is the namespace's own,
  ``/dev/console`` is a log file of the helper (``console.log``);
- ``/sys/fs/cgroup`` is a cgroup2 hierarchy rooted at a fresh cgroup the helper
  creates under its own, so systemd's slices and scopes never mix with the host's,
  and are removed by ``stop``;
- the environment variable ``container`` is set, and the units that would change the
  host's kernel (``systemd-sysctl``, ``systemd-modules-load``, ``systemd-binfmt``,
  udev…) and ``timers.target`` are masked in the overlay's ``/etc/systemd/system``.

Only ``basic.target`` is started by default (journald and the sockets, among them
``dbus.socket``: the system bus starts on the first connection).

Cost, measured on a 2-CPU Debian 12 virtual machine: 0.23 to 0.55 s from ``start`` to
``systemctl is-system-running`` answering ``running``, a few MB of tmpfs; stopping
takes milliseconds. The first connection to the bus adds the start of dbus-daemon
(tens of milliseconds). See :attr:`SystemdNamespace.boot_seconds`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import shutil
import subprocess
import tempfile
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath, PurePosixPath
from types import MappingProxyType, TracebackType
from typing import Final, Self

__all__ = ["SystemdError", "SystemdNamespace"]

_SYSTEMD: Final = "/lib/systemd/systemd"
_TOOLS: Final = ("unshare", "nsenter", "chroot", "mount")
_POLL: Final = 0.01
_DEFAULT_PARENT: Final = Path("/var/tmp")  # noqa: S108 - a private folder is made inside
_BUS_SOCKET: Final = "run/dbus/system_bus_socket"
# Masked: units that would change the host's kernel (sysctl, modules, binfmt, udev), and
# the timers (apt, man-db, e2scrub: work a test does not want running under it).
_MASKED_UNITS: Final = (
    "systemd-sysctl.service",
    "systemd-modules-load.service",
    "systemd-binfmt.service",
    "proc-sys-fs-binfmt_misc.automount",
    "proc-sys-fs-binfmt_misc.mount",
    "systemd-udevd.service",
    "systemd-udev-trigger.service",
    "systemd-udev-settle.service",
    "kmod-static-nodes.service",
    "timers.target",
)


class SystemdError(RuntimeError):
    """The namespaced systemd could not be started, used or stopped.

    The message carries the end of systemd's console log when there is one.
    """


def _cgroup2_mount() -> Path | None:
    """Where the cgroup2 hierarchy is mounted on the host, if it is."""
    try:
        with open("/proc/self/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) >= 3 and fields[2] == "cgroup2":
                    return Path(fields[1].replace("\\040", " "))
    except OSError:
        return None
    return None


def _own_cgroup2() -> str:
    """This process's cgroup in the cgroup2 hierarchy (``/`` when at the root)."""
    with open("/proc/self/cgroup", encoding="utf-8") as cgroups:
        for line in cgroups:
            if line.startswith("0::"):
                return line[3:].strip() or "/"
    return "/"


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _inside(path: str | PurePath) -> PurePosixPath:
    """``path`` as an absolute path inside the namespace, refusing ``..``."""
    inner = PurePosixPath(path)
    if not inner.is_absolute() or ".." in inner.parts:
        raise ValueError(f"expected an absolute path without '..' inside the namespace: {path}")
    return inner


def _remove_cgroup(path: Path, timeout: float) -> None:
    """Remove a cgroup tree once its processes are gone (children first)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            events = (path / "cgroup.events").read_text()
        except FileNotFoundError:
            return
        if "populated 0" in events or time.monotonic() >= deadline:
            break
        time.sleep(_POLL)
    for directory in sorted(
        (p for p in path.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True
    ):
        with contextlib.suppress(FileNotFoundError):
            directory.rmdir()
    path.rmdir()


def _cleanup(
    process: subprocess.Popen[bytes], systemd_pid: int | None, base: Path, cgroup: Path
) -> None:
    """Kill the namespace and remove what it left; safe to call more than once.

    Only the namespace's PID 1 is killed, so that ``unshare`` reaps it and exits: the
    kernel kills the rest of the namespace, and no zombie is left to the host's init.
    """
    if process.poll() is None:
        targets = [systemd_pid] if systemd_pid is not None else _children(process.pid)
        for pid in targets or [process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover - the kernel does not refuse SIGKILL
        process.kill()
        process.wait()
    with contextlib.suppress(OSError):
        _remove_cgroup(cgroup, timeout=10)
    shutil.rmtree(base, ignore_errors=True)


class SystemdNamespace:
    """A real systemd, PID 1 of a PID + mount + cgroup namespace on an overlay of ``/``.

    Use it as a context manager; entering boots systemd and returns once the boot
    is over, leaving kills every process of the namespace and removes what it
    left on the host::

        with SystemdNamespace() as sd:
            sd.write_file("/etc/systemd/system/demo.service",
                          "[Service]\\nExecStart=/bin/sleep infinity\\n")
            sd.systemctl("daemon-reload")
            sd.systemctl("start", "demo.service")
            assert sd.systemctl("is-active", "demo.service").stdout.strip() == "active"
            # a D-Bus client on the host:
            #   MessageBus(bus_address=sd.bus_address, bus_type=BusType.SYSTEM)

    Needs root, ``/lib/systemd/systemd``, util-linux (``unshare``, ``nsenter``) and a
    cgroup2 hierarchy (hybrid or unified); :meth:`available` tells.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        binds: Mapping[str, str | os.PathLike[str]] | None = None,
        unit: str = "basic.target",
        boot_timeout: float = 60.0,
    ) -> None:
        """Prepare a namespace; nothing is started until ``start``.

        Args:
            directory: Where the helper's temporary folder is created (it holds the
                overlay's mount point and ``console.log``, and is removed by
                ``stop``); by default ``/var/tmp``. ``/tmp`` works too: it is not
                the namespace's ``/tmp``.
            binds: Paths inside the namespace mapped to host paths bind-mounted
                there before systemd starts (``{"/opt/project": "/work/main"}``).
                Writes under a bind reach the host; use :meth:`copy_in` or
                :meth:`write_file` for files that must vanish with the namespace.
                A host path under ``/tmp``, ``/var/tmp`` or ``/run`` is only
                visible inside through a bind.
            unit: The unit systemd starts (``--unit``).
            boot_timeout: Seconds allowed for the boot.
        """
        self._parent = Path(directory) if directory is not None else _DEFAULT_PARENT
        self._binds = MappingProxyType(
            {str(_inside(inner)): Path(host).absolute() for inner, host in (binds or {}).items()}
        )
        self._unit = unit
        self._boot_timeout = boot_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._pid: int | None = None
        self._base: Path | None = None
        self._cgroup: Path | None = None
        self._finalizer: weakref.finalize[..., SystemdNamespace] | None = None
        self.boot_seconds: float | None = None
        """Seconds from ``start`` until the boot was over (``None`` before)."""

    # -- discovery ---------------------------------------------------------------------

    @classmethod
    def available(cls) -> bool:
        """Tell whether a namespaced systemd can be booted here.

        Returns:
            ``True`` when running as root with systemd, util-linux and cgroup2.
        """
        return (
            os.geteuid() == 0
            and os.access(_SYSTEMD, os.X_OK)
            and all(shutil.which(tool) for tool in _TOOLS)
            and _cgroup2_mount() is not None
        )

    # -- addresses ---------------------------------------------------------------------

    @property
    def pid(self) -> int:
        """The host pid of the namespace's systemd (PID 1 inside).

        Raises:
            SystemdError: It is not started.
        """
        if self._pid is None:
            raise SystemdError("the namespaced systemd is not started; call start() first")
        return self._pid

    @property
    def root(self) -> Path:
        """The namespace's ``/`` seen from the host (``/proc/PID/root``)."""
        return Path(f"/proc/{self.pid}/root")

    @property
    def bus_address(self) -> str:
        """The D-Bus address of the namespace's system bus, for clients on the host.

        The bus is ``dbus.socket``: systemd starts dbus-daemon on the first
        connection.
        """
        return f"unix:path={self.root}/{_BUS_SOCKET}"

    @property
    def console_log(self) -> Path:
        """What systemd printed on its console (its own log messages)."""
        if self._base is None:
            raise SystemdError("the namespaced systemd is not started; call start() first")
        return self._base / "console.log"

    def host_path(self, path: str | PurePath) -> Path:
        """The host path of ``path`` inside the namespace (through ``/proc/PID/root``).

        Raises:
            ValueError: ``path`` is not absolute or contains ``..``.
        """
        return self.root / _inside(path).relative_to("/")

    # -- life cycle ----------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Boot systemd and return once ``systemctl is-system-running --wait`` answers.

        A ``degraded`` boot (some unit failed) counts as booted.

        Raises:
            SystemdError: Not available here, already started, or the boot failed
                or timed out; the namespace is then cleaned up.
        """
        if self._process is not None:
            raise SystemdError("this SystemdNamespace is already started; call stop() first")
        if not self.available():
            raise SystemdError(
                "cannot boot a namespaced systemd: needs root, /lib/systemd/systemd, "
                "unshare and nsenter (util-linux) and a cgroup2 hierarchy"
            )
        began = time.monotonic()
        self._parent.mkdir(parents=True, exist_ok=True)
        base = Path(tempfile.mkdtemp(prefix="hfagent-systemd.", dir=self._parent))
        (base / "mnt").mkdir()
        (base / "console.log").touch()
        mount = _cgroup2_mount() or Path("/sys/fs/cgroup")  # None excluded by available()
        cgroup = mount / _own_cgroup2().lstrip("/") / f"hfagent-systemd.{secrets.token_hex(4)}"
        try:
            cgroup.mkdir()
        except OSError as exc:
            shutil.rmtree(base, ignore_errors=True)
            raise SystemdError(f"cannot create the cgroup {cgroup}: {exc.strerror}") from exc
        with open(base / "console.log", "ab") as console:
            process = subprocess.Popen(
                ["sh", "-c", self._launcher(base, cgroup)],
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._process, self._base, self._cgroup = process, base, cgroup
        self._finalizer = weakref.finalize(self, _cleanup, process, None, base, cgroup)
        try:
            self._pid = self._wait_for_systemd(process, began)
            self._finalizer.detach()
            self._finalizer = weakref.finalize(self, _cleanup, process, self._pid, base, cgroup)
            self._wait_for_boot(began)
        except BaseException:
            self.stop()
            raise
        self.boot_seconds = time.monotonic() - began

    def stop(self) -> None:
        """Kill systemd (``SIGKILL``: the kernel then kills the whole namespace), reap it,
        remove its cgroups and the temporary folder; does nothing if not started.

        On return no process of the namespace is left.
        """
        process = self._process
        if process is None:
            return
        base, cgroup = self._base, self._cgroup
        if base is None or cgroup is None:  # pragma: no cover - set together with _process
            raise SystemdError("internal error: a started namespace without its folder")
        if self._finalizer is not None:
            self._finalizer.detach()
        try:
            _cleanup(process, self._pid, base, cgroup)
        finally:
            self._process = self._pid = self._base = self._cgroup = self._finalizer = None

    # -- using it ------------------------------------------------------------------------

    def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        input: str | None = None,
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside the namespace (``nsenter -t PID -m -p -r -w``), as root.

        Args:
            argv: The command and its arguments, resolved inside the namespace.
            check: Raise when the command exits non-zero.
            input: Text for its standard input.
            timeout: Seconds allowed.
            env: Its environment (by default ``PATH`` and ``LANG=C.UTF-8``).

        Returns:
            The finished process, with its output as text.

        Raises:
            SystemdError: Not started, or ``check`` and the command failed (the
                message holds its output).
        """
        environment = (
            dict(env)
            if env is not None
            else {
                "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "LANG": "C.UTF-8",
            }
        )
        result = subprocess.run(
            ["nsenter", "-t", str(self.pid), "-m", "-p", "-r", "-w", "--", *argv],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=environment,
            check=False,
        )
        if check and result.returncode != 0:
            raise SystemdError(
                f"{shlex.join(argv)} exited with {result.returncode} in the namespace:\n"
                f"{result.stdout}{result.stderr}"
            )
        return result

    def systemctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``systemctl ARGS`` inside the namespace (see :meth:`run`)."""
        return self.run(["systemctl", "--no-pager", *args], check=check)

    def write_file(self, path: str | PurePath, text: str, mode: int = 0o644) -> Path:
        """Write a text file inside the namespace, creating its folders.

        Args:
            path: Absolute path inside the namespace (``/etc/systemd/system/x.service``).
            text: The content.
            mode: Its permissions.

        Returns:
            Its host path (under ``/proc/PID/root``).
        """
        target = self.host_path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        target.chmod(mode)
        return target

    def copy_in(self, source: str | os.PathLike[str], path: str | PurePath) -> Path:
        """Copy a host file or folder into the namespace (the copy vanishes with it).

        Args:
            source: The host file or folder.
            path: Absolute destination inside the namespace.

        Returns:
            The destination's host path.
        """
        target = self.host_path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if Path(source).is_dir():
            shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)
        return target

    # -- internals -----------------------------------------------------------------------

    def _launcher(self, base: Path, cgroup: Path) -> str:
        """The shell script that enters the namespaces, builds the root and execs systemd."""
        q = shlex.quote
        mnt = base / "mnt"
        root = mnt / "root"
        inner = [
            "set -e",
            f"mount -t tmpfs -o mode=0755 hfagent-systemd {q(str(mnt))}",
            f"mkdir -p {q(str(mnt / 'upper'))} {q(str(mnt / 'work'))} {q(str(root))}",
            f"mount -t overlay overlay -o lowerdir=/,upperdir={q(str(mnt / 'upper'))},"
            f"workdir={q(str(mnt / 'work'))} {q(str(root))}",
            f"mount --rbind /dev {q(str(root / 'dev'))}",
            f"mount --bind {q(str(base / 'console.log'))} {q(str(root / 'dev/console'))}",
            f"mount -t proc proc {q(str(root / 'proc'))}",
            f"mount --rbind /sys {q(str(root / 'sys'))}",
            f"mount -t cgroup2 cgroup2 {q(str(root / 'sys/fs/cgroup'))}",
        ]
        units = root / "etc/systemd/system"
        inner.append(f"mkdir -p {q(str(units))}")
        for unit in _MASKED_UNITS:
            inner.append(f"ln -sfn /dev/null {q(str(units / unit))}")
        for directory in ("run", "tmp", "var/tmp"):
            inner.append(f"mount -t tmpfs -o mode=1777 tmpfs {q(str(root / directory))}")
        inner.append(f"chmod 0755 {q(str(root / 'run'))}")
        for path, host in self._binds.items():
            target = root / path.lstrip("/")
            make = "mkdir -p" if host.is_dir() else 'mkdir -p "$(dirname {t})" && touch'
            inner.append(f"{make.format(t=q(str(target)))} {q(str(target))}")
            inner.append(f"mount --bind {q(str(host))} {q(str(target))}")
        inner.append(
            f"cd {q(str(root))} && exec chroot . /usr/bin/env -i container=hf-agent-test "
            f"{_SYSTEMD} --system --unit={q(self._unit)}"
        )
        unshare = shlex.join(
            [
                "unshare",
                "--pid",
                "--fork",
                "--mount",
                "--cgroup",
                "--kill-child",
                "--propagation",
                "private",
                "sh",
                "-c",
                "\n".join(inner),
            ]
        )
        return f"echo $$ > {q(str(cgroup / 'cgroup.procs'))} && exec {unshare}"

    def _failure(self, what: str) -> SystemdError:
        """An error with the end of the namespace's journal, else of the console log."""
        tail = ""
        if self._pid is not None:
            with contextlib.suppress(OSError, subprocess.SubprocessError, SystemdError):
                tail = self.run(
                    ["journalctl", "--no-pager", "-q", "-n", "30"], check=False, timeout=10
                ).stdout.strip()
        if not tail and self._base is not None:
            with contextlib.suppress(OSError):
                lines = (self._base / "console.log").read_text(errors="replace").splitlines()
                tail = "\n".join(lines[-30:])
        return SystemdError(f"{what}\n--- systemd's log ---\n{tail}" if tail else what)

    def _wait_for_systemd(self, process: subprocess.Popen[bytes], began: float) -> int:
        """The host pid of systemd, once it runs in the new root."""
        deadline = began + self._boot_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise self._failure(
                    f"the namespace exited with status {process.returncode} before systemd started"
                )
            for child in _children(process.pid):
                if _comm(child) == "systemd" and os.path.exists(
                    f"/proc/{child}/root/run/systemd/private"
                ):
                    return child
            time.sleep(_POLL)
        raise self._failure(f"systemd did not start within {self._boot_timeout} s")

    def _wait_for_boot(self, began: float) -> None:
        remaining = max(1.0, began + self._boot_timeout - time.monotonic())
        try:
            result = self.run(
                ["systemctl", "is-system-running", "--wait"], check=False, timeout=remaining
            )
        except subprocess.TimeoutExpired as exc:
            raise self._failure(
                f"systemd did not finish booting {self._unit} within {self._boot_timeout} s"
            ) from exc
        state = result.stdout.strip()
        if state not in ("running", "degraded"):
            raise self._failure(
                f"systemd booted to state {state!r} instead of running: {result.stderr.strip()}"
            )
