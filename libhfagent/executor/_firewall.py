"""``firewall.ban``: drop an address's packets for a while with an nftables set, as fail2ban does.

The agent owns one table, ``inet hf-agent``: two sets with per-element timeouts
(``banned4``, ``banned6``) and an ``input`` chain hooked before the usual filter
priority that drops what comes from them. The table is (re)declared in the same
``nft -f -`` transaction that adds the address, so a ban is one atomic change and
banning again only refreshes the timeout. Nothing else of the host's ruleset is
read or changed.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from .._errors import ExecutionError, RequestError
from ._actions import Action, ActionContext, ActionResult, Touches

__all__ = [
    "MAX_BAN_SECONDS",
    "TABLE",
    "FirewallBan",
    "ban_ruleset",
    "banned",
    "check_ban_address",
    "parse_set_elements",
]

#: The agent's nftables table (family and name).
TABLE = ("inet", "hf-agent")
#: The longest ban one step may ask for: 30 days.
MAX_BAN_SECONDS = 30 * 86400
_SETS = {4: "banned4", 6: "banned6"}
_NFT_TIMEOUT = 30.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def check_ban_address(value: Any) -> IPAddress:
    """An address that may be banned, or :class:`RequestError` naming ``ip``.

    An IPv4-mapped IPv6 address (``::ffff:192.0.2.1``) is its IPv4 address.
    Loopback, unspecified, multicast, link-local and broadcast addresses are
    refused: banning them would cut the machine off from itself or its link.
    """
    if not isinstance(value, str):
        raise RequestError(f"ip: expected an IPv4 or IPv6 address, got {value!r}")
    try:
        address: IPAddress = ipaddress.ip_address(value.strip())
    except ValueError:
        raise RequestError(
            f"ip: {value!r} is not an IPv4 or IPv6 address (one address, no prefix length)"
        ) from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for refused, what in (
        (address.is_loopback, "a loopback address"),
        (address.is_unspecified, "the unspecified address"),
        (address.is_multicast, "a multicast address"),
        (address.is_link_local, "a link-local address"),
        (address == ipaddress.IPv4Address("255.255.255.255"), "the broadcast address"),
    ):
        if refused:
            raise RequestError(f"ip: {address} is {what}; it is never banned")
    return address


def _check_seconds(value: Any) -> int:
    integral = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not integral or not 1 <= value <= MAX_BAN_SECONDS:
        raise RequestError(
            f"seconds: expected a whole number of seconds from 1 to {MAX_BAN_SECONDS} "
            f"(30 days), got {value!r}"
        )
    return int(value)


def ban_ruleset(address: IPAddress, seconds: int) -> str:
    """The ``nft -f`` text that declares the agent's table and bans ``address`` for ``seconds``.

    The chain is flushed and its two rules written again, so running it twice
    leaves one copy of each; the element is added, deleted and added with its
    timeout, so a second ban refreshes the timeout on every kernel.
    """
    family, table = TABLE
    where = f"{family} {table}"
    name = _SETS[address.version]
    return "\n".join(
        [
            f"table {where} {{",
            "    set banned4 { type ipv4_addr; flags timeout; }",
            "    set banned6 { type ipv6_addr; flags timeout; }",
            "    chain input { type filter hook input priority -10; policy accept; }",
            "}",
            f"flush chain {where} input",
            f"add rule {where} input ip saddr @banned4 drop",
            f"add rule {where} input ip6 saddr @banned6 drop",
            f"add element {where} {name} {{ {address} }}",
            f"delete element {where} {name} {{ {address} }}",
            f"add element {where} {name} {{ {address} timeout {seconds}s }}",
            "",
        ]
    )


def parse_set_elements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The elements of the set in an ``nft -j list set`` document.

    Returns:
        ``{"ip", "timeout", "expires"}`` per element (seconds; ``None`` without a timeout).
    """
    out: list[dict[str, Any]] = []
    for item in document.get("nftables", ()):
        found = item.get("set") if isinstance(item, Mapping) else None
        if not isinstance(found, Mapping):
            continue
        for elem in found.get("elem", ()):
            if isinstance(elem, str):
                out.append({"ip": elem, "timeout": None, "expires": None})
            elif isinstance(elem, Mapping) and isinstance(elem.get("elem"), Mapping):
                inner = elem["elem"]
                out.append(
                    {
                        "ip": str(inner.get("val")),
                        "timeout": inner.get("timeout"),
                        "expires": inner.get("expires"),
                    }
                )
    return out


