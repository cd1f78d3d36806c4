"""batch_analysis: which songs a folder holds, and the batch summary results/batch/<run_id>.json."""

from __future__ import annotations

import fnmatch
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contracts.audio import AUDIO_FORMATS
from contracts.data_layout import DataLayout
from hss_airflow.settings import settings
from hss_airflow.storage import (
    DataPathError,
    atomic_write_json,
    relative_to_root,
    resolve_in_root,
    safe_name,
)

_NOT_ID = re.compile(r"[^A-Za-z0-9_.-]")


class BatchError(ValueError):
    """The folder/pattern cannot be used; the message says why."""


def song_id_for(stem: str) -> str:
    """A file stem as a song id (IDENTIFIER_PATTERN): unsafe characters -> '_', alphanumeric first, <= 128."""
    cleaned = _NOT_ID.sub("_", stem) or "song"
    return (cleaned if cleaned[0].isalnum() else f"s{cleaned}")[:128]


def list_songs(folder: str, pattern: str, root: Path | None = None) -> list[dict[str, str]]:
    """Audio files of `folder` (not recursive) whose name matches `pattern`, sorted, as operator kwargs.

    Each entry is {"song_id", "song_path"} (song_path relative to the root). Two files with the same stem
    (a.wav, a.mp3) get distinct ids (a, a_mp3)."""
    root = (root or settings().data_root).resolve()
    try:
        directory = resolve_in_root(folder, root, must_exist=False)
    except DataPathError as exc:
        raise BatchError(f"folder: {exc}") from None
    if not directory.is_dir():
        raise BatchError(f"'{folder}' is not a folder of the data root {root}")
    files = sorted(
        p
        for p in directory.iterdir()
        if p.is_file() and fnmatch.fnmatch(p.name, pattern) and p.suffix.lower().lstrip(".") in AUDIO_FORMATS
    )
    if not files:
        raise BatchError(f"no audio files ({', '.join(AUDIO_FORMATS)}) match '{pattern}' in '{folder}'")
    songs, seen = [], set()
    for path in files:
        song_id = song_id_for(path.stem)
        if song_id in seen:
            song_id = song_id_for(f"{path.stem}_{path.suffix.lstrip('.')}")
        seen.add(song_id)
        songs.append({"song_id": song_id, "song_path": relative_to_root(path, root)})
    return songs


def batch_summary(
    songs: list[dict[str, str]], results: list[dict[str, Any] | None], run: dict[str, Any]
) -> dict[str, Any]:
    """Per song: analysed (with its highlights) or failed (no result from its mapped task)."""
    by_id = {r["song_id"]: r for r in results if isinstance(r, dict) and "song_id" in r}
    entries = []
    for song in songs:
        result = by_id.get(song["song_id"])
        entry: dict[str, Any] = {**song, "status": "analysed" if result else "failed"}
        if result:
            entry["highlights"] = result.get("highlights")
            entry["feature_count"] = result.get("feature_count", len(result.get("features") or {}))
        entries.append(entry)
    failed = [e["song_id"] for e in entries if e["status"] == "failed"]
    return {
        "run": {**run, "written_at": datetime.now(UTC).isoformat()},
        "songs": entries,
        "total": len(entries),
        "analysed": len(entries) - len(failed),
        "failed": failed,
    }


def write_batch_summary(summary: dict[str, Any], run_id: str, root: Path | None = None) -> str:
    root = root or settings().data_root
    path = atomic_write_json(DataLayout(root).batch_summaries / f"{safe_name(run_id)}.json", summary)
    return relative_to_root(path, root)
