"""Rendering docker-compose.yml (and the test overlay) with `docker-compose config` for the compose tests:
Debian's docker-compose 1.29, no daemon needed, a throwaway env file built from .env.example."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from stack.docker_stack import HOST_PORT_VARS
from stack.paths import COMPOSE_FILE, COMPOSE_TEST_OVERLAY, ENV_EXAMPLE, REPO_ROOT

BASE = REPO_ROOT / COMPOSE_FILE
OVERLAY = REPO_ROOT / COMPOSE_TEST_OVERLAY
INSTALL_HINT = "sudo apt-get update && sudo apt-get install -y docker-compose   (or: make system-deps)"


def compose_binary() -> str:
    path = shutil.which("docker-compose")
    if path is None:
        pytest.fail(f"the `docker-compose` command is missing; install it: {INSTALL_HINT}")
    return path


def example_env() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def run_config(tmp_path: Path, files: list[Path], env: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    env_file = tmp_path / "compose.env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
    # The shell environment wins over --env-file in interpolation: keep the caller's values out.
    shell_env = {k: v for k, v in os.environ.items() if k not in env and k not in HOST_PORT_VARS}
    argv = [compose_binary(), "--env-file", str(env_file), "--project-directory", str(REPO_ROOT)]
    for file in files:
        argv += ["-f", str(file)]
    return subprocess.run(
        [*argv, "config", *extra], capture_output=True, text=True, cwd=REPO_ROOT, env=shell_env, timeout=60
    )


def render(tmp_path: Path, files: list[Path], env: dict[str, str]) -> dict[str, Any]:
    result = run_config(tmp_path, files, env)
    if result.returncode != 0:
        pytest.fail(f"docker-compose config failed (exit {result.returncode}):\n{result.stderr}")
    return yaml.safe_load(result.stdout)


def overlay_run_env() -> dict[str, str]:
    """.env.example plus every host port variable set empty: what the test run uses."""
    return {**example_env(), **dict.fromkeys(HOST_PORT_VARS, "")}