def _nft_binary() -> str:
    found = shutil.which("nft") or next(
        (p for p in ("/usr/sbin/nft", "/sbin/nft") if os.access(p, os.X_OK)), None
    )
    if found is None:
        raise ExecutionError("firewall.ban: nft is not installed (Debian package nftables)")
    return found


def _nft(args: Sequence[str], *, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [_nft_binary(), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=_NFT_TIMEOUT,
            check=False,
            env={**os.environ, "LC_ALL": "C"},
        )
    except subprocess.TimeoutExpired as exc:
        raise ExecutionError(f"firewall.ban: nft gave no answer within {_NFT_TIMEOUT:g} s") from exc


def _failed(what: str, proc: subprocess.CompletedProcess[str]) -> ExecutionError:
    detail = " / ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
    return ExecutionError(f"firewall.ban: {what} failed (nft exit {proc.returncode}): {detail}")


def banned(version: int) -> list[dict[str, Any]] | None:
    """The elements of the agent's set for IPv4 (4) or IPv6 (6); ``None`` when it does not exist.

    Raises:
        ExecutionError: nft is missing, or its answer is not the JSON it documents.
    """
    family, table = TABLE
    proc = _nft(["-j", "list", "set", family, table, _SETS[version]])
    if proc.returncode != 0:
        if "No such file or directory" in proc.stderr:
            return None
        raise _failed("listing the ban set", proc)
    try:
        document = json.loads(proc.stdout)
    except ValueError as exc:
        raise ExecutionError(
            f"firewall.ban: nft -j printed no JSON: {proc.stdout[:200]!r}"
        ) from exc
    return parse_set_elements(document)


class FirewallBan(Action):
    """``firewall.ban``: add an address to the agent's nftables ban set with a timeout.

    Arguments: ``ip`` (one IPv4 or IPv6 address) and ``seconds`` (1 to 30 days).
    It changes no file, so it cannot run in the copy-on-write preview; the
    preview shows the set's current elements instead (:meth:`known`).
    """

    id = "firewall.ban"
    simulable = False
    undo = "remove the address from the ban set"

    def check(self, args: Mapping[str, Any]) -> dict[str, Any]:
        address = check_ban_address(args.get("ip"))
        return {"ip": str(address), "seconds": _check_seconds(args.get("seconds"))}

    def touches(self, args: Mapping[str, Any]) -> Touches:
        return Touches()

    def known(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """What the preview shows instead of a simulation: the set and its current elements.

        Raises:
            ExecutionError: nft cannot be run or read.
        """
        address = ipaddress.ip_address(args["ip"])
        family, table = TABLE
        name = _SETS[address.version]
        elements = banned(address.version)
        return {
            "set": f"{family} {table} {name}",
            "exists": elements is not None,
            "elements": elements or [],
            "already_banned": any(e["ip"] == str(address) for e in elements or []),
            "would_add": f"{address} timeout {int(args['seconds'])}s",
        }

    def run(self, args: Mapping[str, Any], ctx: ActionContext) -> ActionResult:
        checked = self.check(args)
        address = ipaddress.ip_address(checked["ip"])
        seconds = checked["seconds"]
        family, table = TABLE
        name = _SETS[address.version]
        before = banned(address.version) or []
        proc = _nft(["-f", "-"], stdin=ban_ruleset(address, seconds))
        if proc.returncode != 0:
            raise _failed(f"banning {address}", proc)
        expires = dt.datetime.fromtimestamp(ctx.now + seconds, dt.UTC)
        return ActionResult(
            {
                "ip": str(address),
                "seconds": seconds,
                "expires": expires.isoformat(timespec="seconds"),
                "set": f"{family} {table} {name}",
                "refreshed": any(e["ip"] == str(address) for e in before),
            },
            {"ip": str(address)},
        )

    def revert(self, args: Mapping[str, Any], undo: Mapping[str, Any], ctx: ActionContext) -> str:
        address = check_ban_address(undo.get("ip", args.get("ip")))
        family, table = TABLE
        name = _SETS[address.version]
        elements = banned(address.version)
        if not any(e["ip"] == str(address) for e in elements or []):
            return f"{address} is not banned any more (its ban expired or was lifted)"
        proc = _nft(["delete", "element", family, table, name, f"{{ {address} }}"])
        if proc.returncode != 0:
            raise _failed(f"lifting the ban of {address}", proc)
        return f"{address} removed from {family} {table} {name}"
