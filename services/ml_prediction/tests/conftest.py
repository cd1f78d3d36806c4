"""Fixtures of the workflow-ml-prediction tests: data roots with really trained models, songs, clients.

Models are trained in-process by the training service's own job runner (the same code the worker
process runs) and promoted by its Promoter, so these tests read exactly the artifact layout those write.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from contracts.training import PromotionRequest
from fixtures.datasets import features_frame
from services.conftest import TEST_API_KEY, TEST_SIGNING_KEY, keyed_client, lay_out
from services.ml_prediction.app import build_app
from services.ml_prediction.settings import PredictionSettings
from services.ml_training.promotion import Promoter
from services.ml_training.tests.support import train_in_process

NON_FEATURES = ("song_id", "song_path", "is_hit")


def train_model(root: Path, training_id: str, *, seed: int = 7, n_rows: int = 200, promote: bool = True) -> str:
    """Train a model under root (models/<training_id>/) and, unless promote=False, promote it (latest.json,
    promotion.json); returns its model_version."""
    model_version = train_in_process(root, training_id, seed=seed, n_rows=n_rows)
    if promote:
        promoter = Promoter(root, signing_key=TEST_SIGNING_KEY.encode())
        assert promoter.promote(PromotionRequest(training_id=training_id)).model_version == model_version
    return model_version


def song_features(seed: int = 99, index: int = 0) -> tuple[dict[str, float], dict[str, float]]:
    """(audio_features, content_features) of one generated song, split the way the services send them."""
    row = features_frame(n_rows=index + 1, seed=seed, missing_rate=0.0).iloc[index]
    values = {k: float(v) for k, v in row.items() if k not in NON_FEATURES}
    audio = {k: v for k, v in values.items() if not k.startswith("lyrics.")}
    content = {k: v for k, v in values.items() if k.startswith("lyrics.")}
    return audio, content


@pytest.fixture(scope="session")
def trained_root(tmp_path_factory) -> tuple[Path, str]:
    """A data root holding one trained and promoted model ('pred_a'). Do not modify it."""
    root = lay_out(tmp_path_factory.mktemp("pred_trained") / "data")
    return root, train_model(root, "pred_a")


@pytest.fixture
def trained_copy(trained_root, tmp_path) -> tuple[Path, str]:
    """A private copy of trained_root a test may change."""
    root, version = trained_root
    copy = tmp_path / "data"
    shutil.copytree(root, copy)
    return copy, version


def prediction_settings(root: Path, **fields) -> PredictionSettings:
    """PredictionSettings on `root` with the test API key and signing key (fields override)."""
    return PredictionSettings(
        **{"data_root": root, "api_key": TEST_API_KEY, "model_signing_key": TEST_SIGNING_KEY, **fields}
    )


@pytest.fixture(scope="session")
def prediction_client() -> Callable[..., TestClient]:
    """prediction_client(root, **settings): a TestClient of a fresh app on that data root, sending the test key."""
    return lambda root, **settings: keyed_client(build_app(prediction_settings(root, **settings)))


@pytest.fixture(scope="session")
def song() -> Callable[..., tuple[dict[str, float], dict[str, float]]]:
    """song(seed=99, index=0) -> (audio_features, content_features) of a generated song."""
    return song_features


@pytest.fixture(scope="session")
def train() -> Callable[..., str]:
    """train(root, training_id, seed=7, promote=True) -> model_version, trained (and promoted) under root."""
    return train_model
