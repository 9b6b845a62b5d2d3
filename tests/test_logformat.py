"""Custom access-log formats: nginx log_format and Apache LogFormat strings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from libhfagent._errors import ConfigError
from libhfagent.observer._access import parse_access_line
from libhfagent.observer._logformat import (
    APACHE_COMBINED,
    NGINX_COMBINED,
    compile_log_format,
)
from libhfagent.testing import NginxServer

PARIS = dt.timezone(dt.timedelta(hours=2))
LINE = (
    '203.0.113.9 - alice [01/May/2024:12:00:00 +0200] "GET /a/b?x=1&y=2 HTTP/1.1" 200 5120 '
    '"https://example.org/" "Mozilla/5.0 (X11; Linux x86_64)"'
)


def test_nginx_combined_matches_the_access_parser() -> None:
    parse = compile_log_format(NGINX_COMBINED)
    fields = parse(LINE + "\n")
    assert fields is not None
    record = parse_access_line(LINE)
    assert record is not None
    assert fields["remote_addr"] == record.client == "203.0.113.9"
    assert fields["remote_user"] == record.user == "alice"
    assert fields["time_local"] == record.time == dt.datetime(2024, 5, 1, 12, tzinfo=PARIS)
    assert (fields["method"], fields["path"], fields["query"], fields["protocol"]) == (
        "GET",
        "/a/b",
        "x=1&y=2",
        "HTTP/1.1",
    )
    assert fields["status"] == 200 and isinstance(fields["status"], int)
    assert fields["body_bytes_sent"] == 5120
    assert fields["http_referer"] == "https://example.org/"
    assert fields["http_user_agent"] == "Mozilla/5.0 (X11; Linux x86_64)"
    assert parse.style == "nginx"
    assert parse.fields[:3] == ("remote_addr", "remote_user", "time_local")


def test_apache_combined_gives_the_same_keys() -> None:
    nginx = compile_log_format(NGINX_COMBINED)(LINE)
    apache = compile_log_format(APACHE_COMBINED)(LINE.replace(" - alice", " - alice"))
    assert apache is not None and nginx is not None
    assert apache.pop("ident") is None
    assert apache == nginx


def test_nginx_custom_format_with_timings_and_iso_time() -> None:
    fmt = (
        '$remote_addr $host [$time_iso8601] "$request" $status $bytes_sent '
        'rt=$request_time urt=$upstream_response_time xff="$http_x_forwarded_for" '
        "id=$request_id $msec"
    )
    parse = compile_log_format(fmt)
    got = parse(
        '10.0.0.1 api.example.org [2024-05-01T12:00:00+02:00] "POST /v1/items HTTP/2.0" 502 '
        '345 rt=1.250 urt=0.500, 0.700 xff="198.51.100.1, 10.0.0.1" id=ab12cd 1714557600.123'
    )
    assert got is None  # "urt=0.500, 0.700" holds a space: the format puts a space after it
    got = parse(
        '10.0.0.1 api.example.org [2024-05-01T12:00:00+02:00] "POST /v1/items HTTP/2.0" 502 '
        '345 rt=1.250 urt=0.500,0.700 xff="198.51.100.1, 10.0.0.1" id=ab12cd 1714557600.123'
    )
    assert got is not None
    assert got["host"] == "api.example.org"
    assert got["time_iso8601"] == dt.datetime(2024, 5, 1, 12, tzinfo=PARIS)
    assert got["status"] == 502 and got["bytes_sent"] == 345
    assert got["request_time"] == pytest.approx(1.25)
    assert got["upstream_response_time"] == pytest.approx(1.2)
    assert got["http_x_forwarded_for"] == "198.51.100.1, 10.0.0.1"
    assert got["request_id"] == "ab12cd"
    assert got["msec"] == dt.datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=dt.UTC)
    assert got["method"] == "POST" and got["path"] == "/v1/items"


def test_nginx_escapes_and_dashes() -> None:
    parse = compile_log_format(NGINX_COMBINED)
    got = parse(
        '::1 - - [01/May/2024:12:00:00 +0000] "GET /\\x22quoted\\x22 HTTP/1.1" 304 0 "-" '
        '"caf\\xC3\\xA9 \\x5Cbot"'
    )
    assert got is not None
    assert got["remote_user"] is None and got["http_referer"] is None
    assert got["path"] == '/"quoted"'
    assert got["http_user_agent"] == "caf\u00e9 \\bot"
    json_style = compile_log_format('{"ua":"$http_user_agent","s":$status}')
    got = json_style('{"ua":"say \\"hi\\" \\u00e9","s":200}')
    assert got == {"http_user_agent": 'say "hi" \u00e9', "status": 200}


def test_apache_directives() -> None:
    fmt = '%v:%p %a %l %u %t "%r" %>s %B %O %I %D %T "%{Referer}i" "%{X-Request-Id}i" %% %{c}a'
    parse = compile_log_format(fmt)
    assert parse.style == "apache"
    got = parse(
        'www.example.org:443 192.0.2.4 - - [01/May/2024:12:00:00 +0200] "GET / HTTP/1.1" '
        '200 10 300 120 1500000 1 "-" "abc-123" % 10.1.1.1'
    )
    assert got is not None
    assert got["server_name"] == "www.example.org" and got["server_port"] == 443
    assert got["remote_addr"] == "192.0.2.4"
    assert (got["body_bytes_sent"], got["bytes_sent"], got["request_length"]) == (10, 300, 120)
    assert got["request_time"] == pytest.approx(1.5)  # %D (microseconds) wins over %T
    assert got["http_referer"] is None and got["http_x_request_id"] == "abc-123"
    common = compile_log_format('%h %l %u %t "%r" %s %b')
    got = common('1.2.3.4 - - [01/May/2024:12:00:00 +0200] "GET / HTTP/1.0" 200 -')
    assert got is not None and got["body_bytes_sent"] == 0
    assert got["method"] == "GET" and got["protocol"] == "HTTP/1.0"


@pytest.mark.parametrize(
    "line",
    [
        "",
        "garbage",
        LINE.replace(" 200 ", " abc "),
        LINE.replace("01/May/2024", "41/May/2024"),
        LINE.replace('"Mozilla', "Mozilla"),
        LINE + " trailing",
    ],
)
def test_lines_not_of_the_format(line: str) -> None:
    assert compile_log_format(NGINX_COMBINED)(line) is None


def test_format_errors() -> None:
    with pytest.raises(ConfigError, match="no"):
        compile_log_format("just text")
    with pytest.raises(ConfigError, match="no"):
        compile_log_format("")
    with pytest.raises(ConfigError, match="followed by another variable"):
        compile_log_format("$host$request_uri")
    with pytest.raises(ConfigError, match="style"):
        compile_log_format("$host", style="iis")  # type: ignore[arg-type]


def test_five_megabytes_of_garbage_is_one_pass() -> None:
    parsers = [
        compile_log_format(NGINX_COMBINED),
        compile_log_format(APACHE_COMBINED),
        compile_log_format('"$request" "$http_user_agent" $status'),
    ]
    size = 5 * 1024 * 1024
    garbage = [
        "a" * size,
        '"' * size,
        ('\\"' * (size // 2)),
        ("1.2.3.4 - - [" + "x" * size),
        ('1.2.3.4 - - [01/May/2024:12:00:00 +0000] "' + "\\" * size),
        ' "' * (size // 2),
    ]
    for parse in parsers:
        for line in garbage:
            assert parse(line) is None
    # A long but valid field still parses.
    long_agent = LINE.replace("Mozilla/5.0", "M" * size)
    got = parsers[0](long_agent)
    assert got is not None and len(got["http_user_agent"]) > size


@pytest.mark.system
def test_real_nginx_access_log(tmp_path: Path) -> None:
    if not NginxServer.available():
        pytest.skip("nginx is not installed (scripts/bootstrap installs nginx-light)")
    parse = compile_log_format(NGINX_COMBINED)
    with NginxServer(tmp_path / "nginx") as nginx:
        statuses = [
            nginx.get("/index.html", headers={"User-Agent": 'evil "agent" \\ caf\u00e9'}),
            nginx.get("/missing.html?q=1", client_ip="198.51.100.7"),
            nginx.get("/error"),
        ]
        lines = nginx.access_log.read_text(encoding="utf-8").splitlines()
    parsed = [parse(line) for line in lines]
    assert all(p is not None for p in parsed), lines
    assert [p["status"] for p in parsed if p is not None] == statuses == [200, 404, 500]
    first, second = parsed[0], parsed[1]
    assert first is not None and second is not None
    assert first["http_user_agent"] == 'evil "agent" \\ caf\u00e9'
    assert second["remote_addr"] == "198.51.100.7" and second["query"] == "q=1"
    assert first["time_local"].tzinfo is not None
