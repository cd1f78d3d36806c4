"""The smart ensemble without HTTP: dataset validation, weighting, metrics, determinism, model_version."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fixtures import datasets
from fixtures.datasets import SIGNAL_FEATURES, make_features_dataset
from services.ml_training.ensemble import (
    MODEL_NAMES,
    DatasetError,
    TrainingConfig,
    TrainingOutcome,
    compute_model_version,
    parse_dataset,
    train_smart_ensemble,
    weigh_models,
)


def _train(data: bytes, config: TrainingConfig, training_id: str = "unit") -> TrainingOutcome:
    return train_smart_ensemble(
        parse_dataset(data, config.cv_folds),
        config,
        training_id=training_id,
        model_version=compute_model_version(training_id, data, config),
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> bytes:
    return make_features_dataset(tmp_path_factory.mktemp("ds") / "features.csv").read_bytes()


@pytest.fixture(scope="module")
def outcome(data: bytes) -> TrainingOutcome:
    return _train(data, TrainingConfig())


# --- dataset validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("writer", "expected"),
    [
        (datasets.make_one_class_dataset, "only one class"),
        (datasets.make_missing_label_dataset, "no 'is_hit' column"),
        (datasets.make_non_numeric_dataset, "non-numeric feature column(s): 'tonal.key_edma.key'"),
        (datasets.make_too_few_rows_dataset, "too few rows: 12"),
        (datasets.make_no_features_dataset, "no feature columns"),
        (datasets.make_empty_dataset, "empty"),
        (datasets.make_binary_dataset, "not a text CSV"),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_bad_dataset_is_refused_with_a_message_naming_the_problem(tmp_path: Path, writer, expected: str) -> None:
    path = writer(tmp_path / "bad.csv")
    with pytest.raises(DatasetError) as info:
        parse_dataset(path.read_bytes())
    assert expected in str(info.value)


def test_label_values_other_than_0_and_1_are_refused() -> None:
    rows = "\n".join(f"{i},{i % 3}" for i in range(30))
    with pytest.raises(DatasetError, match="must be 0 or 1"):
        parse_dataset(f"rhythm.bpm,is_hit\n{rows}\n".encode())


def test_a_class_smaller_than_the_folds_is_refused() -> None:
    rows = "\n".join(f"{i},{int(i < 4)}" for i in range(40))  # 4 hits, 36 non-hits
    with pytest.raises(DatasetError, match="too few rows of class 1: 4"):
        parse_dataset(f"rhythm.bpm,is_hit\n{rows}\n".encode(), cv_folds=5)


def test_identifier_columns_and_empty_columns_are_not_features(data: bytes) -> None:
    text = data.decode().splitlines()
    text = [text[0] + ",lyrics.empty"] + [line + "," for line in text[1:]]
    parsed = parse_dataset("\n".join(text).encode())
    assert "song_id" not in parsed.feature_names and "song_path" not in parsed.feature_names
    assert "lyrics.empty" not in parsed.feature_names
    assert any("lyrics.empty" in note for note in parsed.notes)
    assert parsed.X.shape == (200, 18) and np.isnan(parsed.X).any()  # the generator leaves a few gaps


# --- weighting --------------------------------------------------------------------------------


def test_models_below_the_floor_are_dropped_and_the_rest_weighted_by_edge_over_chance() -> None:
    auc = {"a": 0.9, "b": 0.6, "c": 0.5}
    weights, included, notes = weigh_models(auc, floor=0.55)
    assert included == ["a", "b"] and weights["c"] == 0.0
    # edges 0.4 and 0.1: the better model gets four times the weight
    assert weights["a"] == pytest.approx(0.8) and weights["b"] == pytest.approx(0.2)
    assert notes == []


def test_kept_models_at_chance_share_the_weight_equally() -> None:
    weights, included, _ = weigh_models({"a": 0.5, "b": 0.45}, floor=0.5)
    assert included == ["a"] and weights == {"a": 1.0, "b": 0.0}


def test_when_every_model_is_below_the_floor_the_best_is_kept_and_a_note_says_so() -> None:
    weights, included, notes = weigh_models({"a": 0.52, "b": 0.58, "c": 0.51}, floor=0.6)
    assert included == ["b"] and weights == {"a": 0.0, "b": 1.0, "c": 0.0}
    assert "kept the best one anyway (b" in notes[0]


# --- a real training --------------------------------------------------------------------------


def test_five_models_are_reported_and_included_weights_sum_to_one(outcome: TrainingOutcome) -> None:
    metrics = outcome.metrics
    assert [m.name for m in metrics.models] == list(MODEL_NAMES)
    included = [m for m in metrics.models if m.included]
    assert included, "at least one model is always kept"
    assert sum(m.weight for m in included) == pytest.approx(1.0, abs=1e-5)
    assert all(m.weight == 0.0 for m in metrics.models if not m.included)
    assert [m.name for m in outcome.model.members] == [m.name for m in included]
    assert metrics.n_rows == 200 and metrics.n_features == 18 and 0.2 < metrics.positive_rate < 0.8
    for m in metrics.models:
        assert 0.5 < m.auc <= 1.0 and m.auc_std >= 0 and 0 <= m.accuracy <= 1 and 0 <= m.f1 <= 1


def test_ensemble_clearly_beats_chance_and_finds_the_signal(outcome: TrainingOutcome) -> None:
    metrics = outcome.metrics
    print(f"ensemble AUC {metrics.ensemble_auc:.3f}; per model", {m.name: m.auc for m in metrics.models})
    assert metrics.ensemble_auc > 0.75
    top4 = list(metrics.feature_importances)[:4]
    assert len(metrics.feature_importances) == 15
    # hook strength and danceability carry most of the generator's signal: they must lead the importances
    assert {"lyrics.hook_strength", "rhythm.danceability"} <= set(top4), top4
    assert set(top4) & set(SIGNAL_FEATURES)


def test_the_model_predicts_probabilities_for_its_features(outcome: TrainingOutcome, data: bytes) -> None:
    model = outcome.model
    parsed = parse_dataset(data)
    X = np.where(np.isnan(parsed.X), np.asarray(model.medians), parsed.X)
    p = model.predict_proba(X)
    assert p.shape == (200,) and ((p >= 0) & (p <= 1)).all()
    assert p[parsed.y == 1].mean() > p[parsed.y == 0].mean() + 0.2
    assert model.feature_names == parsed.feature_names
    assert model.medians == pytest.approx(np.nanmedian(parsed.X, axis=0).tolist())


def test_a_high_floor_drops_models(data: bytes, outcome: TrainingOutcome) -> None:
    aucs = sorted(m.auc for m in outcome.metrics.models)
    floor = (aucs[0] + aucs[-1]) / 2  # between the worst and the best model
    dropped = _train(data, TrainingConfig(auc_floor=floor))
    excluded = [m for m in dropped.metrics.models if not m.included]
    assert excluded and all(m.auc < floor and m.weight == 0 for m in excluded)
    assert sum(m.weight for m in dropped.metrics.models) == pytest.approx(1.0, abs=1e-5)
    assert len(dropped.model.members) == 5 - len(excluded)


def test_same_data_and_seed_give_the_same_metrics_and_version(data: bytes, outcome: TrainingOutcome) -> None:
    again = _train(data, TrainingConfig())
    assert again.metrics == outcome.metrics
    assert again.model.model_version == outcome.model.model_version


def test_model_version_hashes_data_and_config(data: bytes) -> None:
    version = compute_model_version("t1", data, TrainingConfig())
    assert version.startswith("t1@") and len(version.split("@")[1]) == 8
    assert compute_model_version("t1", data, TrainingConfig()) == version
    assert compute_model_version("t1", data, TrainingConfig(random_state=1)) != version
    assert compute_model_version("t1", data + b"\n", TrainingConfig()) != version
    assert compute_model_version("t2", data, TrainingConfig()).split("@")[1] == version.split("@")[1]


def test_a_floor_above_every_model_keeps_only_the_best_and_says_so(tmp_path: Path) -> None:
    data = make_features_dataset(tmp_path / "small.csv", n_rows=80).read_bytes()
    result = _train(data, TrainingConfig(cv_folds=3, auc_floor=0.99))
    best = max(result.metrics.models, key=lambda m: m.auc)
    assert [m.name for m in result.metrics.models if m.included] == [best.name] and best.weight == 1.0
    assert [m.name for m in result.model.members] == [best.name]
    assert any("below the floor 0.99" in note and best.name in note for note in result.metrics.notes)
