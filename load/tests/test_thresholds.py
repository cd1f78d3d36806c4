"""Thresholds are judged on the numbers of Locust's CSV: a slow p95, too many failures or a silent class fail."""

from __future__ import annotations

from pathlib import Path

from load.profiles import evaluate, profile_from_dict
from load.report import RequestStats, format_table, read_failures_csv, read_stats_csv
from load.targets import AIRFLOW_LOGIN, AIRFLOW_POLL, AIRFLOW_TRIGGER, CONTENT, DAG_RUN, PREDICTION

PROFILE = profile_from_dict(
    "t",
    {
        "users": 4,
        "spawn_rate": 4,
        "run_time": "10s",
        "user_classes": ["ContentUser", "PredictionUser"],
        "max_failure_ratio": 0.05,
        "p95_ms": {CONTENT: 500, PREDICTION: 300, DAG_RUN: 30000},  # DAG_RUN: AirflowUser is not running
    },
)


def stats(name: str, requests: int = 100, failures: int = 0, p95: float = 50.0, kind: str = "POST") -> RequestStats:
    return RequestStats(kind, name, requests, failures, rps=10.0, p50_ms=p95 / 2, p95_ms=p95, p99_ms=p95 * 1.5)


def run(*entries: RequestStats) -> dict[str, RequestStats]:
    total = sum(e.requests for e in entries), sum(e.failures for e in entries)
    return {e.name: e for e in entries} | {"Aggregated": stats("Aggregated", *total, kind="")}


def failed(results) -> list[str]:
    return [r.check for r in results if not r.passed]


def test_a_run_within_every_limit_passes_and_ignores_limits_of_classes_not_running() -> None:
    results = evaluate(PROFILE, run(stats(CONTENT, p95=120), stats(PREDICTION, p95=40)))
    assert failed(results) == []
    assert not any(DAG_RUN in r.check for r in results)


def test_a_p95_above_its_limit_fails() -> None:
    results = evaluate(PROFILE, run(stats(CONTENT, p95=501), stats(PREDICTION, p95=40)))
    assert failed(results) == [f"p95 of {CONTENT}"]
    assert "501 ms" in str(next(r for r in results if not r.passed))


def test_a_failure_ratio_above_the_limit_fails_for_the_row_and_the_total() -> None:
    results = evaluate(PROFILE, run(stats(CONTENT, failures=6), stats(PREDICTION, failures=5)))
    assert failed(results) == [f"failure ratio of POST {CONTENT}", "failure ratio of Aggregated"]  # 6 % > 5 %; 5 % ok


def test_a_class_that_sent_nothing_fails_even_without_failures() -> None:
    results = evaluate(PROFILE, run(stats(CONTENT)))
    assert failed(results) == ["requests sent by PredictionUser", f"p95 of {PREDICTION}"]


def test_every_airflow_request_counts_for_airflow_user() -> None:
    profile = profile_from_dict(
        "a", {"users": 1, "spawn_rate": 1, "run_time": "5s", "user_classes": ["AirflowUser"], "max_failure_ratio": 0}
    )
    entries = [stats(n) for n in (AIRFLOW_LOGIN, AIRFLOW_TRIGGER, AIRFLOW_POLL)] + [stats(DAG_RUN, 2, 1, kind="DAG")]
    results = evaluate(profile, run(*entries))
    assert "requests sent by AirflowUser: 302" in [f"{r.check}: {r.actual}" for r in results]
    assert failed(results) == [f"failure ratio of DAG {DAG_RUN}", "failure ratio of Aggregated"]


STATS_CSV = """\
Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,\
Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%
POST,/analyze/lyrics,270,3,11,13.2,1,80,2133.0,4.56,0.05,11,14,17,19,24,30,35,39,80,80,80
DAG,comprehensive_analysis trigger→success,0,0,0,0.0,0,0,0.0,0.0,0.0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A
,Aggregated,270,3,11,13.2,1,80,2133.0,4.56,0.05,11,14,17,19,24,30,35,39,80,80,80
"""


def test_locusts_stats_csv_is_read_by_request_name(tmp_path: Path) -> None:
    path = tmp_path / "locust_stats.csv"
    path.write_text(STATS_CSV, encoding="utf-8")
    parsed = read_stats_csv(path)
    assert parsed[CONTENT] == RequestStats("POST", CONTENT, 270, 3, 4.56, 11, 30, 39)
    assert parsed[DAG_RUN].requests == 0 and parsed[DAG_RUN].p95_ms == 0  # "N/A" of an empty row
    assert parsed["Aggregated"].failure_ratio == 3 / 270
    table = format_table(parsed)
    assert CONTENT in table and "Aggregated" in table


def test_failures_csv_lists_the_most_frequent_first(tmp_path: Path) -> None:
    path = tmp_path / "locust_failures.csv"
    path.write_text(
        "Method,Name,Error,Occurrences,First Seen,Last Seen\n"
        "POST,/predict/single,HTTP 500: boom,1,,\n"
        "POST,/analyze/lyrics,HTTP 401: Missing or wrong X-API-Key header.,7,,\n"
    )
    lines = read_failures_csv(path)
    assert lines[0].startswith("    7x POST /analyze/lyrics: HTTP 401") and "HTTP 500" in lines[1]
    assert read_failures_csv(tmp_path / "missing.csv") == []
