"""A real nginx, private to a temporary directory, for tests that need genuine access logs.

nginx is started in the foreground (``daemon off``) as a child of the test, in a
session of its own, with every path it writes to (configuration, pid file, logs,
temporary directories, document root) inside the directory it is given: nothing
under ``/etc/nginx``, ``/var/log/nginx`` or ``/var/lib/nginx`` is read or written.

Layout of the directory::

    nginx.conf            the generated configuration
    nginx.pid             written by nginx once its socket is bound
    nginx.stderr          what nginx printed before it opened its error log
    logs/access.log       ``combined`` format, one line per request
    logs/error.log
    html/                 the document root (see ``NginxServer.ROUTES``)
    temp/                 client body, proxy, fastcgi, uwsgi and scgi temporary files
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import time
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import ClassVar, Final, Self

__all__ = ["NginxError", "NginxServer"]

_FALLBACK_BINARIES: Final = (
    "/usr/sbin/nginx",
    "/usr/local/sbin/nginx",
    "/usr/local/nginx/sbin/nginx",
)
_POLL_INTERVAL: Final = 0.01
_BIND_ATTEMPTS: Final = 5
_TEMP_DIRS: Final = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")

_DOCUMENTS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "index.html": (
            "<!DOCTYPE html>\n<html><head><title>libhfagent test server</title></head>\n"
            "<body><p>It works.</p></body></html>\n"
        ),
        "about.html": (
            "<!DOCTYPE html>\n<html><head><title>About</title></head>\n"
            "<body><p>A private nginx started by libhfagent.testing.</p></body></html>\n"
        ),
        "robots.txt": "User-agent: *\nDisallow:\n",
        "static/app.css": "body { font-family: sans-serif; }\n",
    }
)


class NginxError(RuntimeError):
    """The private nginx could not be started, reached, rotated or stopped.

    The message carries what nginx said (its standard error and the end of its
    error log) so the failing test shows the cause.
    """


class NginxServer:
    """A real nginx listening on ``127.0.0.1``, private to one directory.

    Use it as a context manager: entering starts nginx and waits until it
    accepts connections, leaving stops it and reaps every process it started,
    whether the test passed or failed::

        with NginxServer(tmp_path) as nginx:
            assert nginx.get("/missing.html", client_ip="203.0.113.7") == 404
            line = nginx.access_log.read_text().splitlines()[-1]
            assert line.startswith("203.0.113.7 - - [")

    Requests are logged in the standard ``combined`` format. The client address
    (first field) is ``127.0.0.1`` unless ``get`` is given ``client_ip``: the
    address is sent in ``X-Forwarded-For`` and nginx's realip module, trusting
    ``127.0.0.1``, makes it ``$remote_addr``. On an nginx built without that
    module the log format is a copy of ``combined`` whose first field is
    ``X-Forwarded-For`` when the request has one and ``$remote_addr`` otherwise,
    so the lines look the same either way.

    Every request writes exactly one access-log line, and ``get`` returns only
    once that line is on disk, so tests can count lines.

    The directory belongs to this server: two servers must not share one.

    Attributes:
        ROUTES: The paths served, mapped to the status nginx answers them with.
            Any other path gives 404 (and an ``open() ... failed`` line in the
            error log, as a real missing file does).
    """

    ROUTES: ClassVar[Mapping[str, int]] = MappingProxyType(
        {
            "/": 200,
            "/index.html": 200,
            "/about.html": 200,
            "/robots.txt": 200,
            "/static/app.css": 200,
            "/missing.html": 404,
            "/forbidden": 403,
            "/error": 500,
            "/unavailable": 503,
            "/redirect": 301,
        }
    )

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        nginx: str | os.PathLike[str] | None = None,
        realip: bool | None = None,
        start_timeout: float = 10.0,
        stop_timeout: float = 5.0,
        server_config: str = "",
    ) -> None:
        """Prepare a server; nothing is written or started until ``start``.

        Args:
            directory: Where the configuration, logs, document root and
                temporary files go; created if missing. Must not contain
                ``$``, control characters or a quote that nginx would misread.
            nginx: The nginx binary (a path, or a name looked up on ``PATH``);
                by default ``nginx`` on ``PATH``, then ``/usr/sbin/nginx``.
            realip: Whether to set the client address with the realip module;
                ``None`` asks ``nginx -V`` whether it was built with it.
            start_timeout: Seconds to wait for nginx to accept connections.
            stop_timeout: Seconds to wait for a graceful stop before nginx's
                processes are terminated, then killed.
            server_config: nginx directives added at the top of the ``server``
                block, as given (an ``include`` of a snippet, ``if`` tests,
                ``error_page``, locations); empty by default.
        """
        self._root = Path(directory).absolute()
        self._nginx = nginx
        self._realip = realip
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._server_config = server_config
        self._process: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[[subprocess.Popen[bytes]], NginxServer] | None = None
        self._port: int | None = None
        self._tracked: dict[Path, int] = {}

    # -- discovery --------------------------------------------------------------------

    @classmethod
    def available(cls, nginx: str | os.PathLike[str] | None = None) -> bool:
        """Tell whether an nginx binary can be found and executed.

        Args:
            nginx: The binary to look for, as for the constructor.

        Returns:
            ``True`` when the binary exists and is executable.
        """
        return _find_binary(nginx) is not None

    # -- paths and addresses ------------------------------------------------------------

    @property
    def directory(self) -> Path:
        """The directory holding everything this server writes."""
        return self._root

    @property
    def config_file(self) -> Path:
        """The generated ``nginx.conf``."""
        return self._root / "nginx.conf"

    @property
    def pid_file(self) -> Path:
        """The pid file nginx writes once its socket is bound."""
        return self._root / "nginx.pid"

    @property
    def access_log(self) -> Path:
        """The access log, ``combined`` format."""
        return self._root / "logs" / "access.log"

    @property
    def error_log(self) -> Path:
        """The error log."""
        return self._root / "logs" / "error.log"

    @property
    def docroot(self) -> Path:
        """The document root; files added here are served with status 200."""
        return self._root / "html"

    @property
    def running(self) -> bool:
        """Whether nginx has been started and its master process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int:
        """The pid of nginx's master process, which is also its process group.

        Raises:
            NginxError: The server is not started.
        """
        return self._require_process().pid

    @property
    def port(self) -> int:
        """The TCP port nginx listens on at ``127.0.0.1``.

        Raises:
            NginxError: The server is not started.
        """
        self._require_process()
        if self._port is None:  # pragma: no cover - set together with the process
            raise NginxError("nginx is started but its port is unknown")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``, without a trailing slash.

        Raises:
            NginxError: The server is not started.
        """
        return f"http://127.0.0.1:{self.port}"

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
        """Write the configuration and start nginx; return once it accepts connections.

        A free port is found by binding port 0; when another program takes it
        before nginx binds it, nginx is started again on a new port.

        Raises:
            NginxError: nginx is missing, already started, exited, or did not
                accept connections within ``start_timeout``; the message holds
                its standard error and the end of its error log.
            ValueError: The directory cannot be written into an nginx
                configuration.
        """
        if self._process is not None:
            raise NginxError(f"nginx is already started for {self._root}; call stop() first")
        binary = _find_binary(self._nginx)
        if binary is None:
            wanted = self._nginx if self._nginx is not None else "nginx"
            raise NginxError(
                f"no executable nginx binary found for {wanted!r}; install nginx "
                "or skip the test when NginxServer.available() is false"
            )
        realip = self._realip if self._realip is not None else _has_realip(binary)
        self._prepare_tree()
        for attempt in range(1, _BIND_ATTEMPTS + 1):
            port = _free_port()
            self.config_file.write_text(self._render_config(port, realip=realip))
            if self._launch(binary, port, last_attempt=attempt == _BIND_ATTEMPTS):
                return

    def stop(self) -> None:
        """Stop nginx and reap its processes; does nothing if it is not started.

        nginx is asked to finish gracefully (``SIGQUIT``); after ``stop_timeout``
        its process group is sent ``SIGTERM``, then ``SIGKILL``. On return no
        process of the group is left.

        Raises:
            NginxError: A process of the group survived ``SIGKILL``.
        """
        process = self._process
        if process is None:
            return
        self._close_tracked()
        try:
            _terminate(process, self._stop_timeout)
        finally:
            if self._finalizer is not None:
                self._finalizer.detach()
            self._finalizer = None
            self._process = None
            self._port = None

    # -- requests and logs ---------------------------------------------------------------

    def get(
        self,
        path: str,
        client_ip: str | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        timeout: float = 5.0,
    ) -> int:
        """Send one real ``GET`` and wait until nginx has logged it.

        Redirects are not followed. The connection is closed after the
        response has been read.

        Args:
            path: The request target, starting with ``/`` (a query string is
                allowed); sent as given, so it must already be percent-encoded.
            client_ip: The address the access-log line should show as the
                client (sent in ``X-Forwarded-For``); ``None`` leaves
                ``127.0.0.1``.
            headers: Extra request headers, such as ``User-Agent`` or
                ``Referer`` (both logged by the ``combined`` format).
            timeout: Seconds allowed for the response, and again for the log
                line to reach the disk.

        Returns:
            The HTTP status of the response.

        Raises:
            ValueError: ``path`` does not start with ``/`` or ``client_ip`` is
                not an IP address.
            NginxError: The server is not started, or the request was not
                logged within ``timeout``.
            OSError: The connection failed.
        """
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        request_headers = dict(headers or {})
        if client_ip is not None:
            request_headers["X-Forwarded-For"] = str(ipaddress.ip_address(client_ip))
        port = self.port
        before = self._log_state()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            connection.request("GET", path, headers=request_headers)
            response = connection.getresponse()
            response.read()
            status = response.status
        finally:
            connection.close()
        deadline = time.monotonic() + timeout
        while self._log_state() == before:
            if time.monotonic() >= deadline:
                raise NginxError(
                    f"nginx answered GET {path} with {status} but wrote no line to "
                    f"{self.access_log} within {timeout} s{self._diagnostics()}"
                )
            time.sleep(_POLL_INTERVAL)
        return status

    def reopen_logs(self, timeout: float = 5.0) -> None:
        """Make nginx reopen its log files, as ``nginx -s reopen`` does (``SIGUSR1``).

        Rename ``access_log`` (or ``error_log``) first to simulate rotation:
        this returns once nginx has created the file again and none of its
        processes still writes to the renamed one, so the next request lands in
        the new file.

        Args:
            timeout: Seconds to wait for nginx to reopen the files.

        Raises:
            NginxError: The server is not started or did not reopen its logs
                within ``timeout``.
        """
        process = self._require_process()
        old = {path: _inode(os.fstat(fd)) for path, fd in self._tracked.items()}
        os.kill(process.pid, signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while not self._reopened(old):
            if process.poll() is not None or time.monotonic() >= deadline:
                raise NginxError(
                    f"nginx did not reopen {self.access_log} and {self.error_log} "
                    f"within {timeout} s{self._diagnostics()}"
                )
            time.sleep(_POLL_INTERVAL)
        self._close_tracked()
        self._track_logs()

    # -- internals -----------------------------------------------------------------------

    def _require_process(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise NginxError(
                f"the nginx of {self._root} is not started; use NginxServer as a "
                "context manager or call start()"
            )
        return self._process

    def _prepare_tree(self) -> None:
        for directory in (self.access_log.parent, self.docroot, self._root / "temp"):
            directory.mkdir(parents=True, exist_ok=True)
        for name, text in _DOCUMENTS.items():
            document = self.docroot / name
            if not document.exists():
                document.parent.mkdir(parents=True, exist_ok=True)
                document.write_text(text)
        self.pid_file.unlink(missing_ok=True)

    def _render_config(self, port: int, *, realip: bool) -> str:
        def q(path: Path) -> str:
            return _quote(str(path))

        temp = self._root / "temp"
        lines = [
            "# Generated by libhfagent.testing.NginxServer; rewritten at every start.",
            *(["user root root;"] if os.geteuid() == 0 else []),
            "daemon off;",
            "master_process on;",
            "worker_processes 1;",
            f"pid {q(self.pid_file)};",
            f"lock_file {q(self._root / 'nginx.lock')};",
            f"error_log {q(self.error_log)};",
            "",
            "events {",
            "    worker_connections 64;",
            "}",
            "",
            "http {",
            "    types {",
            "        text/html html;",
            "        text/plain txt;",
            "        text/css css;",
            "        application/javascript js;",
            "    }",
            "    default_type application/octet-stream;",
            "",
            *(f"    {name}_temp_path {q(temp / name)};" for name in _TEMP_DIRS),
            "",
        ]
        if realip:
            lines += [
                "    set_real_ip_from 127.0.0.1;",
                "    real_ip_header X-Forwarded-For;",
                f"    access_log {q(self.access_log)} combined;",
            ]
        else:
            lines += [
                "    # No realip module: log X-Forwarded-For, when sent, in place of $remote_addr.",
                "    map $http_x_forwarded_for $hfagent_client {",
                '        ""      $remote_addr;',
                "        default $http_x_forwarded_for;",
                "    }",
                "    log_format hfagent_combined '$hfagent_client - $remote_user [$time_local] '",
                "                                '\"$request\" $status $body_bytes_sent '",
                '                                \'"$http_referer" "$http_user_agent"\';',
                f"    access_log {q(self.access_log)} hfagent_combined;",
            ]
        lines += [
            "",
            "    server {",
            f"        listen 127.0.0.1:{port};",
            "        server_name localhost;",
            f"        root {q(self.docroot)};",
            "        index index.html;",
            "",
            *(f"        {line}".rstrip() for line in self._server_config.splitlines()),
            *([""] if self._server_config else []),
            "        location = /forbidden { return 403; }",
            "        location = /error { return 500; }",
            "        location = /unavailable { return 503; }",
            "        location = /redirect { return 301 /index.html; }",
            "    }",
            "}",
            "",
        ]
        return "\n".join(lines)

    def _launch(self, binary: str, port: int, *, last_attempt: bool) -> bool:
        """Start nginx on ``port``; return ``False`` if the port was taken meanwhile."""
        # NGINX in the environment would make nginx take over inherited sockets.
        env = {key: value for key, value in os.environ.items() if key != "NGINX"}
        error_log_size = self.error_log.stat().st_size if self.error_log.exists() else 0
        stderr_path = self._root / "nginx.stderr"
        argv = [binary, "-p", f"{self._root}/", "-c", str(self.config_file)]
        argv += ["-e", str(self.error_log)]
        with stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=env,
                start_new_session=True,
            )
        self._process = process
        self._port = port
        self._finalizer = weakref.finalize(self, _kill_group, process)
        deadline = time.monotonic() + self._start_timeout
        try:
            while not self._ready(process, port):
                if process.poll() is not None:
                    diagnostics = self._diagnostics()
                    port_taken = f"127.0.0.1:{port} failed ({errno.EADDRINUSE}: " in diagnostics
                    if port_taken and not last_attempt:
                        self.stop()
                        # Keep the failed attempt out of the error log tests read.
                        os.truncate(self.error_log, error_log_size)
                        return False
                    raise NginxError(
                        f"nginx exited with status {process.returncode} while starting "
                        f"({' '.join(argv)}){diagnostics}"
                    )
                if time.monotonic() >= deadline:
                    raise NginxError(
                        f"nginx did not accept connections on 127.0.0.1:{port} within "
                        f"{self._start_timeout} s ({' '.join(argv)}){self._diagnostics()}"
                    )
                time.sleep(_POLL_INTERVAL)
            self._track_logs()
        except BaseException:
            self.stop()
            raise
        return True

    def _ready(self, process: subprocess.Popen[bytes], port: int) -> bool:
        # nginx writes its pid file after binding, so a connection accepted
        # before that could come from another program holding the port.
        try:
            if self.pid_file.read_text().strip() != str(process.pid):
                return False
        except FileNotFoundError:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return True
        except OSError:
            return False

    def _track_logs(self) -> None:
        # Descriptors on the files nginx writes, kept across renames, so that a
        # line written to a rotated-away file is still seen.
        for path in (self.access_log, self.error_log):
            self._tracked[path] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)

    def _close_tracked(self) -> None:
        for fd in self._tracked.values():
            os.close(fd)
        self._tracked.clear()

    def _log_state(self) -> tuple[object, ...]:
        fd = self._tracked.get(self.access_log)
        tracked = None if fd is None else _identity(os.fstat(fd))
        try:
            current: tuple[int, int, int] | None = _identity(os.stat(self.access_log))
        except FileNotFoundError:
            current = None
        return (tracked, current)

    def _reopened(self, old: Mapping[Path, tuple[int, int]]) -> bool:
        stale = set()
        for path, inode in old.items():
            try:
                current = _inode(os.stat(path))
            except FileNotFoundError:
                return False
            if current != inode:
                stale.add(inode)
        if not stale:
            return True
        return stale.isdisjoint(_open_files(_group_members(self.pid)))

    def _diagnostics(self) -> str:
        parts = []
        for label, path in (
            ("standard error", self._root / "nginx.stderr"),
            ("error log", self.error_log),
        ):
            try:
                text = path.read_text(errors="replace").strip()
            except FileNotFoundError:
                continue
            if text:
                tail = "\n".join(text.splitlines()[-30:])
                parts.append(f"\n--- nginx {label} ({path}) ---\n{tail}")
        return (
            "".join(parts)
            if parts
            else "\n(nginx wrote nothing to its standard error or error log)"
        )


# -- helpers -----------------------------------------------------------------------------


def _find_binary(nginx: str | os.PathLike[str] | None) -> str | None:
    if nginx is not None:
        name = os.fspath(nginx)
        if os.sep in name:
            return name if os.path.isfile(name) and os.access(name, os.X_OK) else None
        return shutil.which(name)
    found = shutil.which("nginx")
    if found is not None:
        return found
    for candidate in _FALLBACK_BINARIES:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _has_realip(binary: str) -> bool:
    """Tell whether ``binary -V`` lists the realip module."""
    result = subprocess.run(
        [binary, "-V"], stdin=subprocess.DEVNULL, capture_output=True, timeout=10, check=False
    )
    return b"--with-http_realip_module" in result.stdout + result.stderr


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _quote(value: str) -> str:
    """Quote ``value`` as an nginx configuration string."""
    if "$" in value or any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise ValueError(
            f"{value!r} cannot be used in an nginx configuration: it contains '$' or a "
            "control character; choose another directory"
        )
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _identity(stat: os.stat_result) -> tuple[int, int, int]:
    return (stat.st_dev, stat.st_ino, stat.st_size)


def _inode(stat: os.stat_result) -> tuple[int, int]:
    return (stat.st_dev, stat.st_ino)


def _group_members(pgid: int) -> list[int]:
    """Return the pids whose process group is ``pgid`` (zombies included)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(ProcessLookupError):
            if os.getpgid(int(entry)) == pgid:
                members.append(int(entry))
    return members


