"""dataset_triggered_training: watch training_data/incoming/ and claim a new dataset exactly once.

Drop a dataset into `<data root>/training_data/incoming/<name>.csv` — write it elsewhere (or under a
dot-name, which the glob skips) and rename it in, so it is never seen half-written. The DAG's deferrable
sensor fires when a CSV is there; `claim_dataset` then moves the oldest one with a single rename into
`training_data/claimed/` under a run-unique name. A rename is atomic, so two runs can never claim the same
file: the loser's rename fails and it takes the next file. What was claimed is in the task's XCom and in
`claimed/`, so a failed training is re-run by clearing that run (it keeps its claim).
"""

from __future__ import annotations

import os
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from airflow.providers.standard.sensors.filesystem import FileSensor

from hss_airflow.batch import song_id_for
from hss_airflow.settings import settings
from hss_airflow.storage import relative_to_root, safe_name

INCOMING = "training_data/incoming"
CLAIMED = "training_data/claimed"
INCOMING_GLOB = f"{INCOMING}/*.csv"


class DataRootFileSensor(FileSensor):
    """FileSensor whose `filepath` is relative to HSS_DATA_ROOT (no `fs_default` connection needed).

    Everything else is FileSensor's: glob patterns, poke mode or `deferrable=True` (the FileTrigger then
    polls in the triggerer and the worker slot is free while waiting)."""

    @cached_property
    def path(self) -> str:
        return str(settings().data_root / self.filepath)


class NothingToClaim(RuntimeError):
    """The sensor saw a file but another run claimed it first (or it was removed)."""


def claim_dataset(run_id: str, when: datetime, root: Path | None = None) -> dict[str, Any]:
    """Move the oldest incoming CSV to claimed/ atomically; return its new path and a training_id.

    Idempotent per run: when this run already claimed a file (the task is retried or cleared), that file
    is returned again instead of claiming another one."""
    root = root or settings().data_root
    incoming, claimed = root / INCOMING, root / CLAIMED
    claimed.mkdir(parents=True, exist_ok=True)
    suffix = f"__{safe_name(run_id, 90)}.csv"
    stamp = when.strftime("%Y%m%dT%H%M%S")

    def claim(path: Path, original: str) -> dict[str, Any]:
        stem = original.removesuffix(".csv")[:100]
        return {
            "original_name": original,
            "dataset_path": relative_to_root(path, root),
            "training_id": song_id_for(f"{stem}_{stamp}"),
        }

    for mine in sorted(claimed.glob(f"*{suffix}")):
        return claim(mine, mine.name.removesuffix(suffix) + ".csv")
    candidates = sorted(incoming.glob("*.csv"), key=lambda p: (p.stat().st_mtime, p.name)) if incoming.is_dir() else []
    for source in candidates:
        target = claimed / f"{safe_name(source.stem, 80)}{suffix}"
        try:
            os.rename(source, target)  # atomic on one filesystem; fails if another run took it first
        except FileNotFoundError:
            continue
        return claim(target, source.name)
    raise NothingToClaim(f"no CSV left in {INCOMING} to claim (another run took it, or it was removed)")
