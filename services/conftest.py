"""Fixtures shared by every service's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA_DIRS = ("songs", "training_data", "models", "results")


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    """A fresh data root laid out like HSS_DATA_ROOT (songs/, training_data/, models/, results/)."""
    root = tmp_path / "data"
    for sub in DATA_DIRS:
        (root / sub).mkdir(parents=True)
    return root
