"""Training jobs: the on-disk job store, the worker-process runner and the manager the routes talk to.

State lives in files only (models/<training_id>/job.json, written atomically), so a finished job
survives a restart and the worker process can report progress without talking to the service.
The idempotency key is the training_id: job_id == training_id.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from pydantic import ValidationError

from contracts.training import JobStatus, TrainingAccepted, TrainingJob, TrainingRequest
from services.common.errors import Conflict, Unavailable
from services.common.model_artifacts import JOB_FILE, job_path, metrics_path, models_dir
from services.common.model_signing import save_signed_artifact
from services.common.paths import atomic_write_text
from services.ml_training.ensemble import (
    DatasetError,
    TrainingConfig,
    compute_model_version,
    parse_dataset,
    train_smart_ensemble,
)
from services.ml_training.limits import DatasetLimits, read_bounded, too_many_jobs

log = logging.getLogger("hss.ml_training")

RESTART_ERROR = "the service restarted while the job was running; resubmit the training request"
STOP_ERROR = "the service stopped while the job was running; resubmit the training request"


def utcnow() -> datetime:
    return datetime.now(UTC)


class JobStore:
    """job.json files under models/<training_id>/; every write atomic (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, job_id: str) -> TrainingJob | None:
        path = job_path(self.root, job_id)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return TrainingJob.model_validate_json(text)
        except ValidationError as exc:  # never written by us (writes are atomic): report, do not crash
            log.error("unreadable %s: %s", path, exc)
            return TrainingJob(
                job_id=job_id,
                training_id=job_id,
                dataset_path="",
                status=JobStatus.failed,
                progress=0.0,
                stage="failed",
                error=f"the job record {JOB_FILE} is unreadable; resubmit the training request",
                retryable=True,
                created_at=utcnow(),
            )

    def write(self, job: TrainingJob) -> None:
        atomic_write_text(job_path(self.root, job.job_id), job.model_dump_json(indent=2))

    def fail(self, job: TrainingJob, error: str, *, retryable: bool = False) -> TrainingJob:
        failed = job.model_copy(
            update={
                "status": JobStatus.failed,
                "error": error,
                "retryable": retryable,
                "stage": "failed",
                "finished_at": utcnow(),
            }
        )
        self.write(failed)
        return failed

    def _job_files(self) -> list[Path]:
        return sorted(models_dir(self.root).glob(f"*/{JOB_FILE}"))

    def count_by_status(self) -> dict[JobStatus, int]:
        """Job records per status, every status present, as GET /train/jobs/{job_id} reports them: read now
        (the worker process writes them), one small file per training."""
        counts = dict.fromkeys(JobStatus, 0)
        for path in self._job_files():
            try:
                status = TrainingJob.model_validate_json(path.read_text(encoding="utf-8")).status
            except FileNotFoundError:
                continue  # removed since the listing
            except (OSError, ValueError):  # unreadable: read() reports it failed (and logs it; not per scrape)
                status = JobStatus.failed
            counts[status] += 1
        return counts

    def fail_unfinished(self, reason: str) -> list[str]:
        """Mark every queued/running job failed (their process is gone). Returns their ids."""
        failed = []
        for path in self._job_files():
            job = self.read(path.parent.name)
            if job is not None and not job.status.finished:
                self.fail(job, reason, retryable=True)  # the process died, not the request
                failed.append(job.job_id)
        return failed


class _ProgressWriter:
    """Rewrites job.json when the stage changes or progress moves; progress never goes backwards."""

    def __init__(self, store: JobStore, job: TrainingJob) -> None:
        self.store = store
        self.job = job

    def __call__(self, fraction: float, stage: str) -> None:
        progress = round(min(1.0, max(self.job.progress, fraction)), 4)
        if stage == self.job.stage and progress - self.job.progress < 0.01:
            return
        self.job = self.job.model_copy(update={"progress": progress, "stage": stage})
        self.store.write(self.job)


