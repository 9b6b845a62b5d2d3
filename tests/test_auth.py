"""sshd and PAM authentication messages (pure parts).

Every line here is written for these tests (documentation addresses, RFC 5737
and RFC 3849).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libhfagent.observer._auth import AuthEvent, parse_auth_message


def parse(message: str, pid: int | None = 500, app: str = "sshd") -> AuthEvent | None:
    return parse_auth_message(app, pid, message)


CASES = [
    # (message, kind, form, ip, user, port, method)
    ("Failed password for carol from 192.0.2.10 port 40022 ssh2",
     "failure", "failed", "192.0.2.10", "carol", 40022, "password"),
    ("Failed password for invalid user oracle from 192.0.2.11 port 40023 ssh2",
     "failure", "failed_invalid", "192.0.2.11", "oracle", 40023, "password"),
    ("Failed none for invalid user pi from 192.0.2.12 port 40024 ssh2",
     "failure", "failed_invalid", "192.0.2.12", "pi", 40024, "none"),
    ("Failed publickey for deploy from 192.0.2.13 port 40025 ssh2: ED25519 SHA256:abcDEF0123",
     "failure", "failed", "192.0.2.13", "deploy", 40025, "publickey"),
    ("Failed keyboard-interactive/pam for invalid user ftp from 192.0.2.14 port 40026 ssh2",
     "failure", "failed_invalid", "192.0.2.14", "ftp", 40026, "keyboard-interactive/pam"),
    ("Failed password for root from 192.0.2.15",
     "failure", "failed", "192.0.2.15", "root", None, "password"),
    ("Invalid user guest from 198.51.100.20 port 51000",
     "invalid_user", "invalid_user", "198.51.100.20", "guest", 51000, None),
    ("Invalid user guest from 198.51.100.21",
     "invalid_user", "invalid_user", "198.51.100.21", "guest", None, None),
    ("User mallory from 198.51.100.22 not allowed because not listed in AllowUsers",
     "refused", "not_allowed", "198.51.100.22", "mallory", None, None),
    ("User bin not allowed because shell /usr/sbin/nologin does not exist",
     "refused", "not_allowed", None, "bin", None, None),
    ("ROOT LOGIN REFUSED FROM 198.51.100.23 port 51001 [preauth]",
     "refused", "root_refused", "198.51.100.23", "root", 51001, None),
    ("refused connect from scanner.example.net (198.51.100.24)",
     "refused", "tcp_wrappers", "198.51.100.24", None, None, None),
    ("error: PAM: Authentication failure for dave from workstation.example.org",
     "failure", "pam", "workstation.example.org", "dave", None, "pam"),
    ("error: PAM: User not known to the underlying authentication module for illegal user "
     "zz from 198.51.100.25",
     "failure", "pam", "198.51.100.25", "zz", None, "pam"),
    ("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
     "rhost=198.51.100.26  user=erin",
     "failure", "pam_module", "198.51.100.26", "erin", None, "pam"),
    ("pam_sss(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
     "rhost=198.51.100.27",
     "failure", "pam_module", "198.51.100.27", None, None, "pam"),
    ("error: maximum authentication attempts exceeded for root from 203.0.113.30 port 52000 "
     "ssh2 [preauth]",
     "preauth_close", "max_attempts", "203.0.113.30", "root", 52000, None),
    ("Disconnecting invalid user test 203.0.113.31 port 52001: Too many authentication "
     "failures [preauth]",
     "preauth_close", "too_many", "203.0.113.31", "test", 52001, None),
    ("Disconnecting: Too many authentication failures for admin [preauth]",
     "preauth_close", "too_many", None, "admin", None, None),
    ("Disconnecting invalid user u1 203.0.113.32 port 52002: Change of username or service "
     "not allowed: (u1,ssh-connection) -> (u2,ssh-connection) [preauth]",
     "refused", "user_change", "203.0.113.32", "u1", 52002, None),
    ("Connection closed by authenticating user root 203.0.113.33 port 52003 [preauth]",
     "preauth_close", "closed", "203.0.113.33", "root", 52003, None),
    ("Connection closed by invalid user admin 203.0.113.34 port 52004 [preauth]",
     "preauth_close", "closed", "203.0.113.34", "admin", 52004, None),
    ("Connection closed by 203.0.113.35 port 52005 [preauth]",
     "preauth_close", "closed", "203.0.113.35", None, 52005, None),
    ("Connection reset by 203.0.113.36 port 52006 [preauth]",
     "preauth_close", "reset", "203.0.113.36", None, 52006, None),
    ("Received disconnect from 203.0.113.37 port 52007:11: Bye Bye [preauth]",
     "preauth_close", "received_disconnect", "203.0.113.37", None, 52007, None),
    ("Received disconnect from 203.0.113.38: 3: com.example.Client: Auth fail [preauth]",
     "failure", "auth_fail", "203.0.113.38", None, None, None),
    ("Disconnected from authenticating user root 203.0.113.39 port 52009 [preauth]",
     "preauth_close", "disconnected", "203.0.113.39", "root", 52009, None),
    ("Disconnected from invalid user oracle 203.0.113.40 port 52010 [preauth]",
     "preauth_close", "disconnected", "203.0.113.40", "oracle", 52010, None),
    ("Did not receive identification string from 203.0.113.41 port 52011",
     "probe", "no_ident", "203.0.113.41", None, 52011, None),
    ("Unable to negotiate with 203.0.113.42 port 52012: no matching host key type found. "
     "Their offer: ssh-rsa [preauth]",
     "probe", "negotiate", "203.0.113.42", None, 52012, None),
    ("Bad protocol version identification 'GET / HTTP/1.1' from 203.0.113.43 port 52013",
     "probe", "bad_version", "203.0.113.43", None, 52013, None),
    ("fatal: Timeout before authentication for 203.0.113.44 port 52014",
     "probe", "timeout", "203.0.113.44", None, 52014, None),
    ("banner exchange: Connection from 203.0.113.45 port 52015: invalid format",
     "probe", "banner", "203.0.113.45", None, 52015, None),
    ("drop connection #3 from [203.0.113.46]:52016 on [192.0.2.1]:22 penalty: failed "
     "authentication",
     "probe", "penalty", "203.0.113.46", None, 52016, None),
    ("Accepted password for alice from 192.0.2.50 port 50100 ssh2",
     "success", "accepted", "192.0.2.50", "alice", 50100, "password"),
    ("Accepted publickey for alice from 192.0.2.51 port 50101 ssh2: RSA SHA256:x1y2z3",
     "success", "accepted", "192.0.2.51", "alice", 50101, "publickey"),
    ("Connection from 192.0.2.52 port 50102 on 192.0.2.1 port 22 rdomain \"\"",
     "connect", "connect", "192.0.2.52", None, 50102, None),
]  # fmt: skip


@pytest.mark.parametrize(("message", "kind", "form", "ip", "user", "port", "method"), CASES)
def test_message_forms(
    message: str,
    kind: str,
    form: str,
    ip: str | None,
    user: str | None,
    port: int | None,
    method: str | None,
) -> None:
    event = parse(message)
    assert event == AuthEvent(kind, ip, user, port, 1, 500, method, form)  # type: ignore[arg-type]


def test_sshd_session_and_auth_idents() -> None:
    message = "Failed password for root from 192.0.2.10 port 40022 ssh2"
    for app in ("sshd", "sshd-session", "sshd-auth", ""):
        event = parse(message, app=app)
        assert event is not None and event.kind == "failure"
    assert parse(message, app="cron") is None


def test_message_repeated() -> None:
    event = parse(
        "message repeated 4 times: [ Failed password for root from 192.0.2.10 port 40022 ssh2]"
    )
    assert event is not None
    assert (event.kind, event.count, event.ip, event.user) == ("failure", 4, "192.0.2.10", "root")
    event = parse("message repeated 2 times: [ Invalid user bob from 192.0.2.11]")
    assert event is not None and (event.kind, event.count) == ("invalid_user", 2)
    assert parse("message repeated 3 times: [ session opened for user bob]") is None


def test_ipv6_addresses() -> None:
    event = parse("Failed password for root from 2001:db8::17%eth0 port 40022 ssh2")
    assert event is not None and event.ip == "2001:db8::17"
    event = parse("Invalid user x from 2001:db8:0:1::5")
    assert event is not None and event.ip == "2001:db8:0:1::5"
    event = parse("Received disconnect from 2001:db8::1: 11: Bye Bye [preauth]")
    assert event is not None and event.ip == "2001:db8::1"
    event = parse("ROOT LOGIN REFUSED FROM ::ffff:192.0.2.77")
    assert event is not None and event.ip == "192.0.2.77"
    event = parse("Connection closed by authenticating user root 2001:db8::9 port 1 [preauth]")
    assert event is not None and (event.ip, event.port) == ("2001:db8::9", 1)


def test_user_names_cannot_move_the_address() -> None:
    # Names of unknown users are chosen by the client; the address stays sshd's.
    event = parse("Invalid user a from 192.0.2.99 port 1 from 198.51.100.1 port 2")
    assert event is not None and (event.ip, event.user) == (
        "198.51.100.1",
        "a from 192.0.2.99 port 1",
    )
    event = parse(
        "Failed password for invalid user b from 192.0.2.99 port 1 ssh2 from 198.51.100.2 "
        "port 2 ssh2"
    )
    assert event is not None and event.ip == "198.51.100.2"
    event = parse(
        "Connection closed by invalid user c 192.0.2.99 port 1 198.51.100.3 port 3 [preauth]"
    )
    assert event is not None and (event.ip, event.user) == ("198.51.100.3", "c 192.0.2.99 port 1")
    event = parse("Invalid user  from 198.51.100.4 port 4")  # an empty name
    assert event is not None and (event.ip, event.user) == ("198.51.100.4", "")


def test_prefixes() -> None:
    event = parse("[ID 800047 auth.info] Failed password for root from 192.0.2.60 port 1 ssh2")
    assert event is not None and event.ip == "192.0.2.60"
    event = parse("fatal: Unable to negotiate a key exchange method [preauth]")
    assert event is not None and (event.kind, event.ip) == ("probe", None)
    event = parse("error: kex_exchange_identification: Connection closed by remote host")
    assert event is not None and (event.kind, event.form) == ("probe", "kex")


@pytest.mark.parametrize(
    "message",
    [
        "",
        "Server listening on 0.0.0.0 port 22.",
        "pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)",
        "pam_unix(sshd:auth): check pass; user unknown",
        "PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.1",
        "input_userauth_request: invalid user test [preauth]",
        "Postponed publickey for alice from 192.0.2.1 port 1 ssh2 [preauth]",
        "Connection closed by 192.0.2.1 port 22",  # the end of an ordinary session
        "Disconnected from user alice 192.0.2.1 port 22",
        "Received disconnect from 192.0.2.1 port 22:11: disconnected by user",
        "Failed password",
        "Failed password for root",
        "message repeated many times: [ x]",
        "reverse mapping checking getaddrinfo for x.example [192.0.2.1] failed - POSSIBLE "
        "BREAK-IN ATTEMPT!",
    ],
)
def test_not_auth_events(message: str) -> None:
    assert parse(message) is None


_WORDS = st.sampled_from(
    ["Failed", "Accepted", "password", "for", "invalid", "user", "from", "port", "ssh2", ":",
     "192.0.2.1", "2001:db8::1%lo", "[preauth]", "Connection", "closed", "by", "message",
     "repeated", "9", "times:", "[", "]", "error:", "PAM:", "pam_unix(sshd:auth):", "rhost=",
     "Disconnecting", "Received", "disconnect", "Invalid", "User", "not allowed because", "3:",
     "Auth fail", "authenticating", "ROOT LOGIN REFUSED FROM", "\n", "", "99999999999"]
)  # fmt: skip


@given(
    message=st.one_of(st.text(max_size=300), st.lists(_WORDS, max_size=25).map(" ".join)),
    pid=st.one_of(st.none(), st.integers(min_value=0, max_value=2**31)),
)
def test_parser_never_raises(message: str, pid: int | None) -> None:
    event = parse(message, pid=pid)
    assert event is None or event.count >= 1
