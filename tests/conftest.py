"""Shared fixtures: running the CLI as users do, and a configuration of the test's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

CliRunner = Callable[..., subprocess.CompletedProcess[str]]


def run_cli(
    *args: str,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    user: int | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``hf-agent ARGS`` in a child process (``python -m libhfagent``)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HF_AGENT_")}
    full_env.update(env or {})
    argv = [sys.executable, "-m", "libhfagent", *args]
    if user is not None:
        argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *argv]
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=full_env,
        input=input,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def cli() -> CliRunner:
    return run_cli


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[dict[str, Any]], Path]:
    """Write an ``hf-agent.json`` under tmp_path (state dir inside it too)."""

    def write(data: dict[str, Any]) -> Path:
        data = json.loads(json.dumps(data))
        data.setdefault("agent", {}).setdefault("state_dir", str(tmp_path / "state"))
        data["agent"].setdefault("timezone", "UTC")
        path = tmp_path / "hf-agent.json"
        path.write_text(json.dumps(data, indent=2))
        return path

    return write
