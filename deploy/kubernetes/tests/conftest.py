"""Fixtures of the deploy/kubernetes tests: docker-compose.yml as `docker-compose config` renders it with
.env.example's values (e2e/tests/compose_render.py, as the compose tests do), the manifests of services/ by
(kind, name), and airflow-values.yaml, each loaded once per session. The tests copy before they break one.
"""

from __future__ import annotations

from typing import Any

import pytest

from deploy.kubernetes.tests.helpers import load_manifests, load_values
from e2e.tests.compose_render import BASE, example_env, render


@pytest.fixture(scope="session")
def compose(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return render(tmp_path_factory.mktemp("compose"), [BASE], example_env())


@pytest.fixture(scope="session")
def manifests() -> dict[tuple[str, str], dict[str, Any]]:
    return load_manifests()


@pytest.fixture(scope="session")
def values() -> dict[str, Any]:
    return load_values()
