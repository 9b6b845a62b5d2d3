"""Tests of libhfagent.testing.NginxServer, against the real nginx."""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
from pathlib import Path

import pytest

import libhfagent.testing
from libhfagent.testing import NginxError, NginxServer, _nginx

needs_nginx = pytest.mark.skipif(
    os.geteuid() != 0 or not NginxServer.available(),
    reason="needs root and an nginx binary",
)

COMBINED = re.compile(
    r'^(?P<client>\S+) - (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+) '
    r'(?P<protocol>[^"]+)" (?P<status>\d{3}) (?P<bytes>\d+) "(?P<referer>[^"]*)" '
    r'"(?P<agent>[^"]*)"$'
)


def log_lines(path: Path) -> list[re.Match[str]]:
    """Parse every line of an access log, failing on one not in combined format."""
    matches = []
    for line in path.read_text().splitlines():
        match = COMBINED.match(line)
        assert match is not None, f"not a combined log line: {line!r}"
        matches.append(match)
    return matches


def live_group_members(pgid: int) -> list[int]:
    """Pids of the processes (zombies excepted) in process group ``pgid``."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_bytes()
        except (FileNotFoundError, ProcessLookupError):
            continue
        state, _ppid, pgrp = raw.rsplit(b")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state != b"Z":
            members.append(int(entry))
    return members


def assert_gone(pid: int) -> None:
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert live_group_members(pid) == []


# -- public surface (no nginx needed) ------------------------------------------------------


def test_testing_namespace_exports_the_nginx_helpers() -> None:
    assert libhfagent.testing.__all__ == sorted(libhfagent.testing.__all__)
    assert {"NginxError", "NginxServer"} <= set(libhfagent.testing.__all__)
    assert libhfagent.testing.NginxServer.__module__ == "libhfagent.testing._nginx"


def test_unstarted_server_refuses_addresses(tmp_path: Path) -> None:
    server = NginxServer(tmp_path)
    assert not server.running
    with pytest.raises(NginxError, match="not started"):
        _ = server.base_url
    with pytest.raises(NginxError, match="not started"):
        server.get("/")
    server.stop()  # stopping a server never started is a no-op


def test_get_checks_its_arguments(tmp_path: Path) -> None:
    server = NginxServer(tmp_path)
    with pytest.raises(ValueError, match="must start with '/'"):
        server.get("index.html")
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        server.get("/", client_ip="not-an-address")


def test_missing_binary_is_reported(tmp_path: Path) -> None:
    assert not NginxServer.available("/nonexistent/nginx")
    with pytest.raises(NginxError, match="no executable nginx binary"):
        NginxServer(tmp_path, nginx="/nonexistent/nginx").start()


def test_directory_with_dollar_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"contains '\$'"):
        NginxServer(tmp_path / "a$b", nginx="/bin/true").start()


# -- the real nginx --------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "status"), sorted(NginxServer.ROUTES.items()))
@pytest.mark.system
@needs_nginx
def test_each_route_gives_its_status_and_one_log_line(
    tmp_path: Path, path: str, status: int
) -> None:
    with NginxServer(tmp_path) as nginx:
        assert nginx.get(path, client_ip="203.0.113.7") == status
        (line,) = log_lines(nginx.access_log)
    assert line["client"] == "203.0.113.7"
    assert line["method"] == "GET"
    assert line["path"] == path
    assert line["protocol"] == "HTTP/1.1"
    assert int(line["status"]) == status


@pytest.mark.system
@needs_nginx
def test_address_headers_and_unknown_paths(tmp_path: Path) -> None:
    with NginxServer(tmp_path) as nginx:
        assert nginx.base_url == f"http://127.0.0.1:{nginx.port}"
        assert nginx.get("/no/such/page?q=1") == 404
        headers = {"User-Agent": "probe/1.0", "Referer": "http://example.test/"}
        assert nginx.get("/about.html", client_ip="2001:db8::7", headers=headers) == 200
        first, second = log_lines(nginx.access_log)
        errors = nginx.error_log.read_text()
    assert (first["client"], first["path"], first["status"]) == (
        "127.0.0.1",
        "/no/such/page?q=1",
        "404",
    )
    assert (second["client"], second["agent"], second["referer"]) == (
        "2001:db8::7",
        "probe/1.0",
        "http://example.test/",
    )
    assert 'open() "' in errors and "No such file or directory" in errors


@pytest.mark.system
@needs_nginx
def test_redirect_is_not_followed(tmp_path: Path) -> None:
    with NginxServer(tmp_path) as nginx:
        assert nginx.get("/redirect") == 301
        lines = log_lines(nginx.access_log)
    assert [line["path"] for line in lines] == ["/redirect"]


@pytest.mark.system
@needs_nginx
def test_files_added_to_the_docroot_are_served(tmp_path: Path) -> None:
    with NginxServer(tmp_path) as nginx:
        (nginx.docroot / "extra.txt").write_text("extra\n")
        assert nginx.get("/extra.txt") == 200


@pytest.mark.system
@needs_nginx
def test_reopen_logs_after_rotation(tmp_path: Path) -> None:
    with NginxServer(tmp_path) as nginx:
        nginx.get("/index.html", client_ip="198.51.100.1")
        rotated = nginx.access_log.with_name("access.log.1")
        nginx.access_log.rename(rotated)
        # Until nginx reopens, it keeps writing to the renamed file.
        nginx.get("/about.html", client_ip="198.51.100.2")
        assert not nginx.access_log.exists()
        nginx.reopen_logs()
        assert nginx.access_log.exists()
        assert nginx.access_log.read_text() == ""
        nginx.get("/robots.txt", client_ip="198.51.100.3")
        old = [(line["client"], line["path"]) for line in log_lines(rotated)]
        new = [(line["client"], line["path"]) for line in log_lines(nginx.access_log)]
    assert old == [("198.51.100.1", "/index.html"), ("198.51.100.2", "/about.html")]
    assert new == [("198.51.100.3", "/robots.txt")]


@pytest.mark.system
@needs_nginx
def test_reopen_logs_without_rotation_keeps_the_file(tmp_path: Path) -> None:
    with NginxServer(tmp_path) as nginx:
        nginx.get("/")
        nginx.reopen_logs()
        nginx.get("/")
        assert len(log_lines(nginx.access_log)) == 2


@pytest.mark.system
@needs_nginx
def test_no_process_remains_after_exit(tmp_path: Path) -> None:
    with NginxServer(tmp_path) as nginx:
        pid = nginx.pid
        nginx.get("/")
        members = live_group_members(pid)
        assert pid in members
        assert len(members) >= 2  # the master and its worker
    assert not nginx.running
    assert_gone(pid)
    assert not nginx.pid_file.exists()  # nginx removed it: it stopped gracefully


@pytest.mark.system
@needs_nginx
def test_no_process_remains_when_the_test_fails(tmp_path: Path) -> None:
    server = NginxServer(tmp_path)
    with pytest.raises(ZeroDivisionError), server:
        pid = server.pid
        _ = 1 / 0
    assert_gone(pid)


@pytest.mark.system
@needs_nginx
def test_orphaned_workers_are_killed(tmp_path: Path) -> None:
    with NginxServer(tmp_path) as nginx:
        pid = nginx.pid
        workers = [member for member in live_group_members(pid) if member != pid]
        assert workers
        os.kill(pid, signal.SIGKILL)  # the master dies; its worker lives on
    assert_gone(pid)
    for worker in workers:
        assert worker not in live_group_members(pid)


@pytest.mark.system
@needs_nginx
def test_two_servers_at_once(tmp_path: Path) -> None:
    with NginxServer(tmp_path / "a") as first, NginxServer(tmp_path / "b") as second:
        assert first.port != second.port
        assert first.get("/", client_ip="192.0.2.1") == 200
        assert second.get("/forbidden", client_ip="192.0.2.2") == 403
        assert second.get("/error", client_ip="192.0.2.2") == 500
        assert [line["client"] for line in log_lines(first.access_log)] == ["192.0.2.1"]
        assert [line["status"] for line in log_lines(second.access_log)] == ["403", "500"]


@pytest.mark.system
@needs_nginx
def test_stop_then_start_again(tmp_path: Path) -> None:
    server = NginxServer(tmp_path)
    with server:
        first_pid = server.pid
        server.get("/")
    assert_gone(first_pid)
    with server:
        second_pid = server.pid
        server.get("/")
        assert len(log_lines(server.access_log)) == 2
    server.stop()  # a second stop is a no-op
    assert_gone(second_pid)


@pytest.mark.system
@needs_nginx
def test_without_realip_the_log_format_stays_combined(tmp_path: Path) -> None:
    with NginxServer(tmp_path, realip=False) as nginx:
        assert "real_ip_header" not in nginx.config_file.read_text()
        nginx.get("/", client_ip="203.0.113.9")
        nginx.get("/missing.html")
        first, second = log_lines(nginx.access_log)
    assert (first["client"], first["status"]) == ("203.0.113.9", "200")
    assert (second["client"], second["status"]) == ("127.0.0.1", "404")


@pytest.mark.system
@needs_nginx
def test_directory_with_spaces_and_quotes(tmp_path: Path) -> None:
    with NginxServer(tmp_path / 'with space and "quote"') as nginx:
        assert nginx.get("/index.html") == 200
        assert len(log_lines(nginx.access_log)) == 1


@pytest.mark.system
@needs_nginx
def test_start_failure_reports_the_error_log(tmp_path: Path) -> None:
    server = NginxServer(tmp_path)
    server.access_log.mkdir(parents=True)  # nginx cannot open a directory as its log
    with pytest.raises(NginxError, match="Is a directory") as caught:
        server.start()
    assert "nginx exited with status 1" in str(caught.value)
    assert not server.running


@pytest.mark.system
@needs_nginx
def test_start_timeout_stops_what_was_started(tmp_path: Path) -> None:
    fake = tmp_path / "fake-nginx"
    fake.write_text("#!/bin/sh\nexec sleep 60\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    server = NginxServer(tmp_path / "srv", nginx=fake, realip=True, start_timeout=0.3)
    with pytest.raises(NginxError, match="did not accept connections"):
        server.start()
    assert not server.running


@pytest.mark.system
@needs_nginx
def test_port_taken_before_nginx_binds_it_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = iter([taken])
        real_free_port = _nginx._free_port
        monkeypatch.setattr(_nginx, "_free_port", lambda: next(ports, None) or real_free_port())
        with NginxServer(tmp_path) as nginx:
            assert nginx.port != taken
            assert nginx.get("/") == 200
            assert "Address already in use" not in nginx.error_log.read_text()
