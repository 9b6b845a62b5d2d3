"""The permission policy: every rule, paths resolved on real trees, overrides, bad files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from libhfagent._errors import ConfigError
from libhfagent.config._model import Config
from libhfagent.executor import _policy
from libhfagent.executor._policy import DEFAULT_POLICY_PATH, Decision, Policy
from libhfagent.interpreter._types import Step

READ_ONLY = (
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
)


@pytest.fixture(autouse=True)
def _no_system_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never read the machine's /etc/hf-agent/permissions.json."""
    monkeypatch.setattr(_policy, "OVERRIDE_PATH", str(tmp_path / "absent.json"))


def _config(sandbox: str = "strict", mode: str = "interactive") -> Config:
    return Config.from_text(
        json.dumps({"agent": {"user_mode": mode}, "security": {"sandbox_level": sandbox}})
    )


def _policy_with(tmp_path: Path, override: dict[str, Any] | str | None = None, **kw: str) -> Policy:
    path = None
    if override is not None:
        file = tmp_path / "permissions.json"
        file.write_text(override if isinstance(override, str) else json.dumps(override))
        path = str(file)
    return Policy.load(_config(**kw), path=path)


def _step(action: str, **args: Any) -> Step:
    return Step(action, args, changes_system=True)


def test_the_default_file_is_jsonc_and_loads() -> None:
    text = DEFAULT_POLICY_PATH.read_text()
    assert "//" in text
    policy = Policy.load(_config())
    assert policy.origins == (str(DEFAULT_POLICY_PATH),)
    assert policy.sandbox_level == "strict" and policy.user_mode == "interactive"


@pytest.mark.parametrize("action", READ_ONLY)
def test_read_only_probes_are_allowed_in_every_mode(action: str) -> None:
    policy = Policy.load(_config())
    for sandbox in ("strict", "permissive"):
        for mode in ("interactive", "auto"):
            decision = policy.decide(
                Step(action, {}), confidence=0.1, sandbox_level=sandbox, user_mode=mode
            )
            assert decision == Decision("allow", (f"{action}: read-only, it changes nothing",))


def test_an_unknown_action_is_denied() -> None:
    decision = Policy.load(_config()).decide(Step("files.shred", {"paths": ["/tmp/x"]}))
    assert decision == Decision("deny", ("files.shred: no such action in the policy",))


def test_packages_update_list_is_read_only_and_install_always_confirms() -> None:
    policy = Policy.load(_config("permissive", "auto"))
    assert policy.decide(Step("packages.update", {"mode": "list"})).decision == "allow"
    decision = policy.decide(_step("packages.update", mode="security"))
    assert decision == Decision("confirm", ("packages.update: always asks for confirmation",))


def test_low_confidence_denies_changes_only() -> None:
    policy = Policy.load(_config("permissive", "auto"))
    decision = policy.decide(_step("files.delete", paths=["/tmp"]), confidence=0.3)
    assert decision.decision == "deny"
    assert decision.reasons[0].startswith("request not understood well enough to change the system")
    assert "0.30" in decision.reasons[0]
    assert policy.decide(_step("files.delete", paths=["/tmp"]), confidence=0.5).decision == "allow"
    assert policy.decide(Step("disk.usage", {"path": "/"}), confidence=0.3).decision == "allow"


@pytest.mark.parametrize(
    ("sandbox", "mode", "expected", "reason"),
    [
        ("strict", "interactive", "confirm", "strict sandbox: confirm after the preview"),
        ("strict", "auto", "confirm", "strict sandbox: confirm after the preview"),
        ("permissive", "interactive", "confirm", "interactive mode: confirm after the preview"),
        ("permissive", "auto", "allow", "permissive sandbox and auto mode"),
    ],
)
def test_modes_for_a_change(sandbox: str, mode: str, expected: str, reason: str) -> None:
    policy = Policy.load(_config())
    decision = policy.decide(
        _step("files.delete", paths=["/var/log"]), sandbox_level=sandbox, user_mode=mode
    )
    assert decision == Decision(expected, (reason,))  # type: ignore[arg-type]


def test_modes_default_to_the_config() -> None:
    step = _step("apt.clean")
    assert Policy.load(_config("permissive", "auto")).decide(step).decision == "allow"
    assert Policy.load(_config("permissive", "interactive")).decide(step).decision == "confirm"


