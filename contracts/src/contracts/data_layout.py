"""The data root's layout: every folder (and the model file names) by name, for every reader and writer.

The services, the DAG code, the /hss pages and both stack backends take their paths from here; no other
module spells "results" or "training_data". Under HSS_DATA_ROOT:

    songs/                              audio files (and `<song>.txt` lyrics sidecars) the DAGs analyse
    results/songs/<song_id>/<run>.json  one comprehensive_analysis each (rescores added in place)
    results/parts/<song_id>/<run>/      that run's parts stored apart (audio.json: audio_analysis's claim check)
    results/batch/<run>.json            one batch_analysis summary each
    results/batch/<run>/<song_id>.json  one song's analysis in that batch (the summary names its sha256)
    results/training/<training_id>/     one training's report (report.json, charts)
    training_data/                      dataset CSVs
    training_data/incoming/             drop a CSV here: dataset_triggered_training claims it
    training_data/claimed/              the claimed CSVs, renamed run-unique
    training_data/features/             the features CSVs the training service reads (.parts/ while building)
    models/<training_id>/               one trained model (job.json, metrics.json, model.joblib, model.sig.json…)
    models/latest.json                  the model promoted last

Per-song results have a folder of their own (`results/songs/`) so no song id can collide with the batch
summaries, the stored parts or the training reports; a song's folder holds its result files only. Layout 1
kept them in `results/<song_id>/`; `migrate_song_results` moves such folders on every stack start (the init
service, the local stack, the demo), so readers see one layout.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

# Relative to the data root, POSIX; the one spelling of each folder.
SONGS = "songs"
RESULTS = "results"
SONG_RESULTS = "results/songs"
BATCH_SUMMARIES = "results/batch"
ANALYSIS_PARTS = "results/parts"  # a task's large output, passed on as a claim check (hss_airflow.claim_check)
TRAINING_REPORTS = "results/training"
TRAINING_DATA = "training_data"
INCOMING = "training_data/incoming"
CLAIMED = "training_data/claimed"
FEATURES = "training_data/features"
FEATURE_PARTS = "training_data/features/.parts"  # one folder of part files per training while its batches run
MODELS = "models"

# What every stack creates before any task runs (a task's own mkdir would be owned by whoever ran first),
# parents first.
FOLDERS = (
    SONGS,
    RESULTS,
    SONG_RESULTS,
    BATCH_SUMMARIES,
    ANALYSIS_PARTS,
    TRAINING_REPORTS,
    TRAINING_DATA,
    INCOMING,
    CLAIMED,
    FEATURES,
    MODELS,
)

# Model files (services.common.model_artifacts writes and reads them; the stack tool checks the signature).
LATEST_MODEL_FILE = "latest.json"
MODEL_SIGNATURE_FILE = "model.sig.json"

# Names under results/ that are not layout-1 song folders.
_NOT_SONGS = frozenset({"songs", "batch", "parts", "training"})


@dataclass(frozen=True)
class DataLayout:
    """The folders of one data root as paths. Names passed in (song id, run id…) must already be safe file
    names (one path segment); callers sanitise them where they come from."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def folder(self, relative: str) -> Path:
        return self.root / relative

    @property
    def songs(self) -> Path:
        return self.root / SONGS

    @property
    def results(self) -> Path:
        return self.root / RESULTS

    @property
    def song_results(self) -> Path:
        return self.root / SONG_RESULTS

    def song_results_of(self, song_id: str) -> Path:
        return self.song_results / _segment(song_id)

    @property
    def batch_summaries(self) -> Path:
        return self.root / BATCH_SUMMARIES

    def analysis_parts_of(self, song_id: str) -> Path:
        return self.root / ANALYSIS_PARTS / _segment(song_id)

    @property
    def training_reports(self) -> Path:
        return self.root / TRAINING_REPORTS

    def training_report_of(self, training_id: str) -> Path:
        return self.training_reports / _segment(training_id)

    @property
    def training_data(self) -> Path:
        return self.root / TRAINING_DATA

    @property
    def incoming(self) -> Path:
        return self.root / INCOMING

    @property
    def claimed(self) -> Path:
        return self.root / CLAIMED

    @property
    def features(self) -> Path:
        return self.root / FEATURES

    @property
    def models(self) -> Path:
        return self.root / MODELS

    def model_of(self, training_id: str) -> Path:
        return self.models / _segment(training_id)

    @property
    def latest_model(self) -> Path:
        return self.models / LATEST_MODEL_FILE

    def all_folders(self) -> tuple[Path, ...]:
        """The root and every folder of FOLDERS, parents first."""
        return (self.root, *(self.root / name for name in FOLDERS))


def _segment(name: str) -> str:
    if not name or "/" in name or "\x00" in name or name in (".", ".."):
        raise ValueError(f"{name!r} is not a single path segment")
    return name


def migrate_song_results(root: Path) -> list[str]:
    """Move layout-1 song folders `results/<song_id>/` to `results/songs/<song_id>/`; return the moved ids.

    Idempotent and safe to repeat (every stack start calls it). A folder whose target already exists is merged
    file by file, never overwriting a newer result. Names under results/ that are not song folders (batch/,
    training/, songs/, files) are left alone."""
    layout = DataLayout(root)
    if not layout.results.is_dir():
        return []
    moved: list[str] = []
    for entry in sorted(os.scandir(layout.results), key=lambda e: e.name):
        if entry.name in _NOT_SONGS or entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
            continue
        target = layout.song_results_of(entry.name)
        layout.song_results.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            os.rename(entry.path, target)
        else:
            for item in os.scandir(entry.path):
                if not (target / item.name).exists():
                    os.rename(item.path, target / item.name)
            _remove_if_empty(Path(entry.path))
        moved.append(entry.name)
    return moved


def _remove_if_empty(folder: Path) -> None:
    # Something stayed (a same-named file in both layouts): it is kept where it was, never lost.
    with contextlib.suppress(OSError):
        folder.rmdir()
