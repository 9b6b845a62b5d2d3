"""nginx and Apache error-log lines."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from libhfagent.observer._errorlog import (
    ErrorLogRecord,
    parse_apache_error_line,
    parse_error_line,
    parse_nginx_error_line,
)
from libhfagent.testing import NginxServer

PARIS = dt.timezone(dt.timedelta(hours=2))


def test_nginx_open_failed_with_full_context() -> None:
    line = (
        '2024/05/01 12:00:00 [error] 123#123: *45 open() "/var/www/x" failed '
        "(2: No such file or directory), client: 1.2.3.4, server: example.org, "
        'request: "GET /x HTTP/1.1", host: "example.org", referrer: "http://a/b"\n'
    )
    r = parse_nginx_error_line(line, tz=PARIS)
    assert isinstance(r, ErrorLogRecord)
    assert r.server == "nginx"
    assert r.time == dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=PARIS)
    assert (r.level, r.severity, r.pid, r.tid, r.connection) == ("error", 3, 123, 123, 45)
    assert r.message == 'open() "/var/www/x" failed (2: No such file or directory)'
    assert (r.os_errno, r.os_error) == (2, "No such file or directory")
    assert (r.client, r.vhost, r.request, r.host, r.referer) == (
        "1.2.3.4",
        "example.org",
        "GET /x HTTP/1.1",
        "example.org",
        "http://a/b",
    )
    assert r.upstream is None


def test_nginx_upstream_and_lines_without_context() -> None:
    r = parse_nginx_error_line(
        "2024/05/01 12:00:01 [error] 7#7: *9 upstream timed out (110: Connection timed out) "
        "while reading response header from upstream, client: 10.0.0.1, server: api, "
        'request: "POST /v1 HTTP/1.1", upstream: "http://127.0.0.1:8080/v1", host: "api"'
    )
    assert r is not None and r.upstream == "http://127.0.0.1:8080/v1" and r.os_errno == 110
    assert r.message.endswith("while reading response header from upstream")
    bare = parse_nginx_error_line(
        "2024/05/01 12:00:02 [emerg] 1#1: bind() to 0.0.0.0:80 failed (98: Address in use)"
    )
    assert bare is not None and bare.severity == 0 and bare.connection is None
    assert bare.client is None and bare.message.startswith("bind()")
    notice = parse_nginx_error_line("2024/05/01 12:00:03 [notice] 1#1: signal process started")
    assert notice is not None and notice.severity == 5
    # A client-controlled ", client: " inside the message does not fool the context.
    tricky = parse_nginx_error_line(
        '2024/05/01 12:00:04 [error] 1#1: *1 open() "/a, client: 6.6.6.6, server: evil" failed '
        '(2: No such file or directory), client: 1.2.3.4, server: s, request: "GET / HTTP/1.1"'
    )
    assert tricky is not None and tricky.client == "1.2.3.4" and tricky.vhost == "s"


@pytest.mark.parametrize(
    "line",
    [
        "",
        "2024/05/01 12:00:00 [bogus] 1#1: x",
        "2024/13/01 12:00:00 [error] 1#1: month 13",
        "2024/05/01 12:00:00 error 1#1: no brackets",
        "   continuation of a multi-line message",
        "[Wed May 01 12:00:00 2024] [nolevel] [client 1.2.3.4] x",
        "[Wed Foo 01 12:00:00 2024] [error] bad month",
        "[Wed Feb 30 12:00:00 2024] [error] bad day",
    ],
)
def test_not_error_lines(line: str) -> None:
    assert parse_error_line(line) is None


def test_apache_24_lines() -> None:
    r = parse_apache_error_line(
        "[Wed May 01 12:00:00.123456 2024] [core:error] [pid 123:tid 456] "
        "[client 1.2.3.4:5678] AH00126: Invalid URI in request GET /x HTTP/1.1",
        tz=PARIS,
    )
    assert r is not None and r.server == "apache"
    assert r.time == dt.datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=PARIS)
    assert (r.module, r.level, r.severity, r.pid, r.tid) == ("core", "error", 3, 123, 456)
    assert (r.client, r.client_port, r.code) == ("1.2.3.4", 5678, "AH00126")
    assert r.message == "Invalid URI in request GET /x HTTP/1.1"
    proxy = parse_apache_error_line(
        "[Wed May 01 12:00:01.5 2024] [proxy_fcgi:error] [pid 9:tid 10] (70007)The timeout "
        "specified has expired: [client 2001:db8::1:443] AH01075: Error dispatching request "
        "to : (polling), referer: https://example.org/page"
    )
    assert proxy is not None
    assert (proxy.os_errno, proxy.os_error) == (70007, "The timeout specified has expired")
    assert (proxy.client, proxy.client_port) == ("2001:db8::1", 443)
    assert proxy.referer == "https://example.org/page"
    assert proxy.message == "Error dispatching request to : (polling)"
    assert proxy.time.microsecond == 500000
    trace = parse_apache_error_line(
        "[Wed May 01 12:00:02 2024] [ssl:trace3] [pid 5] ssl_engine_io.c(2135): OpenSSL"
    )
    assert trace is not None and trace.severity == 7 and trace.tid is None


def test_apache_22_line() -> None:
    r = parse_error_line(
        "[Wed May 01 12:00:00 2024] [error] [client 1.2.3.4] File does not exist: "
        "/var/www/favicon.ico"
    )
    assert r is not None and r.server == "apache" and r.module is None and r.pid is None
    assert (r.client, r.client_port) == ("1.2.3.4", None)
    assert r.message == "File does not exist: /var/www/favicon.ico"
    assert r.time.tzinfo is dt.UTC


@pytest.mark.system
def test_real_nginx_error_log(tmp_path: Path) -> None:
    if not NginxServer.available():
        pytest.skip("nginx is not installed (scripts/bootstrap installs nginx-light)")
    with NginxServer(tmp_path / "nginx") as nginx:
        assert nginx.get("/missing.html") == 404
        lines = nginx.error_log.read_text(encoding="utf-8").splitlines()
    records = [parse_error_line(line) for line in lines]
    missing = [r for r in records if r is not None and "missing.html" in r.message]
    assert missing, lines
    r = missing[-1]
    assert r.server == "nginx" and r.level == "error" and r.os_errno == 2
    assert r.client == "127.0.0.1" and r.request == "GET /missing.html HTTP/1.1"
    assert r.vhost == "localhost" and r.host is not None and r.host.startswith("127.0.0.1")
    # Every line nginx wrote is understood.
    assert all(rec is not None for rec in records), lines
