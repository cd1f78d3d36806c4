"""CPU accounting (psutil): parsing, grouping by stack component, and the share of other processes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from load.bench.cpu import (
    CpuWindow,
    Proc,
    by_component,
    descendants,
    machine_busy_s,
    own_tree_cpu_s,
    processes,
    summarize,
)
from stack.waiting import wait_until


def test_the_process_table_holds_this_process_and_charges_its_cpu():
    before = processes()[os.getpid()]
    sum(i * i for i in range(2_000_000))  # burn some CPU in this process
    after = processes()[os.getpid()]
    assert (after.pid, after.ppid, after.pgrp) == (os.getpid(), os.getppid(), os.getpgrp())
    assert after.cpu_s > before.cpu_s


def test_a_child_process_counts_in_this_process_tree_while_it_runs():
    child = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: sum(range(10**6))"])
    try:
        assert child.pid in descendants(os.getpid(), processes())
        # The child's CPU is in the tree's: waited for, since a loaded machine (CI's docker pass) gives it less.
        wait_until(
            lambda: own_tree_cpu_s() - processes()[os.getpid()].cpu_s > 0.1,
            timeout=30,
            interval=0.1,
            what="the spinning child's CPU in this process tree",
        )
    finally:
        child.kill()
        child.wait()


def test_the_machine_was_busy_since_boot_and_stays_monotonic():
    first = machine_busy_s()
    sum(i * i for i in range(1_000_000))
    assert 0 < first <= machine_busy_s()


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


def test_a_process_that_left_its_components_group_still_counts_for_it():
    """PostgreSQL's backends call setsid(): a pooled connection's backend lives through a measured window
    in a group of its own, under the postmaster."""
    table = {
        1: Proc(1, 0, 1, 0.0),
        100: Proc(100, 1, 100, 1.0),  # the bench
        500: Proc(500, 100, 500, 0.5),  # the postmaster (a group leader started by the bench)
        501: Proc(501, 500, 501, 3.0),  # a backend, leader of its own group
        502: Proc(502, 501, 501, 0.25),  # something the backend started
        999: Proc(999, 1, 999, 50.0),  # someone else's process
    }
    totals = by_component(table, {500: "postgres"}, root=100)
    assert totals == {"postgres": 3.75, "bench": 1.0}


def test_summarize_splits_ours_airflow_audio_and_others():
    result = summarize(10.0, 15.0, {"scheduler": 2.0, "airflow-worker": 3.0, "workflow-audio": 6.0, "bench": 1.0})
    assert result["airflow_s"] == 5.0 and result["audio_s"] == 6.0 and result["ours_s"] == 12.0
    assert result["others_s"] == 3.0 and result["others_cores"] == pytest.approx(0.3)


def test_a_window_without_a_stack_measures_this_process():
    with CpuWindow() as cpu:
        sum(i * i for i in range(200_000))
    assert cpu.result["wall_s"] > 0 and cpu.result["components"]["bench"] >= 0
