"""``hf-agent --configure``: the first-run assistant (language, time zone, Hugging Face token).

It edits the configuration in place (comments kept, see
:func:`libhfagent.config.update_text`), checks the result before writing it, and
stores the token in a file of its own, mode 0600, never in the configuration
and never on screen.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import zoneinfo
from pathlib import Path

from .._atomic import write_atomic
from .._errors import ConfigError, RequestError
from .._i18n import translator
from ..config import DEFAULT_CONFIG_PATH, Config, find_config_path, update_text

__all__ = ["run_configure"]

TEMPLATE = """\
{
  // libhfagent configuration, written by `hf-agent --configure`.
  // `hf-agent config check` validates it; the README describes every key.
  "agent": {
    "user_mode": "interactive" // 'interactive' asks for confirmation, 'auto' executes
  }
}
"""
TOKEN_NAME = "hf-token"  # noqa: S105 - a file name, not a secret


def _read_token(source: str) -> str:
    try:
        raw = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise RequestError(f"--hf-token-file: cannot read {source}: {exc.strerror}") from exc
    return raw.strip()


def _check_token(token: str) -> None:
    if not token or any(c.isspace() for c in token) or not token.isprintable():
        raise RequestError("the Hugging Face token must be one word of printable characters")


def _ask(prompt: str, default: str) -> str:
    answer = input(f"{prompt} [{default}] ").strip()
    return answer or default


def run_configure(args: argparse.Namespace) -> int:
    """Run the assistant; returns the exit status.

    Raises:
        ConfigError: The existing configuration is broken, or an answer is invalid
            in non-interactive use.
        RequestError: A flag's value cannot be used.
    """
    target = Path(args.output or find_config_path(args.config) or DEFAULT_CONFIG_PATH)
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = TEMPLATE
    except OSError as exc:
        raise ConfigError(f"cannot read {target}: {exc.strerror}", origin=str(target)) from exc
    current = Config.from_text(text, origin=str(target))
    interactive = not args.non_interactive and sys.stdin.isatty()

    language = args.language or current.agent.language
    timezone = args.timezone or current.agent.timezone
    token: str | None = _read_token(args.hf_token_file) if args.hf_token_file else None

    if interactive:
        default = language
        while True:
            language = _ask("Langue / Language (fr, en)", default).lower()
            if language in ("fr", "en"):
                break
            print("fr / en ?")
    _ = translator(language).gettext
    if interactive:
        default = timezone
        while True:
            timezone = _ask(_("Time zone (IANA name, e.g. Europe/Paris)"), default)
            if _valid_zone(timezone):
                break
            print(_("Unknown time zone: %(zone)s") % {"zone": timezone})
        if token is None:
            entered = getpass.getpass(
                _("Hugging Face token (optional, hidden; Enter keeps the current one): ")
            ).strip()
            token = entered or None
    elif not _valid_zone(timezone):
        raise ConfigError(f'agent.timezone: unknown time zone "{timezone}"', key="agent.timezone")
    if token is not None:
        _check_token(token)

    changes: dict[str, object] = {"agent.language": language, "agent.timezone": timezone}
    token_path = Path(current.modules.nlp.token_file or target.parent / TOKEN_NAME)
    if token is not None:
        changes["modules.nlp.token_file"] = str(token_path)
    new_text = update_text(text, changes, origin=str(target))
    Config.from_text(new_text, origin=str(target))  # never write what would not load
    if token is not None:
        write_atomic(token_path, token + "\n", mode=0o600)
    mode = target.stat().st_mode & 0o777 if target.exists() else 0o644
    write_atomic(target, new_text, mode=mode)
    print(_("Configuration written to %(path)s.") % {"path": target})
    print(_("Language: %(lang)s; time zone: %(zone)s.") % {"lang": language, "zone": timezone})
    if token is not None:
        print(_("Hugging Face token stored in %(path)s (mode 0600).") % {"path": token_path})
    return 0


def _valid_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True
