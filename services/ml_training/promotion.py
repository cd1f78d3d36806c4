"""Model promotion: which trained model workflow-ml-prediction serves (POST /models/promote, GET /models/current).

Training only produces models under models/<training_id>/; promote() makes one the served model. It writes
models/<training_id>/promotion.json (the record: prediction serves a pinned version only when it has one)
and THEN models/latest.json (the pointer prediction follows by default), each atomically. A crash between
the two leaves the old model served; promoting again finishes the job.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from pydantic import ValidationError

from contracts.prediction import BASELINE_VERSION
from contracts.training import JobStatus, PromotionRequest, ServingModel, TrainingJob
from services.common.errors import Conflict, NotFound
from services.common.model_artifacts import (
    ArtifactError,
    LatestModel,
    WeightedEnsemble,
    artifact_path,
    latest_pointer_for,
    latest_unavailable,
    load_artifact,
    read_latest,
    write_latest,
    write_promotion,
)
from services.ml_training.jobs import JobStore, utcnow

log = logging.getLogger("hss.ml_training")

BASELINE = ServingModel(model_version=BASELINE_VERSION, baseline=True)


def serving_model_of(latest: LatestModel | None) -> ServingModel:
    """What latest.json says is served; the baseline when nothing was promoted yet."""
    if latest is None:
        return BASELINE
    promotion = latest.model_dump(include={"ensemble_auc", "promoted_at", "reason", "previous_model_version"})
    return ServingModel(model_version=latest.model_version, training_id=latest.training_id, baseline=False, **promotion)


class Promoter:
    """Promotions of one data root; the lock keeps latest.json and previous_model_version consistent."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.jobs = JobStore(root)
        self._lock = threading.Lock()

    def current(self) -> ServingModel:
        try:
            return serving_model_of(read_latest(self.root))
        except (ArtifactError, ValidationError, OSError) as exc:  # ValidationError: a hand-edited reason/AUC
            raise latest_unavailable(exc) from exc

    def promote(self, request: PromotionRequest) -> ServingModel:
        with self._lock:
            job = self._succeeded_job(request.training_id)
            try:
                latest = read_latest(self.root)
            except (ArtifactError, OSError) as exc:  # promoting is how a broken latest.json gets repaired
                log.warning("replacing an unreadable models/latest.json: %s", exc)
                latest = None
            # promoted_at is None in a latest.json written by training before promotions existed: promote it
            # properly so it gets its promotion.json.
            if latest is not None and latest.model_version == job.model_version and latest.promoted_at is not None:
                return serving_model_of(latest)  # already served: idempotent, nothing rewritten
            model = self._promotable_model(job)
            assert job.metrics is not None  # checked by _promotable_model
            record = ServingModel(
                model_version=model.model_version,
                training_id=model.training_id,
                baseline=False,
                ensemble_auc=job.metrics.ensemble_auc,
                promoted_at=utcnow(),
                reason=request.reason,
                previous_model_version=latest.model_version if latest else None,
            )
            write_promotion(self.root, record)  # first: prediction may serve a pin once latest.json names it
            write_latest(self.root, latest_pointer_for(model, record))
        log.info("promoted %s (previously %s)", record.model_version, record.previous_model_version or "baseline")
        return record

    def _succeeded_job(self, training_id: str) -> TrainingJob:
        job = self.jobs.read(training_id)
        if job is None:
            raise NotFound(f"No training job '{training_id}'.", code="job_not_found", details={"job_id": training_id})
        if job.status is not JobStatus.succeeded:
            raise Conflict(
                f"Training job '{training_id}' is {job.status.value}; only a succeeded training can be promoted.",
                code="job_not_succeeded",
                details={"training_id": training_id, "status": job.status.value},
            )
        return job

    def _promotable_model(self, job: TrainingJob) -> WeightedEnsemble:
        """The job's model, loaded to prove prediction can serve it; 409 when its artifacts are unusable."""
        try:
            if job.metrics is None:
                raise ArtifactError("the job record has no metrics")
            model = load_artifact(artifact_path(self.root, job.training_id))
        except (ArtifactError, FileNotFoundError) as exc:
            problem = "model.joblib is missing" if isinstance(exc, FileNotFoundError) else str(exc)
            raise self._unusable(job, problem) from exc
        if model.model_version != job.model_version:  # retrained meanwhile
            raise self._unusable(job, f"model.joblib holds {model.model_version}, the job {job.model_version}")
        return model

    @staticmethod
    def _unusable(job: TrainingJob, problem: str) -> Conflict:
        return Conflict(
            f"Training '{job.training_id}' cannot be promoted: {problem}. Retrain it (force=true), then promote.",
            code="model_artifacts_unusable",
            details={"training_id": job.training_id, "problem": problem},
        )