@pytest.mark.parametrize(
    "action",
    [
        "journal.vacuum",
        "files.compress",
        "files.quarantine",
        "apt.clean",
        "service.restart",
        "service.start",
        "service.stop",
        "backup.sync",
        "schedule.add",
    ],
)
def test_every_change_confirms_in_strict_mode(action: str) -> None:
    args: dict[str, Any] = {
        "paths": ["/var/log"],
        "service": "nginx",
        "source": "/srv/www",
        "destination": "/var/backups/www",
        "cron": "0 2 * * *",
        "task": "nettoie /tmp",
    }
    policy = Policy.load(_config("strict", "auto"))
    assert policy.decide(Step(action, args)).decision == "confirm"
    assert policy.decide(Step(action, args), sandbox_level="permissive").decision == "allow", action


def test_paths_on_a_real_tree(tmp_path: Path) -> None:
    policy = Policy.load(_config())
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "a.log").write_text("x")
    (tree / "to-etc").symlink_to("/etc")
    (tree / "to-passwd").symlink_to("/etc/passwd")
    (tree / "to-sub").symlink_to(tree / "sub")
    assert str(tmp_path).startswith("/tmp/")
    assert policy.check_paths([str(tree / "sub" / "a.log"), str(tree / "to-sub")]) == Decision(
        "allow", ()
    )
    decision = policy.check_paths([str(tree / "to-etc"), str(tree / "to-passwd")])
    assert decision.decision == "deny"
    assert decision.reasons == (
        f"{tree / 'to-etc'} (resolves to /etc): protected (/etc)",
        f"{tree / 'to-passwd'} (resolves to /etc/passwd): protected (below /etc)",
    )
    dotted = str(tree / "sub") + "/.." * 20 + "/etc/shadow"
    decision = policy.check_paths([dotted])
    assert decision.reasons == (f"{dotted} (resolves to /etc/shadow): protected (below /etc)",)
    # A symbolic link through a directory: /tmp/…/to-etc/ssh is /etc/ssh.
    decision = policy.check_paths([str(tree / "to-etc" / "ssh")])
    assert decision.reasons[0].endswith("(resolves to /etc/ssh): protected (below /etc)")


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/", "/: protected (/)"),
        ("/etc", "/etc: protected (/etc)"),
        ("/usr/bin/ls", "/usr/bin/ls: protected (below /usr)"),
        ("/boot/vmlinuz", "/boot/vmlinuz: protected (below /boot)"),
        ("/var/lib/dpkg/status", "/var/lib/dpkg/status: protected (below /var/lib/dpkg)"),
        ("/var/lib/apt/lists", "/var/lib/apt/lists: protected (below /var/lib/apt)"),
        ("/home/alice", "/home/alice: protected (/home/*)"),
        ("/home/alice/notes.txt", "/home/alice/notes.txt: protected (below /home/*)"),
        ("/var", "/var: protected (/var)"),
        ("/var/cache/hf-agent/x", "/var/cache/hf-agent/x: protected (below /var/cache/hf-agent)"),
        ("tmp/x", "tmp/x: not an absolute path"),
    ],
)
def test_protected_paths(path: str, reason: str) -> None:
    assert Policy.load(_config()).check_paths([path]) == Decision("deny", (reason,))


@pytest.mark.parametrize(
    "path",
    [
        "/var/log",
        "/var/log/syslog.1",
        "/tmp",
        "/var/tmp/x",
        "/var/cache/apt/archives/a.deb",
        "/home/alice/.cache/pip",
        "/root/.cache/x",
    ],
)
def test_change_roots(path: str) -> None:
    if os.path.realpath(path) != path:
        pytest.skip(f"{path} is a symbolic link on this machine")
    assert Policy.load(_config()).check_paths([path]) == Decision("allow", ())


def test_outside_the_change_roots(tmp_path: Path) -> None:
    policy = _policy_with(tmp_path, {"protected": ["/etc"]})
    decision = policy.check_paths(["/srv/data/x"])
    assert decision.decision == "deny"
    assert decision.reasons[0].startswith("/srv/data/x: outside the places changes are allowed (")


