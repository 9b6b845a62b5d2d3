"""Notifications: desktop (a real dunst on a private session bus), mail (a real SMTP
server), webhook (a local HTTP server), the journal (a real journald in a mount and
PID namespace); deduplication, rate limit and minimum severity with an injected clock."""

from __future__ import annotations

import asyncio
import datetime as dt
import http.server
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from libhfagent import RequestError
from libhfagent.config import Config
from libhfagent.config._model import (
    AgentSettings,
    MailSettings,
    Modules,
    NotificationSettings,
    WebhookSettings,
)
from libhfagent.daemon import _desktop
from libhfagent.daemon._notify import Alert, DesktopSession, Notifier, find_sessions
from libhfagent.testing._mail import SmtpServer
from libhfagent.testing._session import NotificationServer, SessionBus

T0 = dt.datetime(2025, 3, 30, 0, 30, tzinfo=dt.UTC)

needs_smtp = pytest.mark.skipif(not SmtpServer.available(), reason="needs aiosmtpd")
needs_dunst = pytest.mark.skipif(
    os.geteuid() != 0 or not NotificationServer.available(),
    reason="needs root and the Debian packages dbus, dunst and xvfb",
)
needs_unshare = pytest.mark.skipif(
    os.geteuid() != 0
    or not shutil.which("unshare")
    or not os.path.exists("/lib/systemd/systemd-journald"),
    reason="needs root, unshare and systemd-journald",
)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def make_config(**notifications: Any) -> Config:
    """English, every channel off except those given."""
    settings: dict[str, Any] = {"desktop": False, "journal": False, "min_severity": "info"}
    settings |= notifications
    return Config(
        agent=AgentSettings(language="en", timezone="Europe/Paris"),
        modules=Modules(notifications=NotificationSettings(**settings)),
    )


def disk_alert(**changes: Any) -> Alert:
    values: dict[str, Any] = {
        "title": "Disk sda is failing",
        "body": "I/O errors went from 0 to 48 in an hour; the site is in maintenance.",
        "severity": "critical",
        "source": "runbook.disk-failure",
        "key": "disk-failure:sda",
        "fields": {"device": "sda", "io_errors": 48, "actions": ["maintenance", "rsync"]},
        "at": T0,
    }
    return Alert(**(values | changes))


# -- the alert -----------------------------------------------------------------------------


def test_alert_is_a_checked_value() -> None:
    alert = disk_alert()
    assert alert == disk_alert()
    assert Alert(title="x", source="learner").key == "learner:x"
    data = alert.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["at"] == "2025-03-30T00:30:00+00:00"
    assert data["fields"]["actions"] == ["maintenance", "rsync"]
    with pytest.raises(TypeError):
        alert.fields["device"] = "sdb"  # type: ignore[index]
    with pytest.raises(RequestError, match="no time zone"):
        disk_alert(at=dt.datetime(2025, 3, 30, 1, 0))
    with pytest.raises(RequestError, match="unknown alert severity 'fatal'"):
        disk_alert(severity="fatal")


def test_nothing_turned_on_sends_nothing() -> None:
    delivery = Notifier(make_config()).send_sync(disk_alert())
    assert delivery.results == ()
    assert delivery.sent == ()


# -- mail ----------------------------------------------------------------------------------


def mail_settings(port: int, **changes: Any) -> MailSettings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "sender": "hf-agent@web1.example",
        "recipients": ("ops@example.org", "oncall@example.org"),
    }
    return MailSettings(**(values | changes))


