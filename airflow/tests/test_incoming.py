"""hss_airflow.incoming: claiming a dropped dataset and the sensor of dataset_triggered_training."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts.common import IDENTIFIER_PATTERN
from hss_airflow.incoming import NothingToClaim, claim_dataset
from hss_airflow.sensors import DataRootFileSensor


def test_claim_takes_the_oldest_file_once_and_is_idempotent_per_run(root: Path) -> None:
    incoming = root / "training_data" / "incoming"
    incoming.mkdir(parents=True)
    for i, name in enumerate(("new.csv", "old.csv")):
        (incoming / name).write_text("is_hit\n1\n")
        os.utime(incoming / name, (1000 - i * 100, 1000 - i * 100))
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    first = claim_dataset("run_1", when, root)
    assert first["original_name"] == "old.csv" and not (incoming / "old.csv").exists()
    assert (root / first["dataset_path"]).is_file() and first["dataset_path"].startswith("training_data/claimed/")
    assert re.match(IDENTIFIER_PATTERN, first["training_id"]) and first["training_id"] == "old_20260102T030405"
    assert claim_dataset("run_1", when, root) == first  # retry of the same run: same claim
    assert claim_dataset("run_2", when, root)["original_name"] == "new.csv"
    with pytest.raises(NothingToClaim):
        claim_dataset("run_3", when, root)


def test_the_sensor_looks_under_the_data_root(root: Path) -> None:
    sensor = DataRootFileSensor(task_id="wait", filepath="training_data/incoming/*.csv")
    assert sensor.path == str(root / "training_data" / "incoming" / "*.csv")
    assert sensor.poke(context={}) is False
    (root / "training_data" / "incoming").mkdir(parents=True)
    (root / "training_data" / "incoming" / "d.csv").write_text("x")
    assert sensor.poke(context={}) is True
