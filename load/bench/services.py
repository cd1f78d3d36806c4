"""Benchmark: the light services under 50 concurrent users (Locust's `services-50` profile).

Only the five services run (no Airflow: its idle scheduler alone takes ~15 % of a core, which would be
charged to the service under test). Each light service in turn gets 50 Locust users paced at 6.5
requests/s each (325 req/s offered, load/profiles.toml), so req/s is what the service sustained and p95 is
its latency at that rate — the target's "≥ 300 req/s with p95 ≤ 50 ms and no errors on 2 cores".
Locust runs on the same 2 cores: its own CPU is part of what the machine had to carry.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

from contracts.catalog import CONTENT, INSIGHTS_GENERATE, INTELLIGENCE, LYRICS_ANALYZE, PREDICT_SINGLE, PREDICTION
from load.bench.report import Figure, Section, Target
from load.run import measure
from stack.processes import ProcessGroup
from stack.services import start_services

PROFILE = "services-50"
CLASSES = {  # user class → (request name, service)
    "ContentUser": (LYRICS_ANALYZE.path, CONTENT.name),
    "PredictionUser": (PREDICT_SINGLE.path, PREDICTION.name),
    "InsightsUser": (INSIGHTS_GENERATE.path, INTELLIGENCE.name),
}
RPS_TARGET, P95_TARGET_MS = 300.0, 50.0


def services_section(reports_dir: Path, progress: Callable[[str], None], run_time: str = "30s") -> Section:
    api_key = secrets.token_urlsafe(16)
    rows, figures, data = [], [], {}
    with tempfile.TemporaryDirectory(prefix="hss-bench-services-") as tmp, ProcessGroup() as group:
        root = Path(tmp) / "data"
        progress("  starting the five services (no Airflow)…")
        # Audio too: the insights payload is built once from a real audio + content + prediction response.
        running = start_services(group, data_root=root, log_dir=Path(tmp) / "logs", api_key=api_key)
        targets = {
            "services": {name: service.url for name, service in running.items()},
            "api_key": api_key,
            "data_root": str(root),
        }
        for user_class, (request, service) in CLASSES.items():
            progress(f"  {user_class}: 50 users on {service} for {run_time}…")
            result = measure(
                PROFILE, targets, user_classes=[user_class], run_time=run_time, reports_dir=reports_dir, echo=progress
            )
            stats = result.stats[request]
            errors = stats.failures
            data[service] = {
                "requests": stats.requests,
                "failures": errors,
                "rps": stats.rps,
                "p50_ms": stats.p50_ms,
                "p95_ms": stats.p95_ms,
                "p99_ms": stats.p99_ms,
                "report": str(result.html_report),
            }
            note = f"{stats.requests} requests, {errors} errors, p50 {stats.p50_ms:g} ms, p99 {stats.p99_ms:g} ms"
            figures.append(Figure(f"{service}: req/s at 50 users", stats.rps, "req/s", Target(">=", RPS_TARGET)))
            figures.append(
                Figure(f"{service}: p95 at 50 users", stats.p95_ms, "ms", Target("<=", P95_TARGET_MS), note=note)
            )
            rows.append(
                f"| {service} | {request} | {stats.requests} | {errors} | {stats.rps:.1f} | {stats.p50_ms:g} | "
                f"{stats.p95_ms:g} | {stats.p99_ms:g} |"
            )
    details = [
        "| service | request | requests | errors | req/s | p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ]
    return Section(
        key="services",
        title="Light services at 50 concurrent users",
        figures=figures,
        method=(
            f"`python -m load.run --profile {PROFILE} --user-classes <class> --run-time {run_time}` against the five "
            "services started alone (uvicorn, one process each, on free ports); 50 FastHttpUsers paced at 6.5 "
            "requests/s each (Locust's constant_throughput), real payloads (fixture lyrics, feature rows, an "
            "insights body built from real responses). Locust's CSV and HTML reports are under the run's folder."
        ),
        limits=(
            "One uvicorn process per service: a request of /analyze/lyrics costs ~1.6 ms of CPU (VADER and the "
            "lexical features), prediction and insights well under that; the rest of the CPU goes to Locust itself "
            "(same 2 cores) and to HTTP parsing. p95 grows when the offered rate approaches what one core serves."
        ),
        details=details,
        data=data,
    )
