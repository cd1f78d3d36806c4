"""The load path end to end: Locust's `smoke` profile against this package's full stack.

Every user class (the four services and the Airflow REST user that times comprehensive_analysis
trigger→success) must send requests, every threshold of the profile must hold, and the CSV and
HTML reports must be written — what `make load` relies on, in about 35 s.
"""

from __future__ import annotations

import time
from pathlib import Path

from e2e.harness.base import Stack
from load.run import measure, print_result
from load.targets import DAG_RUN, USER_CLASSES


def test_smoke_profile_passes_its_thresholds_against_the_full_stack(stack: Stack, tmp_path: Path) -> None:
    started = time.monotonic()
    result = measure("smoke", stack.info(), reports_dir=tmp_path)
    print_result(result)
    print(f"smoke load test: {time.monotonic() - started:.1f} s wall")

    assert result.passed, "\n".join(result.failed_thresholds)
    sent = result.requests_by_class()
    assert set(sent) == set(USER_CLASSES) and all(sent.values()), sent
    assert result.stats[DAG_RUN].requests >= 1 and result.stats[DAG_RUN].failures == 0  # a timed DAG run
    for kind in ("stats", "stats_history", "failures"):
        assert result.csv_file(kind).stat().st_size > 0, kind
    assert "<html" in result.html_report.read_text(encoding="utf-8")[:2000].lower()
