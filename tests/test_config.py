"""Tests of libhfagent.config: the JSON-with-comments parser, the model and its checks."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import libhfagent.config
import libhfagent.config._model
from libhfagent._errors import ConfigError
from libhfagent.config import (
    DEFAULT_CONFIG_PATH,
    DEFAULT_SOURCES,
    AgentSettings,
    Config,
    Job,
    MailSettings,
    Modules,
    MonitoringSettings,
    NlpSettings,
    NotificationSettings,
    RunbookSettings,
    SchedulerSettings,
    SecuritySettings,
    WebhookSettings,
    find_config_path,
    format_key_path,
    parse_jsonc,
    update_text,
)

EXAMPLE_PATH = Path(__file__).resolve().parent.parent / "hf-agent.json"
EXAMPLE = EXAMPLE_PATH.read_text(encoding="utf-8")
EXAMPLE_VALUE: dict[str, Any] = {
    "agent": {"version": "1.0.0", "log_level": "INFO", "user_mode": "interactive"},
    "modules": {
        "monitoring": {
            "enabled": True,
            "files_to_watch": ["/var/log/syslog", "/var/log/nginx/error.log", "/var/log/auth.log"],
            "metrics": ["cpu_load", "memory_usage", "disk_space"],
        },
        "scheduler": {
            "enabled": True,
            "jobs": [
                {"name": "Daily Cleanup", "cron": "0 2 * * *", "task": "clean /tmp and /var/log"}
            ],
        },
        "nlp": {"enabled": True, "model": "hf-hub/camembert-base-ner-fquad", "language": "fr"},
    },
    "security": {"sandbox_level": "strict", "forbidden_commands": ["rm -rf /", "mkfs"]},
}
COMMENTS = [line[line.index("//") :] for line in EXAMPLE.splitlines() if "//" in line]


def edit(line: int, old: str, new: str, text: str = EXAMPLE) -> str:
    """``text`` with ``old`` replaced by ``new`` on one line, where it occurs once."""
    lines = text.split("\n")
    assert lines[line - 1].count(old) == 1, (line, lines[line - 1], old)
    lines[line - 1] = lines[line - 1].replace(old, new)
    return "\n".join(lines)


def config_error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        Config.from_text(text, env={})
    return info.value


def syntax_error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_jsonc(text)
    return info.value


# Public surface ----------------------------------------------------------------------------------


def test_all_is_sorted_and_is_the_public_api() -> None:
    expected = {
        "DEFAULT_CONFIG_PATH",
        "DEFAULT_SOURCES",
        "AgentSettings",
        "Config",
        "Job",
        "JsoncDocument",
        "KeyPath",
        "MailSettings",
        "Modules",
        "MonitoringSettings",
        "NlpSettings",
        "NotificationSettings",
        "RunbookSettings",
        "SchedulerSettings",
        "SecuritySettings",
        "WebhookSettings",
        "find_config_path",
        "format_key_path",
        "parse_jsonc",
        "update_text",
    }
    names = libhfagent.config.__all__
    assert set(names) == expected
    assert list(names) == sorted(names, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    for name in names:
        assert hasattr(libhfagent.config, name)


def test_the_example_file_is_the_announcement_text() -> None:
    assert EXAMPLE.startswith('{\n  "agent": {\n    "version": "1.0.0",')
    assert COMMENTS == [
        "// 'interactive' asks for confirmation, 'auto' executes",
        "// every day at 2 am",
        "// model that understands French",
        "// 'strict' or 'permissive'",
    ]
    assert parse_jsonc(EXAMPLE).value == EXAMPLE_VALUE


# The announcement example ------------------------------------------------------------------------


def test_announcement_example_loads_with_every_value() -> None:
    config = Config.from_file(EXAMPLE_PATH, env={})
    assert config.origin == str(EXAMPLE_PATH)
    assert config.agent == AgentSettings(
        version="1.0.0",
        log_level="INFO",
        user_mode="interactive",
        language="fr",
        timezone="UTC",
        state_dir="/var/lib/hf-agent",
        cache_dir="/var/cache/hf-agent",
    )
    monitoring = config.modules.monitoring
    assert monitoring.enabled is True
    assert monitoring.files_to_watch == (
        "/var/log/syslog",
        "/var/log/nginx/error.log",
        "/var/log/auth.log",
    )
    assert monitoring.metrics == ("cpu_load", "memory_usage", "disk_space")
    assert monitoring.interval == 10.0
    assert dict(monitoring.sources) == dict(DEFAULT_SOURCES)
    assert config.modules.scheduler == SchedulerSettings(
        enabled=True,
        jobs=(Job(name="Daily Cleanup", cron="0 2 * * *", task="clean /tmp and /var/log"),),
    )
    assert config.modules.nlp == NlpSettings(
        enabled=True, model="hf-hub/camembert-base-ner-fquad", language="fr", token_file=None
    )
    assert config.security == SecuritySettings(
        sandbox_level="strict", forbidden_commands=("rm -rf /", "mkfs")
    )


def test_example_key_lines() -> None:
    lines = parse_jsonc(EXAMPLE).lines
    assert lines[()] == 1
    assert lines[("agent",)] == 2
    assert lines[("agent", "user_mode")] == 5
    assert lines[("modules", "monitoring", "enabled")] == 9
    assert lines[("modules", "monitoring", "files_to_watch", 2)] == 13
    assert lines[("modules", "scheduler", "jobs", 0)] == 20
    assert lines[("modules", "scheduler", "jobs", 0, "cron")] == 22
    assert lines[("security", "forbidden_commands", 1)] == 35


# Defaults and the environment --------------------------------------------------------------------


def test_defaults() -> None:
    config = Config.default(env={})
    assert config == Config()
    assert config.origin == "<defaults>"
    assert config.agent == AgentSettings()
    assert (config.agent.version, config.agent.log_level, config.agent.user_mode) == (
        "1.0.0",
        "INFO",
        "interactive",
    )
    assert (config.agent.language, config.agent.timezone) == ("fr", "UTC")
    assert config.agent.state_dir == "/var/lib/hf-agent"
    assert config.agent.cache_dir == "/var/cache/hf-agent"
    assert config.modules.monitoring == MonitoringSettings(
        enabled=True,
        files_to_watch=(),
        metrics=("cpu_load", "memory_usage", "disk_space"),
        interval=10.0,
        sources=DEFAULT_SOURCES,
    )
    assert config.modules.scheduler == SchedulerSettings(enabled=True, jobs=())
    assert config.modules.nlp == NlpSettings(
        enabled=True,
        model="sentence-transformers/all-MiniLM-L6-v2",
        language="fr",
        token_file=None,
    )
    assert config.security == SecuritySettings(
        sandbox_level="strict", forbidden_commands=("rm -rf /", "mkfs")
    )
    assert Config.from_text("{}", env={}) == config
    assert Config.from_text('{"agent": {}, "modules": {"nlp": {}}}', env={}) == config


def test_default_sources_are_the_debian_locations() -> None:
    assert dict(DEFAULT_SOURCES) == {
        "nginx": ("/var/log/nginx/access.log", "/var/log/nginx/error.log"),
        "apache": (
            "/var/log/apache2/access.log",
            "/var/log/apache2/error.log",
            "/var/log/apache2/other_vhosts_access.log",
        ),
        "syslog": ("/var/log/syslog",),
        "auth": ("/var/log/auth.log",),
        "kernel": ("kmsg:",),
        "journal": ("journal:",),
    }


def test_directories_come_from_the_environment_unless_the_file_sets_them() -> None:
    env = {"HF_AGENT_STATE_DIR": "/srv/state", "HF_AGENT_CACHE_DIR": "/srv/cache"}
    assert Config.default(env=env).agent.state_dir == "/srv/state"
    assert Config.default(env=env).agent.cache_dir == "/srv/cache"
    assert Config.from_text(EXAMPLE, env=env).agent.state_dir == "/srv/state"
    text = edit(4, '"INFO",', '"INFO", "state_dir": "/opt/state",')
    config = Config.from_text(text, env=env)
    assert (config.agent.state_dir, config.agent.cache_dir) == ("/opt/state", "/srv/cache")
    empty = {"HF_AGENT_STATE_DIR": "", "HF_AGENT_CACHE_DIR": ""}
    assert Config.default(env=empty) == Config()


def test_a_relative_directory_in_the_environment_is_an_error() -> None:
    with pytest.raises(ConfigError) as info:
        Config.default(env={"HF_AGENT_CACHE_DIR": "cache"})
    assert str(info.value) == (
        'agent.cache_dir: $HF_AGENT_CACHE_DIR must be an absolute path, got "cache"'
    )
    assert info.value.key == "agent.cache_dir"


def test_values_are_frozen_and_immutable() -> None:
    config = Config.from_text(EXAMPLE, env={})
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config.agent.log_level = "DEBUG"  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.modules.monitoring.sources["nginx"] = ()  # type: ignore[index]
    assert isinstance(config.modules.scheduler.jobs, tuple)
    assert MonitoringSettings(files_to_watch=["/a"]).files_to_watch == ("/a",)
    assert isinstance(hash(config), int)
    with pytest.raises(TypeError):
        MonitoringSettings(files_to_watch="/var/log/syslog")


def test_to_dict_is_plain_json_and_reads_back() -> None:
    config = Config.from_text(EXAMPLE, origin="example", env={})
    plain = config.to_dict()
    assert json.loads(json.dumps(plain)) == plain
    assert set(plain) == {"agent", "modules", "security"}
    assert plain["agent"]["timezone"] == "UTC"
    assert plain["modules"]["monitoring"]["sources"]["kernel"] == ["kmsg:"]
    assert plain["modules"]["scheduler"]["jobs"] == EXAMPLE_VALUE["modules"]["scheduler"]["jobs"]
    assert plain["modules"]["nlp"]["token_file"] is None
    assert Config.from_text(json.dumps(plain), env={}) == config


# Every kind of mistake, with its line ------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "old", "new", "message"),
    [
        (9, "true", '"yes"', 'modules.monitoring.enabled: expected true/false, got "yes" (line 9)'),
        (9, "true", "1", "modules.monitoring.enabled: expected true/false, got 1 (line 9)"),
        (18, "true", "null", "modules.scheduler.enabled: expected true/false, got null (line 18)"),
        (
            5,
            '"interactive"',
            '"manual"',
            'agent.user_mode: expected one of "interactive", "auto", got "manual" (line 5)',
        ),
        (
            4,
            '"INFO"',
            '"info"',
            'agent.log_level: expected one of "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", '
            'got "info" (line 4)',
        ),
        (
            22,
            "0 2 * * *",
            "0 25 * * *",
            'modules.scheduler.jobs[0].cron: invalid cron expression "0 25 * * *": Bad hour '
            "(line 22)",
        ),
        (
            22,
            "0 2 * * *",
            "0 0 2 * * *",
            'modules.scheduler.jobs[0].cron: invalid cron expression "0 0 2 * * *": expected 5 '
            "fields (minute hour day month weekday), got 6 (line 22)",
        ),
        (
            5,
            '"user_mode"',
            '"usermode"',
            'agent.usermode: unknown key (line 5); did you mean "user_mode"?',
        ),
        (2, '"agent"', '"agnet"', 'agnet: unknown key (line 2); did you mean "agent"?'),
        (
            19,
            '"jobs"',
            '"crontab"',
            'modules.scheduler.crontab: unknown key (line 19); allowed keys: "enabled", "jobs"',
        ),
        (
            4,
            '"INFO",',
            '"INFO", "timezone": "Europe/Pariss",',
            'agent.timezone: unknown time zone "Europe/Pariss" (line 4)',
        ),
        (
            10,
            '"files_to_watch": [',
            '"files_to_watch": {"syslog": "/var/log/syslog"}, "old": [',
            "modules.monitoring.files_to_watch: expected a list of strings, got an object "
            "(line 10)",
        ),
        (
            12,
            '"/var/log/nginx/error.log"',
            '"nginx/error.log"',
            'modules.monitoring.files_to_watch[1]: expected an absolute path, got "nginx/error.log"'
            " (line 12)",
        ),
        (
            15,
            '"disk_space"',
            '"disk"',
            'modules.monitoring.metrics[2]: expected one of "cpu_load", "memory_usage", '
            '"disk_space", "disk_io", "network", got "disk" (line 15)',
        ),
        (
            15,
            '"metrics"',
            '"interval": 0, "metrics"',
            "modules.monitoring.interval: expected a number greater than 0, got 0 (line 15)",
        ),
        (
            15,
            '"metrics"',
            '"interval": true, "metrics"',
            "modules.monitoring.interval: expected a number greater than 0, got true (line 15)",
        ),
        (
            15,
            '"metrics"',
            '"interval": "10", "metrics"',
            'modules.monitoring.interval: expected a number greater than 0, got "10" (line 15)',
        ),
        (
            29,
            '"hf-hub/camembert-base-ner-fquad"',
            '"./models/camembert"',
            'modules.nlp.model: expected a Hugging Face model id ("org/name") or an absolute path,'
            ' got "./models/camembert" (line 29)',
        ),
        (
            30,
            '"fr"',
            '"de"',
            'modules.nlp.language: expected one of "fr", "en", got "de" (line 30)',
        ),
        (
            34,
            '"strict"',
            '"lenient"',
            'security.sandbox_level: expected one of "strict", "permissive", got "lenient" '
            "(line 34)",
        ),
        (
            35,
            '"mkfs"',
            "42",
            "security.forbidden_commands[1]: expected a non-empty string, got 42 (line 35)",
        ),
        (3, '"1.0.0"', "1.0", "agent.version: expected a non-empty string, got 1.0 (line 3)"),
        (
            33,
            '"security": {',
            '"security": "strict", "x": {',
            'security: expected an object, got "strict" (line 33)',
        ),
        (
            19,
            '"jobs": [',
            '"jobs": "daily", "x": [',
            'modules.scheduler.jobs: expected a list of jobs, got "daily" (line 19)',
        ),
    ],
)
def test_mistakes_name_the_key_and_line(line: int, old: str, new: str, message: str) -> None:
    error = config_error(edit(line, old, new))
    assert str(error) == message
    assert error.key == message.split(":")[0]
    assert error.line == line
    assert error.origin == "<string>"


def test_a_job_missing_a_key_names_the_job_and_its_line() -> None:
    text = edit(24, "}", '},\n        {"name": "Weekly", "cron": "0 3 * * 0"}')
    assert text.split("\n")[24] == '        {"name": "Weekly", "cron": "0 3 * * 0"}'
    error = config_error(text)
    assert str(error) == 'modules.scheduler.jobs[1]: missing key "task" (line 25)'
    assert (error.key, error.line) == ("modules.scheduler.jobs[1]", 25)


def test_duplicate_job_names_name_the_second() -> None:
    second = '},\n        {"name": "Daily Cleanup", "cron": "0 3 * * *", "task": "x"}'
    error = config_error(edit(24, "}", second))
    assert str(error) == (
        'modules.scheduler.jobs[1].name: duplicate job name "Daily Cleanup" (line 25); '
        "first used on line 21"
    )


def test_a_job_must_be_an_object() -> None:
    error = config_error(edit(24, "}", '},\n        "clean /tmp"'))
    assert str(error) == (
        'modules.scheduler.jobs[1]: expected an object with "name", "cron" and "task", '
        'got "clean /tmp" (line 25)'
    )


def test_the_top_level_must_be_an_object() -> None:
    error = config_error("// a list is not a configuration\n[1, 2]\n")
    assert str(error) == "the configuration must be a JSON object, got a list (line 2)"
    assert (error.key, error.line) == (None, 2)


def test_the_first_mistake_in_file_order_is_reported() -> None:
    text = edit(34, '"strict"', '"lenient"', edit(9, "true", '"yes"'))
    assert config_error(text).line == 9
    text = edit(30, '"language"', '"lang"', edit(22, "0 2 * * *", "99 * * * *"))
    assert config_error(text).line == 22


def test_the_token_file_error_does_not_echo_the_value() -> None:
    pasted = "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz"
    error = config_error(edit(30, '"fr"', f'"fr", "token_file": "{pasted}"'))
    assert pasted not in str(error)
    assert str(error) == (
        "modules.nlp.token_file: expected the absolute path of a file holding the Hugging Face "
        "token (the token itself does not belong in the configuration) (line 30)"
    )
    text = edit(30, '"fr"', '"fr", "token_file": "/etc/hf-agent/token"')
    token_file = Config.from_text(text, env={}).modules.nlp.token_file
    assert token_file == "/etc/hf-agent/token"  # noqa: S105 - a path, not a password


def test_new_agent_keys() -> None:
    text = edit(
        5,
        '"interactive"',
        '"auto", "language": "en", "timezone": "Europe/Paris", "cache_dir": "/tmp/c",',
    )
    agent = Config.from_text(text, env={}).agent
    assert (agent.user_mode, agent.language, agent.timezone, agent.cache_dir) == (
        "auto",
        "en",
        "Europe/Paris",
        "/tmp/c",
    )


def test_numbers_and_booleans() -> None:
    def monitoring(member: str) -> MonitoringSettings:
        return Config.from_text(
            edit(15, '"metrics"', member + ' "metrics"'), env={}
        ).modules.monitoring

    assert monitoring('"interval": 2,').interval == 2.0
    assert isinstance(monitoring('"interval": 2,').interval, float)
    assert monitoring('"interval": 0.5,').interval == 0.5
    assert config_error(edit(15, '"metrics"', '"interval": -1, "metrics"')).line == 15
    assert config_error(edit(15, '"metrics"', '"interval": 1e400, "metrics"')).line == 15
    assert "got 0" in str(config_error(edit(28, "true", "0")))


def test_sources_replace_the_named_defaults_and_keep_the_others() -> None:
    sources = (
        '"sources": {"nginx": ["/srv/www/logs/*.log"], "apache": [], '
        '"myapp": ["/var/log/myapp/*.log", "journal:"]}, "metrics"'
    )
    config = Config.from_text(edit(15, '"metrics"', sources), env={})
    result = config.modules.monitoring.sources
    assert result["nginx"] == ("/srv/www/logs/*.log",)
    assert result["apache"] == ()
    assert result["myapp"] == ("/var/log/myapp/*.log", "journal:")
    for name in ("syslog", "auth", "kernel", "journal"):
        assert result[name] == DEFAULT_SOURCES[name]
    assert list(result) == [*DEFAULT_SOURCES, "myapp"]


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        (
            '{"Nginx": []}',
            'modules.monitoring.sources.Nginx: invalid source name "Nginx": use lowercase '
            'letters, digits, "_" and "-", starting with a letter (line 15)',
        ),
        (
            '{"nginx": ["/var/log/nginx/access.log", "logs/error.log"]}',
            "modules.monitoring.sources.nginx[1]: expected an absolute path or glob, or one of "
            '"kmsg:", "journal:", got "logs/error.log" (line 15)',
        ),
        (
            '{"nginx": "/var/log/nginx/access.log"}',
            "modules.monitoring.sources.nginx: expected a list of absolute paths, "
            'got "/var/log/nginx/access.log" (line 15)',
        ),
        (
            '["nginx"]',
            "modules.monitoring.sources: expected an object mapping source names to lists of "
            "paths, got a list (line 15)",
        ),
    ],
)
def test_source_mistakes(sources: str, message: str) -> None:
    error = config_error(edit(15, '"metrics"', f'"sources": {sources}, "metrics"'))
    assert str(error) == message


def test_model_ids_and_paths() -> None:
    def model(name: str) -> str:
        text = edit(29, '"hf-hub/camembert-base-ner-fquad"', json.dumps(name))
        return Config.from_text(text, env={}).modules.nlp.model

    assert model("/opt/models/camembert") == "/opt/models/camembert"
    assert model("gpt2") == "gpt2"
    assert model("sentence-transformers/all-MiniLM-L6-v2") == (
        "sentence-transformers/all-MiniLM-L6-v2"
    )
    for bad in ("a/b/c", "org/-name", "org/na..me", "", "models\\x"):
        with pytest.raises(ConfigError):
            model(bad)


# The parser --------------------------------------------------------------------------------------


def test_comment_markers_inside_strings_are_text() -> None:
    text = '{\n  "url": "http://x/*y*/", // real\n  "b": "/* no */ // no"\n}'
    document = parse_jsonc(text)
    assert document.value == {"url": "http://x/*y*/", "b": "/* no */ // no"}
    assert document.lines[("b",)] == 3


def test_block_comments_over_several_lines_keep_line_numbers() -> None:
    text = '{\n  /* one\n     two\n     three */ "a": 1,\n  /**/ "b": /* x\n */ [\n 2]\n}'
    document = parse_jsonc(text)
    assert document.value == {"a": 1, "b": [2]}
    assert document.lines == {(): 1, ("a",): 4, ("b",): 5, ("b", 0): 7}
    error = config_error(edit(5, '"interactive"', '/* a\n b\n c */ "manual"'))
    assert (
        str(error)
        == 'agent.user_mode: expected one of "interactive", "auto", got "manual" (line 5)'
    )


def test_comments_before_a_key_shift_the_reported_line() -> None:
    text = edit(3, '"version"', '/* the\n agent\n version */ "version"')
    text = edit(7, '"interactive"', '"manual"', text)
    assert config_error(text).line == 7


def test_trailing_commas_are_accepted() -> None:
    assert parse_jsonc('{"a": [1, 2,], "b": {"c": 3,},}').value == {
        "a": [1, 2],
        "b": {"c": 3},
    }
    text = edit(35, '"mkfs"]', '"mkfs",],', edit(30, '"fr"', '"fr",'))
    assert Config.from_text(text, env={}) == Config.from_text(EXAMPLE, env={})


def test_utf8_bom_and_non_ascii() -> None:
    assert parse_jsonc('\ufeff{"tâche": "nettoyer é"}').value == {"tâche": "nettoyer é"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            edit(4, '"INFO",', '"INFO"'),
            "expected ',' or '}' after an object member (line 5, column 5)",
        ),
        (
            edit(2, "{", "{ /* unclosed"),
            "unterminated /* comment (line 2, column 14)",
        ),
        (edit(3, '"1.0.0"', '"1.0.0'), "unterminated string (line 3, column 16)"),
        ('{"a": "x', "unterminated string (line 1, column 7)"),
        (
            edit(33, '"security"', '"agent"'),
            'duplicate key "agent" (line 33); first defined on line 2',
        ),
        ("", "empty file: expected a JSON value (line 1, column 1)"),
        ("  // nothing\n/* here */\n", "empty file: expected a JSON value (line 3, column 1)"),
        (EXAMPLE + "}\n", "unexpected text after the end of the JSON value (line 38, column 1)"),
        (
            EXAMPLE[: EXAMPLE.index('"security"')],
            "unexpected end of file: the object opened on line 1 is not closed (line 33, column 3)",
        ),
        ("{'a': 1}", "expected a string key or '}' (line 1, column 2)"),
        ("{\"a\": 'x'}", "strings must be in double quotes (line 1, column 7)"),
        ('{"a" 1}', "expected ':' after the key (line 1, column 6)"),
        ("[1 2]", "expected ',' or ']' after a list element (line 1, column 4)"),
        ("[1,,2]", "expected a value (line 1, column 4)"),
        ('{"a": NaN}', "expected a value, got 'N' (line 1, column 7)"),
        ('{"a": -}', "invalid number (line 1, column 7)"),
        ('{"a": 01}', "expected ',' or '}' after an object member (line 1, column 8)"),
        ('{"a": "\\q"}', "invalid escape in a string (line 1, column 8)"),
        (
            '{"a": "\t"}',
            "invalid control character '\\t' in a string (write it as a \\u escape) "
            "(line 1, column 8)",
        ),
        ("[" * 300, "values nested more than 256 levels deep (line 1, column 257)"),
    ],
)
def test_syntax_errors_give_line_and_column(text: str, message: str) -> None:
    error = syntax_error(text)
    assert str(error) == message
    assert error.line == int(re.search(r"\(line (\d+)", message).group(1))  # type: ignore[union-attr]


def test_syntax_errors_carry_the_origin() -> None:
    error = config_error("{,}")
    assert error.origin == "<string>"
    with pytest.raises(ConfigError) as info:
        parse_jsonc("{,}", origin="/etc/hf-agent/hf-agent.json")
    assert info.value.origin == "/etc/hf-agent/hf-agent.json"


def test_duplicate_key_error_names_the_key() -> None:
    error = syntax_error('{"a": {\n"b": 1,\n"b": 2}}')
    assert str(error) == 'duplicate key "b" (line 3); first defined on line 2'
    assert (error.key, error.line) == ("a.b", 3)


def test_format_key_path() -> None:
    assert format_key_path(("modules", "scheduler", "jobs", 0, "cron")) == (
        "modules.scheduler.jobs[0].cron"
    )
    assert format_key_path(()) == ""
    assert format_key_path(("sources", "my app", 1)) == 'sources["my app"][1]'


def test_line_of_falls_back_to_the_parent() -> None:
    document = parse_jsonc(EXAMPLE)
    assert document.line_of(("agent", "language")) == 2
    assert document.line_of(("modules", "nlp", "model")) == 29


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)


@settings(database=None, max_examples=300)
@given(value=JSON_VALUES, indent=st.sampled_from([None, 2, "\t"]), ascii_only=st.booleans())
def test_parser_agrees_with_json_loads(
    value: object, indent: int | str | None, ascii_only: bool
) -> None:
    text = json.dumps(value, indent=indent, ensure_ascii=ascii_only)
    assert parse_jsonc(text).value == json.loads(text)


@settings(database=None, max_examples=300)
@given(text=st.text() | st.text(alphabet="{}[]\",:/*\n \\0123456789-.eEtruefalsn'", max_size=40))
def test_parser_raises_only_config_errors(text: str) -> None:
    try:
        document = parse_jsonc(text)
    except ConfigError as error:
        assert error.line is not None
    else:
        assert () in document.lines


# The lookup order --------------------------------------------------------------------------------


def test_lookup_order(tmp_path: Path) -> None:
    explicit = tmp_path / "explicit.json"
    explicit.write_text('{"agent": {"log_level": "DEBUG"}}', encoding="utf-8")
    named = tmp_path / "named.json"
    named.write_text('{"agent": {"log_level": "ERROR"}}', encoding="utf-8")
    env = {"HF_AGENT_CONFIG": str(named)}

    assert find_config_path(explicit, env) == str(explicit)
    assert find_config_path(None, env) == str(named)
    assert Config.load(explicit, env).agent.log_level == "DEBUG"
    assert Config.load(str(explicit), env).origin == str(explicit)
    loaded = Config.load(env=env)
    assert (loaded.agent.log_level, loaded.origin) == ("ERROR", str(named))


def test_the_default_path_then_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert DEFAULT_CONFIG_PATH == "/etc/hf-agent/hf-agent.json"
    etc = tmp_path / "hf-agent.json"
    monkeypatch.setattr(libhfagent.config._model, "DEFAULT_CONFIG_PATH", str(etc))
    assert find_config_path(env={}) is None
    assert find_config_path(env={"HF_AGENT_CONFIG": ""}) is None
    config = Config.load(env={"HF_AGENT_STATE_DIR": "/srv/state"})
    assert config.origin == "<defaults>"
    assert config.agent.state_dir == "/srv/state"
    etc.write_text(EXAMPLE, encoding="utf-8")
    assert find_config_path(env={}) == str(etc)
    assert Config.load(env={}).origin == str(etc)


def test_a_missing_explicit_or_named_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(ConfigError) as info:
        Config.load(missing, env={})
    assert str(info.value) == f"{missing}: no such configuration file"
    assert info.value.origin == str(missing)
    with pytest.raises(ConfigError) as info:
        find_config_path(env={"HF_AGENT_CONFIG": str(missing)})
    assert str(info.value) == f"{missing}: no such configuration file (named by $HF_AGENT_CONFIG)"
    with pytest.raises(ConfigError):
        Config.from_file(missing, env={})


def test_an_unreadable_file_names_the_file_and_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        Config.load(tmp_path, env={})
    assert str(info.value) == f"{tmp_path}: cannot read the configuration: Is a directory"
    assert info.value.origin == str(tmp_path)


def test_an_unreadable_file_without_permission(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode")
    locked = tmp_path / "locked.json"
    locked.write_text("{}", encoding="utf-8")
    locked.chmod(0)
    with pytest.raises(ConfigError) as info:
        Config.load(locked, env={})
    assert str(info.value) == f"{locked}: cannot read the configuration: Permission denied"


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.json"
    latin1.write_bytes('{\n  "agent": {"version": "été"}\n}'.encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        Config.from_file(latin1, env={})
    assert str(info.value) == f"{latin1}: not UTF-8 text (line 2)"


def test_errors_in_a_file_carry_its_name(tmp_path: Path) -> None:
    path = tmp_path / "hf-agent.json"
    path.write_text(edit(9, "true", '"yes"'), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        Config.load(path, env={})
    assert (info.value.origin, info.value.line) == (str(path), 9)


# Editing the text --------------------------------------------------------------------------------


def test_update_text_inserts_keys_and_keeps_comments() -> None:
    changes = {"agent.language": "en", "agent.timezone": "Europe/Paris"}
    text = update_text(EXAMPLE, changes)
    assert text.startswith(
        "{\n"
        '  "agent": {\n'
        '    "language": "en",\n'
        '    "timezone": "Europe/Paris",\n'
        '    "version": "1.0.0",\n'
    )
    assert text.split("\n")[4:] == EXAMPLE.split("\n")[2:]
    expected = json.loads(json.dumps(EXAMPLE_VALUE))
    expected["agent"] = {"language": "en", "timezone": "Europe/Paris", **expected["agent"]}
    assert parse_jsonc(text).value == expected
    config = Config.from_text(text, env={})
    assert (config.agent.language, config.agent.timezone) == ("en", "Europe/Paris")


def test_update_text_replaces_values_in_place() -> None:
    text = update_text(EXAMPLE, {"agent.user_mode": "auto", "modules.nlp.enabled": False})
    assert text.split("\n")[4] == (
        "    \"user_mode\": \"auto\" // 'interactive' asks for confirmation, 'auto' executes"
    )
    assert text.split("\n")[27] == '      "enabled": false,'
    assert len(text.split("\n")) == len(EXAMPLE.split("\n"))
    assert [line for line in text.split("\n") if "//" in line][1:] == [
        line for line in EXAMPLE.split("\n") if "//" in line
    ][1:]
    assert update_text(EXAMPLE, {"agent.log_level": "INFO"}) == EXAMPLE


def test_update_text_creates_missing_objects() -> None:
    text = update_text(EXAMPLE, {"modules.nlp.token_file": "/etc/hf-agent/token"})
    assert '      "token_file": "/etc/hf-agent/token",\n      "enabled": true,' in text
    without_security = EXAMPLE[: EXAMPLE.index(',\n  "security"')] + "\n}\n"
    text = update_text(without_security, {"security.sandbox_level": "permissive"})
    assert text.startswith('{\n  "security": {\n    "sandbox_level": "permissive"\n  },\n  "agent"')
    assert Config.from_text(text, env={}).security.sandbox_level == "permissive"
    assert update_text("{}", {"agent.language": "en"}) == '{"agent": {"language": "en"}}'
    assert update_text("{\n}\n", {"agent.language": "en"}) == (
        '{\n  "agent": {\n    "language": "en"\n  }\n}\n'
    )
    assert update_text('{"a": 1}', {"b": [1, 2]}) == '{"b": [1, 2], "a": 1}'


def test_update_text_lays_out_containers_and_keeps_crlf() -> None:
    text = update_text(EXAMPLE.replace("\n", "\r\n"), {"security.forbidden_commands": ["mkfs"]})
    assert '\r\n    "forbidden_commands": ["mkfs"]\r\n' in text
    assert "\n" not in text.replace("\r\n", "")
    jobs = [{"name": "a", "cron": "* * * * *", "task": "t"}]
    text = update_text(EXAMPLE, {"modules.scheduler.jobs": jobs})
    assert (
        '      "jobs": [\n'
        "        {\n"
        '          "name": "a",\n'
        '          "cron": "* * * * *",\n'
        '          "task": "t"\n'
        "        }\n"
        "      ]\n"
    ) in text
    assert parse_jsonc(text).value["modules"]["scheduler"]["jobs"] == jobs  # type: ignore[index]


def test_update_text_addresses_list_elements() -> None:
    text = update_text(EXAMPLE, {"modules.scheduler.jobs.0.cron": "30 1 * * *"})
    assert text.split("\n")[21] == '          "cron": "30 1 * * *", // every day at 2 am'


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"agent.version.major": 1},
            "agent.version.major: cannot set 'major' in agent.version, which is not an object",
        ),
        (
            {"agent": {}, "agent.language": "en"},
            "agent.language: overlaps agent; set one or the other",
        ),
        ({"agent..x": 1}, "'agent..x': not a dotted key path such as 'agent.language'"),
        (
            {"agent.x": float("nan")},
            "agent.x: cannot be written as JSON: NaN and infinite numbers have no JSON form",
        ),
        (
            {"agent.x": object()},
            "agent.x: cannot be written as JSON: Object of type object is not JSON serializable",
        ),
    ],
)
def test_update_text_refusals(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        update_text(EXAMPLE, changes)
    assert str(info.value) == message


def test_update_text_needs_a_valid_document() -> None:
    with pytest.raises(ConfigError, match=r"line 5, column 5"):
        update_text(edit(4, '"INFO",', '"INFO"'), {"agent.language": "en"})


SEGMENTS = st.sampled_from(["agent", "modules", "nlp", "monitoring", "language", "x", "é"])


def expected_after(document: dict[str, Any], parts: list[str], value: object) -> dict[str, Any]:
    """``document`` with ``parts`` set to ``value``, as update_text should leave it."""

    def put_first(node: dict[str, Any], key: str, item: object) -> None:
        items = list(node.items())
        node.clear()
        node.update([(key, item), *items])

    result: dict[str, Any] = json.loads(json.dumps(document))
    node = result
    for part in parts[:-1]:
        if part not in node:
            put_first(node, part, {})
        node = node[part]
        if not isinstance(node, dict):
            raise ConfigError("not an object")
    if parts[-1] in node:
        node[parts[-1]] = value
    else:
        put_first(node, parts[-1], value)
    return result


@settings(database=None, max_examples=200)
@given(parts=st.lists(SEGMENTS, min_size=1, max_size=4), value=JSON_VALUES)
def test_update_text_round_trips(parts: list[str], value: object) -> None:
    value = json.loads(json.dumps(value))
    try:
        expected = expected_after(EXAMPLE_VALUE, parts, value)
    except ConfigError:
        with pytest.raises(ConfigError):
            update_text(EXAMPLE, {".".join(parts): value})
        return
    text = update_text(EXAMPLE, {".".join(parts): value})
    result = parse_jsonc(text).value
    assert result == expected
    assert json.dumps(result) == json.dumps(expected)  # same key order
    replaced: object = EXAMPLE_VALUE
    for part in parts:
        replaced = replaced.get(part) if isinstance(replaced, dict) else None
    if not isinstance(replaced, dict | list):
        for comment in COMMENTS:
            assert comment in text


def test_every_field_is_read_from_the_file() -> None:
    config = Config(
        agent=AgentSettings(
            version="2.0",
            log_level="DEBUG",
            user_mode="auto",
            language="en",
            timezone="Europe/Paris",
            state_dir="/srv/state",
            cache_dir="/srv/cache",
        ),
        modules=Modules(
            monitoring=MonitoringSettings(
                enabled=False,
                files_to_watch=("/var/log/a.log",),
                metrics=("disk_io", "network"),
                interval=2.5,
                sources={"web": ("/srv/*.log",)},
            ),
            scheduler=SchedulerSettings(enabled=False, jobs=(Job("a", "*/5 * * * *", "t"),)),
            nlp=NlpSettings(
                enabled=False,
                model="/opt/model",
                language="en",
                token_file="/etc/token",  # noqa: S106
            ),
            notifications=NotificationSettings(
                desktop=False,
                journal=False,
                mail=MailSettings(
                    recipients=("root@example.org",),
                    host="smtp.example.org",
                    port=587,
                    sender="agent@example.org",
                    starttls=True,
                    username="agent",
                    password_file="/etc/hf-agent/smtp",  # noqa: S106
                ),
                webhook=WebhookSettings(url="https://hooks.example.org/x", timeout=3),
                min_severity="critical",
                rate_limit=5,
                dedup_window=60,
            ),
            runbooks=RunbookSettings(
                enabled=False,
                directories=("/srv/runbooks",),
                backup_paths=("/srv/data",),
                backup_destination="/mnt/backup",
                maintenance_flag="/srv/www/maintenance",
                web_service="apache2",
                ban_time=3600,
            ),
        ),
        security=SecuritySettings(
            sandbox_level="permissive",
            forbidden_commands=("reboot",),
            permissions_file="/etc/hf-agent/local-permissions.json",
        ),
    )
    defaults = Config().to_dict()
    plain = config.to_dict()
    for section, fields in plain.items():
        for key, value in fields.items():
            assert value != defaults[section][key], (section, key)
    read = Config.from_text(json.dumps(plain), env={})
    assert read.to_dict() == {
        **plain,
        "modules": {
            **plain["modules"],
            "monitoring": {
                **plain["modules"]["monitoring"],
                "sources": {
                    **Config().to_dict()["modules"]["monitoring"]["sources"],
                    "web": ["/srv/*.log"],
                },
            },
        },
    }
