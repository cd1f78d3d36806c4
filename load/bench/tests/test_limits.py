"""The arithmetic of limits and verdicts, the --only selection, and the sections built from tool output."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from load.bench.__main__ import select
from load.bench.airflow_runs import TaskTiming, TimedRun
from load.bench.audio import overhead_from, scaling_from
from load.bench.dags import SPLIT_KEYS, analysis_split
from load.bench.growth import series_figures
from load.bench.limits import essentia_limit_per_min, growth_exponent, growth_verdict, per_minute


def test_the_essentia_limit_is_cores_times_sixty_over_seconds_per_song():
    assert essentia_limit_per_min(2, 1.5) == pytest.approx(80.0)
    assert essentia_limit_per_min(1, 6.0) == pytest.approx(10.0)
    with pytest.raises(ValueError):
        essentia_limit_per_min(0, 1.0)
    with pytest.raises(ValueError):
        essentia_limit_per_min(2, 0.0)


def test_songs_per_minute():
    assert per_minute(20, 30.0) == pytest.approx(40.0)
    with pytest.raises(ValueError):
        per_minute(1, 0.0)


def test_growth_exponent_and_verdict():
    assert growth_exponent(16, 16) == pytest.approx(1.0)
    assert growth_verdict(growth_exponent(16, 16)) == "linear"
    assert growth_verdict(growth_exponent(16, 4)) == "sub-linear"  # b = 0.5
    assert growth_verdict(growth_exponent(4, 32)) == "worse than linear"  # b = 2.5
    with pytest.raises(ValueError):
        growth_exponent(1, 2)


def test_series_figures_compare_each_step_with_linear_growth():
    steps = [{"size": 3, "wall": 10.0}, {"size": 12, "wall": 20.0}, {"size": 48, "wall": 80.0}]
    figures, verdict = series_figures("batch", "songs", steps)
    assert [f.value for f in figures] == [pytest.approx(2.0), pytest.approx(8.0)]
    assert [f.limit for f in figures] == [4.0, 16.0]
    assert figures[1].ratio == pytest.approx(0.5)
    assert verdict.startswith("sub-linear") and "size^0.75" in verdict


def test_only_accepts_groups_and_single_benchmarks_in_run_order():
    everything = [
        "overhead",
        "scaling",
        "services",
        "ui",
        "analysis",
        "batch",
        "training",
        "growth",
        "demo",
        "metrics",
        "docker",
    ]
    assert select(None) == everything
    assert select("analysis,docker") == ["analysis", "docker"]  # docker last: after the local stack is down
    assert select("services") == ["services"]
    assert select("growth,audio") == ["overhead", "scaling", "growth"]
    assert select("dags") == ["analysis", "batch", "training", "demo"]
    assert select("demo,analysis") == ["analysis", "demo"]  # the demo's stack after the celery one
    with pytest.raises(ValueError, match="unknown benchmark 'disk'"):
        select("audio,disk")


def test_overhead_section_from_the_tool_json():
    result = {
        "kind": "overhead",
        "runs": 2,
        "songs": 1,
        "song_seconds": 30.0,
        "pairs": [{"direct": 1.0, "service": 1.05, "in_worker": 1.0}, {"direct": 1.2, "service": 1.25}],
        "direct_median": 1.1,
        "service_median": 1.15,
        "in_worker_median": 1.0,
        "overhead_ratio": 1.045,
        "ratio_of_medians": 1.045,
    }
    figure = overhead_from(result).figures[0]
    assert figure.passed is True and figure.limit == 1.1


def test_scaling_section_from_the_tool_json():
    result = {
        "kind": "scaling",
        "cores": 2,
        "songs": 8,
        "song_seconds": 20.0,
        "clients": 4,
        "rounds": 3,
        "direct_seconds": [1.0, 1.0, 1.0],
        "direct_seconds_per_song": 1.0,
        "essentia_limit_songs_per_s": 2.0,
        "pools": {
            "1": {"songs_per_s": [0.9], "median_songs_per_s": 0.9},
            "2": {"songs_per_s": [1.5], "median_songs_per_s": 1.5},
        },
        "speedup": 1.5 / 0.9,
        "speedup_of": [1, 2],
    }
    speedup, throughput = scaling_from(result).figures
    assert speedup.passed is False  # 1.67 < 1.7
    assert speedup.limit == 2.0
    assert throughput.value == pytest.approx(90.0) and throughput.limit == pytest.approx(120.0)


def _t(seconds: float) -> datetime:
    return datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)


def _task(task_id: str, queued: float, start: float, end: float) -> TaskTiming:
    return TaskTiming(task_id, -1, "success", _t(queued - 0.1), _t(queued), _t(start), _t(end))


def test_the_analysis_split_adds_up_to_the_wall_time():
    run = TimedRun(
        "comprehensive_analysis",
        "r1",
        _t(0.0),
        "success",
        _t(0.1),
        _t(0.3),
        _t(9.0),
        [
            _task("audio_analysis", 0.4, 0.8, 3.0),
            _task("content_analysis", 0.4, 0.9, 1.5),
            _task("hit_prediction", 3.2, 3.6, 4.6),
            _task("ai_insights", 4.8, 5.2, 6.2),
            _task("aggregate_results", 6.4, 6.8, 8.0),
        ],
    )
    spent = {
        "workflow-audio": 1.8,
        "workflow-content": 0.2,
        "workflow-ml-prediction": 0.1,
        "workflow-intelligence": 0.1,
    }
    split = analysis_split(run, spent)
    assert sum(split.values()) == pytest.approx(run.wall) == pytest.approx(9.0)
    assert split[SPLIT_KEYS[0]] == pytest.approx(0.3)  # trigger -> run running
    assert split[SPLIT_KEYS[4]] == pytest.approx(2.0)  # audio (the later of the pair) + prediction + insights
    assert split[SPLIT_KEYS[2]] == pytest.approx(0.4 * 4)  # queued -> running, four tasks on the path
    assert split[SPLIT_KEYS[5]] == pytest.approx(1.0)
