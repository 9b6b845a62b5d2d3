"""The SSH brute-force detector (pure, streaming).

Every line here is written for these tests (documentation addresses).
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libhfagent.learner._bruteforce import BruteForceDetector, Offender
from libhfagent.observer._auth import AuthEvent, parse_auth_message

UTC = dt.UTC
T0 = dt.datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
ATTACKER = "198.51.100.66"


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def event(message: str, pid: int | None = 100) -> AuthEvent:
    parsed = parse_auth_message("sshd", pid, message)
    assert parsed is not None, message
    return parsed


def failed(ip: str = ATTACKER, user: str = "root", pid: int | None = 100) -> AuthEvent:
    return event(f"Failed password for {user} from {ip} port 40000 ssh2", pid)


def feed_lines(
    detector: BruteForceDetector, lines: list[str], pid: int = 100, start: float = 0.0
) -> list[Offender | None]:
    return [detector.feed(at(start + i), event(line, pid)) for i, line in enumerate(lines)]


def test_threshold_at_the_fifth_failure_within_find_time() -> None:
    detector = BruteForceDetector()
    results = [detector.feed(at(s), failed(pid=100 + i)) for i, s in enumerate((0, 150, 300, 450))]
    assert results == [None] * 4
    flagged = detector.feed(at(600), failed(pid=200))
    assert flagged == Offender(ATTACKER, 5, at(0), at(600))
    assert detector.offenders() == [flagged]
    assert detector.failures == 5


def test_no_threshold_when_spread_over_601_seconds() -> None:
    detector = BruteForceDetector()
    for i, s in enumerate((0, 150, 300, 450, 601)):
        assert detector.feed(at(s), failed(pid=100 + i)) is None
    assert detector.offenders() == []
    # The window slides: the failure at 0 has left it, the next one makes five.
    flagged = detector.feed(at(602), failed(pid=300))
    assert flagged == Offender(ATTACKER, 5, at(150), at(602))


def test_reported_once_per_crossing() -> None:
    detector = BruteForceDetector()
    results = [detector.feed(at(i), failed(pid=i)) for i in range(8)]
    assert [r is not None for r in results] == [False] * 4 + [True] + [False] * 3
    (offender,) = detector.offenders()
    assert (offender.failures, offender.first, offender.last) == (8, at(0), at(7))
    # After a quiet window the source can cross again.
    again = [detector.feed(at(1000 + i), failed(pid=50 + i)) for i in range(5)]
    assert again[-1] == Offender(ATTACKER, 5, at(1000), at(1004))
    assert detector.offenders()[0].failures == 13


def test_custom_threshold_and_window() -> None:
    detector = BruteForceDetector(max_retry=2, find_time=10)
    assert detector.feed(at(0), failed(pid=1)) is None
    assert detector.feed(at(11), failed(pid=2)) is None
    assert detector.feed(at(21), failed(pid=3)) == Offender(ATTACKER, 2, at(11), at(21))


def test_invalid_user_attempt_counted_once() -> None:
    detector = BruteForceDetector()
    feed_lines(
        detector,
        [
            f"Invalid user oracle from {ATTACKER} port 41000",
            f"Failed none for invalid user oracle from {ATTACKER} port 41000 ssh2",
            f"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
            f"rhost={ATTACKER}",
            f"Failed password for invalid user oracle from {ATTACKER} port 41000 ssh2",
            f"Connection closed by invalid user oracle {ATTACKER} port 41000 [preauth]",
        ],
    )
    assert detector.failures == 1


def test_pam_and_failed_line_counted_once() -> None:
    detector = BruteForceDetector()
    feed_lines(
        detector,
        [
            f"error: PAM: Authentication failure for root from {ATTACKER}",
            f"Failed keyboard-interactive/pam for root from {ATTACKER} port 41001 ssh2",
            "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
            "rhost=attacker.example.net  user=root",
            f"Failed password for root from {ATTACKER} port 41001 ssh2",
        ],
    )
    # Two attempts, both for the address sshd logged (not PAM's host name).
    assert detector.failures == 2
    assert detector.last_counted() == [(ATTACKER, 1)]


def test_every_password_tried_on_one_connection_counts() -> None:
    detector = BruteForceDetector()
    results = feed_lines(
        detector,
        [f"Failed password for root from {ATTACKER} port 41002 ssh2"] * 3
        + [
            f"message repeated 2 times: [ Failed password for root from {ATTACKER} port 41002 "
            "ssh2]",
            f"error: maximum authentication attempts exceeded for root from {ATTACKER} port "
            "41002 ssh2 [preauth]",
            f"Disconnecting authenticating user root {ATTACKER} port 41002: Too many "
            "authentication failures [preauth]",
            f"Connection closed by authenticating user root {ATTACKER} port 41002 [preauth]",
        ],
    )
    assert detector.failures == 5
    assert results[3] == Offender(ATTACKER, 5, at(0), at(3))
    assert results[4:] == [None, None, None]


def test_preauth_close_without_earlier_failure() -> None:
    detector = BruteForceDetector()
    feed_lines(
        detector, [f"Connection closed by authenticating user root {ATTACKER} port 1 [preauth]"], 1
    )
    feed_lines(detector, [f"Disconnected from invalid user x {ATTACKER} port 2 [preauth]"], 2)
    assert detector.failures == 2
    # Bare closes and the client's goodbye are not attempts.
    feed_lines(detector, [f"Connection closed by {ATTACKER} port 3 [preauth]"], 3)
    feed_lines(detector, [f"Received disconnect from {ATTACKER} port 4:11: Bye Bye [preauth]"], 4)
    feed_lines(detector, [f"Did not receive identification string from {ATTACKER}"], 5)
    assert detector.failures == 2


def test_announcements_of_the_same_kind_are_new_attempts() -> None:
    detector = BruteForceDetector()
    feed_lines(detector, [f"Invalid user a from {ATTACKER} port 1"] * 2)
    feed_lines(detector, [f"ROOT LOGIN REFUSED FROM {ATTACKER} port 2"] * 3, pid=101)
    assert detector.failures == 5
    detector = BruteForceDetector()
    feed_lines(
        detector,
        [
            f"Invalid user u1 from {ATTACKER} port 3",
            f"Disconnecting invalid user u1 {ATTACKER} port 3: Change of username or service "
            "not allowed: (u1,ssh-connection) -> (u2,ssh-connection) [preauth]",
            f"Disconnected from invalid user u1 {ATTACKER} port 3 [preauth]",
        ],
    )
    assert detector.failures == 2


def test_pid_reused_after_the_connection_closed() -> None:
    detector = BruteForceDetector()
    attempt = [
        f"Invalid user x from {ATTACKER} port 1",
        f"Failed password for invalid user x from {ATTACKER} port 1 ssh2",
        f"Connection closed by invalid user x {ATTACKER} port 1 [preauth]",
    ]
    feed_lines(detector, attempt)
    feed_lines(detector, attempt, start=100)  # same pid, a later process
    assert detector.failures == 2


def test_rejected_keys_of_an_existing_user() -> None:
    keys = [
        f"Failed none for deploy from {ATTACKER} port 5 ssh2",
        f"Failed publickey for deploy from {ATTACKER} port 5 ssh2: ED25519 SHA256:k1",
        f"Failed publickey for deploy from {ATTACKER} port 5 ssh2: RSA SHA256:k2",
    ]
    detector = BruteForceDetector()
    feed_lines(detector, [*keys, f"Accepted publickey for deploy from {ATTACKER} port 5 ssh2"])
    assert detector.failures == 0
    detector = BruteForceDetector()
    feed_lines(
        detector, [*keys, "Disconnecting: Too many authentication failures for deploy [preauth]"]
    )
    assert detector.failures == 1
    assert detector.last_counted() == [(ATTACKER, 1)]


def test_pam_module_failures_held_until_the_connection_tells() -> None:
    def pam(user: str) -> str:
        return (
            "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh "
            f"ruser= rhost={ATTACKER}  user={user}"
        )

    # pam_unix fails, the next module in the stack accepts the same user.
    detector = BruteForceDetector()
    feed_lines(detector, [pam("alice"), f"Accepted password for alice from {ATTACKER} port 6 ssh2"])
    assert detector.failures == 0
    # Failures for other users, then a login as someone else: they were real.
    detector = BruteForceDetector()
    feed_lines(detector, [pam("root"), pam("root")])
    assert detector.failures == 0
    feed_lines(detector, [f"Accepted password for bob from {ATTACKER} port 6 ssh2"], start=2)
    assert detector.failures == 2
    # Switching user within the connection releases the earlier ones.
    detector = BruteForceDetector()
    feed_lines(detector, [pam("root"), pam("admin")])
    assert detector.failures == 1
    # The connection ends without a "Failed" line.
    feed_lines(detector, [f"Connection closed by {ATTACKER} port 6 [preauth]"], start=2)
    assert detector.failures == 2


def test_lines_without_an_address() -> None:
    detector = BruteForceDetector()
    feed_lines(detector, ["Disconnecting: Too many authentication failures for root [preauth]"])
    assert detector.failures == 0  # waiting for the address
    feed_lines(detector, [f"Connection closed by {ATTACKER} port 7 [preauth]"], start=1)
    assert detector.last_counted() == [(ATTACKER, 1)]
    # With LogLevel VERBOSE the address comes first; a new "Connection from" is a new connection.
    detector = BruteForceDetector()
    connect = f"Connection from {ATTACKER} port 8 on 192.0.2.1 port 22"
    too_many = "Disconnecting: Too many authentication failures [preauth]"
    feed_lines(detector, [connect, too_many, connect, too_many])
    assert detector.failures == 2
    # "User ... not allowed because account is locked" has no address either.
    detector = BruteForceDetector()
    feed_lines(
        detector,
        [
            "User root not allowed because account is locked",
            f"Received disconnect from {ATTACKER} port 9:11: Bye Bye [preauth]",
        ],
    )
    assert detector.last_counted() == [(ATTACKER, 1)]


def test_ignore_successful() -> None:
    lines = [f"Accepted password for alice from {ATTACKER} port 1 ssh2"]
    plain, ignoring = BruteForceDetector(), BruteForceDetector(ignore_successful=True)
    for detector in (plain, ignoring):
        feed_lines(detector, lines, pid=1)
        results = [detector.feed(at(10 + i), failed(pid=10 + i)) for i in range(6)]
        assert detector.failures == 6
    assert [o.ip for o in plain.offenders()] == [ATTACKER]
    assert ignoring.offenders() == []
    # A source reported before it logged in is dropped from the offenders.
    detector = BruteForceDetector(ignore_successful=True)
    results = [detector.feed(at(i), failed(pid=i)) for i in range(5)]
    assert results[-1] is not None
    feed_lines(detector, lines, pid=99, start=5)
    assert detector.offenders() == []


def test_ipv6_sources() -> None:
    detector = BruteForceDetector()
    flagged = None
    for i, ip in enumerate(["2001:db8::7", "2001:db8::7%eth0", "2001:db8::7"] * 2):
        flagged = flagged or detector.feed(at(i), failed(ip=ip, pid=i))
    assert flagged == Offender("2001:db8::7", 5, at(0), at(4))


def test_mixed_hosts_and_lines_without_pid() -> None:
    detector = BruteForceDetector()
    pending = "Disconnecting: Too many authentication failures for root [preauth]"
    detector.feed(at(0), event(pending, 42), log_host="web1")
    detector.feed(at(1), event(f"Connection closed by {ATTACKER} [preauth]", 42), log_host="web2")
    assert detector.failures == 0  # same pid, other machine
    detector.feed(at(2), event("Connection closed by 192.0.2.5 [preauth]", 42), log_host="web1")
    assert detector.last_counted() == [("192.0.2.5", 1)]
    # Without a pid every failure counts on its own; closes and PAM modules are ignored.
    detector = BruteForceDetector()
    detector.feed(at(0), event(f"Invalid user a from {ATTACKER}", None))
    detector.feed(at(1), failed(pid=None))
    detector.feed(at(2), event(f"Connection closed by invalid user a {ATTACKER} [preauth]", None))
    assert detector.failures == 2


def test_bounded_memory() -> None:
    detector = BruteForceDetector(max_sources=2)
    for i in range(4):
        detector.feed(at(i), failed(pid=i))
    detector.feed(at(4), failed(ip="192.0.2.1", pid=10))
    detector.feed(at(5), failed(ip="192.0.2.2", pid=11))  # the attacker is pushed out
    assert detector.feed(at(6), failed(pid=12)) is None
    assert detector.offenders() == []
    detector = BruteForceDetector()
    for i in range(1000):
        detector.feed(at(i * 10), failed(ip=f"10.0.{i // 256}.{i % 256}", pid=i))
    # Sources and connections idle for longer than the window are forgotten.
    assert len(detector._sources) <= 61
    assert len(detector._connections) <= 61


@pytest.mark.parametrize(
    "kwargs",
    [{"max_retry": 0}, {"max_retry": 2.5}, {"find_time": 0}, {"find_time": -1.0},
     {"max_sources": 0}, {"max_retry": True}],
)  # fmt: skip
def test_bad_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        BruteForceDetector(**kwargs)  # type: ignore[arg-type]


_MESSAGES = st.sampled_from(
    [
        "Failed password for root from {ip} port 1 ssh2",
        "Failed publickey for git from {ip} port 1 ssh2: RSA SHA256:x",
        "Failed none for invalid user x from {ip} port 1 ssh2",
        "Invalid user x from {ip}",
        "message repeated 3 times: [ Failed password for root from {ip} port 1 ssh2]",
        "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
        "rhost={ip}  user=root",
        "error: PAM: Authentication failure for root from {ip}",
        "Accepted password for root from {ip} port 1 ssh2",
        "Connection from {ip} port 1 on 192.0.2.1 port 22",
        "Connection closed by {ip} [preauth]",
        "Connection closed by authenticating user root {ip} port 1 [preauth]",
        "Disconnecting: Too many authentication failures for root [preauth]",
        "User root not allowed because account is locked",
        "Received disconnect from {ip}: 3: x: Auth fail [preauth]",
        "Did not receive identification string from {ip}",
    ]
)


@given(
    steps=st.lists(
        st.tuples(
            _MESSAGES,
            st.sampled_from(["192.0.2.1", "192.0.2.2", "2001:db8::1"]),
            st.one_of(st.none(), st.integers(1, 4)),
            st.floats(min_value=0, max_value=400),
        ),
        max_size=60,
    ),
    ignore=st.booleans(),
)
def test_detector_never_raises(
    steps: list[tuple[str, str, int | None, float]], ignore: bool
) -> None:
    detector = BruteForceDetector(
        max_retry=3, find_time=300, ignore_successful=ignore, max_sources=2
    )
    clock = 0.0
    total = 0
    for message, ip, pid, step in steps:
        clock += step
        parsed = parse_auth_message("sshd", pid, message.format(ip=ip))
        assert parsed is not None
        flagged = detector.feed(at(clock), parsed)
        counted = detector.last_counted()
        total += sum(n for _, n in counted)
        assert detector.failures == total
        if flagged is not None:
            assert flagged.failures >= 3 and flagged.ip in {ip for ip, _ in counted}
    assert len(detector.offenders()) <= 2
