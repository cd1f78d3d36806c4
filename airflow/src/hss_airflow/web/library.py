"""What the /hss pages show, read from the files the DAGs already write (no second store):

- `results/<song_id>/<run_id>.json`: one comprehensive_analysis each (hss_airflow.results), `rescores` added
  by rescore_library;
- `results/training/<training_id>/report.json`: one training each (hss_airflow.reports).

A half-written or malformed file is skipped with a note and never raises. Temp files (dot-names) are
ignored, and so is any JSON that is not an analysis (the batch summaries in results/batch/). The short
summary of each file is cached by (mtime, size), so a list page of a large library only stats the files
after the first visit.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS = "results"
TRAINING = "training"
REPORT = "report.json"


@dataclass(frozen=True)
class Analysis:
    """One analysis result file, in short."""

    song_id: str
    run_id: str
    dag_id: str
    written_at: str
    hit_probability: float | None
    model_version: str | None
    path: str  # relative to the data root
    rescores: tuple[tuple[str, float], ...] = ()  # (model_version, hit_probability) per rescoring model


@dataclass(frozen=True)
class Training:
    training_id: str
    model_version: str
    ensemble_auc: float | None
    rows: int | None
    dropped: int
    promoted: bool | None  # None: no decision recorded (yet)
    written_at: str
    run_id: str


@dataclass
class Listing:
    items: list[Any]
    notes: list[str] = field(default_factory=list)  # files skipped, and why


def _is_result(name: str) -> bool:
    return name.endswith(".json") and not name.startswith(".")  # dot-names: atomic writes in progress


def _stat_key(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def read_json(path: Path) -> tuple[Any, str | None]:
    """(document, None), or (None, why it cannot be read)."""
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except FileNotFoundError:
        return None, "removed while reading"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"not readable JSON ({type(exc).__name__}: {exc})"


def analysis_of(document: Any, rel: str) -> Analysis | None:
    """The short form of an analysis document; None when the JSON is not one (or misses its core)."""
    if not isinstance(document, dict) or not isinstance(document.get("prediction"), dict):
        return None
    run, prediction = document.get("run") or {}, document["prediction"]
    if not isinstance(document.get("song_id"), str) or not isinstance(run, dict):
        return None
    probability = prediction.get("hit_probability")
    rescores = tuple(
        (str(r["model_version"]), float(r["hit_probability"]))
        for r in document.get("rescores") or []
        if isinstance(r, dict) and isinstance(r.get("hit_probability"), int | float) and r.get("model_version")
    )
    return Analysis(
        song_id=document["song_id"],
        run_id=str(run.get("run_id") or Path(rel).stem),
        dag_id=str(run.get("dag_id") or "comprehensive_analysis"),
        written_at=str(run.get("written_at") or ""),
        hit_probability=float(probability) if isinstance(probability, int | float) else None,
        model_version=prediction.get("model_version"),
        path=rel,
        rescores=rescores,
    )


class Library:
    """The data root's analyses and trainings; safe to share between request threads."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[tuple[int, int], Analysis | None, str | None]] = {}

    # --- analyses --------------------------------------------------------------------------------
    def _files(self) -> list[Path]:
        results = self.root / RESULTS
        found: list[Path] = []
        try:
            folders = [e for e in os.scandir(results) if e.is_dir() and e.name != TRAINING]
        except FileNotFoundError:
            return []
        for folder in folders:
            found += [
                Path(e.path) for e in os.scandir(folder.path) if e.name.endswith(".json") and not e.name.startswith(".")
            ]
        return found

    def _summary(self, path: Path) -> tuple[Analysis | None, str | None]:
        key = _stat_key(path)
        if key is None:
            return None, None  # gone since the listing
        with self._lock:
            cached = self._cache.get(path)
        if cached and cached[0] == key:
            return cached[1], cached[2]
        rel = path.relative_to(self.root).as_posix()
        document, problem = read_json(path)
        analysis = analysis_of(document, rel) if problem is None else None
        note = f"{rel}: {problem}" if problem else None
        with self._lock:
            self._cache[path] = (key, analysis, note)
        return analysis, note

    def analyses(self) -> Listing:
        listing = Listing([])
        for path in self._files():
            analysis, note = self._summary(path)
            if analysis is not None:
                listing.items.append(analysis)
            elif note:
                listing.notes.append(note)
        return listing

    def songs(self) -> Listing:
        """Each song's newest analysis, with how many analyses it has."""
        everything = self.analyses()
        newest: dict[str, tuple[Analysis, int]] = {}
        for a in everything.items:
            best, count = newest.get(a.song_id, (a, 0))
            newest[a.song_id] = (a if a.written_at >= best.written_at else best, count + 1)
        return Listing([{"analysis": a, "count": n} for a, n in newest.values()], everything.notes)

    def song(self, song_id: str) -> Listing | None:
        """Every analysis of the song, full documents, newest first; None when the song has none."""
        folder = self.root / RESULTS / song_id
        if song_id in ("", ".", "..", TRAINING) or "/" in song_id or not folder.is_dir():
            return None
        listing = Listing([])
        for path in sorted(p for p in folder.iterdir() if _is_result(p.name)):
            rel = path.relative_to(self.root).as_posix()
            document, problem = read_json(path)
            if problem is not None:
                listing.notes.append(f"{rel}: {problem}")
                continue
            summary = analysis_of(document, rel)
            if summary is None or summary.song_id != song_id:
                continue  # JSON of another kind (results/batch/ holds batch summaries): not this song's
            listing.items.append((summary, document))
        listing.items.sort(key=lambda pair: pair[0].written_at, reverse=True)
        return listing if listing.items or listing.notes else None

    # --- trainings -------------------------------------------------------------------------------
    def trainings(self) -> Listing:
        listing = Listing([])
        base = self.root / RESULTS / TRAINING
        for folder in sorted(base.iterdir()) if base.is_dir() else []:
            path = folder / REPORT
            if not path.is_file():
                continue
            report, problem = read_json(path)
            training = training_of(report) if problem is None else None
            if training is None:
                listing.notes.append(f"{path.relative_to(self.root).as_posix()}: {problem or 'not a training report'}")
            else:
                listing.items.append(training)
        listing.items.sort(key=lambda t: t.written_at, reverse=True)
        return listing

    def training(self, training_id: str) -> tuple[dict[str, Any] | None, str | None]:
        """(report, None); (None, why) for a broken one; (None, None) for an unknown id."""
        if training_id in ("", ".", "..") or "/" in training_id:
            return None, None
        path = self.root / RESULTS / TRAINING / training_id / REPORT
        if not path.is_file():
            return None, None
        report, problem = read_json(path)
        if problem is None and training_of(report) is None:
            problem = "not a training report"
        return (report, None) if problem is None else (None, f"{path.relative_to(self.root).as_posix()}: {problem}")


def training_of(report: Any) -> Training | None:
    if not isinstance(report, dict) or not isinstance(report.get("training_id"), str):
        return None
    ensemble = report.get("ensemble") if isinstance(report.get("ensemble"), dict) else {}
    dataset = report.get("dataset") if isinstance(report.get("dataset"), dict) else {}
    promotion = report.get("promotion") if isinstance(report.get("promotion"), dict) else None
    run = report.get("run") if isinstance(report.get("run"), dict) else {}
    auc = ensemble.get("auc")
    return Training(
        training_id=report["training_id"],
        model_version=str(report.get("model_version") or ""),
        ensemble_auc=float(auc) if isinstance(auc, int | float) else None,
        rows=report.get("n_rows") if isinstance(report.get("n_rows"), int) else None,
        dropped=int(dataset.get("dropped_count") or 0),
        promoted=bool(promotion.get("promoted")) if promotion else None,
        written_at=str(run.get("written_at") or ""),
        run_id=str(run.get("run_id") or ""),
    )
