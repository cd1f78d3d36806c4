"""DAG versioning on the full stack: the Git DAG bundle `hss-dags`, `make dags-deploy` and `make dags-rollback`
(their functions, on this stack's repository), as a user follows them through /api/v2."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from e2e.tests.full_stack.helpers import RUN_TIMEOUT, run_to_end
from stack import dags as dags_cli
from stack.base import Stack
from stack.client import AirflowClient, AirflowClientError
from stack.dag_repo import BUNDLE_NAME
from stack.waiting import WaitTimeout, wait_until

DAG = "rescore_library"  # cheap to run: it rescores the few songs the other tests analysed
TITLE = "# Rescore the library with the promoted model"
CHANGED = f"{TITLE} (deploy 2 of the versioning test)"


def dag_source(tmp_path: Path, name: str, edit) -> Path:
    """A copy of the stack's DAG files with `edit(text)` applied to the DAG's file."""
    source = tmp_path / name
    shutil.copytree(dags_cli.DEFAULT_SOURCE, source, ignore=shutil.ignore_patterns("__pycache__"))
    path = source / f"{DAG}.py"
    path.write_text(edit(path.read_text()))
    return source


def wait_for_version(client: AirflowClient, commit: str, timeout: float = 90.0):
    def at_commit():
        latest = client.dag_versions(DAG)[-1]
        return latest if latest.bundle_version == commit else None

    try:
        return wait_until(at_commit, timeout, 0.5, f"{DAG} at {commit[:8]}")
    except WaitTimeout:
        raise AssertionError(f"{DAG} shows no version of {commit[:8]} after {timeout:.0f} s") from None


def versions_of(client: AirflowClient, run_id: str) -> set[int]:
    return {ti.dag_version.version_number for ti in client.task_instances(DAG, run_id) if ti.dag_version}


def test_a_deploy_is_a_new_version_old_runs_keep_theirs_and_a_rollback_serves_the_old_content(
    client: AirflowClient, stack: Stack, tmp_path: Path
) -> None:
    repo = stack.dag_repo
    assert repo is not None, "the full stack serves its DAGs from the Git bundle"
    first = client.dag_versions(DAG)[-1]
    assert first.bundle_name == BUNDLE_NAME and first.bundle_version == repo.head()
    old_run = run_to_end(client, DAG, {})
    assert versions_of(client, old_run) == {first.version_number}

    # deploy: a new DAG version within a minute, new runs use it
    started = time.monotonic()
    assert dags_cli.deploy(repo, client, dag_source(tmp_path, "v2", lambda t: t.replace(TITLE, CHANGED))) == 0
    deployed = repo.head()
    second = wait_for_version(client, deployed)
    print(f"deploy → version {second.version_number} served in {time.monotonic() - started:.1f} s")
    assert second.version_number == first.version_number + 1 and CHANGED in client.dag_doc(DAG)
    new_run = run_to_end(client, DAG, {})
    assert client.get_run(DAG, new_run).bundle_version == deployed
    assert versions_of(client, new_run) == {second.version_number}

    # a rerun of the old run runs on its own version
    client.clear_run(DAG, old_run)
    final = client.wait_for_run(DAG, old_run, timeout=RUN_TIMEOUT)
    assert final.state.value == "success" and final.bundle_version == first.bundle_version
    assert versions_of(client, old_run) == {first.version_number}

    # rollback: the previous content serves again, as a new version
    assert dags_cli.rollback(repo, client) == 0
    third = wait_for_version(client, repo.head())
    assert third.version_number == second.version_number + 1
    assert CHANGED not in client.dag_doc(DAG) and TITLE in client.dag_doc(DAG)
    run_to_end(client, DAG, {})


def test_a_dag_file_that_does_not_parse_is_refused_and_the_current_version_keeps_serving(
    client: AirflowClient, stack: Stack, tmp_path: Path
) -> None:
    repo = stack.dag_repo
    assert repo is not None
    serving = client.dag_versions(DAG)[-1]
    head = repo.head()
    broken = dag_source(tmp_path, "broken", lambda t: t + "\ndef broken(:\n")

    assert dags_cli.deploy(repo, client, broken) == 1  # refused before committing, the error printed
    assert repo.head() == head
    run_id = run_to_end(client, DAG, {})  # the current version still serves
    assert versions_of(client, run_id) == {serving.version_number}

    # Forced anyway: Airflow 3.3 shows the import error and takes the file's DAGs out of service (stale)
    # until a deploy that parses; a rollback is that deploy.
    assert dags_cli.deploy(repo, client, broken, force=True) == 1
    errors = [e for e in client.import_errors() if e.bundle_name == BUNDLE_NAME and e.filename.endswith(f"{DAG}.py")]
    assert errors and "SyntaxError" in (errors[0].stack_trace or "")
    with pytest.raises(AirflowClientError) as refused:
        client.trigger(DAG, {})
    assert refused.value.status == 404
    assert dags_cli.rollback(repo, client) == 0
    assert not [e for e in client.import_errors() if e.filename.endswith(f"{DAG}.py")]
    run_to_end(client, DAG, {})
