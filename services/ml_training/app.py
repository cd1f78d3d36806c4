"""workflow-ml-training routes. Logic lives in ensemble.py (training), jobs.py (job store, worker pool) and
promotion.py (which model prediction serves)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, FastAPI, Path, Request

from contracts.catalog import MODEL_CURRENT, MODEL_PROMOTE, TRAINING_JOB, TRAINING_START
from contracts.common import IDENTIFIER_PATTERN
from contracts.data_layout import DataLayout
from contracts.training import PromotionRequest, ServingModel, TrainingAccepted, TrainingJob, TrainingRequest
from services.common.app_factory import create_app, error_responses, lazy_app, link_to, settings_of
from services.common.errors import NotFound, Unprocessable
from services.common.model_signing import signing_key
from services.common.paths import relative_to_root, resolve_data_path
from services.ml_training.jobs import JobManager
from services.ml_training.limits import DatasetLimits, check_dataset
from services.ml_training.metrics import TrainingJobsCollector
from services.ml_training.promotion import Promoter
from services.ml_training.settings import TrainingSettings

SERVICE_NAME = "workflow-ml-training"
VERSION = "0.1.0"

router = APIRouter(tags=["training"])


def _manager(request: Request) -> JobManager:
    return request.app.state.jobs


def _promoter(request: Request) -> Promoter:
    return request.app.state.promoter


@router.post(
    TRAINING_START.path,
    status_code=TRAINING_START.status,
    response_model=TRAINING_START.response,
    summary="Start training the smart ensemble",
    description=(
        "Accepts at once (202) and trains in a worker process; poll `GET /train/jobs/{job_id}`. Only the path and "
        "size are checked here (inside the data root, exists, `.csv`, within the caps below); a dataset whose "
        "content is wrong ends as a `failed` job whose `error` says what to fix. `job_id` is the `training_id`: "
        "resubmitting a queued, running or succeeded training returns that job (`existing: true`) unless `force` "
        "is set; a failed one is restarted. A succeeded model is not served until it is promoted "
        "(`POST /models/promote`). Bounded: at most HSS_TRAINING_MAX_QUEUED_JOBS jobs queued or running (429 "
        "`too_many_jobs` with Retry-After beyond), and a dataset of at most HSS_TRAINING_MAX_DATASET_BYTES and "
        "HSS_TRAINING_MAX_DATASET_ROWS rows (413 `dataset_too_large`, decided from its size and a streaming row "
        "count before it is read into memory)."
    ),
    responses={
        TRAINING_START.status: {
            "links": {
                "GetTrainingJob": link_to(TRAINING_JOB, "Poll the job.", job_id="$response.body#/job_id"),
                "PromoteTraining": link_to(
                    MODEL_PROMOTE, "Promote the training once it succeeded.", training_id="$response.body#/training_id"
                ),
            }
        },
        **error_responses(
            {
                403: "`path_outside_data_root`: dataset_path leaves the data root.",
                404: "`file_not_found`: no file at dataset_path.",
                409: "`job_active`: force=true while that training is still queued or running.",
                413: "`dataset_too_large`: the dataset exceeds HSS_TRAINING_MAX_DATASET_BYTES or has more than "
                "HSS_TRAINING_MAX_DATASET_ROWS rows; `payload_too_large`: the request body exceeds "
                "HSS_MAX_BODY_BYTES.",
                422: "`validation_error` (the request does not match the schema), `not_a_csv` (dataset_path is not "
                "a .csv), `not_a_file` (a directory, ...) or `invalid_path` (empty, a NUL byte, a name the "
                "filesystem refuses).",
                429: "`too_many_jobs`: HSS_TRAINING_MAX_QUEUED_JOBS trainings are already queued or running; "
                "nothing was queued. Retry after the `Retry-After` header's seconds.",
                503: "`training_unavailable`: the worker pool is not running (service starting or stopping).",
            }
        ),
    },
)
def start_training(body: TrainingRequest, request: Request) -> TrainingAccepted:
    root = settings_of(request.app).resolved_data_root()
    dataset = resolve_data_path(body.dataset_path, root, kind="dataset")  # OSError mapped there too
    if dataset.suffix.lower() != ".csv":
        raise Unprocessable(
            f"Dataset '{body.dataset_path}' is not a .csv file; training reads a features CSV.",
            code="not_a_csv",
            details={"path": body.dataset_path},
        )
    manager = _manager(request)
    if manager.limits is not None:
        check_dataset(dataset, body.dataset_path, manager.limits)
    return manager.submit(body, dataset, relative_to_root(dataset, root))


@router.get(
    TRAINING_JOB.path,
    response_model=TRAINING_JOB.response,
    summary="A training job's status, progress and metrics",
    description=(
        "`status` is queued, running, succeeded or failed; `progress` grows monotonically from 0 to 1 and `stage` "
        "says what the job is doing. When it succeeded: `metrics` (per model and ensemble) and `model_version`; "
        "when it failed: `error`. Finished jobs survive a service restart; a job that was running when the "
        "service stopped is reported failed (resubmit it)."
    ),
    responses={
        200: {
            "links": {
                "PromoteTraining": link_to(
                    MODEL_PROMOTE, "Promote the training once it succeeded.", training_id="$response.body#/training_id"
                ),
                "ResubmitTraining": link_to(
                    TRAINING_START,
                    "Submit the same training again: the existing job answers unless it failed.",
                    training_id="$response.body#/training_id",
                    dataset_path="$response.body#/dataset_path",
                ),
            }
        },
        **error_responses({404: "`job_not_found`: no such job."}),
    },
)
def get_job(
    job_id: Annotated[str, Path(pattern=IDENTIFIER_PATTERN, max_length=128, description="The training_id.")],
    request: Request,
) -> TrainingJob:
    job = _manager(request).get(job_id)
    if job is None:
        raise NotFound(f"No training job '{job_id}'.", code="job_not_found", details={"job_id": job_id})
    return job


@router.post(
    MODEL_PROMOTE.path,
    response_model=MODEL_PROMOTE.response,
    summary="Promote a succeeded training: workflow-ml-prediction serves its model from now on",
    description=(
        "Verifies the signature of the training's model (HSS_MODEL_SIGNING_KEY), loads the verified bytes to check "
        "it is servable, then writes `models/<training_id>/promotion.json` "
        "(this record) and `models/latest.json`, which workflow-ml-prediction serves by default; a pinned "
        "`model_version` is served only when it is or was promoted. `previous_model_version` is what was served "
        "before. Promoting the current model again returns its record unchanged; promoting an older one "
        "(rollback) is a new promotion. Promotions are serialised. An unreadable latest.json is replaced "
        "(`previous_model_version` is then null)."
    ),
    responses={
        200: {
            "links": {
                "GetServingModel": link_to(MODEL_CURRENT, "What prediction serves now."),
                "GetPromotedJob": link_to(
                    TRAINING_JOB, "The training job of the promoted model.", job_id="$response.body#/training_id"
                ),
            }
        },
        **error_responses(
            {
                404: "`job_not_found`: no such training job.",
                409: "`job_not_succeeded` (the job is queued, running or failed; details.status), "
                "`model_artifacts_unusable` (its model.joblib or metrics are missing or unreadable: retrain with "
                "force=true), or `model_signature_invalid` (its model.joblib is not signed by this deployment's "
                "HSS_MODEL_SIGNING_KEY: written before models were signed, with another key, or changed since; "
                "it is never unpickled: retrain with force=true, then promote).",
                422: "`validation_error`: the request does not match the schema (e.g. training_id not an identifier).",
            }
        ),
    },
)
def promote_model(body: PromotionRequest, request: Request) -> ServingModel:
    return _promoter(request).promote(body)


@router.get(
    MODEL_CURRENT.path,
    response_model=MODEL_CURRENT.response,
    summary="The model workflow-ml-prediction serves by default",
    description=(
        "The last promotion, as `models/latest.json` records it. Before any promotion: the built-in baseline "
        "(`baseline: true`, `model_version` `baseline-v1`, no `training_id` or `ensemble_auc`). Nothing is loaded."
    ),
    responses=error_responses(
        {
            503: "`model_unavailable`: models/latest.json cannot be read, or names an artifact other than "
            "models/<training_id>/model.joblib; promote a model to replace it."
        }
    ),
)
def current_model(request: Request) -> ServingModel:
    return _promoter(request).current()


def build_app(settings: TrainingSettings | None = None) -> FastAPI:
    settings = settings or TrainingSettings()
    key = signing_key(settings)  # no key, no start: it signs every model and verifies it before a promotion
    root: FilePath = settings.resolved_data_root()

    # Reading jobs needs only the files; the worker pool runs between startup and shutdown.
    manager = JobManager(
        root,
        signing_key=key,
        workers=settings.training_workers,
        start_method=settings.training_start_method,
        max_active_jobs=settings.training_max_queued_jobs,
        limits=DatasetLimits(settings.training_max_dataset_bytes, settings.training_max_dataset_rows),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        manager.start()
        try:
            yield
        finally:
            manager.stop()

    def ready_checks(_app: FastAPI) -> dict[str, bool]:
        models = DataLayout(root).models
        return {
            "worker_pool": manager.alive,
            "models_dir_writable": models.is_dir() and os.access(models, os.W_OK),
        }

    app = create_app(
        name=SERVICE_NAME,
        version=VERSION,
        description=(
            "Trains the smart ensemble (five scikit-learn models, weighted by cross-validated AUC) on a features "
            "CSV from the data root, in a worker process. A trained model is served by workflow-ml-prediction only "
            "once it is promoted (`POST /models/promote`)."
        ),
        routers=[router],
        settings=settings,
        ready_checks=ready_checks,
        lifespan=lifespan,
    )
    app.state.jobs = manager
    app.state.metrics_registry.register(TrainingJobsCollector(manager.store))  # hss_training_jobs at /metrics
    app.state.promoter = Promoter(root, signing_key=key)
    return app


# `app` (uvicorn's services.ml_training.app:app) is built on first access: a start without HSS_API_KEY fails there.
__getattr__ = lazy_app(build_app)