def run_training_job(
    data_root: str,
    training_id: str,
    dataset_file: str,
    config: dict,
    *,
    signing_key: bytes,
    limits: DatasetLimits | None = None,
) -> str:
    """Executed in the worker process: train, save the signed artifact and metrics.json, record the outcome in
    job.json. `signing_key` (HSS_MODEL_SIGNING_KEY) signs model.joblib; `limits` bound what is read.

    It does not publish: prediction serves the model only once it is promoted (promotion.py).
    """
    root = Path(data_root)
    store = JobStore(root)
    job = store.read(training_id)
    if job is None or job.status is not JobStatus.queued:
        return "skipped"  # rewritten meanwhile (service stopped, forced resubmit): not ours to run
    job = job.model_copy(update={"status": JobStatus.running, "started_at": utcnow(), "stage": "starting"})
    store.write(job)
    progress = _ProgressWriter(store, job)
    try:
        cfg = TrainingConfig(**config)
        progress(0.01, "reading the dataset")
        try:
            data = read_bounded(Path(dataset_file), limits) if limits else Path(dataset_file).read_bytes()
        except FileNotFoundError:
            store.fail(progress.job, f"the dataset {job.dataset_path} disappeared before training read it")
            return "failed"
        dataset = parse_dataset(data, cfg.cv_folds, max_rows=limits.max_rows if limits else None)
        version = compute_model_version(training_id, data, cfg)
        outcome = train_smart_ensemble(dataset, cfg, training_id=training_id, model_version=version, progress=progress)
        progress(0.97, "saving the model")
        save_signed_artifact(root, outcome.model, signing_key)
        record = {
            "training_id": training_id,
            "model_version": version,
            "dataset_path": job.dataset_path,
            "config": cfg.as_dict(),
            "feature_names": outcome.model.feature_names,
            "metrics": outcome.metrics.model_dump(mode="json"),
        }
        # model.joblib and metrics.json before "succeeded": whoever sees the job succeed can promote it at once.
        atomic_write_text(metrics_path(root, training_id), json.dumps(record, indent=2))
        store.write(
            progress.job.model_copy(
                update={
                    "status": JobStatus.succeeded,
                    "progress": 1.0,
                    "stage": "succeeded (see metrics.notes)" if outcome.metrics.notes else "succeeded",
                    "metrics": outcome.metrics,
                    "model_version": version,
                    "finished_at": utcnow(),
                }
            )
        )
        return "succeeded"
    except DatasetError as exc:
        store.fail(progress.job, f"invalid dataset {job.dataset_path}: {exc}")
    except Exception as exc:  # a bug or resource problem: the job still ends, with the reason
        log.exception("training %s failed", training_id)
        store.fail(progress.job, f"training failed: {type(exc).__name__}: {exc}")
    return "failed"


def _warm_up() -> None:
    """Runs once in each fresh worker so the first real job does not pay for the imports."""


