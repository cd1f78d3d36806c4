"""predictor.py and baseline.py without HTTP: one batched call, exact contributions, the baseline formula."""

from __future__ import annotations

import numpy as np
import pytest

from contracts.prediction import PredictionRequest
from services.common.errors import Unprocessable
from services.ml_prediction.baseline import BASELINE, BASELINE_MEDIANS
from services.ml_prediction.predictor import predict


class LinearModel:
    """P = clip(0.5 + sum(w * (x - median)), 0, 1); counts predict_proba calls."""

    model_version = "linear@00000000"
    baseline = False

    def __init__(self, weights: dict[str, float]) -> None:
        self.feature_names = list(weights)
        self.medians = [0.0] * len(weights)
        self.w = np.array(list(weights.values()))
        self.calls = 0

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        self.calls += 1
        return np.clip(0.5 + X @ self.w, 0, 1)


def request(audio: dict, content: dict | None = None) -> PredictionRequest:
    return PredictionRequest(song_id="s", audio_features=audio, content_features=content or {})


def test_contributions_come_from_one_batched_call_and_are_exact() -> None:
    model = LinearModel({"a": 0.1, "b": -0.2, "c": 0.05, "lyrics.d": 0.01})
    out = predict(model, request({"a": 1.0, "b": 1.0, "c": 1.0}, {"lyrics.d": 1.0}))
    assert model.calls == 1
    assert out.hit_probability == pytest.approx(0.5 + 0.1 - 0.2 + 0.05 + 0.01)
    assert [(e.feature, e.contribution) for e in out.explanations] == [
        ("b", -0.2),
        ("a", 0.1),
        ("c", 0.05),
        ("lyrics.d", 0.01),
    ]


def test_top_k_limits_the_explanations() -> None:
    model = LinearModel({f"f{i:02d}": 0.01 * (i + 1) for i in range(20)})
    out = predict(model, request({f"f{i:02d}": 0.1 for i in range(20)}), top_k=10)  # p = 0.71, unclipped
    assert [e.feature for e in out.explanations] == [f"f{i:02d}" for i in range(19, 9, -1)]


def test_missing_features_use_the_median_and_are_not_explained() -> None:
    model = LinearModel({"a": 0.1, "b": 0.2, "c": 0.3})
    model.medians = [0.0, 0.5, 0.0]
    out = predict(model, request({"a": 1.0, "c": 1.0}))
    assert out.missing_features == ["b"]
    assert out.hit_probability == pytest.approx(0.5 + 0.1 + 0.2 * 0.5 + 0.3)
    assert [e.feature for e in out.explanations] == ["c", "a"]


def test_more_than_the_allowed_share_missing_raises() -> None:
    model = LinearModel({"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.1})
    predict(model, request({"a": 1.0, "b": 1.0}))  # 2 of 4 missing: exactly half is fine
    with pytest.raises(Unprocessable) as info:
        predict(model, request({"a": 1.0}))
    assert info.value.code == "too_many_missing_features" and "b, c, d" in info.value.message


def test_baseline_at_its_medians_and_its_monotonic_directions() -> None:
    x0 = np.array([list(BASELINE_MEDIANS.values())])
    p0 = BASELINE.predict_proba(x0)[0]
    assert 0.2 < p0 < 0.8

    def moved(name: str, value: float) -> float:
        x = x0.copy()
        x[0, BASELINE.feature_names.index(name)] = value
        return float(BASELINE.predict_proba(x)[0])

    assert moved("rhythm.danceability", 1.8) > p0 > moved("rhythm.danceability", 0.6)
    assert moved("lyrics.hook_strength", 0.8) > p0 > moved("lyrics.hook_strength", 0.0)
    assert moved("rhythm.bpm", 120.0) > p0 > moved("rhythm.bpm", 70.0)
    assert moved("rhythm.bpm", 175.0) < p0  # tempo helps near 120, not "faster is better"
    assert moved("lowlevel.loudness_ebu128.integrated", -6.0) > p0
