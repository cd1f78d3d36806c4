"""hss_airflow.training_features: training config checks, batch planning, feature extraction and the merge."""

from __future__ import annotations

import csv
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from fixtures.datasets import (
    make_binary_dataset,
    make_empty_dataset,
    make_features_dataset,
    make_missing_label_dataset,
    make_one_class_dataset,
)
from hss_airflow.hooks import ServiceRejected, ServiceUnavailable
from hss_airflow.training_features import (
    DatasetError,
    check_training_config,
    merge_features,
    plan_batches,
    plan_dataset,
    run_batch,
)


def test_plan_batches_cuts_rows_in_order_and_never_exceeds_the_request_budget() -> None:
    batches = plan_batches(list(range(24)), 10, 50)
    assert [len(b["rows"]) for b in batches] == [10, 10, 4] and batches[0]["max_in_flight"] == 25
    for n_rows in (1, 7, 24, 401):
        for batch_size in (1, 3, 10, 400):
            for budget in (1, 2, 3, 50, 200):
                plan = plan_batches(list(range(n_rows)), batch_size, budget)
                assert [r for b in plan for r in b["rows"]] == list(range(n_rows))
                running = min(2, len(plan))  # PARALLEL_BATCHES run at once
                assert running * plan[0]["max_in_flight"] <= budget, (n_rows, batch_size, budget)
    assert plan_batches(list(range(24)), 10, 1) == [{"batch": 0, "rows": list(range(24)), "max_in_flight": 1}]
    assert plan_batches([], 10, 50) == []


def write_raw(root: Path, rows: list[dict[str, Any]], name: str = "raw.csv") -> str:
    path = root / "training_data" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return f"training_data/{name}"


def config_for(root: Path, dataset: str, **overrides: Any) -> dict[str, Any]:
    params = {"dataset_path": dataset, "training_id": "t1", "batch_size": 2, "max_concurrent_requests": 4}
    return check_training_config({**params, **overrides}, root)


def test_training_config_on_a_features_dataset_needs_no_extraction(root: Path) -> None:
    make_features_dataset(root / "training_data" / "f.csv", n_rows=40)
    config = config_for(root, "training_data/f.csv")
    assert config["rows"] == 40 and config["rows_to_extract"] == 0
    assert config["features_path"] == "training_data/features/t1.csv"
    assert plan_dataset(config, root) == []


@pytest.mark.parametrize(
    "make,params,message",
    [
        (None, {"dataset_path": "training_data/missing.csv"}, "no file"),
        (None, {"dataset_path": "../outside.csv"}, "outside the data root"),
        (lambda r: (r / "training_data" / "d.txt").write_text("is_hit\n1\n"), {"dataset_path": "training_data/d.txt"},
         "not a .csv"),
        (lambda r: make_empty_dataset(r / "training_data" / "e.csv"), {"dataset_path": "training_data/e.csv"}, "empty"),
        (lambda r: make_binary_dataset(r / "training_data" / "b.csv"), {"dataset_path": "training_data/b.csv"},
         "binary"),
        (lambda r: make_missing_label_dataset(r / "training_data" / "m.csv"), {"dataset_path": "training_data/m.csv"},
         "no 'is_hit' column"),
        (lambda r: make_one_class_dataset(r / "training_data" / "o.csv"), {"dataset_path": "training_data/o.csv"},
         "hits and non-hits"),
        (lambda r: make_features_dataset(r / "training_data" / "f.csv"), {"dataset_path": "training_data/f.csv",
         "training_id": "bad id"}, "training_id"),
    ],
    ids=["missing", "outside", "not-csv", "empty", "binary", "no-label", "one-class", "bad-training-id"],
)  # fmt: skip
def test_bad_training_configs_are_refused_with_a_reason(root: Path, make, params: dict, message: str) -> None:
    if make:
        make(root)
    with pytest.raises(DatasetError, match=message):
        config_for(root, **{"dataset": params.pop("dataset_path"), **params})


def test_labels_must_be_0_or_1_and_rows_need_features_or_a_song_path(root: Path) -> None:
    bad_label = write_raw(root, [{"song_id": "a", "song_path": "songs/a.wav", "is_hit": v} for v in (0, 1, 2)])
    with pytest.raises(DatasetError, match="line"):
        config_for(root, bad_label)
    rows = [{"song_id": f"s{i}", "song_path": "" if i == 3 else f"songs/s{i}.wav", "is_hit": i % 2} for i in range(5)]
    with pytest.raises(DatasetError, match=r"line.*5.*neither feature values nor a song_path"):
        config_for(root, write_raw(root, rows, "nopath.csv"))