class JobManager:
    """Owns the process pool; the routes call submit() and get()."""

    def __init__(
        self,
        root: Path,
        *,
        signing_key: bytes,
        workers: int = 1,
        start_method: str = "forkserver",
        max_active_jobs: int = 4,
        limits: DatasetLimits | None = None,
    ) -> None:
        self.root = root
        self.store = JobStore(root)
        self.workers = workers
        self.start_method = start_method
        self.max_active_jobs = max_active_jobs  # queued + running; more is 429 too_many_jobs
        self.limits = limits
        self._signing_key = signing_key
        self._executor: ProcessPoolExecutor | None = None
        self._futures: dict[str, Future] = {}
        self._lock = threading.Lock()
        self._stopping = False

    # lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        models_dir(self.root).mkdir(parents=True, exist_ok=True)
        interrupted = self.store.fail_unfinished(RESTART_ERROR)
        if interrupted:
            log.warning("marked %d interrupted job(s) failed: %s", len(interrupted), ", ".join(interrupted))
        self._stopping = False
        self._executor = self._new_executor()
        self._executor.submit(_warm_up)

    def stop(self) -> None:
        """Cancel queued jobs, end running ones (their job.json says why), free the pool."""
        self._stopping = True
        executor, self._executor = self._executor, None
        if executor is None:
            return
        # Terminate the workers first (a running training cannot be interrupted any other way); the pool then
        # breaks, fails its pending futures and its manager thread ends, which shutdown(wait=True) joins.
        for process in list(getattr(executor, "_processes", {}).values()):
            if process.is_alive():
                process.terminate()
        executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            for job_id in list(self._futures):
                self._fail_if_unfinished(job_id, STOP_ERROR)

    @property
    def alive(self) -> bool:
        return self._executor is not None and not self._stopping

    def _new_executor(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context(self.start_method)
        if self.start_method == "forkserver":
            context.set_forkserver_preload(["services.ml_training.jobs"])
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=context)

    # requests ----------------------------------------------------------------------------------
    def get(self, job_id: str) -> TrainingJob | None:
        return self.store.read(job_id)

    def submit(self, request: TrainingRequest, dataset_file: Path, dataset_rel: str) -> TrainingAccepted:
        job_id = request.training_id
        with self._lock:
            if not self.alive:
                raise Unavailable(
                    "The training worker pool is not running (service starting or stopping); retry shortly.",
                    code="training_unavailable",
                )
            existing = self.store.read(job_id)
            if existing is not None and existing.status is not JobStatus.failed:
                if not request.force:
                    return TrainingAccepted(job_id=job_id, training_id=job_id, status=existing.status, existing=True)
                if not existing.status.finished:
                    raise Conflict(
                        f"Training job '{job_id}' is {existing.status.value}; wait for it to finish before forcing "
                        "a retrain.",
                        code="job_active",
                        details={"job_id": job_id, "status": existing.status.value},
                    )
            if len(self._futures) >= self.max_active_jobs:  # each unfinished job of this process has a future
                raise too_many_jobs(len(self._futures), self.max_active_jobs)
            job = TrainingJob(
                job_id=job_id,
                training_id=job_id,
                dataset_path=dataset_rel,
                status=JobStatus.queued,
                progress=0.0,
                stage="queued",
                created_at=utcnow(),
            )
            self.store.write(job)
            config = {
                "cv_folds": request.cv_folds,
                "auc_floor": request.auc_floor,
                "random_state": request.random_state,
            }
            future = self._submit(str(self.root), job_id, str(dataset_file), config)
            self._futures[job_id] = future
        future.add_done_callback(partial(self._on_done, job_id))
        return TrainingAccepted(job_id=job_id, training_id=job_id, status=JobStatus.queued, existing=False)

    def _submit(self, *args: object) -> Future:
        assert self._executor is not None
        kwargs = {"signing_key": self._signing_key, "limits": self.limits}
        try:
            return self._executor.submit(run_training_job, *args, **kwargs)
        except BrokenProcessPool:  # a worker died (e.g. killed for memory): start a fresh pool
            log.warning("training pool was broken; starting a new one")
            self._executor = self._new_executor()
            return self._executor.submit(run_training_job, *args, **kwargs)

    def _on_done(self, job_id: str, future: Future) -> None:
        # A job that ends without writing its outcome (worker killed, pool broken, cancelled) must not stay
        # 'running' forever.
        error = None
        if future.cancelled():
            error = STOP_ERROR
        elif future.exception() is not None:
            exc = future.exception()
            error = STOP_ERROR if self._stopping else f"the training process ended unexpectedly ({exc}); resubmit"
        with self._lock:
            if self._futures.get(job_id) is not future:
                return  # a newer run of this training_id owns job.json now
            del self._futures[job_id]
            if error is not None:
                self._fail_if_unfinished(job_id, error)

    def _fail_if_unfinished(self, job_id: str, error: str) -> None:
        job = self.store.read(job_id)
        if job is not None and not job.status.finished:
            self.store.fail(job, error, retryable=True)
