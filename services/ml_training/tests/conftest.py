"""Fixtures of the workflow-ml-training tests: clients on a data root and a bounded job poller."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from contracts.catalog import TRAINING_JOB
from services.conftest import TEST_API_KEY, TEST_SIGNING_KEY, keyed_client, lay_out
from services.ml_training.app import build_app
from services.ml_training.settings import TrainingSettings
from services.ml_training.tests.support import train_in_process

JOB_TIMEOUT_S = 90.0  # generous: the machine is shared; a healthy training takes a few seconds


def _poll_job(client: TestClient, job_id: str, *, timeout: float = JOB_TIMEOUT_S) -> tuple[dict, list[float]]:
    seen: list[float] = []
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(TRAINING_JOB.format_path(job_id=job_id))
        assert r.status_code == 200, r.text
        job = r.json()
        seen.append(job["progress"])
        if job["status"] in ("succeeded", "failed"):
            return job, seen
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']} after {timeout}s: {job}"
        time.sleep(0.05)


@pytest.fixture(scope="session")
def wait_for_job() -> Callable[..., tuple[dict, list[float]]]:
    """wait_for_job(client, job_id) -> (finished job, every progress value seen while polling)."""
    return _poll_job


def training_settings(root: Path, **fields) -> TrainingSettings:
    """TrainingSettings on `root` with the test API key and signing key (fields override)."""
    return TrainingSettings(
        **{"data_root": root, "api_key": TEST_API_KEY, "model_signing_key": TEST_SIGNING_KEY, **fields}
    )


@pytest.fixture(scope="session")
def training_client() -> Callable[..., TestClient]:
    """training_client(root, **settings): a TestClient (use it as a context manager) of a fresh app on that data
    root, sending the test API key."""
    return lambda root, **settings: keyed_client(build_app(training_settings(root, **settings)))


@pytest.fixture(scope="session")
def train() -> Callable[..., str]:
    """train(root, training_id, seed=7, n_rows=80) -> model_version: train_in_process (signed, not promoted)."""
    return train_in_process


@pytest.fixture(scope="session")
def new_root(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """new_root(name): a data root laid out like HSS_DATA_ROOT, for module-scoped fixtures."""

    def make(name: str) -> Path:
        return lay_out(tmp_path_factory.mktemp(name) / "data")

    return make


@pytest.fixture
def client(data_root: Path, training_client):
    with training_client(data_root) as c:
        yield c
