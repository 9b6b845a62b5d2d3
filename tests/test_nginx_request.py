"""The signature request, end to end, against the access log of a real nginx.

"Analyse les logs de Nginx des dernières 24 heures et résume les erreurs 404":
nginx serves real requests; rotated files (plain and gzip) hold older lines
inside and outside the window; the CLI's counts must be exact in French and
English.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import CliRunner

from libhfagent.testing import NginxServer

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run nginx"),
    pytest.mark.skipif(not NginxServer.available(), reason="nginx is not installed"),
]

FR = "Analyse les logs de Nginx des dernières 24 heures et résume les erreurs 404"
EN = "Analyze the Nginx logs of the last 24 hours and summarize the 404 errors"

# (path, client, expected status) served by the real nginx.
BATCH_BEFORE_ROTATION = [
    ("/index.html", "198.51.100.1", 200),
    ("/wp-login.php", "203.0.113.7", 404),
    ("/wp-login.php", "203.0.113.7", 404),
    ("/.env", "203.0.113.7", 404),
    ("/about.html", "198.51.100.2", 200),
    ("/error", "198.51.100.2", 500),
]
BATCH_LIVE = [
    ("/missing.html", "198.51.100.3", 404),
    ("/wp-login.php", "192.0.2.44", 404),
    ("/wp-login.php?redirect=1", "203.0.113.7", 404),
    ("/forbidden", "192.0.2.44", 403),
    ("/robots.txt", "198.51.100.1", 200),
    ("/redirect", "198.51.100.1", 301),
    ("/favicon.ico", "198.51.100.3", 404),
]


def combined(client: str, when: dt.datetime, path: str, status: int) -> str:
    stamp = when.strftime("%d/%b/%Y:%H:%M:%S %z")
    return f'{client} - - [{stamp}] "GET {path} HTTP/1.1" {status} 162 "-" "Mozilla/5.0"\n'


class Site:
    """A real nginx's log tree plus older rotated files, and the counts it must give."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.in_window: list[tuple[str, str, int]] = []

    def expect(self, path: str, client: str, status: int) -> None:
        self.in_window.append((path.partition("?")[0], client, status))

    @property
    def total(self) -> int:
        return len(self.in_window)

    def counts(self, status: int) -> tuple[int, Counter[str], Counter[str], Counter[int]]:
        hits = [x for x in self.in_window if x[2] == status]
        return (
            len(hits),
            Counter(p for p, _, _ in hits),
            Counter(c for _, c, _ in hits),
            Counter(s for _, _, s in self.in_window),
        )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("site")
    site = Site(root)
    now = dt.datetime.now(dt.UTC)
    with NginxServer(root / "nginx") as nginx:
        for path, client, status in BATCH_BEFORE_ROTATION:
            assert nginx.get(path, client_ip=client) == status
            site.expect(path, client, status)
        # Rotate as logrotate does: rename, then ask nginx to reopen its logs.
        rotated = nginx.access_log.with_name("access.log.1")
        nginx.access_log.rename(rotated)
        nginx.reopen_logs()
        for path, client, status in BATCH_LIVE:
            assert nginx.get(path, client_ip=client) == status
            site.expect(path, client, status)
    log = nginx.access_log
    # Older lines in the plain rotated file, before nginx's own: 20 h ago (in) and 26 h ago (out).
    older = [
        combined("192.0.2.10", now - dt.timedelta(hours=26), "/old-out", 404),
        combined("192.0.2.10", now - dt.timedelta(hours=20), "/old-in", 404),
    ]
    site.expect("/old-in", "192.0.2.10", 404)
    rotated.write_text("".join(older) + rotated.read_text())
    # access.log.2.gz: 23 h ago (in the window) and 30 h ago (out), plus unreadable lines.
    lines = [combined("192.0.2.20", now - dt.timedelta(hours=30), "/gz-out", 404)] * 3
    lines += [combined("192.0.2.20", now - dt.timedelta(hours=23), "/gz-in", 404)] * 2
    lines += [combined("192.0.2.21", now - dt.timedelta(hours=23), "/", 200)]
    for _ in range(2):
        site.expect("/gz-in", "192.0.2.20", 404)
    site.expect("/", "192.0.2.21", 200)
    gz = log.with_name("access.log.2.gz")
    gz.write_bytes(gzip.compress("".join(lines).encode() + b"\xff\xfe not utf-8\n\x00\x01binary\n"))
    os.utime(gz, ((now - dt.timedelta(hours=23)).timestamp(),) * 2)
    # access.log.3.gz: three days old; the window cannot reach it.
    old = log.with_name("access.log.3.gz")
    old.write_bytes(
        gzip.compress(
            combined("192.0.2.30", now - dt.timedelta(days=3), "/ancient", 404).encode() * 50
        )
    )
    os.utime(old, ((now - dt.timedelta(days=3)).timestamp(),) * 2)
    site.log = log
    return site


