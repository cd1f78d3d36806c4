"""A task's DAG file, parsed by the process that forks the task, once per file version, not in every task.

Airflow's task runner parses its DAG file first thing in every task process (`task_runner.parse`: the DAG bundle,
then a `BundleDagBag` of that one file; `dag_file_parse_ms` in each task's log: 16-18 ms median on a slow machine,
docs/PERFORMANCE.md). Before Airflow's supervisor forks a task (`BaseExecutor.run_workload`, which
the Celery worker's pool processes and make demo's LocalExecutor workers both call), the process here parses the
workload's DAG file unless it holds that file's parse already; the forked task's `BundleDagBag` of the same file
takes that parse instead of importing the file again.

The task gets the DAG its file builds, as from its own parse:
- a parse is kept per absolute file path, which for the Git bundle holds the bundle version (its commit), with the
  sha256 of the file's content, checked again in the task after its own bundle start: a changed file, or another
  version, is parsed by the task itself. One parse per bundle file is kept: a new version replaces the last.
- it is kept only when the file imported without error and imported no module but itself (its imports are
  preloaded, hss_airflow.preload); otherwise the task parses the file as before and meets its errors itself, and
  the forking process does not parse that content again.
- the bundle's files are checked out (its `initialize`, under its lock) before the parse, as a task's start does;
  its path joins `sys.path` in the task, as `BundleDagBag` does, not in the process that forks.

The first task of a file version in each forking process pays the parse before its fork, the same work before its
start instead of after it; every later one skips it. A DAG file's top-level code runs in the forking process, not
in the task: code that depends on the task's context there (a Variable read through the task's channel, say)
breaks Airflow's own rule for DAG files (top-level code is parsed by the dag-processor too). A failure here costs
only the speed-up: it is logged, and the task parses its file itself.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow.dag_processing import dagbag
from airflow.dag_processing.bundles.base import BaseDagBundle
from airflow.dag_processing.bundles.manager import DagBundlesManager
from airflow.executors.base_executor import BaseExecutor
from airflow.executors.workloads.task import ExecuteTask
from airflow.utils.file import get_unique_dag_module_name

from hss_airflow.storage import file_digest

log = logging.getLogger(__name__)

AIRFLOW_BUNDLE_DAG_BAG = dagbag.BundleDagBag
AIRFLOW_RUN_WORKLOAD = BaseExecutor.run_workload
# What Airflow's task runner passes beside the file and its bundle: a bag asked for with anything else is parsed.
TASK_PARSE = {"safe_mode": False, "load_op_links": False}


@dataclass(frozen=True)
class Parsed:
    file_id: str  # the file's sha256 when it was parsed (an mtime may not move for a rewrite in the same tick)
    bundle_path: str
    bundle_name: str
    bag: dagbag.DagBag


PARSED: dict[str, Parsed] = {}  # absolute DAG file path -> its parse
LATEST: dict[tuple[str, str], str] = {}  # (bundle name, file in the bundle) -> the absolute path parsed last
REFUSED: dict[str, str] = {}  # absolute DAG file path -> the sha256 of the content whose parse was not kept


def taken(path: str, bundle_path: str, bundle_name: str) -> Parsed | None:
    """The parse kept for `path` when it is of this bundle and of the file as it is now."""
    parsed = PARSED.get(path)
    if parsed is None or (parsed.bundle_path, parsed.bundle_name) != (bundle_path, bundle_name):
        return None
    try:
        return parsed if file_digest(path) == parsed.file_id else None
    except OSError:
        return None


class PreparsedBundleDagBag(AIRFLOW_BUNDLE_DAG_BAG):  # type: ignore[misc,valid-type]
    """Airflow's BundleDagBag, which takes the forking process's parse of its file while that file is unchanged."""

    def __init__(self, *args: Any, bundle_path: Path | None = None, **kwargs: Any) -> None:
        folder, name = kwargs.pop("dag_folder", None), kwargs.pop("bundle_name", None)
        parsed = None
        if not args and folder is not None and bundle_path is not None and name is not None and kwargs == TASK_PARSE:
            parsed = taken(os.fspath(folder), str(bundle_path), name)
        if parsed is None:
            super().__init__(*args, dag_folder=folder, bundle_path=bundle_path, bundle_name=name, **kwargs)
            return
        if parsed.bundle_path not in sys.path:
            sys.path.append(parsed.bundle_path)  # as BundleDagBag does
        self.__dict__.update(parsed.bag.__dict__)


@functools.lru_cache(maxsize=8)
def bundle_at(name: str, version: str | None) -> BaseDagBundle:
    """The bundle at `version`, as the task's start builds it (one instance per version, reused)."""
    return DagBundlesManager().get_bundle(name=name, version=version)


