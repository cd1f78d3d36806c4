"""Request bodies are strict (contracts.common.StrictContract): a value JSON does not give as the schema's
type is refused, not coerced; what JSON legitimately carries still passes."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Annotated, Any, get_args

import pytest
from pydantic import BaseModel, ValidationError

from contracts.audio import AudioAnalysisRequest
from contracts.catalog import SERVICES
from contracts.common import FROM_JSON_STRING, IsoDatetime, StrictContract
from contracts.content import LyricsAnalysisRequest
from contracts.insights import InsightsRequest
from contracts.prediction import PredictionRequest
from contracts.training import JobStatus, PromotionRequest, TrainingRequest
from fixtures.request_bodies import insights_body

REQUESTS = sorted({e.request for s in SERVICES for e in s.endpoints if e.request is not None}, key=lambda m: m.__name__)


def _models_in(annotation: Any) -> set[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {annotation}
    return {m for arg in get_args(annotation) for m in _models_in(arg)}


def _carried(model: type[BaseModel]) -> set[type[BaseModel]]:
    """`model` and every model its fields hold, at any depth."""
    seen: set[type[BaseModel]] = set()
    todo = [model]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for field in current.model_fields.values():
            todo.extend(_models_in(field.annotation))
    return seen


@pytest.mark.parametrize("request_model", REQUESTS, ids=lambda m: m.__name__)
def test_every_model_a_request_carries_is_strict(request_model: type[BaseModel]) -> None:
    for model in _carried(request_model):
        assert issubclass(model, StrictContract), f"{model.__name__} (in {request_model.__name__}) is not strict"
        assert model.model_config.get("strict") is True, model.__name__
        assert model.model_config.get("extra") == "forbid", model.__name__


def test_the_insights_request_carries_the_three_analyses() -> None:
    names = {m.__name__ for m in _carried(InsightsRequest)}
    assert {"AudioAnalysisResponse", "AudioHighlights", "LyricsAnalysisResponse", "Sentiment"} <= names
    assert {"PredictionResponse", "Explanation"} <= names


VALID: dict[type[BaseModel], dict[str, Any]] = {
    AudioAnalysisRequest: {"song_id": "song_1", "song_path": "songs/a.mp3"},
    LyricsAnalysisRequest: {"song_id": "song_1", "lyrics": "la la"},
    TrainingRequest: {"training_id": "t_1", "dataset_path": "training_data/a.csv"},
    PromotionRequest: {"training_id": "t_1", "reason": "better AUC"},
    PredictionRequest: {"song_id": "song_1", "audio_features": {"rhythm.bpm": 120.0}},
    InsightsRequest: insights_body(),
}


def test_every_request_of_the_catalog_has_a_valid_example_here() -> None:
    assert set(VALID) == set(REQUESTS)
    for model, body in VALID.items():
        model.model_validate(body)
        model.model_validate_json(json.dumps(body))


def _with(body: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    node: Any = changed
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return changed


# (model, path in the body, value, pydantic's error type). In lax mode pydantic coerced most of these ("3" -> 3,
# "true" -> True, false -> 0.0); a number for a string it refused already, and still does.
REFUSED = [
    (TrainingRequest, ("cv_folds",), "3", "int_type"),
    (TrainingRequest, ("random_state",), True, "int_type"),
    (TrainingRequest, ("cv_folds",), 3.5, "int_type"),
    (TrainingRequest, ("auc_floor",), "0.6", "float_type"),
    (TrainingRequest, ("auc_floor",), True, "float_type"),
    (TrainingRequest, ("force",), 1, "bool_type"),
    (TrainingRequest, ("force",), "true", "bool_type"),
    (TrainingRequest, ("training_id",), 5, "string_type"),
    (PromotionRequest, ("reason",), 1, "string_type"),
    (AudioAnalysisRequest, ("song_path",), 5, "string_type"),
    (AudioAnalysisRequest, ("song_id",), True, "string_type"),
    (LyricsAnalysisRequest, ("lyrics",), 123, "string_type"),
    (PredictionRequest, ("audio_features", "rhythm.bpm"), "120", "float_type"),
    (PredictionRequest, ("audio_features", "rhythm.bpm"), False, "float_type"),
    (PredictionRequest, ("model_version",), 3, "string_type"),
    (InsightsRequest, ("prediction", "explanations", 0, "contribution"), False, "float_type"),
    (InsightsRequest, ("prediction", "hit_probability"), "0.6", "float_type"),
    (InsightsRequest, ("prediction", "baseline"), 0, "bool_type"),
    (InsightsRequest, ("audio", "feature_count"), "1", "int_type"),
    (InsightsRequest, ("audio", "highlights", "tempo_bpm"), "120", "float_type"),
    (InsightsRequest, ("audio", "highlights", "key"), 0, "string_type"),
    (InsightsRequest, ("content", "instrumental"), "false", "bool_type"),
    (InsightsRequest, ("content", "sentiment", "compound"), True, "float_type"),
]


@pytest.mark.parametrize(("model", "path", "value", "error"), REFUSED, ids=lambda v: repr(v)[:40])
def test_a_value_of_the_wrong_json_type_is_refused(model, path, value, error) -> None:
    body = _with(VALID[model], path, value)
    for validate in (model.model_validate, lambda b: model.model_validate_json(json.dumps(b))):
        with pytest.raises(ValidationError) as refused:
            validate(body)
        assert [(e["loc"], e["type"]) for e in refused.value.errors()] == [(path, error)]


def test_what_json_carries_passes() -> None:
    # an integer where a number is expected, a number without a fraction where an integer is expected
    job = TrainingRequest.model_validate({**VALID[TrainingRequest], "auc_floor": 0.6, "cv_folds": 3.0})
    assert job.cv_folds == 3 and isinstance(job.cv_folds, int)
    features = PredictionRequest.model_validate({"song_id": "s", "audio_features": {"rhythm.bpm": 120}})
    assert features.audio_features == {"rhythm.bpm": 120.0}
    assert isinstance(features.audio_features["rhythm.bpm"], float)
    zero = _with(insights_body(), ("prediction", "explanations", 0, "contribution"), 0)
    insights = InsightsRequest.model_validate(zero)
    assert insights.prediction.explanations[0].contribution == 0.0
    # a Literal from its string
    assert InsightsRequest.model_validate(insights_body()).content.sentiment.label == "positive"


class _Stamped(StrictContract):
    at: IsoDatetime
    status: Annotated[JobStatus, FROM_JSON_STRING]


class _StampedWithoutTheMarker(StrictContract):
    at: datetime


def test_iso_datetimes_and_enum_values_pass_where_a_strict_model_declares_them() -> None:
    stamped = _Stamped.model_validate({"at": "2024-06-11T10:00:00Z", "status": "running"})
    assert stamped.at == datetime(2024, 6, 11, 10, tzinfo=UTC)
    assert stamped.status is JobStatus.running
    with pytest.raises(ValidationError):
        _Stamped.model_validate({"at": "2024-06-11T10:00:00Z", "status": "sleeping"})
    with pytest.raises(ValidationError):  # why the marker exists: strict Python mode wants a datetime instance
        _StampedWithoutTheMarker.model_validate({"at": "2024-06-11T10:00:00Z"})
