"""Entity extraction from folded request text (see :func:`._text.fold`). Pure functions.

Values are typed as DESIGN.md says: durations in seconds, sizes in bytes (SI
units are powers of ten, binary units powers of two), status codes, ports and
counts as integers, paths absolute and normalised.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re

__all__ = [
    "find_count",
    "find_device",
    "find_ips",
    "find_older_than",
    "find_paths",
    "find_pattern",
    "find_port",
    "find_since",
    "find_size",
    "find_source",
    "find_status",
    "render_duration",
    "render_size",
]

_UNIT_SECONDS = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "seconde": 1,
    "secondes": 1,
    "second": 1,
    "seconds": 1,
    "min": 60,
    "mins": 60,
    "mn": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "heure": 3600,
    "heures": 3600,
    "hour": 3600,
    "hours": 3600,
    "hr": 3600,
    "hrs": 3600,
    "j": 86400,
    "jour": 86400,
    "jours": 86400,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "journee": 86400,
    "journees": 86400,
    "semaine": 604800,
    "semaines": 604800,
    "week": 604800,
    "weeks": 604800,
    "w": 604800,
    "sem": 604800,
    "mois": 2592000,
    "month": 2592000,
    "months": 2592000,
    "an": 31536000,
    "ans": 31536000,
    "annee": 31536000,
    "annees": 31536000,
    "year": 31536000,
    "years": 31536000,
    "y": 31536000,
}
_UNITS = "|".join(sorted(_UNIT_SECONDS, key=len, reverse=True))
_NUMBER_WORDS = {
    "un": 1,
    "une": 1,
    "one": 1,
    "a": 1,
    "an": 1,
    "deux": 2,
    "two": 2,
    "trois": 3,
    "three": 3,
    "quatre": 4,
    "four": 4,
    "cinq": 5,
    "five": 5,
    "six": 6,
    "sept": 7,
    "seven": 7,
    "huit": 8,
    "eight": 8,
    "neuf": 9,
    "nine": 9,
    "dix": 10,
    "ten": 10,
    "douze": 12,
    "twelve": 12,
    "quinze": 15,
    "fifteen": 15,
    "vingt": 20,
    "twenty": 20,
    "trente": 30,
    "thirty": 30,
    "soixante": 60,
    "sixty": 60,
    "cent": 100,
    "hundred": 100,
}
_NUM = r"(\d+|" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + r")"


def _amount(token: str) -> int:
    return int(token) if token.isdigit() else _NUMBER_WORDS[token]


# "des dernieres 24 heures", "last 2 weeks", "past 48h", "depuis 3 jours", "over the last 24h"
_LAST_N = re.compile(
    r"\b(?:dernier(?:e?s?)|last|past|previous|depuis|since|sur|over|pendant|durant|within|for|in)"
    r"\s+(?:les\s+|the\s+|the\s+last\s+|the\s+past\s+|les\s+dernier(?:e?s?)\s+)?"
    + _NUM
    + r"\s*("
    + _UNITS
    + r")\b"
)
# "7 derniers jours", "24 dernieres heures"
_N_LAST = re.compile(r"\b" + _NUM + r"\s+dernier(?:e?s?)\s+(" + _UNITS + r")\b")
# "la derniere heure", "last hour", "past week", "le dernier mois", "depuis une semaine",
# "la semaine derniere"
_LAST_ONE = re.compile(
    r"\b(?:dernier(?:e?s?)|last|past|previous|depuis (?:une?|1)|since (?:an?|one)|"
    r"(?:the )?last|in the (?:last|past))\s+("
    + _UNITS
    + r")\b|\b(?:la |le |l')("
    + _UNITS
    + r") dernier(?:e?)\b"
)
# "48h", "24 h", "7j", "2 weeks" on its own
_BARE = re.compile(r"(?<![\w.:/])" + _NUM + r"\s*(" + _UNITS + r")\b(?!'|\s*(?:du matin|am|pm|\d))")


def find_since(text: str, now: dt.datetime) -> int | None:
    """The look-back window of a request, in seconds.

    Args:
        text: Folded request text.
        now: The current time, timezone-aware in the agent's time zone (for
            "depuis hier", "today").

    Returns:
        Seconds, or ``None`` when the request names no window.
    """
    for pattern in (_LAST_N, _N_LAST):
        m = pattern.search(text)
        if m is not None:
            return _amount(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    m = _LAST_ONE.search(text)
    if m is not None:
        return _UNIT_SECONDS[m.group(1) or m.group(2)]
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if re.search(r"\b(?:avant-hier|avant hier|day before yesterday)\b", text):
        return int((now - (midnight - dt.timedelta(days=2))).total_seconds())
    if re.search(r"\b(?:depuis hier|since yesterday|hier|yesterday|last night)\b", text):
        return int((now - (midnight - dt.timedelta(days=1))).total_seconds())
    if re.search(
        r"\b(?:aujourd'hui|aujourdhui|today|ce jour|depuis ce matin|this morning|"
        r"depuis minuit|since midnight)\b",
        text,
    ):
        return int((now - midnight).total_seconds())
    if re.search(r"\b(?:cette semaine|this week)\b", text):
        return int((now - (midnight - dt.timedelta(days=now.weekday()))).total_seconds())
    if re.search(r"\b(?:ce mois(?:-ci)?|this month)\b", text):
        return int((now - midnight.replace(day=1)).total_seconds())
    m = _BARE.search(text)
    if m is not None and not _OLDER.search(text):
        return _amount(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    return None


_OLDER = re.compile(
    r"\b(?:plus (?:vieux|vieilles?|anciens?|anciennes?|ages?|agees?) (?:que|de)|"
    r"(?:de |d'|datant de |ages? de |agees? de |vieux de |vieilles? de )?plus de|"
    r"plus d'|au-dela de|au dela de|anterieurs? a|anterieures? a|"
    r"older than|more than|over|beyond|at least|"
    r"non modifiee?s? depuis|pas modifiee?s? depuis|inutilisee?s? depuis|"
    r"not (?:modified|touched|accessed|changed|used)(?: (?:in|for|since))?|"
    r"untouched (?:for|in|since)|unused (?:for|in|since)|>|>=)\s*"
    r"(?:(?:the |les )?(?:last|past|derniers?|dernieres?) )?" + _NUM + r"\s*(" + _UNITS + r")\b"
)
# "30+ days", "30 days old", "agés de 30 jours"
_AGE_SUFFIX = re.compile(r"\b" + _NUM + r"\s*\+?\s*(" + _UNITS + r")\s*(?:\+|old|ago)\b")
_OLDER_ONE = re.compile(
    r"\b(?:plus d'une?|older than (?:a|one)|more than (?:a|one)|over (?:a|one))\s+("
    + _UNITS
    + r")\b"
)


def find_older_than(text: str) -> int | None:
    """The minimum age of files a request targets, in seconds.

    "plus de 30 jours", "older than 2 weeks", "30 days old", "garder les 7
    derniers jours" (what is older goes) — in a cleanup or search request any
    plain duration is an age.

    Args:
        text: Folded request text.

    Returns:
        Seconds, or ``None`` when the request names no age.
    """
    m = _OLDER_ONE.search(text)
    if m is not None:
        return _UNIT_SECONDS[m.group(1)]
    for pattern in (_OLDER, _AGE_SUFFIX, _N_LAST, _LAST_N, _BARE):
        m = pattern.search(text)
        if m is not None:
            return _amount(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    m = _LAST_ONE.search(text)
    if m is not None:
        return _UNIT_SECONDS[m.group(1) or m.group(2)]
    return None


_DURATION_NAMES = (
    (31536000, "years", "ans"),
    (2592000, "months", "mois"),
    (604800, "weeks", "semaines"),
    (86400, "days", "jours"),
    (3600, "hours", "heures"),
    (60, "minutes", "minutes"),
    (1, "seconds", "secondes"),
)


def render_duration(seconds: int, lang: str = "en") -> str:
    """A duration as a request would say it: ``1209600`` → ``"2 weeks"`` / ``"2 semaines"``.

    The largest unit that divides the value exactly is used, so that
    :func:`find_older_than` reads the value back.
    """
    for unit, en, fr in _DURATION_NAMES:
        if seconds % unit == 0:
            return f"{seconds // unit} {fr if lang == 'fr' else en}"
    raise AssertionError("unreachable: 1 divides every integer")


_SIZE_FACTORS = {
    "o": 1,
    "octet": 1,
    "octets": 1,
    "b": 1,
    "byte": 1,
    "bytes": 1,
    "k": 10**3,
    "ko": 10**3,
    "kb": 10**3,
    "kilo": 10**3,
    "kilos": 10**3,
    "kilooctets": 10**3,
    "kilo-octets": 10**3,
    "kilobytes": 10**3,
    "m": 10**6,
    "mo": 10**6,
    "mb": 10**6,
    "mega": 10**6,
    "megas": 10**6,
    "megaoctets": 10**6,
    "mega-octets": 10**6,
    "megabytes": 10**6,
    "g": 10**9,
    "go": 10**9,
    "gb": 10**9,
    "giga": 10**9,
    "gigas": 10**9,
    "gigaoctets": 10**9,
    "giga-octets": 10**9,
    "gigabytes": 10**9,
    "t": 10**12,
    "to": 10**12,
    "tb": 10**12,
    "tera": 10**12,
    "teras": 10**12,
    "teraoctets": 10**12,
    "terabytes": 10**12,
    "kio": 2**10,
    "kib": 2**10,
    "kibibytes": 2**10,
    "mio": 2**20,
    "mib": 2**20,
    "mebibytes": 2**20,
    "gio": 2**30,
    "gib": 2**30,
    "gibibytes": 2**30,
    "tio": 2**40,
    "tib": 2**40,
    "tebibytes": 2**40,
}
_SIZE = re.compile(
    r"(?<![\w.,/])(\d+(?:[.,]\d+)?)\s*("
    + "|".join(sorted((re.escape(u) for u in _SIZE_FACTORS), key=len, reverse=True))
    + r")(?![\w'])"
)


def find_size(text: str) -> int | None:
    """A size named in the request, in bytes (``"1,5 Go"`` → ``1500000000``), or ``None``."""
    for m in _SIZE.finditer(text):
        unit = m.group(2)
        if unit in ("to", "t", "m", "b", "o") and re.match(r"\s*(?:\d|[a-z]+ \d)", text[m.end() :]):
            continue  # "de 5 a 10", "5 to 10 minutes": not a size
        number = float(m.group(1).replace(",", "."))
        return round(number * _SIZE_FACTORS[unit])
    return None


_SIZE_NAMES = (
    (2**40, "TiB"),
    (10**12, "TB"),
    (2**30, "GiB"),
    (10**9, "GB"),
    (2**20, "MiB"),
    (10**6, "MB"),
    (2**10, "KiB"),
    (10**3, "kB"),
)
_SIZE_NAMES_FR = {"TB": "To", "GB": "Go", "MB": "Mo", "kB": "ko"}


def render_size(size: int, lang: str = "en") -> str:
    """A size as a request would say it: ``2147483648`` → ``"2 GiB"``, ``1500000`` → ``"1.5 MB"``.

    The largest unit that gives at most one decimal is used, so that
    :func:`find_size` reads the value back.
    """
    for factor, name in _SIZE_NAMES:
        if size >= factor and (size * 10) % factor == 0:
            whole, tenth = divmod(size * 10 // factor, 10)
            text = f"{whole}.{tenth}" if tenth else str(whole)
            if lang == "fr":
                text = text.replace(".", ",")
                name = _SIZE_NAMES_FR.get(name, name)
            return f"{text} {name}"
    return f"{size} {'octets' if lang == 'fr' else 'bytes'}"


_STATUS = re.compile(
    r"(?<![\w./:,-])([1-5]\d\d)(?![\w.:/,-])(?!\s*(?:"
    + _UNITS
    + r"|%|mo|go|ko|to|mb|gb|kb|tb|mib|gib|m|g|k|octets|bytes|plus|most|biggest|largest|"
    r"fichiers|files|processus|process|processes)\b(?!'))"
)
_NOT_FOUND = re.compile(
    r"\b(?:not found|introuvables?|non trouvee?s?|pages? manquantes?|missing pages?)\b"
)


def find_status(text: str) -> int | None:
    """An HTTP status code named in the request (``404``, "not found"…), or ``None``."""
    m = _STATUS.search(text)
    if m is not None:
        return int(m.group(1))
    if _NOT_FOUND.search(text):
        return 404
    return None


_SOURCES = (
    ("nginx", r"\bnginx\b"),
    ("apache", r"\b(?:apache2?|httpd)\b"),
    (
        "auth",
        r"\b(?:auth(?:\.log)?|authentification|authentication|ssh|sshd|connexions?|logins?)\b",
    ),
    ("kernel", r"\b(?:kernel|noyau|dmesg|kmsg)\b"),
    ("journal", r"\b(?:journald|journalctl|journal systemd|systemd journal|systemd)\b"),
    ("syslog", r"\b(?:syslog|systeme|system)\b"),
)


def find_source(text: str) -> str | None:
    """The log source a request names (nginx, apache, auth, kernel, journal, syslog) or ``None``.

    A path in the request wins over a name (see the grammar).
    """
    for name, pattern in _SOURCES:
        if re.search(pattern, text):
            return name
    return None


_PATH = re.compile(r"(?<![\w~:/.@-])(/(?:[\w.@+-]+/?)*)")


def find_paths(text: str) -> list[str]:
    """Absolute paths in the request, normalised (``/var/log/`` → ``/var/log``)."""
    out: list[str] = []
    for m in _PATH.finditer(text):
        raw = m.group(1).rstrip(".,")
        path = os.path.normpath(raw) if raw else "/"
        if path.startswith("//"):
            path = "/" + path.lstrip("/")
        if path not in out:
            out.append(path)
    return out


_PORT = re.compile(
    r"\b(?:port|ports|porte)\s*(?:n[o°]\s*|numero\s*|number\s*|#\s*)?(\d{1,5})\b"
    r"|\b(?:ecoute|ecoutent|listens?|listening|bound|bind|ouvert|open)\s+(?:sur|on|to)\s+"
    r"(?:le\s+|the\s+)?(\d{1,5})\b"
    r"|(?<![\w.:])(?::)(\d{1,5})\b"
)


def find_port(text: str) -> int | None:
    """A TCP/UDP port named in the request (``port 8080``, ``:443``), or ``None``."""
    for m in _PORT.finditer(text):
        value = int(next(g for g in m.groups() if g is not None))
        if 0 < value < 65536:
            return value
    return None


_IPV4 = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})(?![\w.]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])([0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7})(?![\w:])")


def find_ips(text: str) -> list[str]:
    """IPv4 and IPv6 addresses in the request, in their canonical form."""
    out: list[str] = []
    for rx in (_IPV4, _IPV6):
        for m in rx.finditer(text):
            try:
                ip = str(ipaddress.ip_address(m.group(1)))
            except ValueError:
                continue
            if ip not in out:
                out.append(ip)
    return out


_COUNT = re.compile(
    r"\btop\s*-?\s*" + _NUM + r"\b"
    r"|\b(?:les|the|mes|my)\s+" + _NUM + r"\s+(?:plus|most|biggest|largest|heaviest|premiers?|"
    r"first|gros|grosses|lourds|top|greediest|hungriest)\b"
    r"|\b" + _NUM + r"\s+(?:plus|most|biggest|largest|heaviest|premiers?|gros|grosses|"
    r"processus|process|processes|programmes?|programs?|apps?|applications?|fichiers?|files?|"
    r"dossiers?|directories|folders?)\b"
)


def find_count(text: str) -> int | None:
    """How many items a request wants (``top 5``, ``les 10 plus gros``), or ``None``."""
    for m in _COUNT.finditer(text):
        token = next(g for g in m.groups() if g is not None)
        if token in ("a", "an", "un", "une", "one"):
            continue
        value = _amount(token)
        if 0 < value <= 1000:
            return value
    return None


_DEVICE = re.compile(
    r"(/dev/[\w/.-]+)|\b(sd[a-z]{1,2}\d*|nvme\d+n\d+(?:p\d+)?|vd[a-z]\d*|xvd[a-z]\d*|hd[a-z]\d*|"
    r"mmcblk\d+(?:p\d+)?|md\d+)\b"
)


def find_device(text: str) -> str | None:
    """A block device (``/dev/sda``, ``nvme0n1`` → ``/dev/nvme0n1``), or ``None``."""
    m = _DEVICE.search(text)
    if m is None:
        return None
    return m.group(1) or "/dev/" + m.group(2)


_QUOTED = re.compile(r"[\"«“]\s*([^\"»”]+?)\s*[\"»”]|'([^']{2,}?)'(?!\w)")
_CONTAINING = re.compile(
    r"\b(?:contenant|contiennent|qui contient|mentionnant|avec le mot|containing|"
    r"that contain|which contain|mentioning|matching|with the word)\s+([\w.@:/-]+)"
)


def find_pattern(raw: str, text: str) -> str | None:
    """A search pattern: a quoted string of the request as typed, or the word after "containing"."""
    m = _QUOTED.search(raw)
    if m is not None:
        return m.group(1) or m.group(2)
    m = _CONTAINING.search(text)
    if m is not None:
        return m.group(1)
    return None
