"""The full stack's DAG repository: the Git repository Airflow's Git DAG bundle `hss-dags` reads.

Each full stack (both backends) gets a bare repository, `<state dir>/dags.git`, created at `make up` from
the working tree's `airflow/dags/`. Its branch `main` holds `dags/*.py`, and every commit is one deploy.
The dag-processor refreshes the bundle every BUNDLE_REFRESH_S seconds; each commit becomes a bundle
version, so a changed DAG gets a new DAG version. A run keeps the version it started on, and the
workers check out that commit.

- `deploy(source)` commits the source folder's DAG files as the branch's new tip (deleted files go too).
- `rollback()` commits the content of the deploy before the current one as a new commit. Nothing is
  rewritten, so every version a run used stays in the history.

Only git plumbing is used (`read-tree`/`write-tree`/`commit-tree`/`update-ref` on a temporary index), so
the bare repository needs no work tree. `update-ref` checks the tip it read, so two deploys at once cannot
both win.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

BUNDLE_NAME = "hss-dags"
REPO_CONN_ID = "hss_dags_repo"  # the git connection whose host is the repository (AIRFLOW_CONN_HSS_DAGS_REPO)
BRANCH = "main"
SUBDIR = "dags"
BUNDLE_REFRESH_S = 10  # how often the dag-processor looks for a new commit
REPO_IN_CONTAINERS = "/opt/airflow/dags-repo"  # where docker-compose.yml mounts it
IDENTITY = {
    "GIT_AUTHOR_NAME": "hss dags-deploy",
    "GIT_AUTHOR_EMAIL": "dags-deploy@hss.invalid",
    "GIT_COMMITTER_NAME": "hss dags-deploy",
    "GIT_COMMITTER_EMAIL": "dags-deploy@hss.invalid",
}


class DagRepoError(RuntimeError):
    """A deploy or rollback that cannot be done; the message says why."""


def bundle_env(repo: str | Path) -> dict[str, str]:
    """The Airflow environment that serves `airflow/dags` from the repository at `repo` (as Airflow sees it)."""
    bundle = {
        "name": BUNDLE_NAME,
        "classpath": "airflow.providers.git.bundles.git.GitDagBundle",
        "kwargs": {
            "git_conn_id": REPO_CONN_ID,
            "tracking_ref": BRANCH,
            "subdir": SUBDIR,
            "refresh_interval": BUNDLE_REFRESH_S,
        },
    }
    return {
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps([bundle]),
        f"AIRFLOW_CONN_{REPO_CONN_ID.upper()}": json.dumps({"conn_type": "git", "host": str(repo)}),
    }


def trusted_repo_env(repo: str | Path, folder: Path) -> dict[str, str]:
    """Git settings that let a local stack's Airflow clone the stack's own repository when another uid owns it:
    the docker stack hands it to AIRFLOW_UID (50000 when the host user is root), after which root's git refuses it
    as "dubious ownership" and no DAG loads. Git reads safe.directory only from the system or global config (not
    from `-c`), so the Airflow processes get a global config of their own (`folder`/gitconfig, GIT_CONFIG_GLOBAL)
    that includes the user's and trusts this one path: the repository `make up` created for this checkout."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "gitconfig"
    config.write_text(f"[include]\n\tpath = ~/.gitconfig\n[safe]\n\tdirectory = {Path(repo)}\n")
    return {"GIT_CONFIG_GLOBAL": str(config)}


@dataclass(frozen=True)
class Deploy:
    commit: str
    message: str


