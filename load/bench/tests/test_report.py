"""The bench's report: target logic, table rendering, the machine lines and the PERFORMANCE.md writer."""

from __future__ import annotations

import json
import time

import pytest

from load.bench.report import (
    Figure,
    Machine,
    Section,
    Target,
    cpu_model,
    fmt,
    ram_gib,
    render_markdown,
    render_table,
    steal_percent,
    to_json,
    write_markdown,
)

MACHINE = Machine(
    cores=2,
    cpu="AMD EPYC 7B13",
    ram_gib=23.4,
    python="3.11.2",
    airflow="3.3.2",
    essentia="2.1b6.dev1389",
    date="2025-01-01 12:00 UTC",
    load_start="1.00 0.80 0.50",
    load_end="2.00 1.00 0.60",
    steal_pct=12.5,
)


def test_a_figure_above_a_minimum_target_passes_and_below_it_misses():
    assert Figure("speedup", 1.8, "x", target=Target(">=", 1.7)).passed is True
    assert Figure("speedup", 1.6, "x", target=Target(">=", 1.7)).passed is False
    assert Figure("speedup", 1.7, "x", target=Target(">=", 1.7)).passed is True  # the bound itself passes


def test_a_maximum_target_applies_to_the_ratio_over_the_limit():
    ok = Figure("overhead", 1.05, "s", target=Target("<=", 1.10, on="ratio"), limit=1.0)
    bad = Figure("overhead", 1.25, "s", target=Target("<=", 1.10, on="ratio"), limit=1.0)
    assert ok.ratio == pytest.approx(1.05)
    assert (ok.passed, ok.status) == (True, "PASS")
    assert (bad.passed, bad.status) == (False, "MISS")


def test_an_excess_target_compares_measured_minus_limit():
    figure = Figure("analysis", 7.5, "s", target=Target("<=", 5.0, on="excess"), limit=3.0)
    assert figure.excess == pytest.approx(4.5)
    assert figure.passed is True
    figure.value = 8.5
    assert figure.passed is False


def test_a_batch_share_of_the_essentia_limit_is_checked_on_the_ratio():
    figure = Figure("batch", 60.0, "songs/min", target=Target(">=", 0.7, on="ratio"), limit=100.0)
    assert figure.passed is False
    figure.value = 71.0
    assert figure.passed is True


def test_no_target_or_no_limit_means_no_verdict():
    assert Figure("wall", 12.0, "s").status == "—"
    assert Figure("x", 2.0, target=Target("<=", 1.1, on="ratio")).passed is None  # ratio needs a limit
    assert Figure("x", 2.0, limit=0.0).ratio is None


def test_a_target_refuses_unknown_operators_and_quantities():
    with pytest.raises(ValueError, match="op"):
        Target("<", 1.0)
    with pytest.raises(ValueError, match="applies to"):
        Target("<=", 1.0, on="median")


def test_targets_describe_themselves_with_their_unit():
    assert Target(">=", 1.7).describe("x") == ">= 1.7x"
    assert Target("<=", 5, on="excess").describe("s") == "<= limit + 5 s"
    assert Target(">=", 0.7, on="ratio").describe("songs/min") == ">= 0.7x limit"


def test_fmt_keeps_small_numbers_precise_and_large_ones_short():
    assert fmt(0.12345, "s") == "0.123 s"
    assert fmt(42.26, "songs/min") == "42.3 songs/min"
    assert fmt(1.8, "x") == "1.800x"
    assert fmt(None) == "—"


def _sections() -> list[Section]:
    return [
        Section(
            "overhead",
            "Audio service overhead",
            figures=[
                Figure(
                    "audio overhead", 1.32, "s", target=Target("<=", 1.1, on="ratio"), limit=1.25, limit_label="direct"
                )
            ],
            method="interleaved pairs",
            limits="the HTTP round trip",
            details=["| a | b |", "|---|---|", "| 1 | 2 |"],
        ),
        Section("batch", "batch_analysis", error="RunFailed: batch_analysis run x ended failed"),
    ]


