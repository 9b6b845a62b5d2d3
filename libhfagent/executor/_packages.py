"""Pending package updates: ``apt-get -s upgrade`` parsed, security updates singled out."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from .._errors import ExecutionError

__all__ = ["Update", "apply_argv", "parse_apt_list", "parse_simulation", "simulate_upgrade"]

# Inst libssl3 [3.0.11-1~deb12u1] (3.0.11-1~deb12u2 Debian-Security:12/stable-security [amd64])
_INST = re.compile(
    r"^Inst (?P<name>\S+)(?: \[(?P<old>[^\]]+)\])? "
    r"\((?P<new>\S+) (?P<origins>.*?)(?: \[(?P<arch>[^\]]+)\])?\)"
)
# apt/oldstable-security 2.6.2 amd64 [upgradable from: 2.6.1]
_LIST = re.compile(
    r"^(?P<name>[^/\s]+)/(?P<suites>\S+) (?P<new>\S+) (?P<arch>\S+) "
    r"\[upgradable from: (?P<old>[^\]]+)\]"
)

_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]*(?::[a-z0-9-]+)?")
_APPLY = ("apt-get", "-y", "-o", "Dpkg::Options::=--force-confold")


@attrs.frozen
class Update:
    """One package apt would upgrade (or install).

    Attributes:
        name: The package.
        old: The installed version (empty for a new package).
        new: The candidate version.
        origins: Where the candidate comes from (``Debian-Security:12/stable-security``).
        security: Whether it comes from a ``*-security`` suite.
        arch: Its architecture.
    """

    name: str
    old: str
    new: str
    origins: tuple[str, ...]
    security: bool
    arch: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**attrs.asdict(self), "origins": list(self.origins)}


def _is_security(origins: Iterable[str]) -> bool:
    return any(o.split("/")[-1].endswith("-security") for o in origins)


def parse_simulation(text: str) -> list[Update]:
    """The ``Inst`` lines of ``apt-get -s upgrade`` (or ``install``) output."""
    out = []
    for line in text.splitlines():
        m = _INST.match(line)
        if m is None:
            continue
        origins = tuple(o.strip() for o in m.group("origins").split(",") if o.strip())
        out.append(
            Update(
                name=m.group("name"),
                old=m.group("old") or "",
                new=m.group("new"),
                origins=origins,
                security=_is_security(origins),
                arch=m.group("arch") or "",
            )
        )
    return out


def parse_apt_list(text: str) -> list[Update]:
    """The lines of ``apt list --upgradable``."""
    out = []
    for line in text.splitlines():
        m = _LIST.match(line)
        if m is None:
            continue
        suites = tuple(m.group("suites").split(","))
        out.append(
            Update(
                name=m.group("name"),
                old=m.group("old"),
                new=m.group("new"),
                origins=suites,
                security=_is_security(suites),
                arch=m.group("arch"),
            )
        )
    return out


def simulate_upgrade(extra: Sequence[str] = ()) -> list[Update]:
    """What ``apt-get -s upgrade`` would do (no change; apt's cached lists only).

    Raises:
        ExecutionError: apt-get is missing or fails.
    """
    argv = ["apt-get", "-s", "-o", "Debug::NoLocking=1", *extra, "upgrade"]
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env={**os.environ, "LC_ALL": "C"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ExecutionError(f"packages.update: cannot run {' '.join(argv)}: {exc}") from exc
    if proc.returncode != 0:
        raise ExecutionError(
            f"packages.update: {' '.join(argv)} failed (exit {proc.returncode}): "
            + proc.stderr.strip()[-500:]
        )
    return parse_simulation(proc.stdout)


def apply_argv(pending: Sequence[Update], mode: str) -> list[str] | None:
    """The apt-get command that applies the updates of ``mode`` (``security`` or ``all``).

    ``None`` when there is nothing to apply.
    """
    if mode == "all":
        return [*_APPLY, "upgrade"] if pending else None
    names = sorted(u.name for u in pending if u.security and u.old and _PACKAGE.fullmatch(u.name))
    if not names:
        return None
    return [*_APPLY, "install", "--only-upgrade", *names]
