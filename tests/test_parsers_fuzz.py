"""Every parser, fuzzed: no exception escapes, and what comes out is typed as documented.

Inputs are random text and valid lines mutated at random places (so that the
fuzzer gets deep into each parser rather than failing at its first character).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libhfagent._errors import ConfigError
from libhfagent.observer._access import AccessRecord, parse_access_line
from libhfagent.observer._auth import AuthEvent, parse_auth_message
from libhfagent.observer._errorlog import (
    ErrorLogRecord,
    parse_apache_error_line,
    parse_error_line,
    parse_nginx_error_line,
)
from libhfagent.observer._events import Event, Severity
from libhfagent.observer._journal import journal_entry_event
from libhfagent.observer._kernel import KernelEvent, parse_kernel_message
from libhfagent.observer._kmsg import KmsgRecord, parse_kmsg_record
from libhfagent.observer._logformat import (
    APACHE_COMBINED,
    NGINX_COMBINED,
    compile_log_format,
)
from libhfagent.observer._syslog import SyslogRecord, parse_syslog_line
from libhfagent.observer._templates import Template, TemplateMiner, mask_token

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ACCESS = [
    '203.0.113.9 - alice [01/May/2024:12:00:00 +0200] "GET /a?x=1 HTTP/1.1" 200 5120 '
    '"https://example.org/" "Mozilla/5.0"',
    'www.example.org:443 1.2.3.4 - - [01/May/2024:12:00:00 +0000] "POST / HTTP/1.0" 500 -',
]
SYSLOG = [
    "Nov 25 01:10:00 host sshd[123]: Failed password for root from 1.2.3.4 port 22 ssh2",
    '<34>1 2026-11-25T01:10:00.123+01:00 host app 123 msgid [sd a="b\\"c"] message',
    "2026-11-25T01:10:00.123456+01:00 host sshd[123]: Accepted publickey for bob",
]
AUTH = [
    "Failed password for invalid user admin from 1.2.3.4 port 50022 ssh2",
    "message repeated 3 times: [ Failed password for root from 1.2.3.4 port 22 ssh2]",
    "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
    "rhost=1.2.3.4  user=root",
    "Disconnected from invalid user x 1.2.3.4 port 4 [preauth]",
    "Received disconnect from 1.2.3.4 port 5:11: Bye Bye [preauth]",
]
KERNEL = [
    "I/O error, dev sdb, sector 2048 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 0",
    "Buffer I/O error on dev sda1, logical block 0, async page read",
    "ata1.00: exception Emask 0x0 SAct 0x80000 SErr 0x0 action 0x6 frozen",
    "ata1.00: failed command: READ FPDMA QUEUED",
    "sd 0:0:0:0: [sda] tag#5 FAILED Result: hostbyte=DID_OK driverbyte=DRIVER_SENSE",
    "sd 2:0:0:0: [sdb] tag#0 Sense Key : Medium Error [current]",
    "nvme nvme1: I/O 17 (Read) QID 2 timeout, aborting",
    "nvme0n1: Read(0x2) @ LBA 7340032, 8 blocks, Unrecovered Read Error (sct 0x2 / sc 0x81)",
    "EXT4-fs error (device sda1): ext4_find_entry:1455: inode #2: comm ls: x",
    "XFS (dm-0): Corruption detected. Unmount and run xfs_repair",
    "Out of memory: Killed process 1234 (java) total-vm:8kB, anon-rss:4kB, UID:1000",
    "oom-kill:constraint=CONSTRAINT_NONE,task_memcg=/x,task=java,pid=1234,uid=0",
    "app[123]: segfault at 0 ip 00007f3a sp 00007ffd error 4 in libc.so.6[7f3a+195000]",
    "traps: nginx[900] general protection fault ip:55d0c1 sp:7ffd0 error:0 in nginx[55d0]",
    "INFO: task jbd2/sda1-8:245 blocked for more than 120 seconds.",
    "watchdog: BUG: soft lockup - CPU#1 stuck for 23s! [stress:3021]",
]
KMSG = [
    "6,339,5140900,-,caller=T1;NET: \\x5c registered\n SUBSYSTEM=net\n DEVICE=+net:lo",
    "3,101,2000000,-;I/O error, dev sdb, sector 2048",
]
ERRORLOG = [
    '2024/05/01 12:00:00 [error] 123#123: *45 open() "/x" failed (2: No such file), '
    'client: 1.2.3.4, server: s, request: "GET /x HTTP/1.1", host: "h", referrer: "r"',
    "[Wed May 01 12:00:00.123456 2024] [core:error] [pid 123:tid 456] (70007)Timeout: "
    "[client 1.2.3.4:5678] AH00126: Invalid URI, referer: http://x/",
    "[Wed May 01 12:00:00 2024] [error] [client 1.2.3.4] File does not exist: /x",
]
FORMATS = [
    NGINX_COMBINED,
    APACHE_COMBINED,
    '$remote_addr [$time_iso8601] "$request" $status rt=$request_time $msec',
    '%v:%p %a %t "%r" %>s %O %D "%{X-Id}i"',
]


def _mutated(seeds: list[str]) -> st.SearchStrategy[str]:
    """Valid lines with a random stretch replaced, inserted or cut off."""

    def mutate(seed: str, data: st.DataObject) -> str:
        start = data.draw(st.integers(0, len(seed)))
        end = data.draw(st.integers(start, len(seed)))
        filler = data.draw(st.text(max_size=12))
        return seed[:start] + filler + seed[end:]

    return st.builds(lambda s, d: mutate(s, d), st.sampled_from(seeds), st.data())


def _lines(seeds: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.text(max_size=200), _mutated(seeds), st.sampled_from(seeds))


def _check_attrs(value: object) -> None:
    """Each attribute holds a value of its annotated kind (no stray match objects)."""
    for field in attrs.fields(type(value)):
        item = getattr(value, field.name)
        assert item is None or isinstance(
            item, str | int | float | dt.datetime | Mapping | tuple
        ), (field.name, item)
        if isinstance(item, dt.datetime):
            assert item.tzinfo is not None


NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


@FUZZ
@given(_lines(ACCESS))
def test_access_parser(line: str) -> None:
    record = parse_access_line(line)
    if record is not None:
        assert isinstance(record, AccessRecord) and isinstance(record.status, int)
        _check_attrs(record)


@FUZZ
@given(_lines(SYSLOG), st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=-5))]))
def test_syslog_parser(line: str, tz: dt.tzinfo) -> None:
    record = parse_syslog_line(line, now=NOW, tz=tz)
    if record is not None:
        assert isinstance(record, SyslogRecord) and isinstance(record.message, str)
        _check_attrs(record)


@FUZZ
@given(
    _lines(AUTH),
    st.sampled_from(["sshd", "", "sshd-session", "cron"]),
    st.one_of(st.none(), st.integers(0, 2**31)),
)
def test_auth_parser(message: str, app: str, pid: int | None) -> None:
    event = parse_auth_message(app, pid, message)
    if event is not None:
        assert isinstance(event, AuthEvent) and event.count >= 1
        _check_attrs(event)


@FUZZ
@given(st.lists(_lines(AUTH + SYSLOG + KERNEL), min_size=1, max_size=8))
def test_template_miner_and_masking(messages: list[str]) -> None:
    miner = TemplateMiner(max_templates=50)
    for message in messages:
        for token in message.split():
            assert isinstance(mask_token(token), str)
        template = miner.add(message)
        assert isinstance(template, Template) and isinstance(template.id, str)
        assert isinstance(template.pattern, str) and template.count >= 1
    again = TemplateMiner.from_state(miner.to_state())
    assert len(again) == len(miner)


@FUZZ
@given(_lines(KERNEL))
def test_kernel_parser(message: str) -> None:
    event = parse_kernel_message(message)
    if event is not None:
        assert isinstance(event, KernelEvent) and event.kind
        _check_attrs(event)
        assert all(isinstance(v, str) for v in event.detail.values())


@FUZZ
@given(st.one_of(_lines(KMSG), st.binary(max_size=200)))
def test_kmsg_record_parser(record: str | bytes) -> None:
    parsed = parse_kmsg_record(record)
    if parsed is not None:
        assert isinstance(parsed, KmsgRecord) and 0 <= parsed.severity <= 7
        assert parsed.seq >= 0 and parsed.usec >= 0
        _check_attrs(parsed)


@FUZZ
@given(_lines(ERRORLOG))
def test_error_log_parsers(line: str) -> None:
    for parse in (parse_nginx_error_line, parse_apache_error_line, parse_error_line):
        record = parse(line)
        if record is not None:
            assert isinstance(record, ErrorLogRecord) and 0 <= record.severity <= 7
            _check_attrs(record)


COMPILED = [compile_log_format(f) for f in FORMATS]
ACCESS_LIKE = [
    *ACCESS,
    '10.0.0.1 [2024-05-01T12:00:00+02:00] "GET / HTTP/1.1" 200 rt=0.5 1714557600.123',
    'www:443 1.2.3.4 [01/May/2024:12:00:00 +0000] "GET / HTTP/1.1" 200 10 1500 "x"',
]


@FUZZ
@given(_lines(ACCESS_LIKE))
def test_compiled_log_formats(line: str) -> None:
    for parse in COMPILED:
        fields = parse(line)
        if fields is None:
            continue
        for key, value in fields.items():
            assert value is None or isinstance(value, str | int | float | dt.datetime), key
            if isinstance(value, dt.datetime):
                assert value.tzinfo is not None
        if "status" in fields:
            assert fields["status"] is None or isinstance(fields["status"], int)


@FUZZ
@given(_lines(FORMATS), st.sampled_from(["auto", "nginx", "apache"]), _lines(ACCESS_LIKE))
def test_compile_any_format(fmt: str, style: Any, line: str) -> None:
    try:
        parse = compile_log_format(fmt, style=style)
    except ConfigError:
        return
    fields = parse(line)
    assert fields is None or isinstance(fields, dict)


_FIELD_VALUES = st.one_of(
    st.binary(max_size=40), st.text(max_size=40), st.lists(st.binary(max_size=8), max_size=3)
)


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "MESSAGE",
                "PRIORITY",
                "_PID",
                "_HOSTNAME",
                "_SYSTEMD_UNIT",
                "SYSLOG_IDENTIFIER",
                "UNIT",
                "__CURSOR",
            ]
        ),
        _FIELD_VALUES,
    ),
    st.one_of(st.integers(0, 2**62), st.datetimes(timezones=st.just(dt.UTC))),
)
def test_journal_entries(entry: dict[str, Any], stamp: Any) -> None:
    entry["__REALTIME_TIMESTAMP"] = stamp
    event = journal_entry_event(entry, "j")
    assert isinstance(event, Event) and isinstance(event.message, str)
    assert isinstance(event.severity, Severity) and event.timestamp.tzinfo is not None
    assert event.fields.get("pid") is None or isinstance(event.fields["pid"], int)


def test_five_megabyte_lines_in_every_parser() -> None:
    size = 5 * 1024 * 1024
    shapes = [
        "a" * size,
        " " * size,
        "[" * size,
        '"' * size,
        "\\" * size,
        ", client: " * 500_000,
        "ata1: " + "x" * size,
        "sd 0:0:0:0: [sda] " + "Sense Key : " * 400_000,
        "app[1]: segfault at " + "1" * size,
        "traps: a[1] " + " in " * 1_000_000,
        "Out of memory: Kill process 1 (" + ")" * size,
        "2024/05/01 12:00:00 [error] 1#1: " + ", client: 1.2.3.4, server: " * 200_000,
    ]
    miner = TemplateMiner()
    for line in shapes:
        assert parse_access_line(line) is None
        parse_syslog_line(line, now=NOW, tz=dt.UTC)
        parse_auth_message("sshd", 1, line)
        parse_kernel_message(line)
        parse_kmsg_record(line)
        parse_error_line(line)
        parse_apache_error_line(line)
        for parse in COMPILED:
            parse(line)
        miner.add(line)
