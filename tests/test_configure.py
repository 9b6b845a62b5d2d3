"""``hf-agent --configure`` through a real pseudo-terminal, and its non-interactive flags."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pexpect
import pytest
from conftest import CliRunner

from libhfagent.config import Config

TOKEN = "hf_SecretToken1234567890"  # noqa: S105 - a fake token the tests type

COMMENTED = """\
{
  // my own notes: keep them
  "agent": {
    "log_level": "INFO", /* chosen on purpose */
    "timezone": "UTC"
  },
  "security": { "sandbox_level": "strict" } // strict is our rule
}
"""


def spawn(*args: str) -> pexpect.spawn:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "libhfagent", *args],
        encoding="utf-8",
        timeout=30,
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
    )
    child.logfile_read = None
    return child


def test_interactive_assistant_in_a_terminal(tmp_path: Path) -> None:
    target = tmp_path / "etc" / "hf-agent.json"
    child = spawn("--configure", "--output", str(target))
    child.expect_exact("Langue / Language (fr, en) [fr]")
    child.sendline("de")  # refused, asked again
    child.expect_exact("fr / en ?")
    child.expect_exact("Langue / Language (fr, en) [fr]")
    child.sendline("fr")
    child.expect_exact("Fuseau horaire")
    child.sendline("Europe/Pariss")  # a typo: refused, asked again
    child.expect_exact("Fuseau horaire inconnu : Europe/Pariss")
    child.expect_exact("Fuseau horaire")
    child.sendline("Europe/Paris")
    child.expect_exact("Jeton Hugging Face")
    child.sendline(TOKEN)
    child.expect(pexpect.EOF)
    output = child.before
    child.close()
    assert child.exitstatus == 0, output
    assert TOKEN not in output  # hidden while typed, never printed
    assert "Configuration écrite dans" in output
    config = Config.from_file(target, env={})
    assert (config.agent.language, config.agent.timezone) == ("fr", "Europe/Paris")
    token_file = Path(config.modules.nlp.token_file or "")
    assert token_file.read_text() == TOKEN + "\n"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert TOKEN not in target.read_text()


def test_edits_keep_comments_and_other_keys(tmp_path: Path) -> None:
    target = tmp_path / "hf-agent.json"
    target.write_text(COMMENTED)
    child = spawn("--configure", "--output", str(target))
    child.expect_exact("[fr]")
    child.sendline("en")
    child.expect_exact("Time zone (IANA name, e.g. Europe/Paris) [UTC]")
    child.sendline("")  # keep UTC
    child.expect_exact("Hugging Face token")
    child.sendline("")  # no token
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    text = target.read_text()
    for comment in (
        "// my own notes: keep them",
        "/* chosen on purpose */",
        "// strict is our rule",
    ):
        assert comment in text
    config = Config.from_file(target, env={})
    assert (config.agent.language, config.agent.timezone, config.modules.nlp.token_file) == (
        "en",
        "UTC",
        None,
    )
    assert not (tmp_path / "hf-token").exists()


def test_non_interactive_flags(cli: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "hf-agent.json"
    proc = cli(
        "--configure",
        "--non-interactive",
        "--output",
        str(target),
        "--language",
        "en",
        "--timezone",
        "America/Montreal",
        "--hf-token-file",
        "-",
        input=TOKEN + "\n",
    )
    assert proc.returncode == 0, proc.stderr
    assert TOKEN not in proc.stdout + proc.stderr
    config = Config.from_file(target, env={})
    assert (config.agent.language, config.agent.timezone) == ("en", "America/Montreal")
    assert Path(config.modules.nlp.token_file or "").read_text().strip() == TOKEN


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--timezone", "Mars/Olympus_Mons"], 'unknown time zone "Mars/Olympus_Mons"'),
        (["--hf-token-file", "/nonexistent/token"], "cannot read /nonexistent/token"),
    ],
)
def test_bad_answers_change_nothing(
    cli: CliRunner, tmp_path: Path, flags: list[str], message: str
) -> None:
    target = tmp_path / "hf-agent.json"
    target.write_text(COMMENTED)
    proc = cli("--configure", "--non-interactive", "--output", str(target), *flags)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert target.read_text() == COMMENTED


def test_broken_existing_config_is_not_overwritten(cli: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "hf-agent.json"
    target.write_text('{"agent": {"user_mode": "manual"}}\n')
    proc = cli("--configure", "--non-interactive", "--output", str(target), "--language", "en")
    assert proc.returncode == 2
    assert "agent.user_mode" in proc.stderr and "(line 1)" in proc.stderr
    assert target.read_text() == '{"agent": {"user_mode": "manual"}}\n'
