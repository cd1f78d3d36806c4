"""Benchmark 5: ml_training_smart_ensemble — wall time and where it goes.

One run per dataset: a features dataset (no extraction: plan_batches returns no batch, the mapped
extraction is skipped) and, in the full bench, a small raw dataset whose rows go through workflow-audio
and workflow-content in mapped batches. Per-task durations come from the task instances; the training
job's own queue and run time from its timestamps on GET /train/jobs/{job_id}.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from load.bench.airflow_runs import BenchStack, TimedRun
from load.bench.cpu import CpuWindow
from load.bench.limits import seconds_between
from load.bench.report import Figure, Section


def _s(a: datetime | None, b: datetime | None) -> float:
    return seconds_between(a, b) or 0.0


JOB_STAMPS = ("created_at", "started_at", "finished_at")
TRAINING_TASKS = (
    "validate_training_config",
    "process_training_dataset.plan_batches",
    "process_training_dataset.extract_batch_features",
    "process_training_dataset.merge_features",
    "smart_ensemble_training",
    "aggregate_results",
)


def job_of(bench: BenchStack, run: TimedRun) -> dict[str, Any]:
    """The training job of a run as workflow-ml-training reports it now (GET /train/jobs/{job_id})."""
    job = bench.api.xcom(run.dag_id, run.run_id, "smart_ensemble_training")
    return bench.training_job(job["job_id"]) if isinstance(job, dict) and job.get("job_id") else {}


def job_seconds(job: dict[str, Any]) -> float | None:
    """started_at → finished_at of a job, or None."""
    if not (job.get("started_at") and job.get("finished_at")):
        return None
    return seconds_between(datetime.fromisoformat(job["started_at"]), datetime.fromisoformat(job["finished_at"]))


def training_breakdown(bench: BenchStack, run: TimedRun) -> tuple[list[str], dict[str, Any]]:
    rows: list[str] = ["| task | runs | duration |", "|---|---|---|"]
    data: dict[str, Any] = {"wall": run.wall, "tasks": {}}
    for task_id in TRAINING_TASKS:
        tasks = [t for t in run.tasks if t.task_id == task_id]
        ran = [t for t in tasks if t.state == "success"]
        if not ran:
            rows.append(f"| {task_id} | {tasks[0].state if tasks else 'absent'} | — |")
            continue
        durations = [t.duration or 0.0 for t in ran]
        span = _s(min(t.start for t in ran), max(t.end for t in ran))
        label = f"{len(ran)} mapped" if ran[0].map_index >= 0 else "1"
        shown = f"{durations[0]:.2f} s" if len(ran) == 1 else f"{span:.2f} s span ({max(durations):.2f} s longest)"
        rows.append(f"| {task_id} | {label} | {shown} |")
        data["tasks"][task_id] = durations
    job = job_of(bench, run)
    stamps = {k: datetime.fromisoformat(job[k]) if job.get(k) else None for k in JOB_STAMPS}
    job_run = seconds_between(stamps["started_at"], stamps["finished_at"])
    deferred = run.task("smart_ensemble_training")
    data["job"] = {
        "queued_s": seconds_between(stamps["created_at"], stamps["started_at"]),
        "running_s": job_run,
        "task_end_after_job_s": seconds_between(stamps["finished_at"], deferred.end if deferred else None),
    }
    if None not in data["job"].values():
        rows += [
            "",
            f"Training job (GET /train/jobs/{job.get('job_id')}): queued {data['job']['queued_s']:.2f} s, "
            f"running {job_run:.2f} s; the deferred task ended {data['job']['task_end_after_job_s']:.2f} s after "
            "the job finished (the trigger polls every 2 s).",
        ]
    return rows, data


def _limits(figures: list[Figure]) -> str:
    head = figures[0]
    share = f"{head.limit / head.value:.0%}" if head.limit else "an unknown share"
    rest = f"{head.value - head.limit:.1f} s" if head.limit else "a few seconds"
    return (
        f"On the features dataset the training job itself took {share} of trigger→success: 5 models x 5-fold "
        "cross-validation in a separate process (SVM and gradient boosting cost the most). The rest is "
        "Airflow: five short tasks in sequence (each a scheduler hand-off and a fresh task process), and "
        "the deferrable training task, which waits for the trigger's next 2 s poll after the job finished, "
        f"then resumes in a new task process to return the job. That part ({rest} here) does not grow "
        "with the dataset; only the job does (see the growth section). On a raw "
        "dataset, extraction (Essentia on the cores, at most 2 batches at once) comes first and takes "
        "most of the time."
    )


def training(bench: BenchStack, datasets: list[tuple[str, str, int]], progress) -> Section:
    """datasets: (label, dataset_path, batch_size). The first is the headline figure."""
    stamp = datetime.now(UTC).strftime("%H%M%S")
    figures, details, data = [], [], {}
    for i, (label, path, batch_size) in enumerate(datasets):
        conf = {
            "dataset_path": path,
            "training_id": f"bench_{i}_{stamp}",
            "batch_size": batch_size,
            "max_concurrent_requests": 4,  # 2 cores: 2 batches x 2 requests in flight
        }
        started = time.monotonic()
        with CpuWindow(bench.stack) as cpu:
            run = bench.run("ml_training_smart_ensemble", conf, timeout=1800)
        progress(f"  {label}: trigger→success {run.wall:.1f} s (waited {time.monotonic() - started:.1f} s)")
        rows, info = training_breakdown(bench, run)
        info["cpu"] = cpu.result
        cpu_line = (
            f"CPU during the run: Airflow {cpu.result['airflow_s']:.1f} CPU-s, workflow-ml-training "
            f"{cpu.result['components'].get('workflow-ml-training', 0.0):.1f} CPU-s, workflow-audio "
            f"{cpu.result['audio_s']:.1f} CPU-s; other processes on the machine {cpu.result['others_cores']:.2f} "
            "cores on average."
        )
        rows += ["", cpu_line]
        job_s = info["job"]["running_s"]
        figures.append(
            Figure(
                f"ml_training_smart_ensemble, {label}",
                run.wall,
                "s",
                limit=job_s,
                limit_label="the training job's own time",
                note="one run",
            )
        )
        details += [f"**{label}** (`{path}`, batch_size {batch_size}): trigger→success {run.wall:.1f} s", ""]
        details += [*rows, ""]
        data[label] = info
    return Section(
        key="training",
        title="ml_training_smart_ensemble",
        figures=figures,
        details=details,
        method=(
            "One run per dataset through the REST API; per-task durations from the task instances "
            "(start_date → end_date; a mapped task's span is first start → last end); the job's own queue "
            "and run time from its created_at/started_at/finished_at on GET /train/jobs/{job_id} of "
            "workflow-ml-training. The features dataset (fixtures.datasets.make_features_dataset) needs no "
            "extraction: plan_batches returns no batch and the mapped task is skipped. The raw dataset "
            "(fixtures.songs_dataset.make_raw_dataset, synthesized songs with lyrics) goes through "
            "workflow-audio and workflow-content in mapped batches."
        ),
        limits=_limits(figures),
        data=data,
    )
