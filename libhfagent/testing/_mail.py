"""A real SMTP server on ``127.0.0.1`` that keeps the messages it receives.

It is aiosmtpd's SMTP protocol (the reference asyncio implementation: EHLO,
STARTTLS, AUTH, pipelining) served from its own event loop in a thread, on a port
the system picks. Nothing is delivered anywhere: each accepted message is parsed
and kept in :attr:`SmtpServer.messages`.
"""

from __future__ import annotations

import asyncio
import email.policy
import ssl
import threading
from collections.abc import Mapping
from email.message import EmailMessage
from email.parser import BytesParser
from types import TracebackType
from typing import Any, Self

import attrs

from ._inbox import Inbox

__all__ = ["ReceivedMail", "SmtpServer"]


@attrs.frozen(eq=False)
class ReceivedMail:
    """A message the server accepted.

    Attributes:
        sender: The envelope sender (``MAIL FROM``).
        recipients: The envelope recipients (``RCPT TO``), in order.
        message: The parsed message (headers and body).
        login: The user name the client authenticated as, or ``None``.
        tls: Whether the session was upgraded with STARTTLS.
    """

    sender: str
    recipients: tuple[str, ...]
    message: EmailMessage
    login: str | None = None
    tls: bool = False

    @property
    def subject(self) -> str:
        """The decoded ``Subject`` header."""
        return str(self.message.get("Subject", ""))

    @property
    def text(self) -> str:
        """The plain-text body, decoded."""
        part = self.message.get_body(preferencelist=("plain",))
        return "" if part is None else str(part.get_content()).replace("\r\n", "\n")


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
        if self._server.refuse is not None:
            return self._server.refuse
        if self._server._users is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        raw = envelope.original_content or envelope.content
        message = BytesParser(_class=EmailMessage, policy=email.policy.default).parsebytes(raw)
        login = session.auth_data
        mail = ReceivedMail(
            sender=str(envelope.mail_from),
            recipients=tuple(str(r) for r in envelope.rcpt_tos),
            message=message,
            login=login.decode() if isinstance(login, bytes) else login,
            tls=session.ssl is not None,
        )
        self._server._inbox.add(mail)
        return "250 Message accepted for delivery"


class SmtpServer:
    """An SMTP server on ``127.0.0.1`` keeping what it receives; a context manager.

    ::

        with SmtpServer() as smtp:
            send_mail("127.0.0.1", smtp.port, ...)
            (mail,) = smtp.wait_for(1)
            assert mail.subject == "..."

    Args:
        refuse: An SMTP reply (``"554 5.7.1 Rejected"``) given to every message
            instead of accepting it, to test a server that refuses mail.
        users: Logins and passwords the server accepts with AUTH PLAIN/LOGIN; when
            given, mail is accepted only from a client that authenticated.
        tls: A server SSL context: the server then offers STARTTLS (and requires it
            before AUTH).
    """

    def __init__(
        self,
        *,
        refuse: str | None = None,
        users: Mapping[str, str] | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.refuse = refuse
        self._users = dict(users) if users is not None else None
        self._tls = tls
        self._inbox: Inbox[ReceivedMail] = Inbox("messages")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._error: OSError | None = None
        self._thread: threading.Thread | None = None
        self.host = "127.0.0.1"
        self.port = 0

    @staticmethod
    def available() -> bool:
        """Whether aiosmtpd is installed."""
        try:
            import aiosmtpd.smtp  # noqa: F401
        except ImportError:
            return False
        return True

    @property
    def messages(self) -> list[ReceivedMail]:
        """The messages accepted so far, oldest first (a copy)."""
        return self._inbox.items()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        """Wait until at least ``count`` messages arrived, and return them all.

        Raises:
            TimeoutError: Fewer arrived within ``timeout`` seconds.
        """
        return self._inbox.wait_for(count, timeout)

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        users = self._users or {}
        if (
            isinstance(data, LoginPassword)
            and users.get(data.login.decode()) == data.password.decode()
        ):
            return AuthResult(success=True, auth_data=data.login)
        return AuthResult(success=False, handled=False)

    def _factory(self) -> Any:
        from aiosmtpd.smtp import SMTP

        kwargs: dict[str, Any] = {"hostname": "hf-agent-test", "loop": self._loop}
        if self._users is not None:
            # Not auth_required: without TLS, aiosmtpd warns about it (an error under
            # pytest's -W error). handle_DATA refuses unauthenticated mail instead.
            kwargs |= {
                "authenticator": self._authenticate,
                "auth_require_tls": self._tls is not None,
            }
        if self._tls is not None:
            kwargs |= {"tls_context": self._tls, "require_starttls": True}
        return SMTP(_Handler(self), **kwargs)

    def _run(self, loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        try:
            server = loop.run_until_complete(loop.create_server(self._factory, self.host, 0))
        except OSError as exc:
            self._error = exc
            loop.close()
            ready.set()
            return
        self._server = server
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        loop.run_forever()
        server.close()
        loop.run_until_complete(server.wait_closed())
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()

    def __enter__(self) -> Self:
        self._loop = loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(loop, ready), name="smtp", daemon=True
        )
        self._thread.start()
        ready.wait()
        if self._server is None:
            self._thread.join()
            self._thread = self._loop = None
            raise OSError(f"the SMTP server could not listen on {self.host}: {self._error}")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the server and its thread."""
        if self._loop is not None and self._thread is not None:
            if self._thread.is_alive():
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._thread = None
        self._loop = None