@needs_smtp
def test_mail_reaches_a_real_smtp_server() -> None:
    with SmtpServer() as smtp:
        notifier = Notifier(make_config(mail=mail_settings(smtp.port)))
        delivery = notifier.send_sync(disk_alert())
        (mail,) = smtp.wait_for(1)
    assert delivery.sent == ("mail",)
    assert delivery.result("mail") is not None
    assert delivery.result("mail").detail == "2/2 recipients"  # type: ignore[union-attr]
    assert mail.sender == "hf-agent@web1.example"
    assert mail.recipients == ("ops@example.org", "oncall@example.org")
    assert mail.subject == "[hf-agent] critical: Disk sda is failing"
    assert mail.message["To"] == "ops@example.org, oncall@example.org"
    assert mail.message["X-HF-Agent-Key"] == "disk-failure:sda"
    assert mail.message["Auto-Submitted"] == "auto-generated"
    assert mail.message["Importance"] == "high"
    text = mail.text
    assert text.startswith("Disk sda is failing\n\nI/O errors went from 0 to 48 in an hour")
    assert "Severity: critical\n" in text
    assert "Source: runbook.disk-failure\n" in text
    # 00:30 UTC is 01:30 in Paris, an hour before the clocks go forward.
    assert "Time: Mar 30, 01:30 (2025-03-30T00:30:00+00:00)\n" in text
    assert "  io_errors: 48\n" in text
    assert '  actions: ["maintenance", "rsync"]\n' in text


@needs_smtp
def test_a_refusing_or_absent_smtp_server_is_reported_not_raised() -> None:
    with SmtpServer(refuse="554 5.7.1 Relaying denied") as smtp:
        delivery = Notifier(make_config(mail=mail_settings(smtp.port))).send_sync(disk_alert())
        assert smtp.messages == []
    assert delivery.sent == ()
    assert delivery.failed["mail"] == (
        f"the SMTP server 127.0.0.1:{smtp.port} refused: 554 5.7.1 Relaying denied"
    )
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        delivery = Notifier(make_config(mail=mail_settings(port))).send_sync(disk_alert())
    assert delivery.failed["mail"] == (
        f"cannot send mail through 127.0.0.1:{port}: Connection refused"
    )


@needs_smtp
def test_mail_logs_in_with_the_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "smtp.secret"
    secret.write_text("s3cret pass\n")
    with SmtpServer(users={"agent": "s3cret pass"}) as smtp:
        settings = mail_settings(smtp.port, username="agent", password_file=str(secret))
        delivery = Notifier(make_config(mail=settings)).send_sync(disk_alert())
        (mail,) = smtp.wait_for(1)
        assert delivery.sent == ("mail",)
        assert mail.login == "agent"

        secret.write_text("wrong\n")
        delivery = Notifier(make_config(mail=settings)).send_sync(disk_alert())
        assert delivery.failed["mail"].startswith(
            f"the SMTP server 127.0.0.1:{smtp.port} refused: 535"
        )

        missing = attrs.evolve(settings, password_file=str(tmp_path / "nope"))
        delivery = Notifier(make_config(mail=missing)).send_sync(disk_alert())
        assert delivery.failed["mail"] == (
            f"cannot read the SMTP password from {tmp_path / 'nope'} "
            "(modules.notifications.mail.password_file): No such file or directory"
        )
        anonymous = attrs.evolve(settings, username=None, password_file=None)
        delivery = Notifier(make_config(mail=anonymous)).send_sync(disk_alert())
        assert delivery.failed["mail"] == (
            f"the SMTP server 127.0.0.1:{smtp.port} refused: 530 5.7.0 Authentication required"
        )
        assert len(smtp.messages) == 1


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made for the test."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hf-agent test SMTP")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@needs_smtp
def test_mail_upgrades_with_starttls_and_checks_the_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    secret = tmp_path / "smtp.secret"
    secret.write_text("pw")
    with SmtpServer(users={"agent": "pw"}, tls=context) as smtp:
        settings = mail_settings(
            smtp.port, starttls=True, username="agent", password_file=str(secret)
        )
        # An unknown certificate authority: refused, nothing sent in clear.
        delivery = Notifier(make_config(mail=settings)).send_sync(disk_alert())
        assert "CERTIFICATE_VERIFY_FAILED" in delivery.failed["mail"]
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        delivery = Notifier(make_config(mail=settings)).send_sync(disk_alert())
        (mail,) = smtp.wait_for(1)
    assert delivery.sent == ("mail",)
    assert mail.tls
    assert mail.login == "agent"


