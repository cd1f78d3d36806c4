"""The comprehensive_analysis result document: results/songs/<song_id>/<run_id>.json under the data root.

One file per song and run, written atomically; the run id is made file-name safe (storage.safe_name),
so re-running (clearing) the same run rewrites the same file instead of adding a new one. The audio part is
also kept on its own in `results/parts/<song_id>/<run_id>/audio.json`: audio_analysis stores it there and
passes a claim check to the tasks after it (hss_airflow.claim_check).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contracts.data_layout import DataLayout
from hss_airflow.settings import settings
from hss_airflow.storage import atomic_write_json, relative_to_root, safe_name

PARTS = ("audio", "content", "prediction", "insights")


def result_path(song_id: str, run_id: str, root: Path | None = None) -> Path:
    return DataLayout(root or settings().data_root).song_results_of(safe_name(song_id)) / f"{safe_name(run_id)}.json"


def part_path(song_id: str, run_id: str, part: str, root: Path | None = None) -> Path:
    """Where a task of the run stores its part of the analysis: `results/parts/<song_id>/<run_id>/<part>.json`,
    apart from the song's result files."""
    folder = DataLayout(root or settings().data_root).analysis_parts_of(safe_name(song_id))
    return folder / safe_name(run_id) / f"{part}.json"


def analysis_document(
    *, song_id: str, song_path: str, run: dict[str, Any], parts: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The full record: the four service responses plus who/when produced them."""
    missing = [name for name in PARTS if not isinstance(parts.get(name), dict)]
    if missing:
        raise ValueError(f"analysis of {song_id} lacks {', '.join(missing)}")
    return {
        "song_id": song_id,
        "song_path": song_path,
        "run": {**run, "written_at": datetime.now(UTC).isoformat()},
        **{name: parts[name] for name in PARTS},
    }


def top_recommendation(insights: dict[str, Any]) -> str | None:
    """The message of the highest-priority recommendation (first one on ties), if any."""
    rank = {"high": 0, "medium": 1, "low": 2}
    recs = [r for r in insights.get("recommendations") or [] if isinstance(r, dict)]
    if not recs:
        return None
    best = min(enumerate(recs), key=lambda ir: (rank.get(ir[1].get("priority"), 3), ir[0]))[1]
    return best.get("message")


def write_analysis_result(document: dict[str, Any], run_id: str, root: Path | None = None) -> dict[str, Any]:
    """Write the document atomically and return the short summary the task returns as its XCom."""
    root = root or settings().data_root
    path = atomic_write_json(result_path(document["song_id"], run_id, root), document)
    prediction = document["prediction"]
    return {
        "song_id": document["song_id"],
        "hit_probability": prediction.get("hit_probability"),
        "model_version": prediction.get("model_version"),
        "top_recommendation": top_recommendation(document["insights"]),
        "result_path": relative_to_root(path, root),
    }
