"""What one training request may cost: jobs queued or running at once, and the size of its dataset.

A request is refused before anything is read into memory or queued: 429 `too_many_jobs` (with Retry-After)
when HSS_TRAINING_MAX_QUEUED_JOBS jobs are already queued or running, 413 `dataset_too_large` when the
dataset's size (stat) exceeds HSS_TRAINING_MAX_DATASET_BYTES or its rows, counted while streaming the file
in constant memory, exceed HSS_TRAINING_MAX_DATASET_ROWS. The worker process enforces both dataset limits
again while it reads (the file may grow after the request was accepted): the job then fails saying so.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from services.common.errors import PayloadTooLarge, TooManyRequests
from services.ml_training.ensemble import DatasetError

RETRY_AFTER_S = 30  # a training takes seconds to minutes; the Airflow operators honour Retry-After up to 60 s
DATASET_TOO_LARGE = "dataset_too_large"


@dataclass(frozen=True)
class DatasetLimits:
    max_bytes: int
    max_rows: int


def too_many_jobs(active: int, limit: int) -> TooManyRequests:
    return TooManyRequests(
        f"{active} training jobs are already queued or running (HSS_TRAINING_MAX_QUEUED_JOBS={limit}); "
        f"retry in {RETRY_AFTER_S} s.",
        code="too_many_jobs",
        retry_after_s=RETRY_AFTER_S,
        details={"active_jobs": active, "max_queued_jobs": limit},
    )


def dataset_too_large(rel: str, problem: str, limits: DatasetLimits) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"Dataset '{rel}' is too large to train on: {problem}. Split or sample it, or raise the limit.",
        code=DATASET_TOO_LARGE,
        details={"path": rel, "max_bytes": limits.max_bytes, "max_rows": limits.max_rows},
    )


def count_rows(path: Path, stop_after: int) -> int:
    """Data rows of a CSV (non-empty records after the header), counted up to `stop_after`, streaming.

    CSV records, not lines: a quoted newline inside a field (lyrics) does not start a row. A file the csv
    module cannot follow (a NUL byte, a giant field) is counted up to there; the job reports what is wrong."""
    rows = -1  # the header
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        try:
            for record in csv.reader(fh):
                if record:
                    rows += 1
                    if rows >= stop_after:
                        break
        except csv.Error:
            pass
    return max(rows, 0)


def check_dataset(path: Path, rel: str, limits: DatasetLimits) -> None:
    """413 `dataset_too_large` before the dataset is read into memory: its size first, then its rows."""
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise dataset_too_large(rel, f"{size} bytes, over HSS_TRAINING_MAX_DATASET_BYTES={limits.max_bytes}", limits)
    if count_rows(path, stop_after=limits.max_rows + 1) > limits.max_rows:
        raise dataset_too_large(rel, f"more than HSS_TRAINING_MAX_DATASET_ROWS={limits.max_rows} rows", limits)


def read_bounded(path: Path, limits: DatasetLimits) -> bytes:
    """The dataset's bytes for the worker; DatasetError when it grew past max_bytes since it was accepted."""
    with path.open("rb") as fh:
        data = fh.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise DatasetError(f"the dataset is larger than HSS_TRAINING_MAX_DATASET_BYTES={limits.max_bytes} bytes")
    return data
