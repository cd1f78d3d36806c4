"""`make dags-deploy` / `make dags-rollback` / `make dags-history`: DAG versions on the running full stack.

    python -m stack.dags [--state-dir DIR] [--source DIR] [--force] deploy|rollback|history

deploy    parse the DAG files of --source (default airflow/dags/) as Airflow would and refuse when one does
          not import: the current version keeps serving. Else commit them into the stack's DAG repository
          (the Git DAG bundle `hss-dags`) and follow the dag-processor until every DAG reports the new bundle
          version. --force commits a file that does not import anyway: Airflow 3.3 then shows the import
          error and marks that file's DAGs stale (out of service) until a deploy that parses, or a rollback.
rollback  commit the content of the deploy before the current one, as a new version, and follow it the same way.
history   the deploys, newest first.

Runs keep the DAG version they started on. To rerun an old run on its own version, clear it in the UI
("Clear", without "Run on latest version") or `POST /api/v2/dags/{dag_id}/dagRuns/{run_id}/clear` with
`{"dry_run": false, "run_on_latest_version": false}`.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stack.client import AirflowClient, AirflowClientError
from stack.dag_repo import BUNDLE_NAME, BUNDLE_REFRESH_S, DagRepo, DagRepoError, Deploy
from stack.paths import DAGS_SOURCE, STATE_DIR
from stack.stack_file import read_stack_file, say
from stack.waiting import wait_until

DEFAULT_STATE_DIR = STATE_DIR
DEFAULT_SOURCE = DAGS_SOURCE
FOLLOW_TIMEOUT = 90.0  # the bundle is refreshed every BUNDLE_REFRESH_S, then every file is parsed


def parse_errors(source: Path) -> dict[str, str]:
    """{file: error} of the DAG files that do not import, parsed the way the dag-processor does."""
    from airflow.dag_processing.dagbag import DagBag  # Airflow's import is slow; only deploy needs it

    bag = DagBag(dag_folder=str(source))
    return {Path(name).name: error.strip().splitlines()[-1] for name, error in bag.import_errors.items()}


def stack_repo(state_dir: Path) -> tuple[dict, DagRepo]:
    info = read_stack_file(state_dir / "stack.json")
    if info is None:
        raise DagRepoError(f"no stack is up ({state_dir / 'stack.json'} is missing): make up first")
    bundle = info.get("dag_bundle")
    if not bundle:
        raise DagRepoError(
            "this stack reads airflow/dags as a plain folder (make demo): a change there is picked up as it is saved; "
            "DAG versions from the Git bundle are a full-stack feature (make up)"
        )
    return info, DagRepo(bundle["repo"])


def client_of(info: dict) -> AirflowClient:
    airflow = info["airflow"]
    return AirflowClient(airflow["url"], airflow["username"], airflow["password"])


def latest_versions(client: AirflowClient) -> dict[str, Any]:
    """dag_id -> the DAG's latest version (its number and bundle_version)."""
    return {dag.dag_id: client.dag_versions(dag.dag_id)[-1] for dag in client.list_dags()}


def request_parses(client: AirflowClient, repo: DagRepo, made: Deploy) -> None:
    """Ask the dag-processor to refresh the bundle and parse every DAG file of `made` now (PUT /parseDagFile):
    the deploy serves in seconds, not after the next min_file_process_interval (30 s) of each file. Unchanged
    files are parsed too, so their DAGs take the new commit; a file new to the bundle is found by the refresh."""
    present = repo.files(made.commit)  # a deleted file has nothing to parse
    dag_of_file = {Path(d.relative_fileloc or d.fileloc).name: d.dag_id for d in client.list_dags(include_stale=True)}
    for name in sorted(present):
        if name in dag_of_file:
            client.request_parse(dag_of_file[name])


