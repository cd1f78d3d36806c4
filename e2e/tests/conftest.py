"""Fixtures of the compose-file tests: the compose file rendered once per module (base alone, and with the overlay)."""

from __future__ import annotations

from typing import Any

import pytest

from e2e.tests.compose_render import BASE, OVERLAY, example_env, overlay_run_env, render


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return render(tmp_path_factory.mktemp("base"), [BASE], example_env())


@pytest.fixture(scope="module")
def with_overlay(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return render(tmp_path_factory.mktemp("overlay"), [BASE, OVERLAY], overlay_run_env())
