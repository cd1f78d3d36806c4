"""Model artifacts: the one place that knows how trained models are laid out, saved and loaded.

workflow-ml-training writes them, workflow-ml-prediction reads them. Layout under the data root:

    models/<training_id>/job.json       the TrainingJob (contracts.training), rewritten atomically as it runs
    models/<training_id>/metrics.json   TrainingMetrics, model_version and config of the finished job
    models/<training_id>/model.joblib   a WeightedEnsemble (below), written to a temp file + os.replace
    models/<training_id>/model.sig.json its signature (services.common.model_signing), written right after it
    models/<training_id>/promotion.json ServingModel (contracts.training): the last promotion of this model;
                                        its presence is what lets prediction serve a pinned version
    models/latest.json                  LatestModel: the model promoted last, what prediction serves by default

Training writes job.json, metrics.json, model.joblib and model.sig.json; only a promotion
(workflow-ml-training POST /models/promote) writes promotion.json and then latest.json.

A model artifact is a pickle (joblib): it is saved and loaded only through services.common.model_signing,
which refuses any file this deployment's HSS_MODEL_SIGNING_KEY did not sign before unpickling it.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.common import IDENTIFIER_PATTERN, Probability
from contracts.data_layout import LATEST_MODEL_FILE, MODEL_SIGNATURE_FILE, MODELS, DataLayout
from contracts.training import ServingModel
from services.common.errors import Unavailable
from services.common.paths import atomic_write_text

ARTIFACT_FORMAT = 1
JOB_FILE = "job.json"
METRICS_FILE = "metrics.json"
MODEL_FILE = "model.joblib"
PROMOTION_FILE = "promotion.json"

_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
M = TypeVar("M", bound=BaseModel)


class ArtifactError(Exception):
    """A model file, latest.json or promotion.json that cannot be read or is not what this code writes."""


def is_valid_training_id(training_id: str) -> bool:
    return bool(_IDENTIFIER.fullmatch(training_id))


def models_dir(root: Path) -> Path:
    return DataLayout(root).models


def model_dir(root: Path, training_id: str) -> Path:
    # Identifiers become folder names: refuse anything that is not a safe identifier ('..', '/', ...).
    if not is_valid_training_id(training_id):
        raise ValueError(f"invalid training id {training_id!r}")
    return DataLayout(root).model_of(training_id)


def job_path(root: Path, training_id: str) -> Path:
    return model_dir(root, training_id) / JOB_FILE


def metrics_path(root: Path, training_id: str) -> Path:
    return model_dir(root, training_id) / METRICS_FILE


def artifact_path(root: Path, training_id: str) -> Path:
    return model_dir(root, training_id) / MODEL_FILE


def signature_path(root: Path, training_id: str) -> Path:
    return model_dir(root, training_id) / MODEL_SIGNATURE_FILE


def artifact_name(training_id: str) -> str:
    """The only artifact path (relative to the data root) latest.json may name for `training_id`."""
    return f"{MODELS}/{training_id}/{MODEL_FILE}"


def promotion_path(root: Path, training_id: str) -> Path:
    return model_dir(root, training_id) / PROMOTION_FILE


def latest_path(root: Path) -> Path:
    return DataLayout(root).latest_model


def training_id_of(model_version: str) -> str:
    """'my_training@1a2b3c4d' -> 'my_training' (model versions are '<training_id>@<sha8>')."""
    return model_version.partition("@")[0]


# The scikit-learn modules a trained ensemble's pickle needs (services.ml_training.ensemble's estimators, their
# Pipeline and imputer). Unpickling imports them on first use — about 1 s on 2 cores, paid by the first prediction
# after every service start, i.e. right after the first training — so the prediction service imports them at start.
ESTIMATOR_MODULES = (
    "sklearn.pipeline",
    "sklearn.impute",
    "sklearn.calibration",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "sklearn.neighbors",
)


def preload_estimator_modules() -> None:
    """Import ESTIMATOR_MODULES now, so that unpickling a model later imports nothing."""
    for name in ESTIMATOR_MODULES:
        importlib.import_module(name)


class HitModel(Protocol):
    """What prediction needs from a model: trained ensemble and built-in baseline alike."""

    model_version: str
    feature_names: list[str]
    medians: list[float]  # aligned with feature_names: the training median of each feature
    baseline: bool

    def predict_proba(self, X: np.ndarray) -> np.ndarray:  # (n, len(feature_names)) -> (n,) P(hit)
        ...


@dataclass
class EnsembleMember:
    name: str
    weight: float
    estimator: Any  # a fitted sklearn classifier (Pipeline) with predict_proba


@dataclass
class WeightedEnsemble:
    """The trained smart ensemble: P(hit) = sum of weight * member P(hit), over the kept members."""

    training_id: str
    model_version: str
    feature_names: list[str]
    medians: list[float]
    members: list[EnsembleMember]
    created_at: datetime
    sklearn_version: str
    format: int = ARTIFACT_FORMAT
    extra: dict[str, Any] = field(default_factory=dict)
    baseline: ClassVar[bool] = False

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            raise ValueError(f"expected shape (n, {len(self.feature_names)}), got {X.shape}")
        total = np.zeros(X.shape[0])
        for member in self.members:
            total += member.weight * member.estimator.predict_proba(X)[:, 1]
        return np.clip(total, 0.0, 1.0)


class LatestModel(BaseModel):
    """models/latest.json: which model prediction serves when the request pins none (the promoted one)."""

    model_config = ConfigDict(extra="ignore")

    training_id: str
    model_version: str
    artifact: str = Field(
        description="Path of model.joblib relative to the data root; must be models/<training_id>/model.joblib."
    )
    feature_names: list[str]
    created_at: datetime
    format: int = ARTIFACT_FORMAT
    # The promotion, so GET /models/current answers from this file alone. Defaults: a latest.json written
    # before promotions existed (by training) still reads.
    ensemble_auc: Probability | None = None
    promoted_at: datetime | None = None
    reason: str = ""
    previous_model_version: str | None = None


def write_latest(root: Path, pointer: LatestModel) -> None:
    atomic_write_text(latest_path(root), pointer.model_dump_json(indent=2))


def _read_json_model(path: Path, kind: type[M], name: str) -> M | None:
    """None when the file does not exist; ArtifactError when it is not a valid `kind`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return kind.model_validate_json(text)
    except ValidationError as exc:
        raise ArtifactError(f"{name} is not valid: {exc.errors()[0]['msg']}") from exc


