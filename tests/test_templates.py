"""The online log-template miner: masking, grouping, ids, state, memory cap."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libhfagent import InvalidInputError
from libhfagent.observer import Template, TemplateMiner, mask_token
from libhfagent.observer._templates import MAX_TOKENS, WILDCARD

# -- masking -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "masked"),
    [
        # numbers
        ("42", "<*>"),
        ("-17", "<*>"),
        ("3.14159", "<*>"),
        ("pid=1234,", "pid=<*>,"),
        ("[12345]:", "[<*>]:"),
        # IPv4, with a port
        ("192.168.1.10", "<*>"),
        ("10.0.0.1:8080", "<*>"),
        ("(203.0.113.7)", "(<*>)"),
        # IPv6, with a port
        ("2001:db8::ff00:42:8329", "<*>"),
        ("::ffff:192.0.2.1", "<*>"),
        ("0000:00:1f.6", "<*>"),
        ("fe80::1", "<*>"),
        ("[2001:db8::1]:443", "[<*>]:<*>"),
        # host:port and dotted names
        ("mail.example.org:25", "<*>"),
        ("ns1.example.com", "<*>"),
        ("org.apache.hadoop.Job", "<*>"),
        # hexadecimal
        ("0x7ffd3a2c", "<*>"),
        ("deadbeef42", "<*>"),
        # paths
        ("/var/log/nginx/error.log", "<*>"),
        ("~/.ssh/authorized_keys", "<*>"),
        ("./configure", "<*>"),
        ("usr/lib/systemd/system", "<*>"),
        ("C:\\Windows\\System32\\cbscore.dll", "<*>"),
        # UUIDs
        ("3f2b9c1e-8d4a-4c6f-9b2e-1a7d5e3c9f01", "<*>"),
        ("[instance:", "[instance:"),
        # durations and sizes
        ("250ms", "<*>"),
        ("1.5s", "<*>"),
        ("3h", "<*>"),
        # MAC addresses
        ("00:1a:2b:3c:4d:5e", "<*>"),
        ("00-1A-2B-3C-4D-5E", "<*>"),
        # dates and times
        ("2024-03-05", "<*>"),
        ("12:34:56", "<*>"),
        ("2024-03-05T12:34:56.789Z", "<*>"),
        ("Mar", "<*>"),
        ("Tue,", "<*>,"),
        ("UTC", "<*>"),
        # e-mail and URLs
        ("<alice@example.com>", "<<*>>"),
        ("https://example.com/a?b=c", "<*>"),
        ("http://10.0.0.1:8080/", "<*>"),
        # key=value values
        ("user=alice", "user=<*>"),
        ("tty=ssh", "tty=<*>"),
        ('tag="wake"', "tag=<*>"),
        ("ruser=", "ruser="),
        # booleans, quoted strings, empty pairs
        ("true", "<*>"),
        ("enabled:false,", "enabled:<*>,"),
        ('"example"', '"<*>"'),
        ("()", "(<*>)"),
        # identifiers with digits
        ("blk_-1608999687919862906", "<*>"),
        ("attempt_1445144423722_0020_m_000000_0", "<*>"),
        ("threshold.......0", "threshold.......<*>"),
    ],
)
def test_mask_token_masks_each_variable_kind(token: str, masked: str) -> None:
    assert mask_token(token) == masked


@pytest.mark.parametrize(
    ("token", "masked"),
    [
        ("Failed", "Failed"),
        ("(preauth)", "(preauth)"),
        ("error:", "error:"),
        ("...", "..."),
        ("ssh2", "ssh2"),
        ("eth0", "eth0"),
        ("IPv6", "IPv6"),
        ("SOCKS5", "SOCKS5"),
        ("HTTP/1.1", "HTTP/<*>"),
    ],
)
def test_mask_token_keeps_words_and_short_names(token: str, masked: str) -> None:
    assert mask_token(token) == masked


def test_long_token_is_a_variable() -> None:
    assert mask_token("x" * 10_000) == WILDCARD


# -- grouping ------------------------------------------------------------------

SSHD_FAILED = [
    "Failed password for root from 203.0.113.7 port 52211 ssh2",
    "Failed password for root from 198.51.100.23 port 40022 ssh2",
    "Failed password for admin from 192.0.2.44 port 33116 ssh2",
    "Failed password for git from 2001:db8::7 port 60001 ssh2",
]
SSHD_INVALID = [
    "Invalid user oracle from 203.0.113.7 port 52210",
    "Invalid user test from 198.51.100.23 port 40021",
    "Invalid user 123456 from 192.0.2.44 port 33115",
]
NGINX_ERROR = [
    '*17 open() "/usr/share/nginx/html/favicon.ico" failed (2: No such file or directory), '
    'client: 192.0.2.10, server: example.org, request: "GET /favicon.ico HTTP/1.1", '
    'host: "example.org"',
    '*912 open() "/usr/share/nginx/html/robots.txt" failed (2: No such file or directory), '
    'client: 198.51.100.3, server: example.org, request: "GET /robots.txt HTTP/1.1", '
    'host: "example.org"',
]
KERNEL_OOM = [
    "Out of memory: Killed process 2231 (java) total-vm:8123456kB, anon-rss:4012345kB, "
    "file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:9876kB oom_score_adj:0",
    "Out of memory: Killed process 7710 (java) total-vm:2345678kB, anon-rss:1999999kB, "
    "file-rss:12kB, shmem-rss:4kB, UID:0 pgtables:4321kB oom_score_adj:200",
]
KERNEL_LINK = [
    "e1000e 0000:00:19.0 eth0: NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx",
    "e1000e 0000:00:1f.6 eth0: NIC Link is Up 100 Mbps Full Duplex, Flow Control: Rx/Tx",
]
SYSTEMD_SESSION = [
    "Started Session 12 of user alice.",
    "Started Session 1402 of user bob.",
    "Started Session c3 of user gdm.",
]
TRANSFER = [
    "client.example.org:443 close, 1024 bytes sent, 2048 bytes received, lifetime 00:02",
    "api.example.net:443 close, 500 bytes (0.5 KB) sent, 8192 bytes (8.0 KB) received, "
    "lifetime <1 sec",
    "cdn.example.com:80 close, 12 bytes sent, 3145728 bytes (3.0 MB) received, lifetime 01:10",
]


@pytest.mark.parametrize(
    "messages",
    [SSHD_FAILED, SSHD_INVALID, NGINX_ERROR, KERNEL_OOM, KERNEL_LINK, SYSTEMD_SESSION, TRANSFER],
    ids=[
        "sshd-failed",
        "sshd-invalid",
        "nginx-error",
        "kernel-oom",
        "kernel-link",
        "systemd",
        "var-length",
    ],
)
def test_same_event_shares_one_template(messages: list[str]) -> None:
    miner = TemplateMiner()
    ids = {miner.add(m).id for m in messages}
    assert len(ids) == 1
    assert len(miner) == 1


def test_pattern_shows_the_variables() -> None:
    miner = TemplateMiner()
    for m in SSHD_FAILED:
        template = miner.add(m)
    assert template.pattern == "Failed password for <*> from <*> port <*> ssh2"
    assert template.count == len(SSHD_FAILED)
    assert template.tokens[-1] == "ssh2"


DIFFERENT_EVENTS = [
    "pam_unix(sshd:session): session opened for user root(uid=0) by (uid=0)",
    "pam_unix(sshd:session): session closed for user root",
    "Accepted password for root from 203.0.113.7 port 52211 ssh2",
    "Failed password for root from 203.0.113.7 port 52211 ssh2",
    "Failed password for invalid user oracle from 203.0.113.7 port 52211 ssh2",
    "Connection closed by 203.0.113.7 port 52211 [preauth]",
    "Connection reset by 203.0.113.7 port 52211 [preauth]",
    "e1000e: eth0 NIC Link is Down",
    "e1000e: eth0 NIC Link is Up",
    "Started Daily apt upgrade and clean activities.",
    "Stopped Daily apt upgrade and clean activities.",
    "nginx.service: Main process exited, code=exited, status=1/FAILURE",
    "nginx.service: Failed with result 'exit-code'.",
    "EXT4-fs (sda1): mounted filesystem with ordered data mode. Opts: (null)",
    "EXT4-fs (sda1): re-mounted. Opts: errors=remount-ro",
    "usb 1-1: new high-speed USB device number 2 using xhci_hcd",
    "usb 1-1: USB disconnect, device number 2",
    "Out of memory: Killed process 2231 (java)",
    "",
]


def test_different_events_do_not_merge() -> None:
    miner = TemplateMiner()
    templates = [miner.add(m) for m in DIFFERENT_EVENTS]
    assert all(t.is_new for t in templates)
    assert len({t.id for t in templates}) == len(DIFFERENT_EVENTS)


def test_a_word_that_takes_many_values_becomes_a_variable() -> None:
    miner = TemplateMiner()
    names = ["pager", "editor", "java", "keytool", "jar"]
    seen = [miner.add(f"link group {name} updated to point to /usr/bin/{name}") for name in names]
    assert all(t.is_new for t in seen[:4])
    assert seen[3].pattern == "link group <*> updated to point to <*>"
    assert seen[4].id == seen[3].id
    # the first ones keep their own templates, and two values are not enough
    assert miner.add("link group pager updated to point to /bin/more").id == seen[0].id
    assert miner.add("cupsd startup succeeded").id != miner.add("cupsd shutdown succeeded").id


def test_partly_masked_tokens_with_other_words_differ() -> None:
    miner = TemplateMiner()
    by_sshd = miner.add("session opened for user alice by (uid=0)")
    by_login = miner.add("session opened for user root by LOGIN(uid=0)")
    assert by_sshd.id != by_login.id
    assert miner.add("synchronized to 192.0.2.1, stratum 2").id == (
        miner.add("synchronized to LOCAL(0), stratum 10").id
    )


def test_a_template_of_variables_only_keeps_to_itself() -> None:
    miner = TemplateMiner()
    version = miner.add("jetty-6.1.26")
    assert version.pattern == WILDCARD
    assert miner.add("nodeBlacklistingEnabled:true").id != version.id
    assert miner.add("0.9.8").id == version.id


def test_interface_names_tell_events_apart() -> None:
    miner = TemplateMiner()
    a = miner.add("node 12 detected a network connection via interface eth0")
    b = miner.add("node 13 detected a network connection via interface eth1")
    assert a.id != b.id


# -- the new-template signal ---------------------------------------------------


def test_new_template_signal_fires_once_per_template() -> None:
    stream = [
        *SSHD_FAILED,
        *SSHD_INVALID,
        *SSHD_FAILED,
        *KERNEL_LINK,
        *SYSTEMD_SESSION,
        *SSHD_INVALID,
        *SYSTEMD_SESSION,
    ]
    miner = TemplateMiner()
    fired: list[str] = []
    for message in stream:
        template = miner.add(message)
        if template.is_new:
            fired.append(template.id)
    assert len(fired) == len(set(fired)) == len(miner) == 4


def test_match_does_not_learn() -> None:
    miner = TemplateMiner()
    assert miner.match(SSHD_FAILED[0]) is None
    first = miner.add(SSHD_FAILED[0])
    found = miner.match(SSHD_FAILED[1])
    assert found is not None
    assert found.id == first.id
    assert found.count == 1
    assert miner.match("something else entirely") is None
    assert len(miner) == 1


# -- ids -------------------------------------------------------------------------


def test_id_is_stable_when_the_pattern_generalises() -> None:
    miner = TemplateMiner()
    first = miner.add("Invalid user oracle from 203.0.113.7")
    second = miner.add("Invalid user test from 198.51.100.23")
    assert second.id == first.id
    assert first.pattern == "Invalid user oracle from <*>"
    assert second.pattern == "Invalid user <*> from <*>"
    assert miner.add("Invalid user oracle from 192.0.2.1").id == first.id


def test_id_is_stable_when_the_length_changes() -> None:
    miner = TemplateMiner()
    ids = [miner.add(m).id for m in TRANSFER]
    assert ids == [ids[0]] * len(TRANSFER)
    assert miner.get(ids[0]) is not None


def test_ids_are_content_derived() -> None:
    one, two = TemplateMiner(), TemplateMiner()
    two.add("unrelated message first")
    assert one.add(SSHD_FAILED[0]).id == two.add(SSHD_FAILED[0]).id
    assert len(one.add(SSHD_FAILED[0]).id) == 16


def test_state_round_trip_keeps_ids() -> None:
    stream = [*SSHD_FAILED, *SSHD_INVALID, *NGINX_ERROR, *KERNEL_OOM, *TRANSFER, *DIFFERENT_EVENTS]
    miner = TemplateMiner(max_templates=500)
    ids = [miner.add(m).id for m in stream]
    state = json.loads(json.dumps(miner.to_state()))
    restored = TemplateMiner.from_state(state)
    assert restored.max_templates == 500
    assert restored.templates() == miner.templates()
    again = [restored.add(m) for m in stream]
    assert [t.id for t in again] == ids
    assert not any(t.is_new for t in again)
    assert restored.add("a message never seen before").is_new


_VOCABULARY = [
    *("user", "for", "root", "alice", "bob", "carol", "dave", "error", "failed", "up", "down"),
    *("1", "2.5", "10.0.0.1", "(x)", "(7)", "a=1", "a=", "KB", "sec", "/tmp/x", "eth0", "x:1"),
    *("LOGIN(uid=0)", "[1]", "-", "<*>"),
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(_VOCABULARY), max_size=6).map(" ".join), max_size=40),
    st.integers(min_value=3, max_value=50),
)
def test_same_message_same_id_after_reload(messages: list[str], cap: int) -> None:
    miner = TemplateMiner(max_templates=cap)
    ids = [miner.add(m).id for m in messages]
    restored = TemplateMiner.from_state(json.loads(json.dumps(miner.to_state())))
    for message, tid in zip(messages, ids, strict=True):
        live, reloaded = miner.match(message), restored.match(message)
        assert (live and live.id) == (reloaded and reloaded.id)
        if miner.get(tid) is not None:  # not dropped by the memory cap
            assert reloaded is not None
            assert reloaded.id == tid


@pytest.mark.parametrize(
    "state",
    [
        None,
        [],
        {},
        {"format": "something else"},
        {"format": "libhfagent.template-miner", "version": 99},
        {"format": "libhfagent.template-miner", "version": 1, "max_templates": 0, "templates": []},
        {"format": "libhfagent.template-miner", "version": 1, "max_templates": 10, "templates": {}},
        {
            "format": "libhfagent.template-miner",
            "version": 1,
            "max_templates": 10,
            "templates": ["x"],
        },
        {
            "format": "libhfagent.template-miner",
            "version": 1,
            "max_templates": 10,
            "templates": [{"id": "", "pattern": "a", "count": 1}],
        },
        {
            "format": "libhfagent.template-miner",
            "version": 1,
            "max_templates": 10,
            "templates": [
                {"id": "a", "pattern": "a", "count": 1},
                {"id": "a", "pattern": "b", "count": 1},
            ],
        },
        {
            "format": "libhfagent.template-miner",
            "version": 1,
            "max_templates": 10,
            "templates": [{"id": "a", "pattern": "a  b", "count": 1}],
        },
        {
            "format": "libhfagent.template-miner",
            "version": 1,
            "max_templates": 10,
            "templates": [{"id": "a", "pattern": "a\tb", "count": 1}],
        },
        {
            "format": "libhfagent.template-miner",
            "version": 1,
            "max_templates": 10,
            "templates": [{"id": "a", "pattern": "a", "count": -1}],
        },
        {
            "format": "libhfagent.template-miner",
            "version": 1,
            "max_templates": 10,
            "templates": [{"id": "a", "pattern": "a", "count": True}],
        },
    ],
)
def test_from_state_rejects_bad_state(state: object) -> None:
    with pytest.raises(InvalidInputError):
        TemplateMiner.from_state(state)  # type: ignore[arg-type]


# -- memory ------------------------------------------------------------------------


def test_memory_cap_evicts_the_rarest() -> None:
    miner = TemplateMiner(max_templates=10)
    frequent = [f"frequent event {word} happened" for word in "abcde"]
    for _ in range(5):
        for message in frequent:
            miner.add(message)
    frequent_ids = {miner.add(m).id for m in frequent}
    rare = [f"{chr(97 + i % 26)}{chr(97 + i // 26)}x happened once" for i in range(100)]
    for message in rare:
        assert miner.add(message).is_new
        assert len(miner) <= 10
    assert frequent_ids <= {t.id for t in miner.templates()}
    assert miner.add(frequent[0]).id in frequent_ids
    # a dropped template that comes back is new again
    assert miner.add(rare[0]).is_new


def test_max_templates_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_templates"):
        TemplateMiner(max_templates=0)


def test_very_long_message_is_capped() -> None:
    miner = TemplateMiner()
    message = " ".join(f"word{i}x" for i in range(10 * MAX_TOKENS))
    template = miner.add(message)
    assert len(template.tokens) == MAX_TOKENS
    assert template.tokens[-1] == WILDCARD


# -- robustness ------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(), max_size=20))
def test_add_never_raises(messages: list[str]) -> None:
    miner = TemplateMiner(max_templates=5)
    for message in messages:
        template = miner.add(message)
        assert isinstance(template, Template)
        assert template.count >= 1
        assert miner.get(template.id) is not None
    restored = TemplateMiner.from_state(json.loads(json.dumps(miner.to_state())))
    assert [restored.add(m).id for m in messages[-3:]] == [miner.add(m).id for m in messages[-3:]]


@settings(max_examples=100, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list(" \t\x00\x1b\x7f\u2028\ufeff=:/.\\\"'()[]{}<>*0a1B-_@~")),
        max_size=300,
    )
)
def test_add_never_raises_on_control_and_punctuation(message: str) -> None:
    miner = TemplateMiner()
    assert miner.add(message).is_new
    assert not miner.add(message).is_new


def test_empty_and_blank_messages() -> None:
    miner = TemplateMiner()
    empty = miner.add("")
    assert empty.pattern == ""
    assert empty.tokens == ()
    assert empty.is_new
    assert miner.add(" \t ").id == empty.id
    assert miner.add("x" * 1_000_000).pattern == WILDCARD
