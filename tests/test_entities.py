"""Entity parsers: durations, sizes, cron phrases, services, paths, ports, IPs, counts, typos."""

from __future__ import annotations

import datetime as dt

import cronsim
import pytest
from hypothesis import given
from hypothesis import strategies as st

from libhfagent.interpreter._cron import find_schedule
from libhfagent.interpreter._entities import (
    find_count,
    find_device,
    find_ips,
    find_older_than,
    find_paths,
    find_pattern,
    find_port,
    find_size,
    render_duration,
    render_size,
)
from libhfagent.interpreter._services import ServiceCatalog, installed_units
from libhfagent.interpreter._text import Lexicon, fold, fold_with_map


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("500 Mo", 500_000_000),
        ("1 GB", 10**9),
        ("2 GiB", 2 * 2**30),
        ("1,5 Go", 1_500_000_000),
        ("1.5 GB", 1_500_000_000),
        ("plus de 200 Mio", 200 * 2**20),
        ("750MB", 750_000_000),
        ("3 To", 3 * 10**12),
        ("100 kB", 100_000),
        ("10 octets", 10),
        ("de 5 a 10 fichiers", None),
        ("from 5 to 10 files", None),
        ("404", None),
    ],
)
def test_sizes(text: str, size: int | None) -> None:
    assert find_size(fold(text)) == size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("plus de 30 jours", 30 * 86400),
        ("older than 2 weeks", 14 * 86400),
        ("more than 6 months old", 6 * 2592000),
        ("30 days old", 30 * 86400),
        ("plus d'un mois", 2592000),
        ("non modifies depuis 90 jours", 90 * 86400),
        ("garde les 7 derniers jours", 7 * 86400),
        ("keep the last 48h", 48 * 3600),
        ("over a year", 31536000),
        ("rien", None),
    ],
)
def test_older_than(text: str, seconds: int | None) -> None:
    assert find_older_than(fold(text)) == seconds


@given(st.integers(min_value=1, max_value=10**6), st.sampled_from(["fr", "en"]))
def test_durations_round_trip(seconds: int, lang: str) -> None:
    text = render_duration(seconds, lang)
    assert find_older_than(fold(f"plus de {text}" if lang == "fr" else f"older than {text}")) == (
        seconds
    )


@given(st.integers(min_value=1, max_value=10**15), st.sampled_from(["fr", "en"]))
def test_sizes_round_trip(size: int, lang: str) -> None:
    text = render_size(size, lang)
    assert find_size(fold(text)) == size, text


@given(
    st.decimals(min_value=1, max_value=9999, places=1),
    st.sampled_from(["Mo", "Go", "MB", "GB", "GiB", "MiB", "To", "TB"]),
)
def test_decimal_sizes_with_comma_or_point(value: object, unit: str) -> None:
    factors = {"M": 10**6, "G": 10**9, "T": 10**12}
    factor = 2 ** {"M": 20, "G": 30}[unit[0]] if unit.endswith("iB") else factors[unit[0]]
    expected = round(float(str(value)) * factor)
    assert find_size(fold(f"{value} {unit}")) == expected
    assert find_size(fold(f"{str(value).replace('.', ',')} {unit}")) == expected


@pytest.mark.parametrize(
    ("phrase", "cron"),
    [
        ("tous les jours à 2h du matin", "0 2 * * *"),
        ("every sunday at 3am", "0 3 * * 0"),
        ("chaque heure", "0 * * * *"),
        ("tous les lundis à 8h30", "30 8 * * 1"),
        ("every 15 minutes", "*/15 * * * *"),
        ("toutes les 5 minutes", "*/5 * * * *"),
        ("every 2 hours", "0 */2 * * *"),
        ("le 1er de chaque mois", "0 0 1 * *"),
        ("every month on the 15th at 4am", "0 4 15 * *"),
        ("weekdays at 18:00", "0 18 * * 1-5"),
        ("du lundi au vendredi à 7h45", "45 7 * * 1-5"),
        ("le week-end à 10h", "0 10 * * 0,6"),
        ("le lundi et le jeudi à 9h", "0 9 * * 1,4"),
        ("every night at 11pm", "0 23 * * *"),
        ("chaque nuit à minuit", "0 0 * * *"),
        ("tous les jours à midi", "0 12 * * *"),
        ("tous les jours a 8h et 18h", "0 8,18 * * *"),
        ("weekly", "0 0 * * 0"),
        ("toutes les demi-heures", "*/30 * * * *"),
        ("cron 0 4 * * 1", "0 4 * * 1"),
        ("@daily", "0 0 * * *"),
    ],
)
def test_cron_phrases(phrase: str, cron: str) -> None:
    schedule = find_schedule(fold(phrase))
    assert schedule is not None and schedule.cron == cron
    cronsim.CronSim(schedule.cron, dt.datetime(2026, 1, 1))