def test_a_step_with_a_protected_path_is_denied_even_in_auto_mode() -> None:
    policy = Policy.load(_config("permissive", "auto"))
    decision = policy.decide(_step("files.delete", paths=["/tmp", "/etc/passwd"]))
    assert decision == Decision("deny", ("/etc/passwd: protected (below /etc)",))
    assert policy.decide(_step("files.delete", paths=[])).reasons == (
        "files.delete: no paths given",
    )
    assert policy.decide(_step("files.quarantine")).decision == "deny"


def test_services() -> None:
    policy = Policy.load(_config("permissive", "auto"))
    assert policy.check_service("service.restart", "nginx") == Decision("allow", ())
    assert policy.check_service("service.restart", "dbus.service") == Decision(
        "deny", ("dbus.service: the agent never acts on this unit",)
    )
    assert policy.check_service("service.start", "systemd-journald").decision == "deny"
    assert policy.check_service("service.stop", "polkit").decision == "deny"
    # Stopping ssh locks administrators out; restarting it asks, even in auto mode.
    assert policy.check_service("service.stop", "ssh") == Decision(
        "deny", ("ssh: service.stop is not allowed on this unit",)
    )
    assert policy.decide(_step("service.restart", service="ssh")) == Decision(
        "confirm", ("ssh: changes to it always ask for confirmation",)
    )
    assert policy.decide(_step("service.stop", service="ssh.service")).decision == "deny"
    assert policy.decide(_step("service.restart", service="nginx")).decision == "allow"
    assert policy.decide(_step("service.restart", service="")).decision == "deny"
    assert policy.check_service("service.restart", "../etc").decision == "deny"


def test_an_allow_list_of_services(tmp_path: Path) -> None:
    policy = _policy_with(tmp_path, {"services": {"allow": ["nginx", "php*-fpm"]}})
    assert policy.check_service("service.restart", "php8.2-fpm").decision == "allow"
    assert policy.check_service("service.restart", "mysql") == Decision(
        "deny", ("mysql: not among the units the agent may act on",)
    )
    # The other service keys keep their defaults.
    assert policy.check_service("service.stop", "ssh").decision == "deny"


def test_limits() -> None:
    policy = Policy.load(_config())
    assert policy.check_limits("files.delete", 10, 1000) == Decision("allow", ())
    decision = policy.check_limits("files.quarantine", 2001, 3 * 1024**3)
    assert decision == Decision(
        "deny",
        (
            "files.quarantine: 2001 files exceed the limit of 2000",
            "files.quarantine: 3221225472 bytes exceed the limit of 2147483648 bytes",
        ),
    )
    assert policy.check_limits("schedule.add", 10**9, 10**15).decision == "allow"


def test_backup_destinations(tmp_path: Path) -> None:
    policy = Policy.load(_config("permissive", "auto"))
    ok = _step("backup.sync", source="/etc", destination="/var/backups/etc")
    assert policy.decide(ok).decision == "allow"
    decision = policy.decide(_step("backup.sync", source="/srv", destination="/etc/backup"))
    assert decision == Decision("deny", ("/etc/backup: protected (below /etc)",))
    remote = _step("backup.sync", source="/srv", destination="backup@host:/srv/backup")
    assert policy.decide(remote).reasons == (
        "backup@host:/srv/backup: remote backup destinations are not allowed by the policy",
    )
    allowing = _policy_with(tmp_path, {"backup_remote": True}, sandbox="permissive", mode="auto")
    assert allowing.decide(remote).decision == "allow"


