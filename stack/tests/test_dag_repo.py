"""stack.dag_repo: the full stack's DAG repository (deploy, rollback, the bundle's environment)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

import pytest

from stack.dag_repo import BUNDLE_NAME, DagRepo, DagRepoError, bundle_env, trusted_repo_env
from stack.paths import DAGS_SOURCE

DAGS = DAGS_SOURCE


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "a.py").write_text("A = 1\n")
    (folder / "b.py").write_text("B = 1\n")
    (folder / "notes.txt").write_text("not a DAG file")
    (folder / "__pycache__").mkdir()
    return folder


def test_the_first_sync_creates_the_repository_with_the_dag_files_only(tmp_path: Path, source: Path) -> None:
    repo = DagRepo(tmp_path / "dags.git")
    assert "created" in repo.sync(source)
    assert repo.files() == {"a.py": "A = 1", "b.py": "B = 1"}
    assert "already serves" in repo.sync(source)  # unchanged: no new version
    assert len(repo.history()) == 1
    # a bare repository: what the bundle clones (a plain `git clone` of it shows dags/ at the top)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(repo.path), str(clone)], check=True)
    assert sorted(p.name for p in (clone / "dags").iterdir()) == ["a.py", "b.py"]


def test_deploy_adds_changes_and_deletions_and_rollback_restores_the_previous_content(
    tmp_path: Path, source: Path
) -> None:
    repo = DagRepo(tmp_path / "dags.git")
    repo.init(source)
    first = repo.head()
    (source / "a.py").write_text("A = 2\n")
    (source / "b.py").unlink()
    second = repo.deploy(source, "retries 3")
    assert second is not None and second.message == "deploy 2: retries 3"
    assert repo.files() == {"a.py": "A = 2"}
    assert repo.deploy(source) is None  # the same content again

    back = repo.rollback()
    assert back.message.startswith(f"rollback 3: the content of {first[:8]}")
    assert repo.files() == repo.files(first) == {"a.py": "A = 1", "b.py": "B = 1"}
    assert [d.commit for d in repo.history()] == [back.commit, second.commit, first]  # nothing rewritten
    assert repo.files(second.commit) == {"a.py": "A = 2"}  # an old version stays readable for its runs


def test_rollback_needs_two_deploys_and_deploy_needs_dag_files(tmp_path: Path, source: Path) -> None:
    repo = DagRepo(tmp_path / "dags.git")
    repo.init(source)
    with pytest.raises(DagRepoError, match="nothing to roll back to"):
        repo.rollback()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DagRepoError, match="no DAG files"):
        repo.deploy(empty)


def test_concurrent_deploys_never_lose_one(tmp_path: Path, source: Path) -> None:
    repo = DagRepo(tmp_path / "dags.git")
    repo.init(source)
    outcomes: list[object] = []

    def deploy(i: int) -> None:
        folder = tmp_path / f"src{i}"
        folder.mkdir()
        (folder / "a.py").write_text(f"A = {i}\n")
        try:
            outcomes.append(repo.deploy(folder))
        except DagRepoError as exc:  # the compare-and-swap on the tip refused it
            outcomes.append(exc)

    threads = [threading.Thread(target=deploy, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    made = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(repo.history()) == 1 + len(made)  # every deploy that said yes is in the history
    assert all("cannot lock ref" in str(o) or "but expected" in str(o) for o in outcomes if isinstance(o, Exception))


def test_the_bundle_environment_names_the_git_bundle_and_its_connection() -> None:
    env = bundle_env("/srv/dags.git")
    [bundle] = json.loads(env["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"])
    assert bundle["name"] == BUNDLE_NAME == "hss-dags"
    assert bundle["classpath"] == "airflow.providers.git.bundles.git.GitDagBundle"
    assert bundle["kwargs"]["subdir"] == "dags" and bundle["kwargs"]["tracking_ref"] == "main"
    connection = json.loads(env["AIRFLOW_CONN_HSS_DAGS_REPO"])
    assert connection == {"conn_type": "git", "host": "/srv/dags.git"}


def test_the_working_tree_dags_deploy_as_they_are(tmp_path: Path) -> None:
    repo = DagRepo(tmp_path / "dags.git")
    repo.init(DAGS)
    assert set(repo.files()) == {p.name for p in DAGS.glob("*.py")}


def test_the_cli_says_what_to_do_without_a_full_stack(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from stack import dags as dags_cli

    assert dags_cli.main(["--state-dir", str(tmp_path), "deploy"]) == 2
    assert "no stack is up" in capsys.readouterr().out
    (tmp_path / "stack.json").write_text(json.dumps({"backend": "local", "profile": "embedded"}))  # make demo
    assert dags_cli.main(["--state-dir", str(tmp_path), "rollback"]) == 2
    assert "plain folder (make demo)" in capsys.readouterr().out


def test_the_cli_refuses_a_dag_file_that_does_not_import(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from stack import dags as dags_cli

    source = tmp_path / "dags"
    source.mkdir()
    (source / "broken.py").write_text("from airflow.sdk import dag\n\ndef broken(:\n")  # safe mode reads it
    repo = DagRepo(tmp_path / "dags.git")
    repo.init(DAGS)
    head = repo.head()
    assert dags_cli.deploy(repo, client=None, source=source) == 1  # refused before any call to Airflow
    out = capsys.readouterr().out
    assert "broken.py: SyntaxError" in out and "not deployed" in out and repo.head() == head


def test_a_deploy_asks_airflow_to_parse_every_dag_file_of_the_new_commit_at_once(tmp_path: Path, source: Path) -> None:
    from types import SimpleNamespace

    from stack.dags import request_parses

    class Client:  # what the api-server knows: a DAG per file, one of them stale
        def __init__(self) -> None:
            self.parsed: list[str] = []

        def list_dags(self, *, include_stale: bool = False):
            assert include_stale, "a stale DAG (its file broke) must be parsed again by a rollback too"
            files = {"dag_a": "a.py", "dag_b": "b.py", "dag_gone": "gone.py"}
            return [SimpleNamespace(dag_id=d, relative_fileloc=f, fileloc=f"/x/{f}") for d, f in files.items()]

        def request_parse(self, dag_id: str) -> None:
            self.parsed.append(dag_id)

    repo = DagRepo(tmp_path / "dags.git")
    repo.init(source)
    (source / "a.py").write_text("A = 2\n")  # changed; b.py unchanged; gone.py was never in the repository
    made = repo.deploy(source, "a changed")
    client = Client()
    request_parses(client, repo, made)
    assert client.parsed == ["dag_a", "dag_b"]  # unchanged files too (their DAGs take the commit); no missing file


ROOT_ONLY = "only root can hand the repository to another uid, as compose's init does (CI runs as root)"


@pytest.mark.skipif(os.geteuid() != 0, reason=ROOT_ONLY)
def test_a_repository_the_docker_stack_handed_to_its_uid_still_clones_for_the_local_stack(
    tmp_path: Path, source: Path
) -> None:
    repo = DagRepo(tmp_path / "dags.git")
    repo.sync(source)
    for path in [repo.path, *repo.path.rglob("*")]:
        os.chown(path, 50000, 0)  # what airflow-init does when the host user is root
    env = {**os.environ, "HOME": str(tmp_path)}  # no global git config of this machine in the way

    def clone(extra: dict[str, str], target: str) -> subprocess.CompletedProcess:
        argv = ["git", "clone", "-q", str(repo.path), str(tmp_path / target)]
        return subprocess.run(argv, env={**env, **extra}, capture_output=True, text=True)

    refused = clone({}, "plain")
    assert refused.returncode != 0 and "dubious ownership" in refused.stderr  # what the dag-processor hit
    trusted = clone(trusted_repo_env(repo.path, tmp_path / "home"), "trusted")
    assert trusted.returncode == 0, trusted.stderr
    assert (tmp_path / "trusted" / "dags").is_dir()
