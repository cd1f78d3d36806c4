"""workflow-ml-training: POST /train/smart_ensemble (202 + job id), GET /train/jobs/{job_id}, and the model
promotion: POST /models/promote, GET /models/current."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from contracts.common import IDENTIFIER_PATTERN, Contract, DataPath, Probability, StrictContract

# A training dataset CSV: the label column, and the identifier/text columns that are never features.
LABEL = "is_hit"
ID_COLUMNS = ("song_id", "song_path", "lyrics")


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.succeeded, JobStatus.failed)


class TrainingRequest(StrictContract):
    training_id: str = Field(
        pattern=IDENTIFIER_PATTERN,
        description="Names the model: artifacts go to models/<training_id>/. Also the idempotency key.",
        examples=["airflow_smart_training_1"],
    )
    dataset_path: DataPath = Field(
        description="Features CSV (one column per feature + is_hit 0/1), relative to the data root.",
        examples=["training_data/features/demo_features.csv"],
    )
    cv_folds: int = Field(default=5, ge=2, le=10, description="Stratified cross-validation folds.")
    auc_floor: float = Field(
        default=0.55, ge=0.5, le=0.95, description="Models whose validation AUC is below this are dropped."
    )
    random_state: int = Field(default=42, ge=0, le=2**31 - 1, description="Seed: same data + seed = same model.")
    force: bool = Field(
        default=False,
        description=(
            "Retrain even when a job for this training_id is active or succeeded. Without it, resubmitting "
            "returns the existing job (safe for retries)."
        ),
    )


class TrainingAccepted(Contract):
    job_id: str = Field(description="Poll GET /train/jobs/{job_id}.")
    training_id: str
    status: JobStatus
    existing: bool = Field(default=False, description="True when an existing job was returned (idempotent resubmit).")


class ModelMetrics(Contract):
    name: str = Field(examples=["random_forest"])
    auc: Probability = Field(description="Mean cross-validated ROC AUC.")
    auc_std: float = Field(ge=0, allow_inf_nan=False)
    accuracy: Probability
    f1: Probability
    weight: float = Field(ge=0, le=1, allow_inf_nan=False, description="Share in the ensemble (0 = dropped).")
    included: bool = Field(description="False when the AUC is below the floor.")


class TrainingMetrics(Contract):
    models: list[ModelMetrics] = Field(description="One entry per candidate model (five).")
    ensemble_auc: Probability = Field(description="Cross-validated AUC of the weighted ensemble.")
    ensemble_accuracy: Probability
    ensemble_f1: Probability
    n_rows: int = Field(ge=0)
    n_features: int = Field(ge=0)
    positive_rate: Probability
    feature_importances: dict[str, float] = Field(
        default_factory=dict, description="Top features by permutation importance of the ensemble."
    )
    notes: list[str] = Field(
        default_factory=list,
        description=(
            "What the training decided that a person should know: every model below the AUC floor (the best "
            "one kept anyway), columns left out (all empty, unnamed index columns)."
        ),
    )


class TrainingJob(Contract):
    job_id: str
    training_id: str
    dataset_path: str
    status: JobStatus
    progress: Probability = Field(description="0..1, monotonic.")
    stage: str = Field(default="", description="What the job is doing now, for people.")
    metrics: TrainingMetrics | None = None
    model_version: str | None = Field(default=None, description="Set when the job succeeded.")
    error: str | None = Field(default=None, description="Why the job failed, for people.")
    retryable: bool = Field(
        default=False,
        description=(
            "True when the failure was an accident of the service (restart, worker died), not of the request: "
            "resubmitting the same request may succeed. False for bad datasets and other request problems."
        ),
    )
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class PromotionRequest(StrictContract):
    training_id: str = Field(
        pattern=IDENTIFIER_PATTERN,
        description="The succeeded training whose model prediction serves from now on.",
        examples=["airflow_smart_training_1"],
    )
    reason: str = Field(
        default="",
        max_length=2000,
        description="Why it is promoted, kept with the record (the AUC comparison, who approved).",
    )


class ServingModel(Contract):
    """The model workflow-ml-prediction serves to requests that pin none."""

    model_version: str = Field(description="'<training_id>@<sha8>', or the baseline's version before any promotion.")
    training_id: str | None = Field(default=None, description="None for the baseline.")
    baseline: bool = Field(description="True when no model was promoted yet: the built-in baseline answers.")
    ensemble_auc: Probability | None = Field(
        default=None, description="Cross-validated AUC of the promoted ensemble (None for the baseline)."
    )
    promoted_at: datetime | None = None
    reason: str = Field(default="", description="The reason given at promotion.")
    previous_model_version: str | None = Field(
        default=None, description="What was served before this promotion (None: the baseline)."
    )