def raw_dataset(root: Path, n: int = 6) -> dict[str, Any]:
    """n rows: the first two carry a feature value, the rest need extraction (lyrics column or sidecar)."""
    rows = []
    for i in range(n):
        rows.append(
            {
                "song_id": f"s{i}",
                "song_path": f"songs/s{i}.wav",
                "lyrics": "la la la" if i == 2 else "",
                "rhythm.bpm": 100 + i if i < 2 else "",
                "is_hit": i % 2,
            }
        )
    (root / "songs").mkdir(exist_ok=True)
    (root / "songs" / "s3.txt").write_text("from the sidecar")
    return config_for(root, write_raw(root, rows))


class FakeServices:
    """Stands in for call_service: records lyrics, refuses some songs, measures requests in flight."""

    def __init__(self, refuse: set[str] = frozenset(), delay: float = 0.0) -> None:
        self.refuse, self.delay, self.lyrics = refuse, delay, {}
        self.in_flight = self.peak = 0
        self.lock = threading.Lock()

    def __call__(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            time.sleep(self.delay)
            if payload["song_id"] in self.refuse:
                raise ServiceRejected(f"POST on {kind} was refused: HTTP 422 not_audio: {payload['song_id']}")
            if kind == "audio":
                return {"features": {"rhythm.bpm": 120.0, "lowlevel.loudness": -9.0}}
            self.lyrics[payload["song_id"]] = payload["lyrics"]
            return {"features": {"lyrics.word_count": float(len(payload["lyrics"].split()))}}
        finally:
            with self.lock:
                self.in_flight -= 1


def test_extraction_reads_lyrics_from_the_column_or_the_sidecar_and_drops_refused_songs(root: Path) -> None:
    config = raw_dataset(root)
    assert config["rows_to_extract"] == 4
    services = FakeServices(refuse={"s5"})
    results = [run_batch(config, batch, root, call=services) for batch in plan_dataset(config, root)]
    assert services.lyrics == {"s2": "la la la", "s3": "from the sidecar", "s4": ""}
    assert sum(r["extracted"] for r in results) == 3
    dropped = [d for r in results for d in r["dropped"]]
    assert [(d["line"], d["song_id"]) for d in dropped] == [(7, "s5")] and "not_audio" in dropped[0]["reason"]

    summary = merge_features(config, results, root)
    out = root / "training_data" / "features" / "t1.csv"
    with out.open() as fh:
        table = list(csv.DictReader(fh))
    assert list(table[0]) == ["rhythm.bpm", "lowlevel.loudness", "lyrics.word_count", "is_hit"]
    assert [row["rhythm.bpm"] for row in table] == ["100", "101", "120", "120", "120"]  # original order
    assert [row["is_hit"] for row in table] == ["0", "1", "0", "1", "0"]
    assert summary["dataset_path"] == "training_data/features/t1.csv" and summary["dropped_count"] == 1


def test_a_batch_never_has_more_requests_open_than_its_share(root: Path) -> None:
    config = raw_dataset(root, n=14)
    services = FakeServices(delay=0.02)
    batch = {"batch": 0, "rows": list(range(2, 14)), "max_in_flight": 3}
    assert run_batch(config, batch, root, call=services)["extracted"] == 12
    assert services.peak == 3


def test_an_unreachable_service_fails_the_batch_instead_of_dropping_rows(root: Path) -> None:
    config = raw_dataset(root)

    def down(kind: str, payload: dict) -> dict:
        raise ServiceUnavailable("connection refused")

    with pytest.raises(ServiceUnavailable):
        run_batch(config, plan_dataset(config, root)[0], root, call=down)


def test_too_many_refused_songs_fail_the_merge_and_a_changed_dataset_is_noticed(root: Path) -> None:
    config = raw_dataset(root)
    results = [run_batch(config, b, root, call=FakeServices(refuse={"s3", "s4"})) for b in plan_dataset(config, root)]
    with pytest.raises(DatasetError, match="2 of 6 rows"):
        merge_features(config, results, root)
    (root / config["dataset_path"]).write_text("song_id,is_hit\na,1\n")
    with pytest.raises(DatasetError, match="changed since validate_training_config"):
        plan_dataset(config, root)
