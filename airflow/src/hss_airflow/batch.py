"""batch_analysis: which songs a folder holds, in chunks; each song's analysis; the batch summary.

Under the data root: `results/batch/<run_id>/<song_id>.json`, one song's analysis as workflow-audio returned it,
written by the chunk task that analysed it; `results/batch/<run_id>.json`, the summary. XCom carries only a
reference to each analysis (path, sha256 and the few scalars the summary shows), never the ~650 features.
"""

from __future__ import annotations

import fnmatch
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contracts.audio import AUDIO_FORMATS
from contracts.data_layout import DataLayout
from hss_airflow.claim_check import write_claim
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


def chunk_songs(songs: list[dict[str, str]], chunk_size: int) -> list[dict[str, list[dict[str, str]]]]:
    """The songs in order, `chunk_size` per chunk (the last may hold fewer), as the chunk tasks' kwargs."""
    if chunk_size < 1:
        raise BatchError(f"chunk_size must be at least 1, got {chunk_size}")
    return [{"songs": songs[i : i + chunk_size]} for i in range(0, len(songs), chunk_size)]


def songs_of(chunks: list[dict[str, list[dict[str, str]]]]) -> list[dict[str, str]]:
    return [song for chunk in chunks for song in chunk["songs"]]


def song_analysis_path(run_id: str, song_id: str, root: Path | None = None) -> Path:
    run_folder = DataLayout(root or settings().data_root).batch_summaries / safe_name(run_id)
    return run_folder / f"{safe_name(song_id)}.json"


def write_song_analysis(
    analysis: dict[str, Any], run_id: str, song_id: str, root: Path | None = None
) -> dict[str, Any]:
    """Write one song's analysis atomically; return its reference: path, sha256 and the summary's scalars."""
    claim = write_claim(analysis, song_analysis_path(run_id, song_id, root), root)
    return {
        "analysis_path": claim["path"],
        "sha256": claim["sha256"],
        "bytes": claim["bytes"],
        "feature_count": analysis["feature_count"],
        "highlights": analysis["highlights"],
        "analysis_seconds": analysis["analysis_seconds"],
    }


def batch_summary(
    songs: list[dict[str, str]], outcomes: list[dict[str, Any] | None], run: dict[str, Any]
) -> dict[str, Any]:
    """Per song: analysed (with its highlights and analysis file) or failed (with the error, when one is known).

    `outcomes` are the chunk tasks' per-song outcomes; a song with none (its chunk task died before reporting)
    is failed too."""
    by_id = {o["song_id"]: o for o in outcomes if isinstance(o, dict) and "song_id" in o}
    entries = []
    for song in songs:
        outcome = by_id.get(song["song_id"]) or {}
        analysed = outcome.get("status") == "analysed"
        entry: dict[str, Any] = {**song, "status": "analysed" if analysed else "failed"}
        if analysed:
            for key in ("highlights", "feature_count", "analysis_path", "sha256"):
                entry[key] = outcome.get(key)
        else:
            entry["error"] = outcome.get("error") or "no outcome: its chunk task did not report (see its log)"
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
