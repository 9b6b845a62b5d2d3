"""Alerts to people: the desktop, mail, a webhook and the journal.

An :class:`Alert` is a value; a :class:`Notifier` decides, for each channel the
configuration turns on, whether to send it (``min_severity``, deduplication,
the hourly rate limit), sends it, and returns a :class:`Delivery` saying what
happened on each channel. Sending never raises: a channel that fails is reported
in the delivery and logged, so that raising an alert cannot take the agent down.

Channels:

``desktop``
    ``org.freedesktop.Notifications.Notify`` on the session bus of every
    logged-in user (each ``/run/user/UID/bus``). A session bus accepts only its
    user (``dbus-daemon --session`` refuses root), so on another user's bus the
    call is made by ``busctl`` run as that user (:mod:`libhfagent.daemon._desktop`).
    Urgency 0/1/2 from info/warning/critical; expiry 10 s, the server's default,
    never.
``mail``
    One plain-text message to all recipients over SMTP (STARTTLS and login
    when configured).
``webhook``
    The alert as JSON, POSTed; any answer but 2xx is a failure.
``journal``
    A journal entry with ``PRIORITY`` from the severity and
    ``HF_AGENT_ALERT_KEY`` (and the alert's other fields).
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import email.utils
import json
import logging
import os
import pwd
import re
import smtplib
import socket
import ssl
import stat
import threading
import time
import urllib.error
import urllib.request
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from email.message import EmailMessage
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal, TypeAlias, get_args

import attrs

from .._errors import RequestError
from .._i18n import fmt_int, fmt_time, translator
from .._version import __version__
from ..config import Config
from ..config._model import AlertSeverity, MailSettings, WebhookSettings
from . import _desktop

__all__ = [
    "CHANNELS",
    "Alert",
    "ChannelResult",
    "Delivery",
    "DesktopSession",
    "Notifier",
    "find_sessions",
]

log = logging.getLogger(__name__)

Channel: TypeAlias = Literal["desktop", "mail", "webhook", "journal"]
CHANNELS: Final[tuple[Channel, ...]] = get_args(Channel)
"""Every channel, in the order a delivery lists them."""

Status: TypeAlias = Literal["sent", "skipped", "failed"]

SKIP_BELOW_MIN_SEVERITY: Final = "below_min_severity"
SKIP_DUPLICATE: Final = "duplicate"
SKIP_RATE_LIMITED: Final = "rate_limited"
SKIP_NO_SESSION: Final = "no_session"

_RANK: Final[Mapping[str, int]] = MappingProxyType({"info": 0, "warning": 1, "critical": 2})
_URGENCY: Final[Mapping[str, int]] = MappingProxyType({"info": 0, "warning": 1, "critical": 2})
_EXPIRE_MS: Final[Mapping[str, int]] = MappingProxyType(
    {"info": 10_000, "warning": -1, "critical": 0}
)
_JOURNAL_PRIORITY: Final[Mapping[str, int]] = MappingProxyType(
    {"info": 6, "warning": 4, "critical": 2}
)
_JOURNAL_SOCKET: Final = "/run/systemd/journal/socket"
_HOUR: Final = 3600.0
_APP_NAME: Final = "hf-agent"


def _check_severity(_inst: object, _attr: object, value: str) -> None:
    if value not in _RANK:
        raise RequestError(
            f"unknown alert severity {value!r}: use one of {', '.join(_RANK)}",
        )


def _check_aware(_inst: object, _attr: object, value: dt.datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise RequestError(
            f"the alert time {value.isoformat()} has no time zone: "
            "give an aware datetime (datetime.now(UTC))"
        )


def _freeze(fields: Mapping[str, object]) -> Mapping[str, object]:
    return MappingProxyType(dict(fields))


def _default_key(alert: Alert) -> str:
    return f"{alert.source}:{alert.title}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.frozen(kw_only=True)
class Alert:
    """Something an administrator should know about.

    Attributes:
        title: One line: what happened (the notification's summary, the mail subject).
        body: The details: evidence, actions taken, what to do next.
        severity: ``info``, ``warning`` or ``critical``.
        source: What raised it (``learner.disk``, ``runbook.disk-failure``).
        key: What makes two alerts "the same" for deduplication; by default
            ``source:title``.
        fields: Extra facts as JSON values (device, counts...), shown in the
            mail, sent in the webhook and the journal. Not hashed.
        at: When it happened, timezone-aware; by default now.

    Raises:
        RequestError: An unknown severity or a naive ``at``.
    """

    title: str
    body: str = ""
    severity: AlertSeverity = attrs.field(default="warning", validator=_check_severity)
    source: str = "hf-agent"
    key: str = attrs.field(default=attrs.Factory(_default_key, takes_self=True))
    fields: Mapping[str, object] = attrs.field(factory=dict, converter=_freeze, hash=False)
    at: dt.datetime = attrs.field(factory=_now, validator=_check_aware)

    def to_dict(self) -> dict[str, Any]:
        """The alert as JSON values (``at`` in ISO 8601)."""
        return {
            "title": self.title,
            "body": self.body,
            "severity": self.severity,
            "key": self.key,
            "source": self.source,
            "fields": _jsonable(dict(self.fields)),
            "at": self.at.isoformat(),
        }


def _jsonable(value: object) -> Any:
    """``value`` with anything JSON cannot hold turned into its ``str``."""
    result: Any = json.loads(json.dumps(value, default=str))
    return result


@attrs.frozen
class ChannelResult:
    """What happened to an alert on one channel.

    Attributes:
        channel: ``desktop``, ``mail``, ``webhook`` or ``journal``.
        status: ``sent``, ``skipped`` or ``failed``.
        reason: Why it was skipped: ``below_min_severity``, ``duplicate``,
            ``rate_limited`` or ``no_session`` (no user logged in); else ``None``.
        error: Why it failed (for people), else ``None``.
        detail: What the channel reported (``HTTP 204``, ``2 sessions``...).
        suppressed: Alerts this channel skipped for the rate limit in the
            current clock hour (this one included).
        seconds: Time spent sending.
    """

    channel: Channel
    status: Status
    reason: str | None = None
    error: str | None = None
    detail: str = ""
    suppressed: int = 0
    seconds: float = 0.0


@attrs.frozen
class Delivery:
    """What happened to one alert on every channel turned on.

    Attributes:
        alert: The alert.
        results: One result per channel turned on, in :data:`CHANNELS` order.
    """

    alert: Alert
    results: tuple[ChannelResult, ...]

    @property
    def sent(self) -> tuple[Channel, ...]:
        """The channels that delivered it."""
        return tuple(r.channel for r in self.results if r.status == "sent")

    @property
    def skipped(self) -> Mapping[Channel, str]:
        """Channel to skip reason."""
        return {r.channel: r.reason or "" for r in self.results if r.status == "skipped"}

    @property
    def failed(self) -> Mapping[Channel, str]:
        """Channel to error message."""
        return {r.channel: r.error or "" for r in self.results if r.status == "failed"}

    @property
    def rate_limited(self) -> Mapping[Channel, int]:
        """Channel to alerts suppressed this hour, for the channels that skipped it so."""
        return {r.channel: r.suppressed for r in self.results if r.reason == SKIP_RATE_LIMITED}

    def result(self, channel: Channel) -> ChannelResult | None:
        """The result on ``channel``, or ``None`` if it is turned off."""
        return next((r for r in self.results if r.channel == channel), None)

    def to_dict(self) -> dict[str, Any]:
        """The delivery as JSON values."""
        return {
            "alert": self.alert.to_dict(),
            "results": [attrs.asdict(r) for r in self.results],
        }


@attrs.frozen
class DesktopSession:
    """A logged-in user's session bus.

    Attributes:
        address: The D-Bus address (``unix:path=/run/user/1000/bus``).
        uid: The user the bus belongs to (the notification is sent as this user).
        gid: The group to send as; ``None``: the user's primary group.
    """

    address: str
    uid: int
    gid: int | None = None


_ADDRESS_SAFE = re.compile(rb"[-0-9A-Za-z_/.\\*]")


def _address_path(path: str) -> str:
    raw = os.fsencode(path)
    return "".join(chr(b) if _ADDRESS_SAFE.fullmatch(bytes([b])) else f"%{b:02x}" for b in raw)


def find_sessions(run_dir: str | os.PathLike[str] = "/run/user") -> tuple[DesktopSession, ...]:
    """The session buses of the logged-in users: each ``RUN_DIR/UID/bus`` socket owned by UID.

    Args:
        run_dir: Where the per-user runtime folders are.

    Returns:
        The sessions, by uid; none when the folder does not exist.
    """
    found = []
    try:
        entries = list(Path(run_dir).iterdir())
    except OSError:
        return ()
    for entry in entries:
        if not entry.name.isdigit():
            continue
        bus = entry / "bus"
        try:
            st = bus.lstat()
        except OSError:
            continue
        if stat.S_ISSOCK(st.st_mode) and st.st_uid == int(entry.name):
            found.append(DesktopSession(f"unix:path={_address_path(str(bus))}", st.st_uid))
    return tuple(sorted(found, key=lambda s: s.uid))


class _ChannelFailure(Exception):
    """A channel could not deliver; the message is for people."""


class Notifier:
    """Sends alerts on the channels of ``modules.notifications``.

    Deduplication and the rate limit are per channel: an alert is a duplicate on
    a channel when the same key was delivered there less than ``dedup_window``
    seconds ago at the same or a higher severity (a failed delivery does not
    count, so the next occurrence tries again; a more severe one goes through).
    At most ``rate_limit`` alerts are attempted per channel in any rolling hour;
    the rest are skipped and counted per channel and clock hour, and the next
    alert that goes out on the channel says how many were held back.

    Args:
        config: The configuration (``modules.notifications``, the language and
            time zone of ``agent``).
        clock: Returns the current time, timezone-aware (injectable for tests).
        sessions: The desktop sessions to notify; ``None``: :func:`find_sessions`
            at each alert.
        timeout: Seconds allowed to the desktop and mail channels.
    """

    def __init__(
        self,
        config: Config,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        sessions: Sequence[DesktopSession] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.settings = config.modules.notifications
        self.lang = config.agent.language
        try:
            self.tz: dt.tzinfo = zoneinfo.ZoneInfo(config.agent.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            self.tz = dt.UTC
        self._clock = clock or _now
        self._sessions = None if sessions is None else tuple(sessions)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._sent_keys: dict[tuple[Channel, str], tuple[float, int]] = {}
        self._attempts: dict[Channel, collections.deque[float]] = {}
        self._suppressed: dict[Channel, dict[dt.datetime, int]] = {}
        self._held_back: dict[Channel, int] = {}
        on = {
            "desktop": self.settings.desktop,
            "mail": self.settings.mail is not None,
            "webhook": self.settings.webhook is not None,
            "journal": self.settings.journal,
        }
        self._channels = tuple(c for c in CHANNELS if on[c])

    @property
    def channels(self) -> tuple[Channel, ...]:
        """The channels the configuration turns on."""
        return self._channels

    def suppressed(self) -> Mapping[Channel, Mapping[dt.datetime, int]]:
        """Alerts skipped for the rate limit: channel to {clock hour (UTC): count}."""
        with self._lock:
            return {c: dict(hours) for c, hours in self._suppressed.items()}

    def send_sync(self, alert: Alert) -> Delivery:
        """:meth:`send` for code without a running event loop (it runs one)."""
        return asyncio.run(self.send(alert))

    async def send(self, alert: Alert) -> Delivery:
        """Send ``alert`` on every channel turned on, at the same time.

        Returns:
            What happened on each channel; never raises for a channel's failure.
        """
        now = self._clock()
        sessions: tuple[DesktopSession, ...] = ()
        if "desktop" in self._channels:
            sessions = self._sessions if self._sessions is not None else find_sessions()
        decisions, previous = self._decide(alert, now, no_session=not sessions)
        pending = {c: d for c, d in decisions.items() if isinstance(d, int)}
        results = await asyncio.gather(
            *(self._attempt(c, alert, held, sessions) for c, held in pending.items())
        )
        outcome = dict(zip(pending, results, strict=True))
        self._settle(alert, previous, outcome)
        ordered = []
        for channel in self.channels:
            decision = decisions[channel]
            ordered.append(outcome[channel] if isinstance(decision, int) else decision)
        return Delivery(alert, tuple(ordered))

    # -- policy ----------------------------------------------------------------------------

    def _decide(
        self, alert: Alert, now: dt.datetime, *, no_session: bool
    ) -> tuple[dict[Channel, ChannelResult | int], dict[Channel, tuple[float, int] | None]]:
        """Per channel: a skip result, or the number of alerts held back to mention.

        Also returns the deduplication marks the attempted channels had before, to
        put back if the attempt fails.
        """
        stamp = now.timestamp()
        rank = _RANK[alert.severity]
        decisions: dict[Channel, ChannelResult | int] = {}
        previous: dict[Channel, tuple[float, int] | None] = {}
        with self._lock:
            for channel in self.channels:
                if rank < _RANK[self.settings.min_severity]:
                    decisions[channel] = ChannelResult(
                        channel, "skipped", reason=SKIP_BELOW_MIN_SEVERITY
                    )
                    continue
                last = self._sent_keys.get((channel, alert.key))
                if (
                    last is not None
                    and 0 <= stamp - last[0] < self.settings.dedup_window
                    and last[1] >= rank
                ):
                    decisions[channel] = ChannelResult(channel, "skipped", reason=SKIP_DUPLICATE)
                    continue
                if channel == "desktop" and no_session:
                    decisions[channel] = ChannelResult(channel, "skipped", reason=SKIP_NO_SESSION)
                    continue
                attempts = self._attempts.setdefault(channel, collections.deque())
                while attempts and stamp - attempts[0] >= _HOUR:
                    attempts.popleft()
                if len(attempts) >= self.settings.rate_limit:
                    hour = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
                    hours = self._suppressed.setdefault(channel, {})
                    hours[hour] = hours.get(hour, 0) + 1
                    self._held_back[channel] = self._held_back.get(channel, 0) + 1
                    decisions[channel] = ChannelResult(
                        channel, "skipped", reason=SKIP_RATE_LIMITED, suppressed=hours[hour]
                    )
                    log.warning(
                        "alert %s not sent on %s: rate limit of %d per hour",
                        alert.key,
                        channel,
                        self.settings.rate_limit,
                    )
                    continue
                attempts.append(stamp)
                previous[channel] = last
                self._sent_keys[(channel, alert.key)] = (stamp, rank)
                decisions[channel] = self._held_back.pop(channel, 0)
        return decisions, previous

    def _settle(
        self,
        alert: Alert,
        previous: Mapping[Channel, tuple[float, int] | None],
        outcome: Mapping[Channel, ChannelResult],
    ) -> None:
        """Put back the deduplication marks of the channels that did not deliver."""
        with self._lock:
            for channel, result in outcome.items():
                if result.status == "sent":
                    continue
                before = previous.get(channel)
                if before is None:
                    self._sent_keys.pop((channel, alert.key), None)
                else:
                    self._sent_keys[(channel, alert.key)] = before

    async def _attempt(
        self, channel: Channel, alert: Alert, held: int, sessions: Sequence[DesktopSession]
    ) -> ChannelResult:
        start = time.perf_counter()
        try:
            match channel:
                case "desktop":
                    detail = await self._send_desktop(alert, held, sessions)
                case "mail":
                    detail = await self._send_mail(alert, held)
                case "webhook":
                    detail = await self._send_webhook(alert, held)
                case "journal":
                    detail = await asyncio.to_thread(self._journal, alert, held)
        except Exception as exc:  # a channel must never take the agent down
            error = str(exc) if isinstance(exc, _ChannelFailure) else _describe(exc)
            log.warning("alert %s not sent on %s: %s", alert.key, channel, error)
            return ChannelResult(
                channel, "failed", error=error, seconds=time.perf_counter() - start
            )
        return ChannelResult(
            channel, "sent", detail=str(detail), seconds=time.perf_counter() - start
        )

    # -- rendering -------------------------------------------------------------------------

    def _held_note(self, held: int) -> str:
        if not held:
            return ""
        ngettext = translator(self.lang).ngettext
        return ngettext(
            "{count} other alert was not sent on this channel in the last hour (rate limit).",
            "{count} other alerts were not sent on this channel in the last hour (rate limit).",
            held,
        ).format(count=fmt_int(held, self.lang))

    def render_text(self, alert: Alert, held: int = 0) -> str:
        """The plain-text report of an alert (the mail body), in the agent's language."""
        _ = translator(self.lang).gettext
        labels = {
            "info": _("information"),
            "warning": _("warning"),
            "critical": _("critical"),
        }
        lines = [alert.title, ""]
        if alert.body:
            lines += [alert.body, ""]
        lines += [
            _("Severity: {severity}").format(severity=labels[alert.severity]),
            _("Source: {source}").format(source=alert.source),
            _("Time: {time} ({iso})").format(
                time=fmt_time(alert.at, self.lang, self.tz),
                iso=alert.at.isoformat(timespec="seconds"),
            ),
            _("Key: {key}").format(key=alert.key),
        ]
        if alert.fields:
            lines += ["", _("Details:")]
            for name, value in alert.fields.items():
                text = value if isinstance(value, str) else json.dumps(_jsonable(value))
                lines.append(f"  {name}: {text}")
        note = self._held_note(held)
        if note:
            lines += ["", note]
        lines += [
            "",
            "-- ",
            _("hf-agent on {host}").format(host=socket.gethostname()),
        ]
        return "\n".join(lines) + "\n"

    # -- channels --------------------------------------------------------------------------

    async def _send_desktop(
        self, alert: Alert, held: int, sessions: Sequence[DesktopSession]
    ) -> str:
        body = alert.body
        note = self._held_note(held)
        if note:
            body = f"{body}\n\n{note}" if body else note
        note_json = {
            "app_name": _APP_NAME,
            "summary": alert.title,
            "body": body,
            "urgency": _URGENCY[alert.severity],
            "expire_timeout": _EXPIRE_MS[alert.severity],
        }
        results = await asyncio.gather(
            *(self._notify_session(s, note_json) for s in sessions), return_exceptions=True
        )
        errors = [
            f"uid {s.uid}: {_describe(r)}"
            for s, r in zip(sessions, results, strict=True)
            if isinstance(r, BaseException)
        ]
        shown = len(sessions) - len(errors)
        if not shown:
            raise _ChannelFailure("; ".join(errors))
        detail = f"{shown}/{len(sessions)} sessions"
        return f"{detail} ({'; '.join(errors)})" if errors else detail

    async def _notify_session(self, session: DesktopSession, note: Mapping[str, Any]) -> int:
        if session.uid == os.geteuid() and session.gid in (None, os.getegid()):
            return await _desktop.notify(session.address, note, timeout=self._timeout)
        gid = session.gid
        if gid is None:
            try:
                gid = pwd.getpwuid(session.uid).pw_gid
            except KeyError:
                raise _ChannelFailure(f"no user has uid {session.uid}") from None
        if os.geteuid() != 0:
            raise _ChannelFailure(
                f"only root can notify another user (uid {session.uid}); the agent runs as "
                f"uid {os.geteuid()}"
            )
        return await _desktop.notify_as(
            session.address, note, user=session.uid, group=gid, timeout=self._timeout
        )

    async def _send_mail(self, alert: Alert, held: int) -> str:
        mail = self.settings.mail
        assert mail is not None  # noqa: S101 - only registered with a mail section
        message = self.build_mail(alert, mail, held)
        return await asyncio.to_thread(self._smtp, mail, message)

    def build_mail(self, alert: Alert, mail: MailSettings, held: int = 0) -> EmailMessage:
        """The message sent for ``alert``."""
        message = EmailMessage()
        message["Subject"] = f"[hf-agent] {alert.severity}: {alert.title}"
        message["From"] = mail.sender
        message["To"] = ", ".join(mail.recipients)
        message["Date"] = email.utils.format_datetime(alert.at)
        message["Message-ID"] = email.utils.make_msgid("hf-agent")
        message["Auto-Submitted"] = "auto-generated"
        message["X-HF-Agent-Key"] = alert.key
        message["X-HF-Agent-Severity"] = alert.severity
        if alert.severity == "critical":
            message["X-Priority"] = "1"
            message["Importance"] = "high"
        message.set_content(self.render_text(alert, held))
        return message

    def _smtp(self, mail: MailSettings, message: EmailMessage) -> str:
        password = None
        if mail.username is not None:
            if mail.password_file is None:
                raise _ChannelFailure(
                    "modules.notifications.mail.username is set but password_file is not: "
                    "give the file holding the SMTP password"
                )
            try:
                password = Path(mail.password_file).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise _ChannelFailure(
                    f"cannot read the SMTP password from {mail.password_file} "
                    f"(modules.notifications.mail.password_file): {exc.strerror or exc}"
                ) from None
        try:
            with smtplib.SMTP(mail.host, mail.port, timeout=self._timeout) as smtp:
                if mail.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if mail.username is not None and password is not None:
                    smtp.login(mail.username, password)
                refused = smtp.send_message(message)
        except smtplib.SMTPResponseException as exc:
            text = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            raise _ChannelFailure(
                f"the SMTP server {mail.host}:{mail.port} refused: {exc.smtp_code} {text}"
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise _ChannelFailure(
                f"the SMTP server {mail.host}:{mail.port} refused every recipient: "
                + ", ".join(exc.recipients)
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise _ChannelFailure(
                f"cannot send mail through {mail.host}:{mail.port}: {_describe(exc)}"
            ) from None
        accepted = len(mail.recipients) - len(refused)
        detail = f"{accepted}/{len(mail.recipients)} recipients"
        if refused:
            detail += " (refused: " + ", ".join(refused) + ")"
        return detail

    async def _send_webhook(self, alert: Alert, held: int) -> str:
        hook = self.settings.webhook
        assert hook is not None  # noqa: S101 - only registered with a webhook section
        payload = {**alert.to_dict(), "suppressed": held}
        return await asyncio.to_thread(_post, hook, payload)

    def _journal(self, alert: Alert, held: int) -> str:
        # sd_journal_send() succeeds silently when journald is not running: look first.
        if not os.path.exists(_JOURNAL_SOCKET):
            raise _ChannelFailure(f"journald is not running here (no {_JOURNAL_SOCKET})")
        from systemd import journal

        extra = {
            f"HF_AGENT_FIELD_{_journal_name(name)}": (
                value if isinstance(value, str) else json.dumps(_jsonable(value))
            )
            for name, value in alert.fields.items()
        }
        message = f"{alert.title}: {alert.body}" if alert.body else alert.title
        journal.send(
            message,
            PRIORITY=str(_JOURNAL_PRIORITY[alert.severity]),
            SYSLOG_IDENTIFIER=_APP_NAME,
            HF_AGENT_ALERT_KEY=alert.key,
            HF_AGENT_ALERT_SEVERITY=alert.severity,
            HF_AGENT_ALERT_SOURCE=alert.source,
            HF_AGENT_ALERT_SUPPRESSED=str(held),
            **extra,
        )
        return f"PRIORITY={_JOURNAL_PRIORITY[alert.severity]}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirected POST would lose its body: report the redirect instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _post(hook: WebhookSettings, payload: Mapping[str, Any]) -> str:
    try:
        request = urllib.request.Request(  # noqa: S310 - the configured http(s) address
            hook.url,
            data=json.dumps(payload, ensure_ascii=False).encode(),
            headers={
                "Content-Type": "application/json",
                "User-Agent": f"hf-agent/{__version__}",
            },
            method="POST",
        )
        opener = urllib.request.build_opener(_NoRedirect)
        with opener.open(request, timeout=hook.timeout) as response:
            status = int(response.status)
            reason = str(response.reason)
    except urllib.error.HTTPError as exc:
        raise _ChannelFailure(
            f"the webhook {hook.url} answered HTTP {exc.code} {exc.reason}"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        why = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise _ChannelFailure(f"cannot reach the webhook {hook.url}: {_describe(why)}") from None
    if not 200 <= status < 300:
        raise _ChannelFailure(f"the webhook {hook.url} answered HTTP {status} {reason}")
    return f"HTTP {status}"


def _journal_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Z0-9_]", "_", name.upper())
    return cleaned.lstrip("_") or "FIELD"


def _describe(exc: object) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, BaseException):
        text = str(exc)
        if isinstance(exc, OSError) and exc.strerror:
            text = exc.strerror
        return text or type(exc).__name__
    return str(exc)
