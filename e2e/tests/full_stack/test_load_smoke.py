"""The load path end to end: Locust's `smoke` profile against this package's full stack.

Every user class (the four services and the Airflow REST user that times comprehensive_analysis
trigger→success) must send requests, every threshold of the profile must hold, and the CSV and
HTML reports must be written — what `make load` relies on, in about 35 s.

The load tool runs as a process (`python -m load.run`), as a user runs it: e2e must not import `load`
(load and e2e both build on stack; neither imports the other). It reads this stack from a stack file written here.
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import time
from pathlib import Path

from stack.airflow_stack import write_private_json
from stack.base import Stack
from stack.paths import REPO_ROOT

# The locustfile's user classes (the names `python -m load.run --user-classes` takes); smoke runs them all.
USER_CLASSES = ("AudioUser", "ContentUser", "PredictionUser", "InsightsUser", "AirflowUser")


def test_smoke_profile_passes_its_thresholds_against_the_full_stack(stack: Stack, tmp_path: Path) -> None:
    stack_file = tmp_path / "stack" / "stack.json"
    stack_file.parent.mkdir()
    write_private_json(stack_file, stack.info())  # holds the API key and passwords: private
    reports = tmp_path / "reports"
    command = [sys.executable, "-m", "load.run", "--profile", "smoke", "--stack-file", str(stack_file)]
    started = time.monotonic()
    run = subprocess.run(
        [*command, "--reports", str(reports)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )
    print(run.stdout)
    print(f"smoke load test: {time.monotonic() - started:.1f} s wall")
    output = f"exit code {run.returncode}\n{run.stdout[-6000:]}\n{run.stderr[-3000:]}"

    assert "starting the stack" not in run.stdout, output  # it measured this stack, not one it started
    assert run.returncode == 0 and "load test PASSED" in run.stdout, output  # 1: a threshold missed, 2: an error
    # load.run judges "requests sent by <class>" > 0 for each class it ran: every class ran and sent requests.
    sent = {name: verdict for verdict, name in re.findall(r"(PASS|FAIL)  requests sent by (\w+):", run.stdout)}
    assert sent == dict.fromkeys(USER_CLASSES, "PASS"), output
    (report_dir,) = reports.glob("smoke-*")
    with (report_dir / "locust_stats.csv").open(newline="") as handle:
        dag_runs = [row for row in csv.DictReader(handle) if row["Type"] == "DAG"]  # the timed DAG runs
    assert [row["Name"].split()[0] for row in dag_runs] == ["comprehensive_analysis"], dag_runs
    assert int(dag_runs[0]["Request Count"]) >= 1 and int(dag_runs[0]["Failure Count"]) == 0, dag_runs
    for kind in ("stats", "stats_history", "failures"):
        assert (report_dir / f"locust_{kind}.csv").stat().st_size > 0, kind
    assert "<html" in (report_dir / "report.html").read_text(encoding="utf-8")[:2000].lower()
