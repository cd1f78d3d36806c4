"""dataset_triggered_training: watch training_data/incoming/ and claim a new dataset exactly once;
train_on_new_dataset: find the claim its run was triggered for.

Drop a dataset into `<data root>/training_data/incoming/<name>.csv` — write it elsewhere (or under a
dot-name, which the glob skips) and rename it in, so it is never seen half-written. The DAG's deferrable
sensor (hss_airflow.sensors.DataRootFileSensor) fires when a CSV is there; `claim_dataset` then moves the
oldest one with a single rename into `training_data/claimed/` under a run-unique name. A rename is atomic,
so two runs can never claim the same file: the loser's rename fails and it takes the next file. What was
claimed is in the task's XCom, in `claimed/` and in the `hss_training_dataset` asset event, whose run of
train_on_new_dataset trains it: a failed training is re-run by clearing that run (its event stays attached).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from contracts.data_layout import CLAIMED, INCOMING, DataLayout
from hss_airflow.batch import song_id_for
from hss_airflow.settings import settings
from hss_airflow.storage import relative_to_root, safe_name, writing_into

__all__ = ["CLAIMED", "INCOMING", "INCOMING_GLOB", "NotTriggeredByAClaim", "NothingToClaim", "claim_dataset"]

INCOMING_GLOB = f"{INCOMING}/*.csv"


class NothingToClaim(RuntimeError):
    """The sensor saw a file but another run claimed it first (or it was removed)."""


def claim_dataset(run_id: str, when: datetime, root: Path | None = None) -> dict[str, Any]:
    """Move the oldest incoming CSV to claimed/ atomically; return its new path and a training_id.

    Idempotent per run: when this run already claimed a file (the task is retried or cleared), that file
    is returned again instead of claiming another one."""
    root = root or settings().data_root
    layout = DataLayout(root)
    incoming, claimed = layout.incoming, layout.claimed
    with writing_into(claimed):
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
            with writing_into(target):
                os.rename(source, target)  # atomic on one filesystem; fails if another run took it first
        except FileNotFoundError:
            continue
        return claim(target, source.name)
    raise NothingToClaim(f"no CSV left in {INCOMING} to claim (another run took it, or it was removed)")


class NotTriggeredByAClaim(ValueError):
    """A train_on_new_dataset run without the hss_training_dataset event of its partition."""


CLAIM_KEYS = ("dataset_path", "original_name", "training_id")


def claim_of_events(extras: list[dict[str, Any]], partition_key: str | None) -> dict[str, Any]:
    """The claim a train_on_new_dataset run trains on: the hss_training_dataset event of its partition.

    claim_dataset emits one event per claim with partition key = training_id, and the partitioned schedule
    makes one run per key, so a run sees exactly its own claim (the newest, should a key repeat)."""
    mine = [e for e in extras if isinstance(e, dict) and e.get("training_id") == partition_key]
    if not mine:
        raise NotTriggeredByAClaim(
            f"this run was not triggered by a claimed dataset (partition {partition_key!r}, {len(extras)} event(s)): "
            f"drop a CSV into {INCOMING}/, or trigger ml_training_smart_ensemble with dataset_path and training_id"
        )
    claim = mine[-1]
    missing = [key for key in CLAIM_KEYS if not claim.get(key)]
    if missing:
        raise NotTriggeredByAClaim(f"the hss_training_dataset event lacks {', '.join(missing)}: {claim!r}")
    return {key: claim[key] for key in CLAIM_KEYS}
