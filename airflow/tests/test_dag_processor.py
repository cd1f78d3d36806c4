"""hss_airflow.dag_processor: after a version-pinned callback ran, a DAG file is parsed again only when its own
stat says so (apache/airflow#73432), and the command every stack runs builds the dag-processor from it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
import yaml
from airflow.dag_processing import manager as airflow_manager

from hss_airflow import dag_processor


def queued_after_a_pinned_callback(manager_class: type, bundle: Path) -> list:
    """What the manager queues right after a file's parse and then a callback-only run of its pinned copy."""
    (bundle / "comprehensive_analysis.py").write_text("")
    processor = manager_class(max_runs=1)
    scanned = airflow_manager.DagFileInfo(
        rel_path=Path("comprehensive_analysis.py"), bundle_path=bundle, bundle_name="hss-dags"
    )
    pinned = airflow_manager.DagFileInfo(
        rel_path=scanned.rel_path, bundle_path=bundle, bundle_name="hss-dags", bundle_version="fd5855df"
    )
    processor._file_stats[scanned] = airflow_manager.DagFileStat(
        num_dags=1, last_finish_time=datetime.now(UTC), run_count=1
    )
    processor.prepare_file_queue(known_files={"hss-dags": {scanned}})
    assert list(processor._file_queue) == [], "a file parsed a moment ago is queued again"  # min_file_process_interval

    callback_run = SimpleNamespace(had_callbacks=True, parsing_result=None, start_time=time.monotonic())
    processor.handle_parsing_result(pinned, callback_run, session=mock.MagicMock())
    processor.prepare_file_queue(known_files={"hss-dags": {scanned}})
    return list(processor._file_queue)


def test_a_pinned_callback_does_not_make_its_file_parse_at_every_loop(tmp_path: Path) -> None:
    assert queued_after_a_pinned_callback(dag_processor.DagFileProcessorManager, tmp_path) == []


def test_airflow_s_own_manager_still_has_the_bug_the_subclass_mends(tmp_path: Path) -> None:
    # When this fails, the Airflow release in use fixed apache/airflow#73432: drop hss_airflow.dag_processor and
    # start `airflow dag-processor` again (stack/airflow_stack.py, docker-compose.yml, the chart values).
    queued = queued_after_a_pinned_callback(airflow_manager.DagFileProcessorManager, tmp_path)
    assert [file.rel_path.name for file in queued] == ["comprehensive_analysis.py"]


def test_the_command_runs_airflow_s_dag_processor_built_from_the_subclass(monkeypatch: pytest.MonkeyPatch) -> None:
    import airflow.__main__
    from airflow.cli.commands import dag_processor_command

    seen = []
    monkeypatch.setattr(dag_processor_command, "DagFileProcessorManager", airflow_manager.DagFileProcessorManager)
    monkeypatch.setattr(sys, "argv", sys.argv[:])
    monkeypatch.setattr(
        airflow.__main__, "main", lambda: seen.append((sys.argv[:], dag_processor_command.DagFileProcessorManager))
    )
    dag_processor.main(["--num-runs", "3"])
    assert seen == [(["airflow", "dag-processor", "--num-runs", "3"], dag_processor.DagFileProcessorManager)]


def test_each_parse_forks_from_a_process_that_has_imported_the_dag_files_modules(
    fresh_python: Callable[..., Any],
) -> None:
    # A fresh interpreter, as the dag-processor: run the command with Airflow's CLI replaced by a recorder.
    code = (
        "import json, sys\n"
        "import airflow.__main__\n"
        "from hss_airflow import dag_processor\n"
        "from hss_airflow.preload import PRELOADED_MODULES\n"
        "before = [m for m in PRELOADED_MODULES if m in sys.modules]\n"
        "seen = []\n"
        "airflow.__main__.main = lambda: seen.append([m for m in PRELOADED_MODULES if m not in sys.modules])\n"
        "dag_processor.main([])\n"
        "print(json.dumps({'before': before, 'missing': seen[0]}))\n"
    )
    found = fresh_python(code)
    assert found["before"] == []  # importing the command's module preloads nothing: main() does
    assert found["missing"] == []


def test_the_module_takes_airflow_dag_processor_s_options() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hss_airflow.dag_processor", "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--num-runs" in done.stdout and "--bundle-name" in done.stdout


def test_every_stack_starts_this_dag_processor() -> None:
    from stack.airflow_stack import dag_processor_argv
    from stack.paths import REPO_ROOT

    command = list(dag_processor.COMMAND)
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    chart = yaml.safe_load((REPO_ROOT / "deploy/kubernetes/airflow-values.yaml").read_text())
    assert dag_processor_argv()[1:] == command[1:], "the local stacks"
    assert compose["services"]["airflow-dag-processor"]["command"] == command, "docker-compose.yml"
    assert chart["dagProcessor"]["args"] == ["bash", "-c", "exec " + " ".join(command)], "the chart values"


def test_the_container_healthcheck_probes_it_as_the_dag_processor(monkeypatch: pytest.MonkeyPatch) -> None:
    from stack.paths import REPO_ROOT

    spec = importlib.util.spec_from_file_location("hss_healthcheck", REPO_ROOT / "docker/healthcheck.py")
    healthcheck = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(healthcheck)
    asked = []
    monkeypatch.setattr(healthcheck, "heartbeat_healthy", lambda job: asked.append(job) or True)
    monkeypatch.setattr(healthcheck, "dag_bundle_serves", lambda: False)  # no DAG loaded: unhealthy
    assert healthcheck.probe(" ".join(dag_processor.COMMAND)) is False
    assert asked == ["dag_processor"]
