"""The permission policy: which plan steps run, which ask first, which are refused.

The rules live in ``policy/permissions.default.json`` (documented there) and an
optional override, ``/etc/hf-agent/permissions.json``, merged key by key.
Decisions are pure: they take a step and the settings and return a
:class:`Decision`; the only I/O is resolving the paths a step names.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import attrs

from .._errors import ConfigError
from ..config._jsonc import JsoncDocument, KeyPath, format_key_path, parse_jsonc
from ..config._model import Config
from ..interpreter._types import Step

__all__ = ["DEFAULT_POLICY_PATH", "OVERRIDE_PATH", "Decision", "Policy"]

#: The file shipped with the agent (repository layout; packaged copy beside this module).
DEFAULT_POLICY_PATH = Path(__file__).resolve().parents[2] / "policy" / "permissions.default.json"
_PACKAGED_POLICY_PATH = Path(__file__).resolve().parent / "permissions.default.json"

#: The administrator's override, read when it exists.
OVERRIDE_PATH = "/etc/hf-agent/permissions.json"

Verdict = Literal["allow", "confirm", "deny"]
_VERDICTS: tuple[str, ...] = ("allow", "confirm", "deny")
_RANK = {"allow": 0, "confirm": 1, "deny": 2}

#: Actions that act on a systemd unit named by ``args["service"]``.
_SERVICE_ACTIONS = frozenset({"service.restart", "service.start", "service.stop"})
#: Actions whose ``args["paths"]`` are changed.
_PATH_ACTIONS = frozenset({"files.delete", "files.compress", "files.quarantine"})
#: Fixed places some actions change.
_FIXED_PATHS: Mapping[str, tuple[str, ...]] = {
    "journal.vacuum": ("/var/log/journal",),
    "apt.clean": ("/var/cache/apt/archives",),
}
#: Actions that change nothing whatever their arguments.
_READ_ONLY = frozenset(
    {
        "logs.summarize",
        "security.audit",
        "system.status",
        "disk.usage",
        "files.find",
        "disk.health",
        "process.top",
        "network.listening",
        "service.status",
        "resources.optimize",
    }
)


@attrs.frozen
class Decision:
    """The policy's verdict on a step, a set of paths, a service or a size.

    Attributes:
        decision: ``allow``, ``confirm`` or ``deny``.
        reasons: Why, short English sentences naming the path, unit or limit.
    """

    decision: Verdict
    reasons: tuple[str, ...] = ()


@attrs.frozen
class _Limit:
    max_files: int | None = None
    max_bytes: int | None = None


@attrs.frozen
class _Rules:
    actions: Mapping[str, Verdict]
    confirm_always: frozenset[str]
    min_confidence: float
    change_roots: tuple[str, ...]
    backup_roots: tuple[str, ...]
    backup_remote: bool
    protected: tuple[str, ...]
    services_allow: tuple[str, ...]
    services_deny: tuple[str, ...]
    services_deny_by_action: Mapping[str, tuple[str, ...]]
    services_confirm: tuple[str, ...]
    limits: Mapping[str, _Limit]
    never_ban: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    max_ban_seconds: int | None = None


class Policy:
    """The permission policy, loaded from the default file and an override.

    Args:
        rules: The merged, checked document (see :meth:`load`).
        sandbox_level: ``security.sandbox_level`` used when :meth:`decide` is
            not given one.
        user_mode: ``agent.user_mode`` used when :meth:`decide` is not given one.
        origins: The files the rules were read from, in merge order.
        maintenance_flag: ``modules.runbooks.maintenance_flag``: ``web.maintenance``
            may switch this file even outside the change roots.
    """

    def __init__(
        self,
        rules: Mapping[str, Any],
        *,
        sandbox_level: str = "strict",
        user_mode: str = "interactive",
        origins: Sequence[str] = (),
        maintenance_flag: str | None = None,
    ) -> None:
        self._rules = _rules_from(rules)
        self.sandbox_level = sandbox_level
        self.user_mode = user_mode
        self.origins = tuple(origins)
        self.maintenance_flag = maintenance_flag

    @classmethod
    def load(cls, config: Config, path: str | None = None) -> Policy:
        """The default policy merged with an override.

        Args:
            config: Supplies ``security.sandbox_level`` and ``agent.user_mode``.
            path: The override file; when ``None``, the configuration's
                ``security.permissions_file``, else ``/etc/hf-agent/permissions.json``
                if it exists. A given path must exist.

        Returns:
            The policy.

        Raises:
            ConfigError: A file cannot be read or is wrong: the message names the
                file, the key path and its line.
        """
        default_path = _default_path()
        merged = _read(default_path)
        _check(merged, str(default_path))
        origins = [str(default_path)]
        if path is None:
            path = config.security.permissions_file
        override = path if path is not None else (OVERRIDE_PATH if _exists(OVERRIDE_PATH) else None)
        if override is not None:
            doc = _read(Path(override))
            _check(doc, override)
            merged = JsoncDocument(value=_merge(merged.value, doc.value), lines=doc.lines)
            origins.append(override)
        return cls(
            _as_dict(merged.value),
            sandbox_level=config.security.sandbox_level,
            user_mode=config.agent.user_mode,
            origins=origins,
            maintenance_flag=config.modules.runbooks.maintenance_flag,
        )

    def decide(
        self,
        step: Step,
        *,
        confidence: float = 1.0,
        sandbox_level: str | None = None,
        user_mode: str | None = None,
    ) -> Decision:
        """The verdict on one plan step (rules in ``permissions.default.json``).

        Args:
            step: The step; its ``decision`` and ``reason`` are ignored.
            confidence: The intent's confidence.
            sandbox_level: ``strict`` or ``permissive`` (default: the config's).
            user_mode: ``interactive`` or ``auto`` (default: the config's).

        Returns:
            The decision and its reasons.
        """
        rules = self._rules
        sandbox = sandbox_level or self.sandbox_level
        mode = user_mode or self.user_mode
        action = step.action
        setting = rules.actions.get(action)
        if setting is None:
            return Decision("deny", (f"{action}: no such action in the policy",))
        if setting == "deny":
            return Decision("deny", (f"{action}: denied by the policy",))
        if not self._changes(step):
            return Decision("allow", (f"{action}: read-only, it changes nothing",))
        if confidence < rules.min_confidence:
            return Decision(
                "deny",
                (
                    f"request not understood well enough to change the system "
                    f"(confidence {confidence:.2f} < {rules.min_confidence:.2f})",
                ),
            )
        refusals = self._refusals(step)
        if refusals:
            return Decision("deny", refusals)
        if action in rules.confirm_always:
            return Decision("confirm", (f"{action}: always asks for confirmation",))
        service = step.args.get("service")
        if (
            action in _SERVICE_ACTIONS
            and isinstance(service, str)
            and _matches_unit(service, rules.services_confirm)
        ):
            return Decision("confirm", (f"{service}: changes to it always ask for confirmation",))
        if sandbox == "strict":
            return Decision("confirm", ("strict sandbox: confirm after the preview",))
        if setting == "allow":
            return Decision("allow", (f"{action}: allowed by the policy",))
        if mode == "auto":
            return Decision("allow", ("permissive sandbox and auto mode",))
        return Decision("confirm", ("interactive mode: confirm after the preview",))

    def check_paths(self, paths: Iterable[str], *, roots: str = "change") -> Decision:
        """Whether every path may be changed.

        Symbolic links and ``..`` are resolved first; a path is denied when it is
        not absolute, protected, or outside the change roots.

        Args:
            paths: The paths a step changes.
            roots: ``change`` (the ``change_roots``) or ``backup`` (``backup_roots``).

        Returns:
            ``allow``, or ``deny`` with one reason per refused path.
        """
        allowed = self._rules.backup_roots if roots == "backup" else self._rules.change_roots
        reasons: list[str] = []
        for given in paths:
            reason = self._path_refusal(given, allowed)
            if reason:
                reasons.append(reason)
        if reasons:
            return Decision("deny", tuple(reasons))
        return Decision("allow", ())

    def check_limits(self, action: str, files: int, bytes: int) -> Decision:
        """Whether a step's size is within the action's limits.

        Args:
            action: The action id.
            files: How many files the step touches.
            bytes: Their total size.

        Returns:
            ``allow``, or ``deny`` naming each limit exceeded.
        """
        limit = self._rules.limits.get(action)
        reasons: list[str] = []
        if limit is not None:
            if limit.max_files is not None and files > limit.max_files:
                reasons.append(f"{action}: {files} files exceed the limit of {limit.max_files}")
            if limit.max_bytes is not None and bytes > limit.max_bytes:
                reasons.append(
                    f"{action}: {bytes} bytes exceed the limit of {limit.max_bytes} bytes"
                )
        if reasons:
            return Decision("deny", tuple(reasons))
        return Decision("allow", ())

    def check_service(self, action: str, service: str) -> Decision:
        """Whether ``action`` may act on the unit ``service``.

        Args:
            action: ``service.start``, ``service.stop`` or ``service.restart``.
            service: The unit name, with or without ``.service``.

        Returns:
            ``deny`` when the unit is not allowed, ``confirm`` when its changes
            always ask, else ``allow``.
        """
        rules = self._rules
        if not service or "/" in service:
            return Decision("deny", (f"{service!r}: not a unit name",))
        if _matches_unit(service, rules.services_deny_by_action.get(action, ())):
            return Decision("deny", (f"{service}: {action} is not allowed on this unit",))
        if _matches_unit(service, rules.services_deny):
            return Decision("deny", (f"{service}: the agent never acts on this unit",))
        if not _matches_unit(service, rules.services_allow):
            return Decision("deny", (f"{service}: not among the units the agent may act on",))
        if _matches_unit(service, rules.services_confirm):
            return Decision("confirm", (f"{service}: changes to it always ask for confirmation",))
        return Decision("allow", ())

    # -- internals ---------------------------------------------------------

    def _changes(self, step: Step) -> bool:
        if step.action == "packages.update":
            return bool(step.args.get("mode", "list") != "list")
        return step.action not in _READ_ONLY

    def _refusals(self, step: Step) -> tuple[str, ...]:
        action, args = step.action, step.args
        reasons: list[str] = []
        if action in _PATH_ACTIONS:
            paths = args.get("paths")
            if not isinstance(paths, (list, tuple)) or not paths:
                return (f"{action}: no paths given",)
            if not all(isinstance(p, str) for p in paths):
                return (f"{action}: paths must be text",)
            reasons.extend(self.check_paths(paths).reasons)
        if action in _FIXED_PATHS:
            reasons.extend(self.check_paths(_FIXED_PATHS[action]).reasons)
        if action in _SERVICE_ACTIONS:
            service = args.get("service")
            verdict = self.check_service(action, service if isinstance(service, str) else "")
            if verdict.decision == "deny":
                reasons.extend(verdict.reasons)
        if action == "backup.sync":
            reasons.extend(self._backup_refusals(args))
        if action == "web.maintenance":
            reasons.extend(self._maintenance_refusals(args))
        if action == "firewall.ban":
            reasons.extend(self._ban_refusals(args))
        return tuple(reasons)

    def _maintenance_refusals(self, args: Mapping[str, Any]) -> list[str]:
        """The flag: the configured one or in the change roots; a unit: an allowed one."""
        flag, service = args.get("flag"), args.get("service")
        reasons: list[str] = []
        if not isinstance(flag, str) or not flag:
            reasons.append("web.maintenance: no flag file given")
        elif flag != self.maintenance_flag:
            reasons.extend(self.check_paths([flag]).reasons)
        if isinstance(service, str) and not service.startswith("/"):
            verdict = self.check_service("web.maintenance", service)
            if verdict.decision == "deny":
                reasons.extend(verdict.reasons)
        return reasons

    def _ban_refusals(self, args: Mapping[str, Any]) -> list[str]:
        """The address must not be in ``firewall.never_ban``; the ban not longer than allowed."""
        reasons: list[str] = []
        try:
            address = ipaddress.ip_address(str(args.get("ip", "")).strip())
        except ValueError:
            return [f"firewall.ban: {args.get('ip')!r} is not an IP address"]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        for network in self._rules.never_ban:
            if address.version == network.version and address in network:
                reasons.append(f"{address}: never banned (firewall.never_ban has {network})")
        seconds, most = args.get("seconds"), self._rules.max_ban_seconds
        if most is not None and isinstance(seconds, int | float) and seconds > most:
            reasons.append(
                f"firewall.ban: {seconds:.0f} s exceed the longest ban allowed "
                f"(firewall.max_ban_seconds: {most} s)"
            )
        return reasons

    def _backup_refusals(self, args: Mapping[str, Any]) -> list[str]:
        destination = args.get("destination")
        if not isinstance(destination, str) or not destination:
            return ["backup.sync: no destination given"]
        head = destination.split("/", 1)[0]
        if ":" in head:
            if self._rules.backup_remote:
                return []
            return [f"{destination}: remote backup destinations are not allowed by the policy"]
        return list(self.check_paths([destination], roots="backup").reasons)

    def _path_refusal(self, given: str, allowed: tuple[str, ...]) -> str | None:
        if not os.path.isabs(given):
            return f"{given}: not an absolute path"
        real = os.path.realpath(given)
        shown = given if real == given else f"{given} (resolves to {real})"
        protected = sorted(
            (p for p in self._rules.protected if _under(real, p)),
            key=lambda p: len(_parts(p)),
            reverse=True,
        )
        covering = [r for r in allowed if _under(real, r)]
        for p in protected:
            if not any(_under(r, p) for r in covering):
                if len(_parts(real)) == len(_parts(p)):
                    return f"{shown}: protected ({p})"
                return f"{shown}: protected (below {p})"
        if not covering:
            return f"{shown}: outside the places changes are allowed ({', '.join(allowed)})"
        return None


def _parts(path: str) -> list[str]:
    return [p for p in path.split("/") if p]


def _under(path: str, pattern: str) -> bool:
    """Whether ``path`` is ``pattern`` or below it (``*`` matches one component)."""
    have, want = _parts(path), _parts(pattern)
    if len(have) < len(want):
        return False
    return all(fnmatch.fnmatchcase(h, w) for h, w in zip(have, want, strict=False))


def _matches_unit(service: str, patterns: Iterable[str]) -> bool:
    bare = service.removesuffix(".service")
    return any(fnmatch.fnmatchcase(bare, p) or fnmatch.fnmatchcase(service, p) for p in patterns)


def _exists(path: str) -> bool:
    return os.path.exists(path)


def _default_path() -> Path:
    for candidate in (DEFAULT_POLICY_PATH, _PACKAGED_POLICY_PATH):
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"the default permission policy is missing: neither {DEFAULT_POLICY_PATH} nor "
        f"{_PACKAGED_POLICY_PATH} exists; reinstall hf-agent",
        origin=str(DEFAULT_POLICY_PATH),
    )


def _read(path: Path) -> JsoncDocument:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such permission policy file; give an existing file",
            origin=str(path),
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path}: cannot read the permission policy: {exc}", origin=str(path)
        ) from None
    doc = parse_jsonc(text, origin=str(path))
    if not isinstance(doc.value, dict):
        raise ConfigError(
            f"{path}: the permission policy must be a JSON object (line {doc.line_of(())})",
            origin=str(path),
            line=doc.line_of(()),
        )
    return doc


def _as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _merge(base: object, over: object) -> object:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = _merge(base[key], value) if key in base else value
        return out
    return over


_TOP_KEYS = (
    "version",
    "actions",
    "confirm_always",
    "min_confidence",
    "change_roots",
    "backup_roots",
    "backup_remote",
    "protected",
    "services",
    "limits",
    "firewall",
)
_SERVICE_KEYS = ("allow", "deny", "deny_by_action", "confirm")
_FIREWALL_KEYS = ("never_ban", "max_ban_seconds")


class _Checker:
    def __init__(self, doc: JsoncDocument, origin: str, known_actions: Iterable[str]) -> None:
        self.doc = doc
        self.origin = origin
        self.known_actions = frozenset(known_actions)

    def fail(self, path: KeyPath, problem: str) -> ConfigError:
        line = self.doc.line_of(path)
        key = format_key_path(path)
        where = f"{self.origin}, line {line}" if line else self.origin
        return ConfigError(f"{where}: {key}: {problem}", key=key, line=line, origin=self.origin)

    def mapping(self, path: KeyPath, value: object, keys: Iterable[str] | None) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, "must be an object")
        if keys is not None:
            allowed = tuple(keys)
            for key in value:
                if key not in allowed:
                    raise self.fail(
                        (*path, key), f"unknown key; expected one of {', '.join(allowed)}"
                    )
        return value

    def strings(self, path: KeyPath, value: object, *, absolute: bool = False) -> None:
        if not isinstance(value, list):
            raise self.fail(path, "must be a list of strings")
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item:
                raise self.fail((*path, i), "must be a non-empty string")
            if absolute and not item.startswith("/"):
                raise self.fail((*path, i), f"{item!r} must be an absolute path")

    def action(self, path: KeyPath, name: str) -> None:
        if name not in self.known_actions:
            raise self.fail(path, f"unknown action {name!r}")

    def check(self) -> None:
        root = self.mapping((), self.doc.value, _TOP_KEYS)
        for key, value in root.items():
            getattr(self, "_" + key)((key,), value)

    def _version(self, path: KeyPath, value: object) -> None:
        if value != 1:
            raise self.fail(path, "must be 1")

    def _actions(self, path: KeyPath, value: object) -> None:
        for name, verdict in self.mapping(path, value, None).items():
            self.action((*path, name), name)
            if verdict not in _VERDICTS:
                raise self.fail((*path, name), 'must be "allow", "confirm" or "deny"')

    def _confirm_always(self, path: KeyPath, value: object) -> None:
        self.strings(path, value)
        names: list[str] = value if isinstance(value, list) else []
        for i, name in enumerate(names):
            self.action((*path, i), name)

    def _min_confidence(self, path: KeyPath, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise self.fail(path, "must be a number between 0 and 1")

    def _change_roots(self, path: KeyPath, value: object) -> None:
        self.strings(path, value, absolute=True)

    _backup_roots = _change_roots
    _protected = _change_roots

    def _backup_remote(self, path: KeyPath, value: object) -> None:
        if not isinstance(value, bool):
            raise self.fail(path, "must be true or false")

    def _services(self, path: KeyPath, value: object) -> None:
        services = self.mapping(path, value, _SERVICE_KEYS)
        for key, item in services.items():
            if key == "deny_by_action":
                for name, units in self.mapping((*path, key), item, None).items():
                    self.action((*path, key, name), name)
                    self.strings((*path, key, name), units)
            else:
                self.strings((*path, key), item)

    def _limits(self, path: KeyPath, value: object) -> None:
        for name, limit in self.mapping(path, value, None).items():
            self.action((*path, name), name)
            for key, number in self.mapping(
                (*path, name), limit, ("max_files", "max_bytes")
            ).items():
                if isinstance(number, bool) or not isinstance(number, int) or number < 0:
                    raise self.fail((*path, name, key), "must be a whole number >= 0")

    def _firewall(self, path: KeyPath, value: object) -> None:
        firewall = self.mapping(path, value, _FIREWALL_KEYS)
        if "never_ban" in firewall:
            self.strings((*path, "never_ban"), firewall["never_ban"])
            for i, item in enumerate(firewall["never_ban"]):
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError:
                    raise self.fail(
                        (*path, "never_ban", i),
                        f"{item!r} is not an address or network (192.0.2.0/24, 2001:db8::/32)",
                    ) from None
        most = firewall.get("max_ban_seconds")
        if "max_ban_seconds" in firewall and (
            isinstance(most, bool) or not isinstance(most, int) or most < 1
        ):
            raise self.fail((*path, "max_ban_seconds"), "must be a whole number >= 1")


def _check(doc: JsoncDocument, origin: str) -> None:
    _Checker(doc, origin, _known_actions()).check()


def _known_actions() -> set[str]:
    """The action ids of ACTIONS.md (read-only probes and changes)."""
    return set(_READ_ONLY) | {
        "packages.update",
        "journal.vacuum",
        "files.delete",
        "files.compress",
        "files.quarantine",
        "apt.clean",
        "service.restart",
        "service.start",
        "service.stop",
        "backup.sync",
        "schedule.add",
        "web.maintenance",
        "firewall.ban",
    }


def _rules_from(value: Mapping[str, Any]) -> _Rules:
    services = value.get("services", {})
    return _Rules(
        actions={k: v for k, v in value.get("actions", {}).items()},
        confirm_always=frozenset(value.get("confirm_always", ())),
        min_confidence=float(value.get("min_confidence", 0.5)),
        change_roots=tuple(value.get("change_roots", ())),
        backup_roots=tuple(value.get("backup_roots", ())),
        backup_remote=bool(value.get("backup_remote", False)),
        protected=tuple(value.get("protected", ("/",))),
        services_allow=tuple(services.get("allow", ())),
        services_deny=tuple(services.get("deny", ())),
        services_deny_by_action={
            k: tuple(v) for k, v in services.get("deny_by_action", {}).items()
        },
        services_confirm=tuple(services.get("confirm", ())),
        limits={
            k: _Limit(v.get("max_files"), v.get("max_bytes"))
            for k, v in value.get("limits", {}).items()
        },
        never_ban=tuple(
            ipaddress.ip_network(n, strict=False)
            for n in value.get("firewall", {}).get("never_ban", ())
        ),
        max_ban_seconds=value.get("firewall", {}).get("max_ban_seconds"),
    )
