"""CPU accounting from /proc: parsing, grouping by stack component, and the share of other processes."""

from __future__ import annotations

import pytest

from load.bench.cpu import CLK_TCK, CpuWindow, Proc, by_component, machine_busy_s, parse_stat, summarize


def test_a_stat_line_with_spaces_and_parentheses_in_the_name_parses():
    ticks = [str(CLK_TCK * n) for n in (1, 2, 3, 4)]  # utime, stime, cutime, cstime
    line = f"4242 (airflow (task) x) S 10 4200 4200 0 -1 4194560 1 2 3 4 {' '.join(ticks)} 20 0 1 0 5"
    proc = parse_stat(line)
    assert (proc.pid, proc.ppid, proc.pgrp) == (4242, 10, 4200)
    assert proc.cpu_s == pytest.approx(10.0)


def test_machine_busy_counts_everything_but_idle_and_iowait():
    stat = f"cpu  {CLK_TCK * 3} 0 {CLK_TCK} {CLK_TCK * 100} {CLK_TCK * 5} 0 0 0 0 0\ncpu0 1 2 3 4\n"
    assert machine_busy_s(stat) == pytest.approx(4.0)


def test_processes_are_charged_to_the_component_leading_their_process_group():
    table = {
        1: Proc(1, 0, 1, 0.0),  # init
        100: Proc(100, 1, 100, 1.0),  # the bench itself
        200: Proc(200, 100, 200, 2.0),  # scheduler (a group leader started by the bench)
        201: Proc(201, 200, 200, 0.5),  # its child
        300: Proc(300, 100, 300, 4.0),  # workflow-audio
        301: Proc(301, 300, 300, 6.0),  # an Essentia worker
        400: Proc(400, 100, 400, 0.25),  # a tool subprocess of the bench (not a stack component)
        999: Proc(999, 1, 999, 50.0),  # someone else's process
    }
    totals = by_component(table, {200: "scheduler", 300: "workflow-audio"}, root=100)
    assert totals == {"scheduler": 2.5, "workflow-audio": 10.0, "bench": 1.25}


def test_summarize_splits_ours_airflow_audio_and_others():
    result = summarize(10.0, 15.0, {"scheduler": 2.0, "airflow-worker": 3.0, "workflow-audio": 6.0, "bench": 1.0})
    assert result["airflow_s"] == 5.0 and result["audio_s"] == 6.0 and result["ours_s"] == 12.0
    assert result["others_s"] == 3.0 and result["others_cores"] == pytest.approx(0.3)


def test_a_window_without_a_stack_measures_this_process():
    with CpuWindow() as cpu:
        sum(i * i for i in range(200_000))
    assert cpu.result["wall_s"] > 0 and cpu.result["components"]["bench"] >= 0
