"""Contract fuzzing: schemathesis drives every operation of every app in-process.

Whatever it generates, a service must never answer 5xx, and every response must conform to the
OpenAPI schema (status code documented, body matching its model, the error envelope for 4xx).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from contracts.catalog import SERVICES

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


def _build(spec_name: str, data_root: Path):
    """Build the app of one service on a throwaway data root (small pools: this runs on 2 cores)."""
    if spec_name == "workflow-audio":
        from services.audio.app import build_app
        from services.audio.settings import AudioSettings

        return build_app(AudioSettings(data_root=data_root, pool_size=1))
    if spec_name == "workflow-content":
        from services.content.app import build_app

        return build_app()
    if spec_name == "workflow-ml-training":
        from services.ml_training.app import build_app
        from services.ml_training.settings import TrainingSettings

        return build_app(TrainingSettings(data_root=data_root))
    if spec_name == "workflow-ml-prediction":
        from services.ml_prediction.app import build_app
        from services.ml_prediction.settings import PredictionSettings

        return build_app(PredictionSettings(data_root=data_root))
    from services.intelligence.app import build_app

    return build_app()


FUZZ_ROOT = Path(__file__).resolve().parent / ".fuzz-data"


def _schema(spec_name: str):
    root = FUZZ_ROOT / spec_name
    for sub in ("songs", "training_data", "models", "results"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    schema = schemathesis.openapi.from_asgi("/openapi.json", _build(spec_name, root))
    # The probes take no input; /ready is *meant* to answer 503 while the audio workers warm up.
    return schema.exclude(path=["/health", "/ready"])


def _fuzz(spec_name: str):
    schema = _schema(spec_name)

    @schema.parametrize()
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def test(case) -> None:
        case.call_and_validate(checks=CHECKS)

    return test


test_audio_fuzz = _fuzz("workflow-audio")
test_content_fuzz = _fuzz("workflow-content")
test_training_fuzz = _fuzz("workflow-ml-training")
test_prediction_fuzz = _fuzz("workflow-ml-prediction")
test_intelligence_fuzz = _fuzz("workflow-intelligence")


def test_every_service_is_fuzzed() -> None:
    fuzzed = {
        "workflow-audio",
        "workflow-content",
        "workflow-ml-training",
        "workflow-ml-prediction",
        "workflow-intelligence",
    }
    assert fuzzed == {s.name for s in SERVICES}


@pytest.fixture(autouse=True, scope="session")
def _fuzz_root_cleanup():
    yield
    import shutil

    shutil.rmtree(FUZZ_ROOT, ignore_errors=True)