@pytest.fixture
def conf(site: Site, write_config: Any) -> Path:
    return write_config({"modules": {"monitoring": {"sources": {"nginx": [str(site.log)]}}}})


def check_report(report: dict[str, Any], site: Site) -> None:
    matched, paths, clients, by_status = site.counts(404)
    assert report["total"] == site.total
    assert report["matched"] == matched
    assert report["by_status"] == {str(k): v for k, v in sorted(by_status.items())}
    assert dict(map(tuple, report["top_paths"])) == dict(paths)
    assert dict(map(tuple, report["top_clients"])) == dict(clients)
    assert report["top_paths"][0] == ["/wp-login.php", 4]
    assert sum(report["by_hour"].values()) == matched
    assert report["skipped"]["invalid"] == 2
    assert [Path(f).name for f in report["files"]] == [
        "access.log.2.gz",
        "access.log.1",
        "access.log",
    ]


def test_french_request_exact_counts(cli: CliRunner, site: Site, conf: Path) -> None:
    proc = cli("--config", str(conf), "ask", "--json", FR)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert (answer["intent"], answer["lang"]) == ("logs.summarize", "fr")
    assert answer["entities"] == {"source": "nginx", "since": 86400, "status": 404}
    assert answer["steps"][0]["decision"] == "allow"
    check_report(answer["report"], site)
    matched = site.counts(404)[0]
    text = answer["text"]
    assert f"dont {matched} erreurs 404" in text
    assert f"{site.total} requêtes au total" in text
    assert "Chemins introuvables les plus demandés : /wp-login.php (4)" in text
    assert "Principaux clients : 203.0.113.7 (4)" in text
    assert "Par heure" in text or "Heures les plus chargées" in text
    assert "2 lignes illisibles" in text


def test_english_request_exact_counts(cli: CliRunner, site: Site, conf: Path) -> None:
    proc = cli("--config", str(conf), "ask", "--json", EN)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["lang"] == "en"
    check_report(answer["report"], site)
    matched = site.counts(404)[0]
    assert f"of which {matched} 404 errors" in answer["text"]
    assert "Most requested missing paths: /wp-login.php (4)" in answer["text"]


def test_human_output(cli: CliRunner, site: Site, conf: Path) -> None:
    proc = cli("--config", str(conf), "ask", FR)
    assert proc.returncode == 0, proc.stderr
    assert "erreurs 404" in proc.stdout and "/wp-login.php" in proc.stdout
    assert proc.stderr == ""


def test_logs_summarize_command(cli: CliRunner, site: Site, conf: Path) -> None:
    proc = cli(
        "--config",
        str(conf),
        "logs",
        "summarize",
        "--json",
        "--source",
        "nginx",
        "--since",
        "86400",
        "--status",
        "404",
    )
    assert proc.returncode == 0, proc.stderr
    check_report(json.loads(proc.stdout), site)
    by_file = cli(
        "--config",
        str(conf),
        "logs",
        "summarize",
        "--json",
        "--file",
        str(site.log),
        "--since",
        "24h",
        "--status",
        "404",
        "--lang",
        "en",
    )
    assert by_file.returncode == 0, by_file.stderr
    report = json.loads(by_file.stdout)
    check_report(report, site)
    assert "404 errors" in report["text"]


def test_whole_log_reads_every_rotation(cli: CliRunner, site: Site, conf: Path) -> None:
    proc = cli("--config", str(conf), "logs", "summarize", "--json", "--status", "404")
    report = json.loads(proc.stdout)
    # Without a window every line counts: the 3 + 1 + 50 older 404s too.
    assert report["matched"] == site.counts(404)[0] + 3 + 1 + 50
    assert Path(report["files"][0]).name == "access.log.3.gz"
