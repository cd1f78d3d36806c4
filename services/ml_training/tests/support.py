"""Really trained models for the tests of workflow-ml-training (and -prediction, which reads them): the
service's own job runner (the code its worker process runs), in-process, signed with the tests' signing key."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from contracts.training import JobStatus, TrainingJob
from fixtures.datasets import make_features_dataset
from services.conftest import TEST_SIGNING_KEY
from services.ml_training.jobs import JobStore, run_training_job

TEST_TRAINING_CONFIG = {"cv_folds": 3, "auc_floor": 0.55, "random_state": 42}


def train_in_process(root: Path, training_id: str, *, seed: int = 7, n_rows: int = 80) -> str:
    """Train models/<training_id>/ under root without the HTTP layer or a worker process; return the model_version."""
    dataset = make_features_dataset(root / "training_data" / f"{training_id}.csv", n_rows=n_rows, seed=seed)
    store = JobStore(root)
    store.write(
        TrainingJob(
            job_id=training_id,
            training_id=training_id,
            dataset_path=f"training_data/{training_id}.csv",
            status=JobStatus.queued,
            progress=0.0,
            created_at=datetime.now(UTC),
        )
    )
    signing_key = TEST_SIGNING_KEY.encode()
    outcome = run_training_job(str(root), training_id, str(dataset), TEST_TRAINING_CONFIG, signing_key=signing_key)
    job = store.read(training_id)
    assert outcome == "succeeded" and job is not None and job.model_version, job
    return job.model_version