@pytest.mark.parametrize(
    "text",
    ["logs des dernières 24 heures", "depuis 2h du matin", "last 3 hours", "48h", "port 8080"],
)
def test_windows_are_not_schedules(text: str) -> None:
    assert find_schedule(fold(text)) is None


_DAYS_FR = ["dimanches", "lundis", "mardis", "mercredis", "jeudis", "vendredis", "samedis"]
_DAYS_EN = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]


@given(
    st.integers(0, 6),
    st.integers(0, 23),
    st.integers(0, 59),
    st.sampled_from(["fr", "en"]),
)
def test_generated_schedule_phrases_give_valid_cron(
    day: int, hour: int, minute: int, lang: str
) -> None:
    if lang == "fr":
        phrase = f"tous les {_DAYS_FR[day]} à {hour}h{minute:02d}"
    else:
        phrase = f"every {_DAYS_EN[day]} at {hour}:{minute:02d}"
    schedule = find_schedule(fold(phrase))
    assert schedule is not None
    assert schedule.cron == f"{minute} {hour} * * {day}"
    it = cronsim.CronSim(schedule.cron, dt.datetime(2026, 1, 1))
    nxt = next(it)
    assert (nxt.hour, nxt.minute, (nxt.weekday() + 1) % 7) == (hour, minute, day)


@given(st.integers(1, 59))
def test_every_n_minutes(n: int) -> None:
    schedule = find_schedule(fold(f"toutes les {n} minutes"))
    assert schedule is not None
    cronsim.CronSim(schedule.cron, dt.datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("name", "units", "unit"),
    [
        ("apache", None, "apache2"),
        ("postgres", None, "postgresql"),
        ("sshd", None, "ssh"),
        ("mysql", None, "mariadb"),
        ("mysql", {"mysql", "nginx"}, "mysql"),
        ("mysql", {"mysql", "mariadb"}, "mariadb"),
        ("nginx.service", None, "nginx"),
    ],
)
def test_service_aliases(name: str, units: set[str] | None, unit: str) -> None:
    assert ServiceCatalog(units).resolve(name) == unit


def test_installed_units_are_read_from_unit_directories(tmp_path: object) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    (root / "vendor").mkdir()
    (root / "local").mkdir()
    for name in ("myapp.service", "getty@.service", "timer.timer"):
        (root / "vendor" / name).write_text("[Unit]\n")
    (root / "local" / "mysql.service").symlink_to(root / "vendor" / "myapp.service")
    units = installed_units([str(root / "vendor"), str(root / "local"), str(root / "missing")])
    assert units == {"myapp", "mysql"}
    catalog = ServiceCatalog(units)
    assert catalog.find(fold("restart myapp please")) == "myapp"
    assert catalog.resolve("mysql") == "mysql"


def test_services_in_requests() -> None:
    catalog = ServiceCatalog(None)
    assert catalog.find("redemarre le service apache") == "apache2"
    assert catalog.find("restart php8.2-fpm.service") == "php8.2-fpm"
    assert catalog.find("status of the foo-bar service") == "foo-bar"
    assert catalog.find("analyse /var/log/nginx/access.log") is None
    assert catalog.find("comment va le serveur") is None


def test_paths_ports_ips_counts_devices_patterns() -> None:
    assert find_paths("supprime /var/log/ et /tmp/. puis /srv/./data") == [
        "/var/log",
        "/tmp",
        "/srv/data",
    ]
    assert find_paths("rsync user@host:/srv/x 404/500 http://example.org/a") == []
    assert find_port("qui ecoute sur le port 8080") == 8080
    assert find_port("what listens on 443") == 443
    assert find_port("port 99999") is None
    assert find_ips("from 203.0.113.7 and 2001:db8::1 at 10:30") == ["203.0.113.7", "2001:db8::1"]
    assert find_ips("999.1.1.1") == []
    assert find_count("top 5") == 5
    assert find_count("les 10 plus gros fichiers") == 10
    assert find_count("the three biggest files") == 3
    assert find_count("500 mo") is None
    assert find_device("smart de sda") == "/dev/sda"
    assert find_device("/dev/nvme0n1 health") == "/dev/nvme0n1"
    assert find_pattern('logs contenant "wp-login"', 'logs contenant "wp-login"') == "wp-login"


def test_fold_and_typos() -> None:
    assert fold("Résume  les Erreurs d’hier ") == "resume les erreurs d'hier"
    folded, origin = fold_with_map("Été à Noël")
    assert folded == "ete a noel" and len(origin) == len(folded)
    lexicon = Lexicon(
        ["redemarre", "summarize", "nginx", "analyse", "analyze"], known=frozenset({"dying"})
    )
    assert lexicon.correct("redemare ngnix") == "redemarre nginx"
    assert lexicon.correct("sumarize") == "summarize"
    assert lexicon.correct("dying") == "dying"  # a real word stays
    assert lexicon.correct("analyxe") == "analyxe"  # two lexicon words as near: no guess
    assert lexicon.correct("/var/log/redemare") == "/var/log/redemare"  # paths untouched
