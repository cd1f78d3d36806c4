"""Training-feature extraction (the training chain's validate_training_config and process_training_dataset):
a raw dataset CSV -> the features CSV the training service reads.

A raw dataset has `song_id`, `song_path`, `is_hit` (0/1), maybe `lyrics` and maybe precomputed feature
columns (every other column). Rows that carry features pass through; rows without any feature value are
extracted through workflow-audio (Essentia) and workflow-content (lyrics from the `lyrics` column, else the
sidecar `<song>.txt`, else instrumental). The result, `training_data/features/<training_id>.csv`, has one
column per feature plus `is_hit`, in the rows' original order, written atomically.

Batching and the request budget: the rows to extract are cut into batches of `batch_size`; each batch is
one mapped task. At most PARALLEL_BATCHES batches of a run execute at once (the mapped task's
max_active_tis_per_dagrun), so each batch may keep `max_concurrent_requests // running batches` requests in
flight and the run never exceeds `max_concurrent_requests`. When the budget is smaller than the number of
batches that would run at once, the rows are re-cut into that many batches (so a budget of 1 means one
batch, one request at a time). A song the audio or content service refuses (4xx) is dropped and reported;
the run fails only when more than MAX_DROPPED_SHARE of all rows are dropped.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contracts.catalog import AUDIO, AUDIO_ANALYZE, CONTENT, LYRICS_ANALYZE, Endpoint, ServiceSpec
from contracts.common import IDENTIFIER_PATTERN
from contracts.data_layout import FEATURE_PARTS, FEATURES
from contracts.training import ID_COLUMNS, LABEL
from hss_airflow import hooks
from hss_airflow.hooks import ServiceRejected
from hss_airflow.lyrics import read_sidecar_lyrics
from hss_airflow.settings import settings
from hss_airflow.storage import DataPathError, atomic_write_bytes, file_digest, relative_to_root, resolve_in_root

if TYPE_CHECKING:  # pandas is imported where it is used: every DAG-file parse imports this module
    import pandas as pd

log = logging.getLogger(__name__)

MAX_DROPPED_SHARE = 0.2
PARALLEL_BATCHES = 2  # max_active_tis_per_dagrun of the mapped extraction task (and hss_audio's slots)
_ID = re.compile(IDENTIFIER_PATTERN)


class DatasetError(ValueError):
    """The dataset or the training config cannot be used; the message says what to fix."""


class DatasetMissing(DatasetError):
    """No file at dataset_path (yet): `relative` to the data root and `absolute` name the file waited for."""

    def __init__(self, message: str, relative: str, absolute: Path) -> None:
        super().__init__(message)
        self.relative, self.absolute = relative, absolute


# kind -> (service, endpoint): the two calls that extract one row's features
SERVICES: dict[str, tuple[ServiceSpec, Endpoint]] = {
    "audio": (AUDIO, AUDIO_ANALYZE),
    "content": (CONTENT, LYRICS_ANALYZE),
}


def call_service(
    kind: str, payload: dict[str, Any], *, timeout: float = 300.0, attempts: int = 4, backoff: float = 1.0
) -> dict[str, Any]:
    """POST `payload` to the `kind` service ("audio" / "content") through the hook; the validated response.

    Called from worker threads (a fresh hook per call). A 4xx -> ServiceRejected (the row is dropped and
    reported); still transient after the retries -> ServiceUnavailable (the task fails, Airflow retries it).
    A 401 means the API key is wrong, not that the row is bad: ServiceUnavailable too, so no row is silently
    dropped for it. The timeout is longer than the operators': a batch queues many songs on workflow-audio's
    worker pool at once, and a request waits there for a free worker."""
    service, endpoint = SERVICES[kind]
    return hooks.call_service(
        service,
        endpoint,
        payload,
        timeout=timeout,
        attempts=attempts,
        backoff=backoff,
        logger=log,
        unauthorized_is_transient=True,
    )


def features_path_for(training_id: str) -> str:
    return f"{FEATURES}/{training_id}.csv"


def part_path_for(training_id: str, batch: int) -> str:
    return f"{FEATURE_PARTS}/{training_id}/batch_{batch:05d}.csv"


def _lines(rows: list[int], limit: int = 5) -> str:
    """CSV line numbers (header is line 1) of some rows, for messages."""
    shown = ", ".join(str(i + 2) for i in rows[:limit])
    return shown + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


def read_dataset(path: Path) -> pd.DataFrame:
    """The CSV as a DataFrame (identifier columns as text, '' when empty); DatasetError when unreadable."""
    with path.open("rb") as fh:
        head = fh.read(8192)
    if not head.strip():
        raise DatasetError(f"{path.name} is empty")
    if b"\x00" in head or head.startswith(b"\x89PNG"):
        raise DatasetError(f"{path.name} is not a text CSV file (it holds binary data)")
    import pandas as pd

    try:
        df = pd.read_csv(path, dtype={c: str for c in ID_COLUMNS})
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DatasetError(f"{path.name} is not a readable CSV: {exc}") from exc
    for column in ID_COLUMNS:
        if column in df.columns:
            df[column] = df[column].fillna("").astype(str).str.strip()
    return df


def feature_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c not in (*ID_COLUMNS, LABEL) and not str(c).startswith("Unnamed:")]


def rows_to_extract(df: pd.DataFrame) -> list[int]:
    """Positions of the rows that have no feature value at all (every row when there are no feature columns)."""
    columns = feature_columns(df)
    if not columns:
        return list(range(len(df)))
    return [int(i) for i in (df[columns].isna().all(axis=1)).to_numpy().nonzero()[0]]


def check_training_config(params: dict[str, Any], root: Path | None = None) -> dict[str, Any]:
    """validate_training_config: refuse a config that cannot train, with a message saying why."""
    root = root or settings().data_root
    training_id = str(params.get("training_id") or "")
    if not _ID.match(training_id):
        raise DatasetError(f"training_id {training_id!r} must match {IDENTIFIER_PATTERN}")
    raw = str(params.get("dataset_path") or "")
    try:
        path = resolve_in_root(raw, root)
    except DataPathError as exc:
        if exc.reason == DataPathError.MISSING:
            expected = resolve_in_root(raw, root, must_exist=False)
            raise DatasetMissing(f"dataset_path: {exc}", relative_to_root(expected, root), expected) from None
        raise DatasetError(f"dataset_path: {exc}") from None
    if path.suffix.lower() != ".csv":
        raise DatasetError(f"dataset_path '{raw}' is not a .csv file")
    batch_size, budget = int(params.get("batch_size") or 0), int(params.get("max_concurrent_requests") or 0)
    if not (1 <= batch_size <= 5000 and 1 <= budget <= 200):
        raise DatasetError(f"batch_size must be 1..5000 and max_concurrent_requests 1..200 ({batch_size}, {budget})")
    df = read_dataset(path)
    if LABEL not in df.columns:
        raise DatasetError(f"{raw} has no '{LABEL}' column (the 0/1 label); columns: {', '.join(df.columns[:12])}")
    if df.empty:
        raise DatasetError(f"{raw} has a header but no rows")
    import pandas as pd

    labels = pd.to_numeric(df[LABEL], errors="coerce")
    bad = [int(i) for i in (~labels.isin([0, 1])).to_numpy().nonzero()[0]]
    if bad:
        raise DatasetError(f"{raw}: '{LABEL}' must be 0 or 1; it is not on line(s) {_lines(bad)}")
    if labels.nunique() < 2:
        raise DatasetError(f"{raw}: every row has {LABEL}={int(labels.iloc[0])}; training needs hits and non-hits")
    todo = rows_to_extract(df)
    no_path = [i for i in todo if "song_path" not in df.columns or not df.at[i, "song_path"]]
    if no_path:
        raise DatasetError(f"{raw}: line(s) {_lines(no_path)} have neither feature values nor a song_path")
    return {
        "training_id": training_id,
        "dataset_path": relative_to_root(path, root),
        "dataset_sha256": file_digest(path),
        "features_path": features_path_for(training_id),
        "batch_size": batch_size,
        "max_concurrent_requests": budget,
        "rows": len(df),
        "rows_with_features": len(df) - len(todo),
        "rows_to_extract": len(todo),
    }


def plan_batches(
    rows: list[int], batch_size: int, max_concurrent_requests: int, parallel: int = PARALLEL_BATCHES
) -> list[dict[str, Any]]:
    """Cut `rows` into batches and give each its share of the request budget (see the module doc)."""
    if not rows:
        return []
    n_batches = math.ceil(len(rows) / batch_size)
    if n_batches > max_concurrent_requests and max_concurrent_requests < parallel:
        batch_size = math.ceil(len(rows) / max_concurrent_requests)
        n_batches = math.ceil(len(rows) / batch_size)
    running = min(parallel, n_batches)
    in_flight = max(1, max_concurrent_requests // running)
    return [
        {"batch": b, "rows": rows[b * batch_size : (b + 1) * batch_size], "max_in_flight": in_flight}
        for b in range(n_batches)
    ]


def plan_dataset(config: dict[str, Any], root: Path | None = None) -> list[dict[str, Any]]:
    """plan_batches task: the batches of the rows that need extraction (none when every row has features)."""
    df = read_dataset(_unchanged_dataset(config, root or settings().data_root))
    return plan_batches(rows_to_extract(df), config["batch_size"], config["max_concurrent_requests"])


def _extract_row(i: int, row: pd.Series, call: ServiceCall, root: Path) -> tuple[dict | None, dict | None]:
    """(feature record, None) or (None, why the row was dropped)."""
    song_id = row.get("song_id") or ""
    song_id = song_id if _ID.match(song_id) else f"row_{i + 2}"
    song_path = str(row["song_path"])
    try:
        audio = call("audio", {"song_id": song_id, "song_path": song_path})
        lyrics = str(row.get("lyrics") or "")
        if not lyrics.strip():
            lyrics = read_sidecar_lyrics(song_path, root) or ""  # no sidecar: instrumental
        content = call("content", {"song_id": song_id, "lyrics": lyrics})
    except ServiceRejected as exc:
        return None, {"line": i + 2, "song_id": song_id, "song_path": song_path, "reason": str(exc)}
    return {"_row": i, **audio["features"], **content["features"], LABEL: int(float(row[LABEL]))}, None


ServiceCall = Callable[[str, dict[str, Any]], dict[str, Any]]


def run_batch(
    config: dict[str, Any], batch: dict[str, Any], root: Path | None = None, call: ServiceCall = call_service
) -> dict[str, Any]:
    """Extract one batch's rows (at most batch['max_in_flight'] requests open) and write its part file."""
    root = root or settings().data_root
    df = read_dataset(_unchanged_dataset(config, root))
    rows = batch["rows"]
    records, dropped = [], []
    with ThreadPoolExecutor(max_workers=int(batch["max_in_flight"]), thread_name_prefix="extract") as pool:
        # One row at a time per thread (audio, then content): never more requests open than threads.
        for n, (record, refusal) in enumerate(pool.map(lambda i: _extract_row(i, df.iloc[i], call, root), rows), 1):
            if record:
                records.append(record)
            else:
                dropped.append(refusal)
                log.warning("dropped line %s: %s", refusal["line"], refusal["reason"])
            if n % 25 == 0 or n == len(rows):
                log.info("batch %s: %d/%d rows done, %d dropped", batch["batch"], n, len(rows), len(dropped))
    import pandas as pd

    part = part_path_for(config["training_id"], int(batch["batch"]))
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame(columns=["_row", LABEL])
    atomic_write_bytes(root / part, frame.to_csv(index=False, float_format="%.9g").encode("utf-8"))
    return {"batch": batch["batch"], "part_path": part, "extracted": len(records), "dropped": dropped}