def parse_alone(path: str, bundle_path: str, bundle_name: str, identity: str | None = None) -> Parsed | None:
    """Parse `path` as the task runner does; the parse when it imported nothing but the file, else None (and the
    modules it imported from its bundle are forgotten, so no task inherits another version's module)."""
    before, on_path = set(sys.modules), bundle_path in sys.path
    identity = identity or file_digest(path)  # read before the parse: a later change then misses, never passes
    try:
        bag = AIRFLOW_BUNDLE_DAG_BAG(
            dag_folder=path, bundle_path=Path(bundle_path), bundle_name=bundle_name, **TASK_PARSE
        )
    finally:
        if not on_path and bundle_path in sys.path:
            sys.path.remove(bundle_path)
    module = get_unique_dag_module_name(path)
    imported = set(sys.modules) - before - {module}
    if bag.import_errors or not bag.dags or imported:
        for name in imported | {module}:
            if name == module or _is_under(sys.modules.get(name), bundle_path):
                sys.modules.pop(name, None)
        log.info("%s is parsed by each task: %s", path, dict(bag.import_errors) or f"it imported {sorted(imported)}")
        REFUSED[path] = identity  # not parsed here again while it stays as it is
        return None
    return Parsed(identity, bundle_path, bundle_name, bag)


def _is_under(module: Any, folder: str) -> bool:
    file = getattr(module, "__file__", None)
    return file is not None and Path(file).resolve().is_relative_to(Path(folder).resolve())


def keep(rel_path: str, path: str, parsed: Parsed) -> None:
    last = LATEST.get((parsed.bundle_name, rel_path))
    if last is not None and last != path:
        PARSED.pop(last, None)
        sys.modules.pop(get_unique_dag_module_name(last), None)
    PARSED[path], LATEST[(parsed.bundle_name, rel_path)] = parsed, path
    dagbag.BundleDagBag = PreparsedBundleDagBag  # the tasks forked from now on look their file up first


def parse_before_fork(bundle_name: str, version: str | None, rel_path: str) -> None:
    """In the process that forks the task: its DAG file parsed and kept, unless kept already as it is now."""
    try:
        bundle = bundle_at(bundle_name, version)
        if taken(os.fspath(Path(bundle.path, rel_path)), str(bundle.path), bundle_name) is not None:
            return
        bundle.initialize()  # the files checked out (a tracking bundle refreshed), as the task's start does
        bundle_path = str(bundle.path)
        path = os.fspath(Path(bundle_path, rel_path))
        identity = file_digest(path)
        if REFUSED.get(path) == identity:
            return
        if (parsed := parse_alone(path, bundle_path, bundle_name, identity)) is not None:
            keep(rel_path, path, parsed)
    except Exception:
        log.warning(
            "%s of bundle %s was not parsed before the fork: the task parses it", rel_path, bundle_name, exc_info=True
        )


def run_workload_with_its_dag_parsed(workload: Any, **kwargs: Any) -> int:
    if isinstance(workload, ExecuteTask):
        parse_before_fork(workload.bundle_info.name, workload.bundle_info.version, workload.dag_rel_path)
    return AIRFLOW_RUN_WORKLOAD(workload, **kwargs)


def install() -> None:
    """Every workload Airflow hands to its supervisor from now on in this process gets its DAG file parsed first."""
    BaseExecutor.run_workload = staticmethod(run_workload_with_its_dag_parsed)  # type: ignore[method-assign]
