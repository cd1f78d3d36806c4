"""What the /hss pages show, read from the files the DAGs already write (no second store), in the data root's
layout (contracts.data_layout):

- `results/songs/<song_id>/<run_id>.json`: one comprehensive_analysis each (hss_airflow.results), `rescores` added
  by rescore_library;
- `results/training/<training_id>/report.json`: one training each (hss_airflow.reports).

A file that is not readable JSON or has the wrong shape (hss_airflow.web.shapes) is left out with a note,
"<path>: <reason>", and never raises. Temp files (dot-names) are ignored. The short summary of each file is
cached by (mtime, size), so a list page of a large library only stats the files after the first visit.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts.data_layout import DataLayout
from hss_airflow.reports import REPORT_NAME as REPORT
from hss_airflow.web.shapes import Malformed, check_analysis, check_report


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
    notes: list[str] = field(default_factory=list)  # "<path>: <reason>" of each file left out


def _is_result(name: str) -> bool:
    return name.endswith(".json") and not name.startswith(".")  # dot-names: atomic writes in progress


def _stat_key(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def read_json(path: Path) -> tuple[Any, str | None]:
    """(document, None); (None, why it cannot be read); (None, None) when the file is gone."""
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except FileNotFoundError:
        return None, None  # removed since the listing: nothing to show, nothing wrong
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: bad JSON, bad UTF-8, a 5000-digit number
        return None, f"not readable JSON ({type(exc).__name__}: {exc})"


def analysis_of(document: Any, rel: str) -> Analysis:
    """The short form of an analysis document; Malformed when it has not the shape the pages read."""
    doc = check_analysis(document)
    run, prediction = doc.get("run") or {}, doc["prediction"]
    probability = prediction.get("hit_probability")
    rescores = tuple(
        (str(r.get("model_version") or ""), float(r["hit_probability"])) for r in doc.get("rescores") or []
    )
    return Analysis(
        song_id=doc["song_id"],
        run_id=str(run.get("run_id") or Path(rel).stem),
        dag_id=str(run.get("dag_id") or "comprehensive_analysis"),
        written_at=str(run.get("written_at") or ""),
        hit_probability=None if probability is None else float(probability),
        model_version=prediction.get("model_version"),
        path=rel,
        rescores=tuple(r for r in rescores if r[0]),
    )


def read_analysis(path: Path, rel: str) -> tuple[Analysis | None, Any, str | None]:
    """(summary, document, None); (None, None, why) for a file to note; (None, None, None) for one left out
    silently: gone since the listing."""
    document, problem = read_json(path)
    if problem is not None:
        return None, None, problem
    if document is None:
        return None, None, None
    try:
        return analysis_of(document, rel), document, None
    except Malformed as exc:
        return None, None, str(exc)


class Library:
    """The data root's analyses and trainings; safe to share between request threads."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.layout = DataLayout(root)
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[tuple[int, int], Analysis | None, str | None]] = {}

    # --- analyses --------------------------------------------------------------------------------
    def _files(self) -> list[Path]:
        found: list[Path] = []
        try:
            folders = [e for e in os.scandir(self.layout.song_results) if e.is_dir()]
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
        analysis, _, problem = read_analysis(path, rel)
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
        if song_id in ("", ".", "..") or "/" in song_id or "\x00" in song_id:
            return None
        folder = self.layout.song_results_of(song_id)
        if not folder.is_dir():
            return None
        listing = Listing([])
        for path in sorted(p for p in folder.iterdir() if _is_result(p.name)):
            rel = path.relative_to(self.root).as_posix()
            summary, document, problem = read_analysis(path, rel)
            if problem is not None:
                listing.notes.append(f"{rel}: {problem}")
            elif (
                summary is not None and summary.song_id == song_id
            ):  # another song's analysis in this folder is not this song's
                listing.items.append((summary, document))
        listing.items.sort(key=lambda pair: pair[0].written_at, reverse=True)
        return listing if listing.items or listing.notes else None

    # --- trainings -------------------------------------------------------------------------------
    def trainings(self) -> Listing:
        listing = Listing([])
        base = self.layout.training_reports
        for folder in sorted(base.iterdir()) if base.is_dir() else []:
            path = folder / REPORT
            if not path.is_file():
                continue
            report, problem = self._report(path)
            if problem is not None:
                listing.notes.append(f"{path.relative_to(self.root).as_posix()}: {problem}")
            elif report is not None:
                listing.items.append(training_of(report))
        listing.items.sort(key=lambda t: t.written_at, reverse=True)
        return listing

    def training(self, training_id: str) -> tuple[dict[str, Any] | None, str | None]:
        """(report, None); (None, "<path>: why") for a malformed one; (None, None) for an unknown id."""
        if training_id in ("", ".", "..") or "/" in training_id or "\x00" in training_id:
            return None, None
        path = self.layout.training_report_of(training_id) / REPORT
        if not path.is_file():
            return None, None
        report, problem = self._report(path)
        return (report, None) if problem is None else (None, f"{path.relative_to(self.root).as_posix()}: {problem}")

    @staticmethod
    def _report(path: Path) -> tuple[dict[str, Any] | None, str | None]:
        report, problem = read_json(path)
        if problem is not None or report is None:
            return None, problem
        try:
            return check_report(report), None
        except Malformed as exc:
            return None, str(exc)


def training_of(report: dict[str, Any]) -> Training:
    """The short form of a report check_report accepted."""
    ensemble, dataset = report.get("ensemble") or {}, report.get("dataset") or {}
    promotion, run = report.get("promotion"), report.get("run") or {}
    auc = ensemble.get("auc")
    return Training(
        training_id=report["training_id"],
        model_version=str(report.get("model_version") or ""),
        ensemble_auc=None if auc is None else float(auc),
        rows=report.get("n_rows"),
        dropped=dataset.get("dropped_count") or 0,
        promoted=bool(promotion.get("promoted")) if promotion else None,
        written_at=str(run.get("written_at") or ""),
        run_id=str(run.get("run_id") or ""),
    )
