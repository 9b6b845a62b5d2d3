"""A real HTTP server on ``127.0.0.1`` that keeps the webhook requests it receives.

It is the standard library's :class:`http.server.ThreadingHTTPServer`, served
from a thread of its own on a port the system picks. Each ``POST`` is recorded
(path, headers, raw body and the body parsed as JSON when it is JSON) and
answered with :attr:`WebhookServer.status` (204 by default; give another to test
a webhook that fails).
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Mapping
from types import MappingProxyType, TracebackType
from typing import Any, Self

import attrs

from ._inbox import Inbox

__all__ = ["ReceivedRequest", "WebhookServer"]

_MAX_BODY = 16 * 1024 * 1024


def _freeze(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))


@attrs.frozen(eq=False)
class ReceivedRequest:
    """A request the server answered.

    Attributes:
        method: ``POST`` (other methods are answered 405 and recorded too).
        path: The request target as sent (``/hook?x=1``).
        headers: The request headers, names in lower case (a repeated header keeps
            its last value).
        body: The raw body.
        status: The status the server answered with.
    """

    method: str
    path: str
    headers: Mapping[str, str] = attrs.field(converter=_freeze)
    body: bytes
    status: int

    @property
    def json(self) -> Any:
        """The body parsed as JSON.

        Raises:
            ValueError: The body is not JSON.
        """
        return json.loads(self.body.decode("utf-8"))


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self._record(self.server.owner.status)

    def do_GET(self) -> None:
        self._record(405)

    do_PUT = do_DELETE = do_PATCH = do_GET

    def _record(self, status: int) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= _MAX_BODY:
            self.send_error(400, "a Content-Length between 0 and 16 MiB is needed")
            return
        body = self.rfile.read(length) if length else b""
        request = ReceivedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            status=status,
        )
        self.send_response(status)
        if status == 204:
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            text = http.HTTPStatus(status).phrase.encode() if status in _PHRASES else b""
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)
        self.wfile.flush()
        self.server.owner._add(request)

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: tests read what was received, not a log on stderr


_PHRASES = frozenset(int(s) for s in http.HTTPStatus)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: WebhookServer


class WebhookServer:
    """An HTTP server on ``127.0.0.1`` recording the POSTs it receives; a context manager.

    ::

        with WebhookServer() as hook:
            post_json(hook.url, {...})
            (request,) = hook.wait_for(1)
            assert request.json["severity"] == "critical"

    Args:
        status: The HTTP status every POST gets (204 by default; 500 to test a
            webhook that fails). May be changed while the server runs.
        path: The path part of :attr:`url`.
    """

    def __init__(self, *, status: int = 204, path: str = "/hook") -> None:
        if not 100 <= status <= 599:
            raise ValueError(f"status: expected an HTTP status 100..599, got {status}")
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        self.status = status
        self.path = path
        self.host = "127.0.0.1"
        self.port = 0
        self._inbox: Inbox[ReceivedRequest] = Inbox("requests")
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/PATH``.

        Raises:
            RuntimeError: The server is not started.
        """
        if self._server is None:
            raise RuntimeError("the webhook server is not started (use it as a context manager)")
        return f"http://{self.host}:{self.port}{self.path}"

    @property
    def requests(self) -> list[ReceivedRequest]:
        """The requests received so far, oldest first (a copy)."""
        return self._inbox.items()

    def _add(self, request: ReceivedRequest) -> None:
        self._inbox.add(request)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedRequest]:
        """Wait until at least ``count`` requests arrived, and return them all.

        Raises:
            TimeoutError: Fewer arrived within ``timeout`` seconds.
        """
        return self._inbox.wait_for(count, timeout)

    def start(self) -> None:
        """Listen on an ephemeral port of ``127.0.0.1`` and serve from a thread."""
        if self._server is not None:
            return
        server = _Server((self.host, 0), _Handler)
        server.owner = self
        self._server = server
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="webhook"
        )
        self._thread.daemon = True
        self._thread.start()

    def close(self) -> None:
        """Stop serving and close the socket."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(10)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