class DagRepo:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def _git(self, *args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
        done = subprocess.run(
            ["git", f"--git-dir={self.path}", *args],
            capture_output=True,
            text=True,
            input=stdin,
            env={**os.environ, **IDENTITY, **(env or {})},
            check=False,
        )
        if done.returncode != 0:
            raise DagRepoError(
                f"git {' '.join(args)} in {self.path} failed: {done.stderr.strip() or done.stdout.strip()}"
            )
        return done.stdout.strip()

    # --- reading ---------------------------------------------------------------------------------
    def exists(self) -> bool:
        return (self.path / "HEAD").is_file()

    def head(self) -> str | None:
        try:
            return self._git("rev-parse", "--verify", "--quiet", f"refs/heads/{BRANCH}")
        except DagRepoError:
            return None

    def history(self, limit: int = 20) -> list[Deploy]:
        """The newest deploys first."""
        if self.head() is None:
            return []
        out = self._git("log", f"--max-count={limit}", "--format=%H%x00%s", BRANCH)
        return [Deploy(*line.split("\0", 1)) for line in out.splitlines()]

    def files(self, commit: str | None = None) -> dict[str, str]:
        """{file name: content} of the DAG folder at `commit` (default: the tip)."""
        ref = commit or BRANCH
        names = self._git("ls-tree", "--name-only", f"{ref}:{SUBDIR}").splitlines()
        return {name: self._git("show", f"{ref}:{SUBDIR}/{name}") for name in names}

    def changed_files(self, commit: str) -> set[str]:
        """The DAG file names `commit` changed, added or deleted against its parent."""
        out = self._git("diff-tree", "--no-commit-id", "--name-only", "-r", "--root", commit)
        return {Path(line).name for line in out.splitlines() if line.startswith(f"{SUBDIR}/")}

    # --- writing ---------------------------------------------------------------------------------
    def init(self, source: Path) -> Deploy | None:
        """Create the bare repository with a first deploy of `source`; an existing one is kept (None)."""
        if self.exists():
            return None
        self.path.mkdir(parents=True, exist_ok=True)
        self._git("init", "--quiet", "--bare", f"--initial-branch={BRANCH}")
        return self.deploy(source, "the DAGs of the working tree when the stack started")

    def sync(self, source: Path) -> str:
        """At stack start: create the repository, or deploy the working tree when it changed; say which."""
        if (first := self.init(source)) is not None:
            return f"DAG repository {self.path} created: {first.message} ({first.commit[:8]})"
        made = self.deploy(source, "the working tree when the stack started")
        if made is not None:
            return f"DAG repository {self.path}: {made.message} ({made.commit[:8]})"
        return f"DAG repository {self.path} already serves the working tree ({(self.head() or '')[:8]})"

    def deploy(self, source: Path, note: str = "") -> Deploy | None:
        """Commit the DAG files of `source` (its `*.py` and `.airflowignore`) as the new tip; None if unchanged."""
        dag_files = sorted(
            p for p in Path(source).iterdir() if p.is_file() and (p.suffix == ".py" or p.name == ".airflowignore")
        )
        if not dag_files:
            raise DagRepoError(f"no DAG files (*.py) in {source}: nothing to deploy")
        with tempfile.TemporaryDirectory(prefix="hss-dags-deploy-") as tmp:
            tree_root = Path(tmp) / "tree"
            (tree_root / SUBDIR).mkdir(parents=True)
            for path in dag_files:
                shutil.copy2(path, tree_root / SUBDIR / path.name)
            index = {"GIT_INDEX_FILE": str(Path(tmp) / "index"), "GIT_WORK_TREE": str(tree_root)}
            self._git("add", "--all", ".", env={**index, "GIT_DIR": str(self.path)})
            tree = self._git("write-tree", env=index)
        return self._commit(tree, f"deploy {self._count() + 1}" + (f": {note}" if note else ""))

    def rollback(self) -> Deploy:
        """Make the content of the deploy before the tip current again, as a new commit."""
        history = self.history(limit=2)
        if len(history) < 2:
            raise DagRepoError("nothing to roll back to: the DAG repository holds a single deploy")
        previous = history[1]
        tree = self._git("rev-parse", f"{previous.commit}^{{tree}}")
        made = self._commit(
            tree, f"rollback {self._count() + 1}: the content of {previous.commit[:8]} ({previous.message})"
        )
        assert made is not None  # the two trees differ, or the previous commit would not have been made
        return made

    def _count(self) -> int:
        return int(self._git("rev-list", "--count", BRANCH)) if self.head() else 0

    def _commit(self, tree: str, message: str) -> Deploy | None:
        parent = self.head()
        if parent is not None and self._git("rev-parse", f"{parent}^{{tree}}") == tree:
            return None  # the same content: no new version
        commit = self._git("commit-tree", tree, *(["-p", parent] if parent else []), stdin=message)
        # Compare-and-swap on the tip: a concurrent deploy makes this fail instead of losing one of them.
        self._git("update-ref", f"refs/heads/{BRANCH}", commit, parent or "0" * 40)
        return Deploy(commit, message)