def test_the_terminal_table_has_one_row_per_figure_and_marks_errors():
    table = render_table(_sections())
    lines = table.splitlines()
    assert lines[0].split() == ["benchmark", "measured", "target", "limit", "ratio", "status"]
    assert set(lines[1]) <= {"-", " "}
    assert "audio overhead" in lines[2] and "1.320 s" in lines[2] and "1.06" in lines[2] and "PASS" in lines[2]
    assert "batch_analysis" in lines[3] and lines[3].rstrip().endswith("ERROR")


def test_performance_md_carries_the_command_the_machine_and_each_section(tmp_path):
    path = write_markdown(tmp_path / "docs" / "PERFORMANCE.md", _sections(), MACHINE, "python -m load.bench", 125.0)
    text = path.read_text()
    assert "- command: `python -m load.bench` (2.1 min)" in text
    assert (
        "- machine: 2 cores (AMD EPYC 7B13), 23.4 GiB RAM; Python 3.11.2, Airflow 3.3.2, Essentia 2.1b6.dev1389" in text
    )
    assert "2025-01-01 12:00 UTC" in text
    assert "load average (1/5/15 min) at the start 1.00 0.80 0.50, at the end 2.00 1.00 0.60 on 2 cores" in text
    assert "; CPU steal 12.5 % of the run (the host ran other machines on these cores)" in text
    assert "## 1. Audio service overhead" in text and "## 2. batch_analysis" in text
    assert "**How it was measured.** interleaved pairs" in text
    assert "**What limits it.** the HTTP round trip" in text
    assert "**Did not complete:** RunFailed" in text
    assert "| audio overhead | 1.320 s | <= 1.1x limit | 1.250 s (direct) | 1.06 | PASS |" in text
    # the settings that mattered sit between the summary and the first section, as a table
    assert (
        text.index("## Summary")
        < text.index("## Settings that mattered")
        < text.index("## Where Airflow's CPU goes")
        < text.index("## 1. Audio")
    )
    assert "| `airflow/src/hss_airflow/`" in text
    assert not list(tmp_path.rglob("*.tmp"))  # written atomically


def test_the_markdown_escapes_pipes_inside_cells():
    section = Section("g", "g", figures=[Figure("a | b", 1.0)])
    assert "a \\| b" in render_markdown([section], MACHINE, "cmd", 1.0)


def test_bench_json_holds_figures_with_their_verdicts():
    data = json.loads(json.dumps(to_json(_sections(), MACHINE, "cmd")))
    figure = data["sections"][0]["figures"][0]
    assert figure["passed"] is True and figure["ratio"] == pytest.approx(1.32 / 1.25)
    assert figure["target"] == {"op": "<=", "threshold": 1.1, "on": "ratio"}
    assert data["sections"][1]["error"].startswith("RunFailed")
    assert data["machine"]["cores"] == 2


def test_the_machine_is_read_from_proc_files():
    assert cpu_model("processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags: x\n") == "AMD EPYC 7B13"
    assert ram_gib("MemTotal:       24576000 kB\nMemFree: 1 kB\n") == pytest.approx(23.4375)
    assert ram_gib("nothing here") is None
    probed = Machine.probe()
    assert probed.cores >= 1 and probed.python.startswith("3.")


def test_cpu_steal_is_the_share_of_the_runs_cpu_time_the_host_took_back():
    assert steal_percent((10.0, 1000.0), (25.0, 1100.0)) == pytest.approx(15.0)  # 15 of 100 CPU-s
    assert steal_percent((0.0, 1000.0), (0.0, 1200.0)) == 0.0  # no steal reported (bare metal)
    assert steal_percent((1.0, 500.0), (1.0, 500.0)) is None  # no time passed
    unknown = Machine(2, "cpu", 8.0, "3.11.7", "3.3.2", "2.1b6", "2025-01-01 12:00 UTC", "0.50 0.40 0.30")
    assert "steal" not in unknown.load_line()  # not measured (a run that did not finish), not printed as 0
    probed = Machine.probe()
    time.sleep(0.1)  # the kernel counts CPU time in ticks of 10 ms
    probed.finish()
    assert probed.load_end and probed.steal_pct is not None and 0.0 <= probed.steal_pct <= 100.0