def _unchanged_dataset(config: dict[str, Any], root: Path) -> Path:
    path = resolve_in_root(config["dataset_path"], root)
    if file_digest(path) != config["dataset_sha256"]:
        raise DatasetError(f"{config['dataset_path']} changed since validate_training_config; clear the whole run")
    return path


def merge_features(config: dict[str, Any], batches: list[dict[str, Any]], root: Path | None = None) -> dict[str, Any]:
    """Rows that had features + every extracted part -> features CSV (original row order), atomically."""
    import pandas as pd

    root = root or settings().data_root
    df = read_dataset(_unchanged_dataset(config, root))
    todo = set(rows_to_extract(df))
    keep = [i for i in range(len(df)) if i not in todo]
    frames = [df.iloc[keep][[*feature_columns(df), LABEL]].assign(_row=keep)] if keep else []
    frames += [pd.read_csv(root / b["part_path"]) for b in sorted(batches, key=lambda b: b["batch"])]
    merged = pd.concat(frames, ignore_index=True).sort_values("_row", kind="stable") if frames else pd.DataFrame()
    dropped = [d for b in batches for d in b["dropped"]]
    share = len(dropped) / len(df)
    if share > MAX_DROPPED_SHARE or merged.empty:
        sample = "; ".join(f"line {d['line']}: {d['reason']}" for d in dropped[:3])
        raise DatasetError(
            f"{len(dropped)} of {len(df)} rows ({share:.0%}) were refused by the services, more than "
            f"{MAX_DROPPED_SHARE:.0%}: {sample}"
        )
    columns = [c for c in merged.columns if c not in ("_row", LABEL)]
    merged[LABEL] = merged[LABEL].astype(int)
    out = root / config["features_path"]
    atomic_write_bytes(out, merged[[*columns, LABEL]].to_csv(index=False, float_format="%.9g").encode("utf-8"))
    return {
        "training_id": config["training_id"],
        "dataset_path": relative_to_root(out, root),
        "source_dataset": config["dataset_path"],
        "rows": len(merged),
        "features": len(columns),
        "extracted": sum(b["extracted"] for b in batches),
        "dropped_count": len(dropped),
        "dropped_share": round(share, 4),
        "dropped": dropped[:50],
    }
