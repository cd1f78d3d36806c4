"""Model promotion: which trained model workflow-ml-prediction serves (POST /models/promote, GET /models/current).

Training only produces models under models/<training_id>/; promote() makes one the served model. It writes
models/<training_id>/promotion.json (the record: prediction serves a pinned version only when it has one)
and THEN models/latest.json (the pointer prediction follows by default), each atomically. A crash between
the two leaves the old model served; promoting again finishes the job.

A promotion never unpickles an unverified file: the artifact is read from models/<training_id>/ of the
requested training_id only, its signature must verify with HSS_MODEL_SIGNING_KEY and name the job's
model_version (409 `model_signature_invalid` otherwise) before the verified bytes are loaded to prove the
model is servable. That check runs on every promotion, also when the model is already the current one.
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
    artifact_name,
    latest_pointer_for,
    latest_unavailable,
    read_latest,
    write_latest,
    write_promotion,
)
from services.common.model_signing import UntrustedArtifact, VerifiedArtifact, read_verified, unpickle_verified
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

    def __init__(self, root: Path, *, signing_key: bytes) -> None:
        self.root = root
        self.jobs = JobStore(root)
        self._key = signing_key
        self._lock = threading.Lock()

    def current(self) -> ServingModel:
        """What latest.json names (nothing is loaded); 503 when it is unreadable or names a foreign artifact path."""
        try:
            latest = read_latest(self.root)
            if latest is not None and latest.artifact != artifact_name(latest.training_id):
                raise ArtifactError(
                    f"it names the artifact {latest.artifact!r}, not {artifact_name(latest.training_id)!r}"
                )
            return serving_model_of(latest)
        except (ArtifactError, ValidationError, OSError) as exc:  # ValidationError: a hand-edited reason/AUC
            raise latest_unavailable(exc) from exc

    def promote(self, request: PromotionRequest) -> ServingModel:
        with self._lock:
            job = self._succeeded_job(request.training_id)
            verified = self._verified_artifact(job)  # before anything else, also for the idempotent answer
            try:
                latest = read_latest(self.root)
            except (ArtifactError, OSError) as exc:  # promoting is how a broken latest.json gets repaired
                log.warning("replacing an unreadable models/latest.json: %s", exc)
                latest = None
            # promoted_at is None in a latest.json written by training before promotions existed: promote it
            # properly so it gets its promotion.json. A latest.json naming another artifact is rewritten too.
            if self._already_current(latest, job):
                return serving_model_of(latest)  # already served: idempotent, nothing rewritten
            model = self._promotable_model(job, verified)
            assert job.metrics is not None  # checked by _verified_artifact
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

    @staticmethod
    def _already_current(latest: LatestModel | None, job: TrainingJob) -> bool:
        return (
            latest is not None
            and latest.promoted_at is not None
            and (latest.training_id, latest.model_version) == (job.training_id, job.model_version)
            and latest.artifact == artifact_name(job.training_id)
        )

    def _succeeded_job(self, training_id: str) -> TrainingJob:
        job = self.jobs.read(training_id)
        if job is None:
            raise NotFound(f"No training job '{training_id}'.", code="job_not_found", details={"job_id": training_id})
        if job.training_id != training_id:  # a hand-made job.json: the artifact path comes from the request only
            raise self._unusable(job, f"its job record names training '{job.training_id}'", training_id=training_id)
        if job.status is not JobStatus.succeeded:
            raise Conflict(
                f"Training job '{training_id}' is {job.status.value}; only a succeeded training can be promoted.",
                code="job_not_succeeded",
                details={"training_id": training_id, "status": job.status.value},
            )
        return job

    def _verified_artifact(self, job: TrainingJob) -> VerifiedArtifact:
        """The job's model.joblib, read once and verified (signature, version); 409 when it is not usable."""
        try:
            if job.metrics is None:
                raise ArtifactError("the job record has no metrics")
            verified = read_verified(self.root, job.training_id, self._key)
        except UntrustedArtifact as exc:
            log.error("refused to promote %s: %s", job.training_id, exc.problem)
            raise Conflict(
                f"Training '{job.training_id}' cannot be promoted: {exc}",
                code="model_signature_invalid",
                details={"training_id": job.training_id, "problem": exc.problem},
            ) from exc
        except (ArtifactError, OSError) as exc:
            problem = "model.joblib is missing" if isinstance(exc, FileNotFoundError) else str(exc)
            raise self._unusable(job, problem) from exc
        if verified.model_version != job.model_version:  # retrained meanwhile
            raise self._unusable(job, f"model.joblib holds {verified.model_version}, the job {job.model_version}")
        return verified

    def _promotable_model(self, job: TrainingJob, verified: VerifiedArtifact) -> WeightedEnsemble:
        """The verified model, loaded to prove prediction can serve it; 409 when it does not load."""
        try:
            return unpickle_verified(verified)
        except ArtifactError as exc:
            raise self._unusable(job, str(exc)) from exc

    @staticmethod
    def _unusable(job: TrainingJob, problem: str, *, training_id: str | None = None) -> Conflict:
        training_id = training_id or job.training_id
        return Conflict(
            f"Training '{training_id}' cannot be promoted: {problem}. Retrain it (force=true), then promote.",
            code="model_artifacts_unusable",
            details={"training_id": training_id, "problem": problem},
        )
