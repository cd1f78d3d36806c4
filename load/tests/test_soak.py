"""load.soak's judgement: memory growth after the warm-up per process (with the noise floor), errors, run states."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

from load import soak
from load.report import RequestStats

MIB = 2**20


def sampler(*samples: tuple[float, dict[str, float]]) -> soak.Sampler:
    return soak.Sampler(Path("unused"), samples=list(samples))


def test_growth_is_measured_from_the_end_of_the_warm_up_not_from_the_start() -> None:
    samples = sampler(
        (0, {"worker": 200 * MIB, "api": 300 * MIB, "sink": 20 * MIB}),
        (60, {"worker": 500 * MIB, "api": 300 * MIB, "sink": 20 * MIB}),  # warm-up: pools fork, caches fill
        (600, {"worker": 540 * MIB, "api": 360 * MIB, "sink": 24 * MIB}),
    )
    rows = {row["process"]: row for row in soak.memory_rows(samples, warmup_s=60)}
    assert round(rows["worker"]["growth"], 3) == 0.08 and rows["worker"]["ok"]  # 500 → 540: 8 %
    assert round(rows["api"]["growth"], 3) == 0.2 and not rows["api"]["ok"]  # 300 → 360: a leak
    assert rows["sink"]["growth"] == 0.2 and rows["sink"]["ok"]  # 4 MiB on a small process: under the noise floor
    assert rows["worker"]["start_mib"] == 200


def test_the_summary_fails_on_a_request_error_or_a_run_that_did_not_succeed() -> None:
    def load(failures: int) -> SimpleNamespace:
        total = RequestStats("", "Aggregated", 100, failures, 1.0, 1.0, 2.0, 3.0)
        return SimpleNamespace(stats={"Aggregated": total})

    runs = {"comprehensive_analysis": {"a": "success", "b": "success"}, "rescore_library": {}}
    good = soak.summarize(load(0), runs, [{"ok": True}], minutes=10)
    assert good["passed"] == {"errors": True, "runs": True, "memory": True}
    assert good["runs"] == {"comprehensive_analysis": {"success": 2}}

    failed_run = {"comprehensive_analysis": {"a": "success", "b": "failed"}}
    bad = soak.summarize(load(1), failed_run, [{"ok": False}], minutes=10)
    assert bad["passed"] == {"errors": False, "runs": False, "memory": False}
    assert bad["runs_not_succeeded"] == {"comprehensive_analysis/b": "failed"}
    assert json.dumps(bad)  # what soak.json holds


def test_local_memory_is_read_per_process_from_the_stack_file(tmp_path: Path) -> None:
    (tmp_path / "stack.json").write_text(json.dumps({"backend": "local", "pids": {"me": os.getpgid(0)}}))
    assert soak.process_memory(tmp_path / "stack.json")["me"] > 1 * MIB  # this test's own process group
