"""Every DAG file parses on its own: no import errors, at least one DAG, no cycles, only known pools,
and the import rule (DAG files import Airflow and hss_airflow, never services/ or e2e/)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

from stack.paths import REPO_ROOT

AIRFLOW_DIR = REPO_ROOT / "airflow"
DAG_FILES = sorted((AIRFLOW_DIR / "dags").glob("*.py"))
KNOWN_POOLS = {"default_pool", *json.loads((AIRFLOW_DIR / "config" / "pools.json").read_text())}
FORBIDDEN_IMPORTS = ("services", "e2e", "fixtures")


def test_the_dags_folder_holds_the_seven_dag_files() -> None:
    assert {p.stem for p in DAG_FILES} >= {
        "comprehensive_analysis",
        "ml_training_smart_ensemble",
        "daily_model_training",
        "dataset_triggered_training",
        "batch_analysis",
        "train_on_new_dataset",
        "rescore_library",
    }


@pytest.fixture(scope="module", params=DAG_FILES, ids=[p.name for p in DAG_FILES])
def bag(request: pytest.FixtureRequest) -> DagBag:
    return DagBag(dag_folder=str(request.param), known_pools=KNOWN_POOLS)


def test_dag_file_imports_without_errors(bag: DagBag) -> None:
    assert bag.import_errors == {}


def test_dag_file_defines_at_least_one_dag(bag: DagBag) -> None:
    assert bag.size() >= 1


def test_dag_has_no_cycles(bag: DagBag) -> None:
    for dag in bag.dags.values():
        dag.check_cycle()  # raises AirflowDagCycleException on a cycle


def test_dag_uses_only_pools_that_exist(bag: DagBag) -> None:
    assert {w.message for w in bag.dag_warnings} == set()


@pytest.mark.parametrize("path", DAG_FILES, ids=[p.name for p in DAG_FILES])
def test_dag_file_imports_nothing_from_services_or_e2e(path: Path) -> None:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    assert not {m for m in modules if m.split(".")[0] in FORBIDDEN_IMPORTS}
