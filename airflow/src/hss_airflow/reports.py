"""The training report: results/training/<training_id>/report.json and a PNG chart next to it.

The report holds the metrics of every candidate model and of the ensemble (from the training job), the
dataset as the DAG prepared it (rows, features, rows dropped because a service refused them) and the
model version; `promotion` is filled in by promote_model (promoted or kept, and why). The chart has two
panels: cross-validated AUC per model (the AUC floor drawn in, dropped models greyed) and the ensemble's
top feature importances. It is drawn with matplotlib's object API
(Figure + Agg canvas), no pyplot state, so it is safe in any worker.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contracts.data_layout import DataLayout
from hss_airflow.settings import settings
from hss_airflow.storage import atomic_write_bytes, atomic_write_json, relative_to_root

CHART_NAME = "feature_importances.png"
REPORT_NAME = "report.json"
TOP_FEATURES = 15


def report_dir(training_id: str, root: Path | None = None) -> Path:
    return DataLayout(root or settings().data_root).training_report_of(training_id)


def training_report(job: dict[str, Any], dataset: dict[str, Any] | None, run: dict[str, Any]) -> dict[str, Any]:
    """The report document from the final TrainingJob JSON and merge_features' summary."""
    if job.get("status") != "succeeded" or not job.get("metrics"):
        raise ValueError(f"training job {job.get('job_id')} did not succeed: {job.get('error') or job.get('status')}")
    metrics = job["metrics"]
    models = {m["name"]: {k: v for k, v in m.items() if k != "name"} for m in metrics["models"]}
    return {
        "training_id": job["training_id"],
        "model_version": job["model_version"],
        "job_id": job["job_id"],
        "features_dataset": job["dataset_path"],
        "dataset": dataset or {},
        "models": models,
        "ensemble": {
            "auc": metrics["ensemble_auc"],
            "accuracy": metrics["ensemble_accuracy"],
            "f1": metrics["ensemble_f1"],
            "included_models": [name for name, m in models.items() if m.get("included")],
        },
        "n_rows": metrics["n_rows"],
        "n_features": metrics["n_features"],
        "positive_rate": metrics["positive_rate"],
        "feature_importances": metrics.get("feature_importances") or {},
        "notes": metrics.get("notes") or [],
        "timing": {k: job.get(k) for k in ("created_at", "started_at", "finished_at")},
        "run": {**run, "written_at": datetime.now(UTC).isoformat()},
    }


def report_path(training_id: str, root: Path | None = None) -> Path:
    return report_dir(training_id, root) / REPORT_NAME


def record_promotion(training_id: str, promotion: dict[str, Any], root: Path | None = None) -> Path:
    """Add promote_model's decision to report.json as `promotion` (atomic rewrite; a rerun replaces it)."""
    path = report_path(training_id, root)
    report = json.loads(path.read_text(encoding="utf-8"))
    return atomic_write_json(path, {**report, "promotion": promotion})


def render_chart(report: dict[str, Any], auc_floor: float | None = None) -> bytes:
    """PNG bytes: model AUCs (left) and top feature importances (right)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 5.5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax_models, ax_features = fig.subplots(1, 2, width_ratios=(1, 1.6))
    names = list(report["models"])
    aucs = [report["models"][n]["auc"] for n in names] + [report["ensemble"]["auc"]]
    colors = ["tab:blue" if report["models"][n].get("included") else "lightgray" for n in names] + ["tab:green"]
    ax_models.barh([*names, "ensemble"], aucs, color=colors)
    ax_models.invert_yaxis()
    ax_models.set_xlim(0.0, 1.0)
    ax_models.axvline(0.5, color="black", linewidth=0.8, linestyle=":")
    if auc_floor is not None:
        ax_models.axvline(auc_floor, color="tab:red", linewidth=0.8, linestyle="--", label=f"AUC floor {auc_floor}")
        ax_models.legend(loc="lower right", fontsize=8)
    ax_models.set_xlabel("cross-validated ROC AUC")
    ax_models.set_title("Models (grey = left out of the ensemble)")
    top = sorted(report["feature_importances"].items(), key=lambda kv: abs(kv[1]), reverse=True)[:TOP_FEATURES]
    if top:
        ax_features.barh([k for k, _ in top], [v for _, v in top], color="tab:orange")
        ax_features.invert_yaxis()
        ax_features.tick_params(axis="y", labelsize=8)
    else:
        ax_features.text(0.5, 0.5, "no feature importances reported", ha="center", va="center")
    ax_features.set_xlabel("permutation importance (AUC drop)")
    ax_features.set_title(f"Top features of {report['model_version']}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def write_training_report(report: dict[str, Any], root: Path | None = None, auc_floor: float | None = None) -> dict:
    """Write report.json and the chart atomically; return the task's summary."""
    root = root or settings().data_root
    folder = report_dir(report["training_id"], root)
    chart = atomic_write_bytes(folder / CHART_NAME, render_chart(report, auc_floor))
    path = atomic_write_json(folder / REPORT_NAME, {**report, "chart": CHART_NAME, "promotion": None})
    best = max(report["models"].items(), key=lambda kv: kv[1]["auc"])[0] if report["models"] else None
    return {
        "training_id": report["training_id"],
        "model_version": report["model_version"],
        "ensemble_auc": report["ensemble"]["auc"],
        "best_model": best,
        "rows": report["n_rows"],
        "dropped_rows": (report["dataset"] or {}).get("dropped_count", 0),
        "report_path": relative_to_root(path, root),
        "chart_path": relative_to_root(chart, root),
    }
