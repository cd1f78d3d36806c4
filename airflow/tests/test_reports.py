"""hss_airflow.reports: the training report and its feature-importance chart."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from contracts.training import TrainingJob
from hss_airflow.reports import training_report, write_training_report

RUN_ID = "manual__2026-11-24T04:32:02.560962+00:00"


def finished_job(**overrides: Any) -> dict[str, Any]:
    models = [
        {"name": n, "auc": a, "auc_std": 0.02, "accuracy": 0.7, "f1": 0.6, "weight": w, "included": w > 0}
        for n, a, w in [("logistic", 0.8, 0.4), ("random_forest", 0.85, 0.6), ("knn", 0.52, 0.0)]
    ]
    job = {
        "job_id": "j1",
        "training_id": "t1",
        "dataset_path": "training_data/features/t1.csv",
        "status": "succeeded",
        "progress": 1.0,
        "model_version": "t1@abcd1234",
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
        "metrics": {
            "models": models,
            "ensemble_auc": 0.87,
            "ensemble_accuracy": 0.8,
            "ensemble_f1": 0.75,
            "n_rows": 24,
            "n_features": 190,
            "positive_rate": 0.5,
            "feature_importances": {"rhythm.bpm": 0.12, "lowlevel.loudness": 0.08},
        },
    }
    return TrainingJob.model_validate({**job, **overrides}).model_dump(mode="json")  # the contract's shape


def test_training_report_and_chart_are_written_next_to_each_other(root: Path) -> None:
    from matplotlib.image import imread

    report = training_report(finished_job(), {"rows": 24, "dropped_count": 1}, {"run_id": RUN_ID})
    summary = write_training_report(report, root, auc_floor=0.55)
    folder = root / "results" / "training" / "t1"
    saved = json.loads((folder / "report.json").read_text())
    assert set(saved["models"]) == {"logistic", "random_forest", "knn"}
    assert saved["ensemble"] == {
        "auc": 0.87,
        "accuracy": 0.8,
        "f1": 0.75,
        "included_models": ["logistic", "random_forest"],
    }
    assert saved["model_version"] == "t1@abcd1234" and saved["dataset"]["dropped_count"] == 1
    image = imread(folder / "feature_importances.png")  # a real, decodable PNG
    assert image.shape[0] > 300 and image.shape[1] > 800
    assert summary["best_model"] == "random_forest" and summary["chart_path"].endswith(".png")
    assert summary["dropped_rows"] == 1 and summary["report_path"] == "results/training/t1/report.json"


def test_a_failed_job_gives_no_report() -> None:
    with pytest.raises(ValueError, match="did not succeed"):
        training_report(finished_job(status="failed", metrics=None, error="boom", model_version=None), None, {})
