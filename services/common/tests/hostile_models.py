"""Planted model files for the tests that prove no unverified pickle is ever loaded.

The payload: unpickling PlantedPayload calls pathlib.Path.write_text(marker, "pwned"), so a marker file
outside the data root appears exactly when something unpickled the planted bytes (no os.system needed).
test_model_signing.py shows the payload is live: a plain joblib.load of it does write the marker.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import pickle
from datetime import UTC, datetime
from pathlib import Path

from contracts.training import JobStatus, ModelMetrics, ServingModel, TrainingJob, TrainingMetrics
from services.common.model_artifacts import (
    artifact_name,
    artifact_path,
    job_path,
    metrics_path,
    promotion_path,
    signature_path,
)
from services.common.model_signing import sign

FOREIGN_KEY = b"another-deployments-signing-key"


class PlantedPayload:
    """What an attacker writes as model.joblib: code that runs when it is unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (pathlib.Path.write_text, (pathlib.Path(self.marker), "pwned"))


def malicious_pickle(marker: Path) -> bytes:
    return pickle.dumps(PlantedPayload(marker), protocol=pickle.HIGHEST_PROTOCOL)


def write_json(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str))


def plant_model(root: Path, training_id: str, model_version: str, marker: Path, *, record: str = "foreign") -> None:
    """models/<training_id>/model.joblib := the payload, with a signature record of kind `record`:

    "foreign"  correct sha256, HMAC with another deployment's key
    "plain"    correct sha256, the "hmac" a plain unkeyed sha256 of the fields (what a forger can compute)
    "keep"     the record already there (e.g. the real one of a trained model) is left alone
    "none"     no record at all (as a model written before signing existed)
    """
    data = malicious_pickle(marker)
    path = artifact_path(root, training_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if record == "foreign":
        write_json(signature_path(root, training_id), sign(FOREIGN_KEY, training_id, model_version, data).model_dump())
    elif record == "plain":
        digest = hashlib.sha256(data).hexdigest()
        unkeyed = hashlib.sha256(f"{training_id}|{model_version}|{digest}".encode()).hexdigest()
        document = {"training_id": training_id, "model_version": model_version, "sha256": digest, "hmac": unkeyed}
        write_json(signature_path(root, training_id), document)
    elif record == "none":
        signature_path(root, training_id).unlink(missing_ok=True)
    elif record != "keep":
        raise ValueError(record)


def plant_promotion(root: Path, training_id: str, model_version: str) -> None:
    record = ServingModel(
        model_version=model_version, training_id=training_id, baseline=False, promoted_at=datetime.now(UTC)
    )
    write_json(promotion_path(root, training_id), record.model_dump(mode="json"))


def plant_latest(root: Path, training_id: str, model_version: str, *, artifact: str | None = None) -> None:
    """models/latest.json naming the planted model (its artifact field as given, else the canonical path)."""
    document = {
        "training_id": training_id,
        "model_version": model_version,
        "artifact": artifact or artifact_name(training_id),
        "feature_names": ["rhythm.bpm"],
        "created_at": datetime.now(UTC).isoformat(),
        "promoted_at": datetime.now(UTC).isoformat(),
        "ensemble_auc": 0.99,
    }
    write_json(root / "models" / "latest.json", document)


def plant_succeeded_job(root: Path, training_id: str, model_version: str, *, claimed_id: str | None = None) -> None:
    """A hand-made job.json (+ metrics.json) claiming a succeeded training, so a promotion would load its model."""
    model = ModelMetrics(
        name="logistic_regression", auc=0.99, auc_std=0.0, accuracy=0.99, f1=0.99, weight=1.0, included=True
    )
    metrics = TrainingMetrics(
        models=[model],
        ensemble_auc=0.99,
        ensemble_accuracy=0.99,
        ensemble_f1=0.99,
        n_rows=100,
        n_features=1,
        positive_rate=0.5,
    )
    job = TrainingJob(
        job_id=claimed_id or training_id,
        training_id=claimed_id or training_id,
        dataset_path=f"training_data/{training_id}.csv",
        status=JobStatus.succeeded,
        progress=1.0,
        stage="succeeded",
        metrics=metrics,
        model_version=model_version,
        created_at=datetime.now(UTC),
        finished_at=datetime.now(UTC),
    )
    write_json(job_path(root, training_id), job.model_dump(mode="json"))
    record = {"training_id": training_id, "model_version": model_version, "metrics": metrics.model_dump(mode="json")}
    write_json(metrics_path(root, training_id), record)