# -- webhook -------------------------------------------------------------------------------


class Hook(http.server.BaseHTTPRequestHandler):
    """Keeps each POST; answers with the server's ``status``."""

    def do_POST(self) -> None:
        server: HookServer = self.server  # type: ignore[assignment]
        length = int(self.headers["Content-Length"])
        server.received.append((dict(self.headers), json.loads(self.rfile.read(length))))
        self.send_response(server.status)
        if server.status in (301, 302, 307, 308):
            self.send_header("Location", "/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class HookServer(http.server.ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Hook)
        self.received: list[tuple[dict[str, str], Any]] = []
        self.status = 204

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/alerts"


@pytest.fixture
def hook() -> Iterator[HookServer]:
    server = HookServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_webhook_posts_the_alert_as_json(hook: HookServer) -> None:
    alert = disk_alert()
    delivery = Notifier(make_config(webhook=WebhookSettings(hook.url))).send_sync(alert)
    assert delivery.sent == ("webhook",)
    assert delivery.result("webhook").detail == "HTTP 204"  # type: ignore[union-attr]
    ((headers, body),) = hook.received
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("hf-agent/")
    assert body == alert.to_dict() | {"suppressed": 0}


@pytest.mark.parametrize(
    ("status", "error"),
    [(500, "HTTP 500 Internal Server Error"), (404, "HTTP 404 Not Found"), (302, "HTTP 302")],
)
def test_webhook_errors_and_redirects_are_failures(
    hook: HookServer, status: int, error: str
) -> None:
    hook.status = status
    delivery = Notifier(make_config(webhook=WebhookSettings(hook.url))).send_sync(disk_alert())
    assert delivery.sent == ()
    assert delivery.failed["webhook"].startswith(f"the webhook {hook.url} answered {error}")
    assert len(hook.received) == 1  # no second request to the redirect's target


def test_unreachable_or_malformed_webhook_is_reported() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/"
        delivery = Notifier(make_config(webhook=WebhookSettings(url))).send_sync(disk_alert())
    assert delivery.failed == {"webhook": f"cannot reach the webhook {url}: Connection refused"}
    config = make_config(webhook=WebhookSettings("http://[::1/"))
    delivery = Notifier(config).send_sync(disk_alert())
    assert delivery.failed["webhook"].startswith("cannot reach the webhook http://[::1/:")


# -- policy: minimum severity, deduplication, rate limit -----------------------------------


def test_min_severity_skips_lesser_alerts(hook: HookServer) -> None:
    config = make_config(webhook=WebhookSettings(hook.url), min_severity="warning")
    notifier = Notifier(config, clock=Clock())
    info = notifier.send_sync(disk_alert(severity="info", key="a"))
    warning = notifier.send_sync(disk_alert(severity="warning", key="b"))
    assert info.skipped == {"webhook": "below_min_severity"}
    assert warning.sent == ("webhook",)
    assert [body["key"] for _, body in hook.received] == ["b"]


def test_duplicates_are_skipped_within_the_window(hook: HookServer) -> None:
    clock = Clock()
    config = make_config(webhook=WebhookSettings(hook.url), dedup_window=600)
    notifier = Notifier(config, clock=clock)
    assert notifier.send_sync(disk_alert(severity="warning")).sent == ("webhook",)
    clock.advance(599)
    assert notifier.send_sync(disk_alert(severity="warning")).skipped == {"webhook": "duplicate"}
    # More severe than what was sent: not a duplicate.
    assert notifier.send_sync(disk_alert(severity="critical")).sent == ("webhook",)
    assert notifier.send_sync(disk_alert(severity="warning")).skipped == {"webhook": "duplicate"}
    # Another key is another alert.
    assert notifier.send_sync(disk_alert(key="disk-failure:sdb")).sent == ("webhook",)
    clock.advance(600)
    assert notifier.send_sync(disk_alert()).sent == ("webhook",)
    assert len(hook.received) == 4


def test_a_failed_delivery_is_retried_by_the_next_occurrence(hook: HookServer) -> None:
    notifier = Notifier(make_config(webhook=WebhookSettings(hook.url)), clock=Clock())
    hook.status = 503
    assert "webhook" in notifier.send_sync(disk_alert()).failed
    hook.status = 204
    assert notifier.send_sync(disk_alert()).sent == ("webhook",)
    assert notifier.send_sync(disk_alert()).skipped == {"webhook": "duplicate"}


def test_rate_limit_per_channel_and_rolling_hour(hook: HookServer) -> None:
    clock = Clock()
    config = make_config(webhook=WebhookSettings(hook.url), rate_limit=2)
    notifier = Notifier(config, clock=clock)
    results = []
    for n in range(5):
        results.append(notifier.send_sync(disk_alert(key=f"k{n}")))
        clock.advance(60)
    assert [r.sent for r in results[:2]] == [("webhook",), ("webhook",)]
    assert [r.rate_limited for r in results[2:]] == [
        {"webhook": 1},
        {"webhook": 2},
        {"webhook": 3},
    ]
    assert notifier.suppressed() == {"webhook": {T0.replace(minute=0): 3}}
    # An hour after the first send, one slot is free again; the alert says what was held.
    clock.now = T0 + dt.timedelta(hours=1)
    freed = notifier.send_sync(disk_alert(key="k5"))
    assert freed.sent == ("webhook",)
    assert hook.received[-1][1]["suppressed"] == 3
    assert [body["key"] for _, body in hook.received] == ["k0", "k1", "k5"]
    # The next clock hour counts from zero.
    clock.advance(30)
    assert notifier.send_sync(disk_alert(key="k6")).rate_limited == {"webhook": 1}
    assert notifier.suppressed()["webhook"] == {
        T0.replace(minute=0): 3,
        T0.replace(minute=0) + dt.timedelta(hours=1): 1,
    }


@needs_smtp
def test_rate_limit_and_dedup_are_per_channel(hook: HookServer) -> None:
    with SmtpServer(refuse="451 4.3.0 Try later") as smtp:
        config = make_config(
            webhook=WebhookSettings(hook.url), mail=mail_settings(smtp.port), rate_limit=1
        )
        notifier = Notifier(config, clock=Clock())
        first = notifier.send_sync(disk_alert())
        second = notifier.send_sync(disk_alert())
    assert first.sent == ("webhook",)
    assert first.failed["mail"].endswith("451 4.3.0 Try later")
    # Mail failed, so the alert is not a duplicate there; but mail used its one attempt.
    assert second.skipped == {"mail": "rate_limited", "webhook": "duplicate"}


def test_concurrent_sends_of_one_alert_go_out_once(hook: HookServer) -> None:
    notifier = Notifier(make_config(webhook=WebhookSettings(hook.url)), clock=Clock())

    async def both() -> list[Any]:
        return list(await asyncio.gather(*(notifier.send(disk_alert()) for _ in range(2))))

    first, second = asyncio.run(both())
    assert (first.sent, second.skipped) == (("webhook",), {"webhook": "duplicate"})
    assert len(hook.received) == 1


def test_the_held_back_note_is_counted() -> None:
    config = make_config()
    text = Notifier(config).render_text(disk_alert(), held=3)
    assert "3 other alerts were not sent on this channel in the last hour (rate limit)." in text
    assert "1 other alert was not sent" in Notifier(config).render_text(disk_alert(), held=1)


# -- desktop -------------------------------------------------------------------------------


@pytest.fixture
def desktop(tmp_path: Path) -> Iterator[tuple[SessionBus, NotificationServer]]:
    with SessionBus(tmp_path / "root-session") as bus, NotificationServer(bus) as server:
        yield bus, server
        pids = (bus.pid, *server.pids)
    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()]


