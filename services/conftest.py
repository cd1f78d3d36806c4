"""Fixtures and test secrets shared by every service's tests.

Every service refuses to start without HSS_API_KEY (and the model services without HSS_MODEL_SIGNING_KEY),
so the tests build their apps with these explicit values and send the key with every request
(`keyed_client`). They are test values, never a deployment's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from contracts.data_layout import DataLayout

TEST_API_KEY = "test-api-key-for-the-service-tests"
TEST_SIGNING_KEY = "test-model-signing-key-for-the-service-tests"
API_KEY_HEADERS = {"X-API-Key": TEST_API_KEY}


def keyed_client(app: FastAPI, **kwargs) -> TestClient:
    """A TestClient that sends TEST_API_KEY as X-API-Key (the app must be built with api_key=TEST_API_KEY)."""
    return TestClient(app, headers=API_KEY_HEADERS, **kwargs)


def lay_out(root: Path) -> Path:
    """Create every folder of the data layout (contracts.data_layout) under `root`, as the stacks do; return root."""
    for folder in DataLayout(root).all_folders():
        folder.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    """A fresh data root laid out like HSS_DATA_ROOT (songs/, training_data/, models/, results/, ...)."""
    return lay_out(tmp_path / "data")