def test_an_override_merges_key_by_key(tmp_path: Path) -> None:
    roots = tmp_path / "roots"
    (roots / "keep").mkdir(parents=True)
    override = f"""{{
      // Only these keys change.
      "actions": {{"files.compress": "deny", "apt.clean": "allow"}},
      "change_roots": ["{roots}"],
      "protected": ["/", "{roots / "keep"}"],
      "limits": {{"files.delete": {{"max_files": 3}}}},
      "min_confidence": 0.8,
    }}"""
    policy = _policy_with(tmp_path, override, sandbox="permissive", mode="interactive")
    assert policy.origins[-1] == str(tmp_path / "permissions.json")
    assert policy.decide(_step("files.compress", paths=[str(roots)])) == Decision(
        "deny", ("files.compress: denied by the policy",)
    )
    # "allow" on a change skips the interactive confirmation, not the strict sandbox's.
    assert policy.decide(_step("apt.clean")).decision == "deny"  # /var/cache no longer a root
    assert policy.decide(_step("files.delete", paths=[str(roots / "a")])).decision == "confirm"
    assert policy.decide(_step("files.delete", paths=["/tmp"])).decision == "deny"
    assert policy.check_paths([str(roots / "keep" / "x")]).reasons == (
        f"{roots / 'keep' / 'x'}: protected (below {roots / 'keep'})",
    )
    assert policy.check_limits("files.delete", 4, 0).decision == "deny"
    # Unchanged members of a merged object keep their defaults.
    assert policy.check_limits("files.delete", 3, 10737418241).decision == "deny"
    assert policy.decide(_step("files.delete", paths=[str(roots)]), confidence=0.7).decision == (
        "deny"
    )
    assert policy.decide(Step("disk.usage", {})).decision == "allow"


def test_allow_on_a_change(tmp_path: Path) -> None:
    override = {"actions": {"apt.clean": "allow"}}
    permissive = _policy_with(tmp_path, override, sandbox="permissive", mode="interactive")
    assert permissive.decide(_step("apt.clean")) == Decision(
        "allow", ("apt.clean: allowed by the policy",)
    )
    strict = _policy_with(tmp_path, override, sandbox="strict", mode="auto")
    assert strict.decide(_step("apt.clean")).decision == "confirm"


def test_the_system_override_is_read_when_present(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "etc-permissions.json"
    file.write_text('{"actions": {"apt.clean": "deny"}}')
    monkeypatch.setattr(_policy, "OVERRIDE_PATH", str(file))
    policy = Policy.load(_config())
    assert policy.origins[-1] == str(file)
    assert policy.decide(_step("apt.clean")).decision == "deny"


@pytest.mark.parametrize(
    ("text", "key", "line", "problem"),
    [
        (
            '{\n  "actions": {\n    "files.delete": "maybe"\n  }\n}',
            'actions["files.delete"]',
            3,
            'must be "allow", "confirm" or "deny"',
        ),
        (
            '{\n  "actions": {"files.shred": "allow"}\n}',
            'actions["files.shred"]',
            2,
            "unknown action 'files.shred'",
        ),
        ('{\n\n  "colour": 1\n}', "colour", 3, "unknown key"),
        (
            '{\n  "change_roots": ["/tmp",\n   "var/log"]\n}',
            "change_roots[1]",
            3,
            "must be an absolute path",
        ),
        ('{"min_confidence": 2}', "min_confidence", 1, "must be a number between 0 and 1"),
        (
            '{\n "services": {\n  "deny_by_action": {"service.stop": "ssh"}}}',
            'services.deny_by_action["service.stop"]',
            3,
            "must be a list of strings",
        ),
        (
            '{\n "limits": {\n  "files.delete": {"max_files": -1}}}',
            'limits["files.delete"].max_files',
            3,
            "must be a whole number >= 0",
        ),
        ('{"confirm_always": ["nope"]}', "confirm_always[0]", 1, "unknown action 'nope'"),
        ('{"backup_remote": "yes"}', "backup_remote", 1, "must be true or false"),
        ('{"version": 2}', "version", 1, "must be 1"),
    ],
)
def test_bad_override_files_name_file_key_and_line(
    tmp_path: Path, text: str, key: str, line: int, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _policy_with(tmp_path, text)
    error = caught.value
    assert (error.key, error.line, error.origin) == (key, line, str(tmp_path / "permissions.json"))
    assert str(error).startswith(f"{tmp_path / 'permissions.json'}, line {line}: {key}: ")
    assert problem in str(error)


def test_an_override_that_is_not_json(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _policy_with(tmp_path, '{\n  "actions": {\n    "files.delete": allow\n  }\n}')
    assert caught.value.line == 3


def test_an_override_that_is_not_an_object(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must be a JSON object"):
        _policy_with(tmp_path, "[]")


def test_a_missing_override_given_by_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such permission policy file"):
        Policy.load(_config(), path=str(tmp_path / "nope.json"))