@pytest.mark.system
@needs_dunst
def test_desktop_notification_reaches_a_real_notification_server(
    desktop: tuple[SessionBus, NotificationServer],
) -> None:
    bus, server = desktop
    notifier = Notifier(
        make_config(desktop=True), clock=Clock(), sessions=[DesktopSession(bus.address, bus.uid)]
    )
    for severity in ("info", "warning", "critical"):
        delivery = notifier.send_sync(
            disk_alert(severity=severity, key=severity, title=f"Disk <sda> {severity}")
        )
        assert delivery.sent == ("desktop",)
        assert delivery.result("desktop").detail == "1/1 sessions"  # type: ignore[union-attr]
    received = server.received()
    assert [(n.summary, n.urgency, n.timeout_ms) for n in received] == [
        ("Disk <sda> info", "low", 10_000),
        ("Disk <sda> warning", "normal", 0),  # -1: the server's default, 0 in its dunstrc
        ("Disk <sda> critical", "critical", 0),
    ]
    assert {n.app_name for n in received} == {"hf-agent"}
    # dunst interprets markup in bodies (body-markup): the body was escaped for it.
    assert received[2].body == (
        "I/O errors went from 0 to 48 in an hour; the site is in maintenance."
    )
    special = notifier.send_sync(disk_alert(key="markup", body="a < b & c"))
    assert special.sent == ("desktop",)
    assert server.received()[-1].body == "a &lt; b &amp; c"