def read_latest(root: Path) -> LatestModel | None:
    """None when no model was ever promoted; ArtifactError when latest.json is unreadable."""
    return _read_json_model(latest_path(root), LatestModel, f"{MODELS}/{LATEST_MODEL_FILE}")


def latest_unavailable(exc: Exception) -> Unavailable:
    """The 503 of both services when latest.json cannot be read: nothing can say which model is served."""
    return Unavailable(
        f"{MODELS}/{LATEST_MODEL_FILE} cannot be read ({exc}); promote a model (POST /models/promote) or fix the file.",
        code="model_unavailable",
    )


def write_promotion(root: Path, record: ServingModel) -> None:
    assert record.training_id is not None, "the baseline is never promoted"
    atomic_write_text(promotion_path(root, record.training_id), record.model_dump_json(indent=2))


def read_promotion(root: Path, training_id: str) -> ServingModel | None:
    """The last promotion of models/<training_id>/: None when it was never promoted; ArtifactError if unreadable."""
    name = f"{MODELS}/{training_id}/{PROMOTION_FILE}"
    return _read_json_model(promotion_path(root, training_id), ServingModel, name)


def latest_pointer_for(model: WeightedEnsemble, promotion: ServingModel) -> LatestModel:
    return LatestModel(
        training_id=model.training_id,
        model_version=model.model_version,
        artifact=artifact_name(model.training_id),
        feature_names=list(model.feature_names),
        created_at=model.created_at,
        ensemble_auc=promotion.ensemble_auc,
        promoted_at=promotion.promoted_at,
        reason=promotion.reason,
        previous_model_version=promotion.previous_model_version,
    )