def _open_files(pids: list[int]) -> Iterator[tuple[int, int]]:
    """Yield ``(device, inode)`` of every file the processes ``pids`` hold open."""
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        for fd in fds:
            try:
                stat = os.stat(f"{fd_dir}/{fd}")
            except OSError:
                continue
            yield (stat.st_dev, stat.st_ino)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _terminate(process: subprocess.Popen[bytes], timeout: float) -> None:
    """Stop nginx gracefully, then by force; reap it and leave no process of its group."""
    pgid = process.pid
    if process.poll() is None:
        os.kill(process.pid, signal.SIGQUIT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            # While the master is unreaped its pid cannot be reused, so
            # signalling the group reaches only nginx's processes.
            _signal_group(pgid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(pgid, signal.SIGKILL)
                process.wait()
    # Workers orphaned by a master that died early still carry its group.
    deadline = time.monotonic() + timeout
    while survivors := [pid for pid in _group_members(pgid) if not _is_zombie(pid)]:
        if time.monotonic() >= deadline:
            raise NginxError(f"nginx processes {survivors} survived SIGKILL")
        _signal_group(pgid, signal.SIGKILL)
        time.sleep(_POLL_INTERVAL)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return fields[0] == b"Z"


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Last resort when a server is garbage-collected or the interpreter exits unstopped."""
    if process.poll() is None:
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()
