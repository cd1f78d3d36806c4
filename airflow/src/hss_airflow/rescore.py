"""rescore_library: re-predict every analysed song with a newly promoted model.

Each song's newest result file (`results/songs/<song_id>/<run_id>.json`, by modification time) keeps its original
`prediction` and gains one entry per model in `rescores`:

    "rescores": [{"model_version": "t2@ab12cd34", "hit_probability": 0.71, "baseline": false,
                  "rescored_at": "...", "rescore_run_id": "..."}]

so the file records which model gave which probability. Rescoring with a model already in the list
replaces that entry (a retried or cleared run rewrites, never duplicates). The features are the ones the
analysis stored (audio `features`, lyrics `features`): no audio is analysed again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from contracts.catalog import PREDICT_SINGLE, PREDICTION
from contracts.data_layout import DataLayout
from hss_airflow.hooks import ServiceRejected, call_service
from hss_airflow.settings import settings
from hss_airflow.storage import atomic_write_json, relative_to_root

BATCH_SIZE = 200  # result files per mapped rescore task
THREADS = 4  # predictions in flight per task (the prediction service answers in ~20 ms)

Predict = Callable[[dict[str, Any]], dict[str, Any]]


def prediction_client(timeout: float = 30.0) -> Predict:
    """POST /predict/single through the hook, from threads (a fresh hook per call): 4xx -> ServiceRejected,
    still-transient or a wrong API key (401) -> ServiceUnavailable."""
    return partial(call_service, PREDICTION, PREDICT_SINGLE, timeout=timeout, unauthorized_is_transient=True)


def requested_model(conf_model: str | None, event_extras: list[dict[str, Any]]) -> str | None:
    """conf `model_version`, else the promoted model the newest hss_trained_model event names, else None
    (the serving model)."""
    if conf_model:
        return conf_model
    named = [e.get("model_version") for e in event_extras if isinstance(e, dict) and e.get("model_version")]
    return named[-1] if named else None


def newest_results(root: Path | None = None) -> list[str]:
    """Each results/songs/<song_id>/ folder's newest JSON file, relative to the root, sorted. Hidden (temp)
    files are skipped; a file that holds no analysis is skipped when it is rescored."""
    root = root or settings().data_root
    results = DataLayout(root).song_results
    newest: list[str] = []
    for folder in sorted(p for p in results.iterdir() if p.is_dir()) if results.is_dir() else []:
        files = [f for f in folder.glob("*.json") if not f.name.startswith(".") and f.is_file()]
        if files:
            newest.append(relative_to_root(max(files, key=lambda f: (f.stat().st_mtime, f.name)), root))
    return newest


def plan_batches(paths: list[str], size: int = BATCH_SIZE) -> list[list[str]]:
    return [paths[i : i + size] for i in range(0, len(paths), size)]


def prediction_payload(document: dict[str, Any], model_version: str | None) -> dict[str, Any] | None:
    """What POST /predict/single needs, from a stored analysis; None when the file is not an analysis."""
    audio = document.get("audio")
    if not isinstance(audio, dict) or not isinstance(audio.get("features"), dict) or "song_id" not in document:
        return None
    content = document.get("content") if isinstance(document.get("content"), dict) else {}
    return {
        "song_id": document["song_id"],
        "audio_features": audio["features"],
        "content_features": content.get("features") or {},
        "model_version": model_version,
    }


def with_rescore(document: dict[str, Any], prediction: dict[str, Any], run_id: str) -> dict[str, Any]:
    """The document with `prediction`'s probability recorded under its model (replacing that model's entry)."""
    entry = {
        "model_version": prediction["model_version"],
        "hit_probability": prediction["hit_probability"],
        "baseline": prediction.get("baseline", False),
        "rescored_at": datetime.now(UTC).isoformat(),
        "rescore_run_id": run_id,
    }
    kept = [r for r in document.get("rescores") or [] if r.get("model_version") != entry["model_version"]]
    return {**document, "rescores": [*kept, entry]}


def rescore_file(rel: str, model_version: str | None, run_id: str, predict: Predict, root: Path) -> dict[str, Any]:
    """Rescore one result file; returns {"status": rescored|skipped|refused, ...}. Transient errors raise."""
    path = root / rel
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"status": "skipped", "path": rel, "reason": "removed since the listing"}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return {"status": "skipped", "path": rel, "reason": f"not readable JSON: {exc}"}
    payload = prediction_payload(document, model_version) if isinstance(document, dict) else None
    if payload is None:
        return {"status": "skipped", "path": rel, "reason": "not an analysis result"}
    try:
        prediction = predict(payload)
    except ServiceRejected as exc:  # a 4xx for this song: report it, rescore the others
        return {"status": "refused", "path": rel, "song_id": payload["song_id"], "reason": str(exc)}
    atomic_write_json(path, with_rescore(document, prediction, run_id))
    return {
        "status": "rescored",
        "path": rel,
        "song_id": payload["song_id"],
        "before": {
            "model_version": document["prediction"].get("model_version"),
            "hit_probability": document["prediction"].get("hit_probability"),
        },
        "after": {"model_version": prediction["model_version"], "hit_probability": prediction["hit_probability"]},
    }


def rescore_batch(
    paths: list[str], model_version: str | None, run_id: str, predict: Predict, root: Path | None = None
) -> dict[str, Any]:
    """Rescore `paths` with THREADS predictions in flight; the counts and each song's outcome."""
    root = root or settings().data_root
    with ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="rescore") as pool:
        outcomes = list(pool.map(lambda rel: rescore_file(rel, model_version, run_id, predict, root), paths))
    counts = {status: sum(o["status"] == status for o in outcomes) for status in ("rescored", "skipped", "refused")}
    return {**counts, "outcomes": outcomes}


def summarize(batches: list[dict[str, Any]], model_version: str | None) -> dict[str, Any]:
    totals = {k: sum(b[k] for b in batches) for k in ("rescored", "skipped", "refused")}
    refused = [o for b in batches for o in b["outcomes"] if o["status"] == "refused"]
    models = sorted({o["after"]["model_version"] for b in batches for o in b["outcomes"] if o["status"] == "rescored"})
    return {"requested_model": model_version, "models": models, **totals, "refused_songs": refused[:50]}