@pytest.mark.system
@needs_dunst
def test_desktop_notification_as_the_session_owner(tmp_path: Path) -> None:
    """A session bus owned by another user: root is refused, the agent sends as the user."""
    nobody = 65534
    with (
        SessionBus(tmp_path / "user-session", uid=nobody, gid=nobody) as bus,
        NotificationServer(bus) as server,
    ):
        with pytest.raises(OSError):  # the bus closes the connection of uid 0
            asyncio.run(_desktop.notify(bus.address, {"summary": "as root"}, timeout=5))
        notifier = Notifier(
            make_config(desktop=True), sessions=[DesktopSession(bus.address, nobody, nobody)]
        )
        delivery = notifier.send_sync(disk_alert(body="-starts with a dash"))
        assert delivery.sent == ("desktop",)
        (note,) = server.received()
    assert (note.summary, note.body, note.urgency) == (
        "Disk sda is failing",
        "-starts with a dash",
        "critical",
    )


@pytest.mark.system
@needs_dunst
def test_desktop_failures_and_absent_sessions(
    desktop: tuple[SessionBus, NotificationServer], tmp_path: Path
) -> None:
    bus, server = desktop
    with SessionBus(tmp_path / "empty-session") as empty:
        sessions = [DesktopSession(empty.address, empty.uid), DesktopSession(bus.address, bus.uid)]
        notifier = Notifier(make_config(desktop=True), sessions=sessions)
        partial = notifier.send_sync(disk_alert())
        only_empty = Notifier(make_config(desktop=True), sessions=sessions[:1])
        failed = only_empty.send_sync(disk_alert())
    assert partial.sent == ("desktop",)
    assert partial.result("desktop").detail.startswith(  # type: ignore[union-attr]
        f"1/2 sessions (uid {os.geteuid()}: GetCapabilities: "
        "org.freedesktop.DBus.Error.ServiceUnknown"
    )
    assert "org.freedesktop.DBus.Error.ServiceUnknown" in failed.failed["desktop"]
    assert len(server.received()) == 1
    nobody_home = Notifier(make_config(desktop=True), sessions=[]).send_sync(disk_alert())
    assert nobody_home.skipped == {"desktop": "no_session"}


