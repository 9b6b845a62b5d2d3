"""Helpers for testing code that uses libhfagent, and libhfagent itself.

They start real system parts, private to a temporary directory, so that tests
observe genuine behaviour rather than mocks:

- :class:`NginxServer`: an nginx on ``127.0.0.1`` writing real access logs.
- :class:`PrivateSystemBus`: ``dbus-daemon --system`` and ``polkitd`` in a private
  mount namespace, with the project's policy files.
- :class:`SmtpServer`: a real SMTP server (aiosmtpd) on ``127.0.0.1`` keeping what it receives.
- :class:`SessionBus` and :class:`NotificationServer`: a private D-Bus session bus with a
  real notification server (dunst on Xvfb).
- :func:`build_journal`: a real journal file written by ``systemd-journal-remote``.
- :class:`WebhookServer`: a real HTTP server on ``127.0.0.1`` recording the webhook POSTs
  it receives.
- :class:`SystemdNamespace`: a real systemd as PID 1 of a PID + mount + cgroup
  namespace on an overlay of ``/`` (units, bus activation, watchdog).

Each helper is a context manager that leaves no process behind, and offers an
``available()`` class method so a test can skip cleanly where the part is not
installed.
"""

from __future__ import annotations

from ._bus import BusError as BusError
from ._bus import CallResult as CallResult
from ._bus import PrivateSystemBus as PrivateSystemBus
from ._journal import JournalBuildError as JournalBuildError
from ._journal import build_journal as build_journal
from ._journal import export_entries as export_entries
from ._mail import ReceivedMail as ReceivedMail
from ._mail import SmtpServer as SmtpServer
from ._nginx import NginxError as NginxError
from ._nginx import NginxServer as NginxServer
from ._session import NotificationServer as NotificationServer
from ._session import ReceivedNotification as ReceivedNotification
from ._session import SessionBus as SessionBus
from ._session import SessionError as SessionError
from ._systemd import SystemdError as SystemdError
from ._systemd import SystemdNamespace as SystemdNamespace
from ._webhook import ReceivedRequest as ReceivedRequest
from ._webhook import WebhookServer as WebhookServer

__all__ = [
    "BusError",
    "CallResult",
    "JournalBuildError",
    "NginxError",
    "NginxServer",
    "NotificationServer",
    "PrivateSystemBus",
    "ReceivedMail",
    "ReceivedNotification",
    "ReceivedRequest",
    "SessionBus",
    "SessionError",
    "SmtpServer",
    "SystemdError",
    "SystemdNamespace",
    "WebhookServer",
    "build_journal",
    "export_entries",
]