def follow(
    client: AirflowClient,
    made: Deploy,
    before: dict[str, Any],
    changed: set[str],
    timeout: float = FOLLOW_TIMEOUT,
) -> int:
    """Wait until every DAG's latest version carries `made`'s commit; print each; 1 when a file did not import.

    Airflow 3.3 makes a new version of a changed DAG when a run used the current one (that run keeps it), and
    updates the current version in place when none did; an unchanged DAG's version takes the new commit."""
    started, since = time.monotonic(), datetime.now(UTC)
    say(f"waiting for the dag-processor to parse the new version (it also looks every {BUNDLE_REFRESH_S} s)…")
    latest: dict[str, Any] = {}
    behind: list[str] = []

    def served_or_failed() -> str | None:
        """ "failed" (an import error of this deploy, printed), "served" (every DAG at the commit), None (not yet)."""
        nonlocal latest, behind
        # an error recorded since this deploy, in a file it changed (an older one may still be listed)
        errors = [
            e
            for e in client.import_errors()
            if e.bundle_name == BUNDLE_NAME and Path(e.filename).name in changed and e.timestamp >= since
        ]
        if errors:
            for error in errors:
                last = (error.stack_trace or "").strip().splitlines() or ["(no trace)"]
                say(f"  ✘ {Path(error.filename).name}: {last[-1]}")
            say(
                "Airflow marks the DAGs of those files stale (out of service) until a deploy that parses: fix and "
                "deploy, or make dags-rollback (GET /api/v2/importErrors shows the errors)."
            )
            return "failed"
        latest = latest_versions(client)
        behind = [dag_id for dag_id, v in latest.items() if v.bundle_version != made.commit]
        return "served" if latest and not behind else None

    outcome = wait_until(served_or_failed, timeout, 0.5, "the deploy served", raise_on_timeout=False)
    if outcome == "failed":
        return 1
    if outcome is None:
        say(f"not every DAG shows {made.commit[:8]} after {timeout:.0f} s: behind: {', '.join(behind)}")
        return 1
    files = {d.dag_id: Path(d.relative_fileloc or d.fileloc).name for d in client.list_dags()}
    for dag_id, version in sorted(latest.items()):
        earlier = before.get(dag_id)
        if earlier is None or version.version_number > earlier.version_number:
            if earlier:
                what = "new version; runs of the one before keep it"
            else:  # not listed before: new, or out of service (stale) until this deploy
                what = "new DAG" if version.version_number == 1 else "back in service"
        elif files.get(dag_id) in changed:
            what = "changed, updated in place: no run used the version before"
        else:
            what = "unchanged"
        say(f"  {dag_id:<28} version {version.version_number} ({what})")
    say(f"served in {time.monotonic() - started:.0f} s.")
    return 0


def deploy(repo: DagRepo, client: AirflowClient, source: Path, *, force: bool = False) -> int:
    """Check, commit and follow one deploy of `source`; the exit code (0 served, 1 refused or not served)."""
    errors = parse_errors(source)
    if errors:
        for name, error in errors.items():
            say(f"  ✘ {name}: {error}")
        if not force:
            say("not deployed: the current version keeps serving. Fix the file and deploy again.")
            return 1
    before = latest_versions(client)
    made = repo.deploy(source, str(source))
    if made is None:
        say(f"nothing to deploy: {source} matches what {BUNDLE_NAME} serves ({repo.head()[:8]}).")
        return 0
    say(f"deployed {made.commit[:8]} to {BUNDLE_NAME} ({repo.path}): {made.message}")
    return publish(client, repo, made, before)


def rollback(repo: DagRepo, client: AirflowClient) -> int:
    before = latest_versions(client)
    made = repo.rollback()
    say(f"rolled back: {made.commit[:8]} — {made.message}")
    return publish(client, repo, made, before)


def publish(client: AirflowClient, repo: DagRepo, made: Deploy, before: dict[str, Any]) -> int:
    request_parses(client, repo, made)
    return follow(client, made, before, repo.changed_files(made.commit))


def cmd_history(state_dir: Path) -> int:
    _, repo = stack_repo(state_dir)
    for i, deploy in enumerate(repo.history()):
        say(f"{'*' if i == 0 else ' '} {deploy.commit[:8]}  {deploy.message}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.dags", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("deploy", "rollback", "history"))
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="default: .stack/ in the repo")
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="default: airflow/dags/")
    parser.add_argument(
        "--force", action="store_true", help="commit even a DAG file that does not import (its DAGs go stale)"
    )
    args = parser.parse_args(argv)
    state_dir = args.state_dir.resolve()
    try:
        if args.command == "history":
            return cmd_history(state_dir)
        info, repo = stack_repo(state_dir)
        client = client_of(info)
        if args.command == "deploy":
            return deploy(repo, client, args.source.resolve(), force=args.force)
        return rollback(repo, client)
    except (DagRepoError, AirflowClientError) as exc:
        say(f"error: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