def test_find_sessions_reads_the_runtime_folders(tmp_path: Path) -> None:
    def bus(uid: str, owner: int) -> None:
        (tmp_path / uid).mkdir()
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(tmp_path / uid / "bus"))
        os.chown(tmp_path / uid / "bus", owner, -1) if os.geteuid() == 0 else None

    me = os.geteuid()
    bus(str(me), me)
    (tmp_path / "lost+found").mkdir()
    (tmp_path / "4242").mkdir()  # no bus in it
    if me == 0:
        bus("1000", 1000)
        bus("1001", 1000)  # not its owner's folder: ignored
    found = find_sessions(tmp_path)
    expected = [DesktopSession(f"unix:path={tmp_path}/{me}/bus", me)]
    if me == 0:
        expected.append(DesktopSession(f"unix:path={tmp_path}/1000/bus", 1000))
    assert list(found) == expected
    assert find_sessions(tmp_path / "absent") == ()


# -- journal -------------------------------------------------------------------------------

JOURNAL_CHILD = textwrap.dedent(
    """
    import datetime as dt, json, sys
    from libhfagent.config import Config
    from libhfagent.config._model import AgentSettings, Modules, NotificationSettings
    from libhfagent.daemon._notify import Alert, Notifier
    config = Config(agent=AgentSettings(language="en"), modules=Modules(
        notifications=NotificationSettings(desktop=False, journal=True)))
    alert = Alert(title="Disk sda is failing", body="48 I/O errors", severity="critical",
                  source="learner.disk", key="disk:sda", fields={"io-errors": 48})
    print(json.dumps(Notifier(config).send_sync(alert).to_dict()))
    """
)


def run_in_namespace(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    """Run a shell script as PID 1 of new PID and mount namespaces, ``/run`` a tmpfs.

    Everything it starts dies with it (the kernel kills a PID namespace with its init).
    """
    (tmp_path / "child.py").write_text(JOURNAL_CHILD)
    (tmp_path / "persistent").mkdir()
    prologue = textwrap.dedent(
        f"""
        set -e
        mount -t tmpfs tmpfs /run
        mkdir -p /run/systemd/journal /run/log/journal
        if [ -d /var/log/journal ]; then mount --bind {tmp_path}/persistent /var/log/journal; fi
        """
    )
    return subprocess.run(
        [
            *("unshare", "--mount", "--pid", "--fork", "--mount-proc", "--propagation", "private"),
            *("sh", "-c", prologue + script),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=os.environ | {"PYTHONPATH": str(Path(__file__).parents[1])},
    )


@pytest.mark.system
@needs_unshare
def test_journal_entry_read_back_from_a_real_journald(tmp_path: Path) -> None:
    out = run_in_namespace(
        tmp_path,
        f"""
        /lib/systemd/systemd-journald >{tmp_path}/journald.log 2>&1 &
        for i in $(seq 200); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
        {sys.executable} {tmp_path}/child.py
        journalctl --directory=/run/log/journal --no-pager -o json HF_AGENT_ALERT_KEY=disk:sda
        """,
    )
    assert out.returncode == 0, out.stderr
    delivery_line, *entries = out.stdout.splitlines()
    results = json.loads(delivery_line)["results"]
    assert [(r["channel"], r["status"]) for r in results] == [("journal", "sent")]
    (entry,) = (json.loads(line) for line in entries)
    assert entry["MESSAGE"] == "Disk sda is failing: 48 I/O errors"
    assert entry["PRIORITY"] == "2"
    assert entry["SYSLOG_IDENTIFIER"] == "hf-agent"
    assert entry["HF_AGENT_ALERT_SEVERITY"] == "critical"
    assert entry["HF_AGENT_ALERT_SOURCE"] == "learner.disk"
    assert entry["HF_AGENT_FIELD_IO_ERRORS"] == "48"


@pytest.mark.system
@needs_unshare
def test_journal_without_journald_is_a_reported_failure(tmp_path: Path) -> None:
    out = run_in_namespace(tmp_path, f"{sys.executable} {tmp_path}/child.py")
    assert out.returncode == 0, out.stderr
    (result,) = json.loads(out.stdout)["results"]
    assert result["status"] == "failed"
    assert result["error"] == "journald is not running here (no /run/systemd/journal/socket)"
