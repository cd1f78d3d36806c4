"""hss_airflow.preparsed_dags: a task forked after its DAG file was parsed takes that parse, and only while it is
the parse the task would make itself (the file unchanged, nothing but the file imported, no import error).

Each test runs a new interpreter as a worker's pool process: the preload, a local DAG bundle in tmp_path, a
workload's DAG file parsed before the fork, then Airflow's own task-runner `parse` in a forked child.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stack.paths import DAGS_SOURCE

BUNDLE = "tests"
# A worker's pool process: the preload, then what a task's start-up details name (its bundle, file, DAG and task).
PRELUDE = textwrap.dedent(
    """
    import json, os, sys, uuid
    from datetime import UTC, datetime
    from pathlib import Path
    from hss_airflow.preload import import_preloaded
    import_preloaded()
    import structlog
    from airflow.dag_processing import dagbag
    from airflow.sdk.api.datamodels._generated import BundleInfo, TaskInstance, TIRunContext
    from airflow.sdk.execution_time import task_runner
    from airflow.sdk.execution_time.comms import StartupDetails
    from hss_airflow import preparsed_dags

    def startup(file, dag_id, task_id):
        ti = TaskInstance.model_construct(id=uuid.uuid4(), task_id=task_id, dag_id=dag_id, run_id="r", try_number=1,
                                          map_index=-1, dag_version_id=uuid.uuid4())
        return StartupDetails.model_construct(ti=ti, dag_rel_path=file, bundle_info=BundleInfo(name="tests"),
                                              start_date=datetime.now(UTC), ti_context=TIRunContext.model_construct(
                                                  max_tries=1), sentry_integration="")

    def in_a_task(details):
        '''Airflow's task-runner parse in a forked child: what it found, as JSON-able facts.'''
        read, write = os.pipe()
        if os.fork() == 0:
            before, parsed, process_file = set(sys.modules), [], dagbag.DagBag.process_file
            dagbag.DagBag.process_file = lambda bag, *args, **kw: parsed.append(1) or process_file(bag, *args, **kw)
            try:
                ti = task_runner.parse(details, structlog.get_logger())
                found = {"task": type(ti.task).__name__, "dag": id(ti.task.dag), "doc": ti.task.dag.doc_md,
                         "files parsed": len(parsed), "imported": sorted(set(sys.modules) - before),
                         "bundle on sys.path": BUNDLE_PATH in sys.path}
            except (SystemExit, Exception) as failed:
                found = {"failed": type(failed).__name__}
            os.write(write, json.dumps(found).encode())
            os._exit(0)
        os.close(write)
        with os.fdopen(read) as answer:
            found = json.loads(answer.read())
        os.wait()
        return found

    def kept():
        return {path: id(next(iter(p.bag.dags.values()))) for path, p in preparsed_dags.PARSED.items()}
    """
)


def run(fresh_python: Callable[..., Any], env: dict[str, str], bundle: Path, code: str) -> dict[str, Any]:
    return fresh_python(f"BUNDLE_PATH = {str(bundle)!r}\n{PRELUDE}\n{textwrap.dedent(code)}", env=env)


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    folder = tmp_path / "bundle"
    folder.mkdir()
    return folder


@pytest.fixture
def env(tmp_path: Path, bundle: Path, task_process_env: dict[str, str]) -> dict[str, str]:
    config = [{"name": BUNDLE, "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
               "kwargs": {"path": str(bundle)}}]  # fmt: skip
    return {
        **task_process_env,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(config),
    }


def small_dag(doc: str, extra: str = "") -> str:
    return textwrap.dedent(
        f"""
        {extra}
        from airflow.providers.standard.operators.python import PythonOperator
        from airflow.sdk import DAG

        with DAG("small", schedule=None, doc_md={doc!r}):
            PythonOperator(task_id="t", python_callable=print)
        """
    )


def test_a_task_forked_after_its_file_was_parsed_takes_that_parse(
    fresh_python: Callable[..., Any], env: dict[str, str], bundle: Path
) -> None:
    (bundle / "comprehensive_analysis.py").write_text((DAGS_SOURCE / "comprehensive_analysis.py").read_text())
    found = run(
        fresh_python,
        env,
        bundle,
        """
        details = startup("comprehensive_analysis.py", "comprehensive_analysis", "ai_insights")
        own = in_a_task(details)  # before: the task parses its file itself
        preparsed_dags.parse_before_fork("tests", None, "comprehensive_analysis.py")
        print(json.dumps({"own": own, "taken": in_a_task(details), "kept": kept(),
                          "parent's sys.path": BUNDLE_PATH in sys.path}))
        """,
    )
    [kept_dag] = found["kept"].values()
    assert found["own"]["task"] == found["taken"]["task"] == "IntelligenceOperator"
    assert found["own"]["files parsed"] == 1 and found["own"]["imported"] != []  # it imported its DAG file
    assert found["taken"]["files parsed"] == 0 and found["taken"]["imported"] == []
    assert found["taken"]["dag"] == kept_dag  # the fork's copy of the DAG parsed before it
    # the bundle joins sys.path in the task, as Airflow's BundleDagBag does; not in the process that forks
    assert found["taken"]["bundle on sys.path"] and not found["parent's sys.path"]


def test_a_file_changed_after_its_parse_is_parsed_by_the_task(
    fresh_python: Callable[..., Any], env: dict[str, str], bundle: Path
) -> None:
    (bundle / "small.py").write_text(small_dag("first!"))
    found = run(
        fresh_python,
        env,
        bundle,
        f"""
        details = startup("small.py", "small", "t")
        preparsed_dags.parse_before_fork("tests", None, "small.py")
        first = kept()
        # rewritten at once with the same size: its mtime may well not move
        Path(BUNDLE_PATH, "small.py").write_text({small_dag("second")!r})
        changed = in_a_task(details)
        preparsed_dags.parse_before_fork("tests", None, "small.py")  # the next workload parses it again
        print(json.dumps({{"first": first, "changed": changed, "next": in_a_task(details), "kept": kept()}}))
        """,
    )
    assert len(found["first"]) == 1
    assert found["changed"]["doc"] == "second" and found["changed"]["files parsed"] == 1  # its own parse
    [kept_dag] = found["kept"].values()
    assert found["next"]["doc"] == "second" and found["next"]["files parsed"] == 0
    assert found["next"]["dag"] == kept_dag


def test_a_file_that_imports_a_module_of_its_bundle_is_not_kept(
    fresh_python: Callable[..., Any], env: dict[str, str], bundle: Path
) -> None:
    # A module of the bundle belongs to its version: kept in the forking process, a task of the next version would
    # find this one's in sys.modules. The parse is dropped with every module it brought from the bundle.
    (bundle / "shared_doc.py").write_text("DOC = 'from a sibling'\n")
    (bundle / "small.py").write_text(small_dag("unused", extra="import shared_doc"))
    found = run(
        fresh_python,
        env,
        bundle,
        """
        parsed, process_file = [], dagbag.DagBag.process_file
        dagbag.DagBag.process_file = lambda bag, *args, **kw: parsed.append(1) or process_file(bag, *args, **kw)
        preparsed_dags.parse_before_fork("tests", None, "small.py")
        preparsed_dags.parse_before_fork("tests", None, "small.py")  # the next workload: refused already
        dagbag.DagBag.process_file = process_file
        task = in_a_task(startup("small.py", "small", "t"))
        print(json.dumps({"kept": kept(), "sibling loaded": "shared_doc" in sys.modules, "task": task, "parsed": parsed,
                          "bag": dagbag.BundleDagBag is preparsed_dags.AIRFLOW_BUNDLE_DAG_BAG,
                          "parent's sys.path": BUNDLE_PATH in sys.path}))
        """,
    )
    assert found["kept"] == {} and not found["sibling loaded"] and not found["parent's sys.path"]
    assert found["parsed"] == [1]  # once: not again at every workload beside the task's own parse
    assert found["bag"]  # nothing kept: the tasks parse with Airflow's own BundleDagBag
    assert found["task"]["task"] == "PythonOperator" and found["task"]["files parsed"] == 1
    assert "shared_doc" in found["task"]["imported"]


def test_a_file_that_fails_to_import_is_not_kept_and_its_task_meets_the_error(
    fresh_python: Callable[..., Any], env: dict[str, str], bundle: Path
) -> None:
    (bundle / "small.py").write_text(small_dag("broken") + "\nraise RuntimeError('broken DAG file')\n")
    found = run(
        fresh_python,
        env,
        bundle,
        """
        details = startup("small.py", "small", "t")
        own = in_a_task(details)
        preparsed_dags.parse_before_fork("tests", None, "small.py")
        print(json.dumps({"kept": kept(), "own": own, "after": in_a_task(details)}))
        """,
    )
    assert found["kept"] == {}
    # Airflow's "Dag not found during start up" (its start-up reschedule), as without the pre-parse
    assert found["after"] == found["own"] == {"failed": "AirflowRescheduleException"}


def test_a_new_version_of_a_file_replaces_the_last_one_kept(
    fresh_python: Callable[..., Any], env: dict[str, str], bundle: Path
) -> None:
    # One parse per bundle file: a file at a new path (a Git bundle's next version) drops the last one and its
    # module, so a long-lived pool process does not keep every version it ever ran.
    (bundle / "v1").mkdir()
    (bundle / "v2").mkdir()
    (bundle / "v1" / "small.py").write_text(small_dag("v1"))
    (bundle / "v2" / "small.py").write_text(small_dag("v2"))
    found = run(
        fresh_python,
        env,
        bundle,
        """
        from airflow.utils.file import get_unique_dag_module_name
        def parse(version):
            path = str(Path(BUNDLE_PATH, version, "small.py"))
            parsed = preparsed_dags.parse_alone(path, BUNDLE_PATH, "tests")
            preparsed_dags.keep("small.py", path, parsed)
            return get_unique_dag_module_name(path)
        first, second = parse("v1"), parse("v2")
        modules = [m in sys.modules for m in (first, second)]
        print(json.dumps({"kept": sorted(preparsed_dags.PARSED), "modules": modules}))
        """,
    )
    assert found["kept"] == [str(bundle / "v2" / "small.py")]
    assert found["modules"] == [False, True]


def test_every_task_workload_is_parsed_before_it_is_handed_to_the_supervisor(
    fresh_python: Callable[..., Any], env: dict[str, str], bundle: Path
) -> None:
    # The preload installs it in the processes that fork tasks: the Celery pool and make demo's LocalExecutor
    # workers both hand each workload to BaseExecutor.run_workload.
    (bundle / "small.py").write_text(small_dag("small"))
    found = run(
        fresh_python,
        env,
        bundle,
        """
        from airflow.executors.base_executor import BaseExecutor
        from airflow.executors.workloads.task import ExecuteTask
        handed = []
        preparsed_dags.AIRFLOW_RUN_WORKLOAD = lambda workload, **kwargs: handed.append(kwargs) or 0
        other = object()
        BaseExecutor.run_workload(other, subprocess_logs_to_stdout=True)  # not a task: handed over as it is
        nothing_kept = kept() == {}
        details = startup("small.py", "small", "t")
        workload = ExecuteTask.model_construct(ti=details.ti, dag_rel_path="small.py", bundle_info=details.bundle_info)
        code = BaseExecutor.run_workload(workload, subprocess_logs_to_stdout=True)
        print(json.dumps({"handed": handed, "code": code, "nothing kept first": nothing_kept,
                          "kept": sorted(preparsed_dags.PARSED)}))
        """,
    )
    assert found["handed"] == [{"subprocess_logs_to_stdout": True}] * 2 and found["code"] == 0
    assert found["nothing kept first"] and found["kept"] == [str(bundle / "small.py")]
