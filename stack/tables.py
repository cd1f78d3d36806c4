"""`make status`'s tables: what stack.json names and whether each part answers, the DAGs Airflow serves, the
supervisor's restarts (local) and the containers (docker). Each function prints and returns an exit code
contribution (1: something is wrong)."""

from __future__ import annotations

from pathlib import Path

from stack.client import AirflowClient
from stack.dag_repo import DagRepo
from stack.stack_file import balanced_note, pid_alive, results_url, say
from stack.waiting import try_get


def probe(url: str) -> str:
    response = try_get(url)
    if isinstance(response, Exception):
        return f"does not answer ({type(response).__name__})"
    return f"answers ({response.status_code})" if response.ok else f"answers {response.status_code} (not ready)"


def access_table(info: dict, stack_file: Path) -> int:
    """The lines every backend shares: URLs and whether they answer, data root, DAG bundle, DAGs, mails."""
    airflow = info.get("airflow") or {}
    airflow_url = airflow.get("url")
    say(f"{info.get('backend', 'local')} backend ({info.get('executor', '?')}), from {stack_file}")
    say(f"  Airflow UI   {airflow_url}   {probe(f'{airflow_url}/api/v2/monitor/health')}")
    say(f"  results      {results_url(airflow_url or '')}   (after login)")
    say(f"               login {airflow.get('username')} / {airflow.get('password')}")
    if flower := info.get("flower"):
        flower_url = flower.get("url")
        say(f"  Flower       {flower_url}   {probe(f'{flower_url}/healthcheck')}")
    for name, url in (info.get("services") or {}).items():
        say(f"  {name:<24} {url}   /ready {probe(f'{url}/ready')}{balanced_note(info, name)}")
    for name, label in (("prometheus", "Prometheus  "), ("alertmanager", "Alertmanager")):
        if url := (info.get(name) or {}).get("url"):
            say(f"  {label} {url}   {probe(f'{url}/-/ready')}")
    say(f"  data root    {info.get('data_root')}")
    if bundle := info.get("dag_bundle"):
        history = DagRepo(bundle["repo"]).history(limit=1) if Path(bundle["repo"]).is_dir() else []
        current = f"{history[0].commit[:8]} ({history[0].message})" if history else "missing"
        say(f"  DAGs         Git bundle {bundle['name']} at {current}; make dags-deploy / dags-rollback")
    code = dags_status(airflow)
    if info.get("mail_dir"):
        say(f"  alert mails  {info['mail_dir']}: {len(list(Path(info['mail_dir']).glob('*.eml')))} so far")
    return code


def dags_status(airflow: dict) -> int:
    """How many DAGs Airflow serves, and every DAG import error with its last line; 1 when there is an import
    error or no DAG at all (a stack that answers but serves nothing is not healthy)."""
    try:
        client = AirflowClient(airflow["url"], airflow["username"], airflow["password"], timeout=10)
        dags, errors = client.list_dags(), client.import_errors()
    except Exception as exc:  # down, wrong login: the Airflow UI line above says whether it answers
        say(f"  DAGs loaded  cannot be listed ({type(exc).__name__}: {str(exc)[:200]})")
        return 0
    say(f"  DAGs loaded  {len(dags)}; import errors: {len(errors)}{' (GET /api/v2/importErrors)' if errors else ''}")
    for error in errors:
        lines = [line for line in (error.stack_trace or "").strip().splitlines() if line.strip()]
        say(f"    {error.filename}: {lines[-1] if lines else '?'}")
    if not dags:
        say("no DAG is loaded: the dag-processor's log says why (make status shows its state).")
    return 1 if errors or not dags else 0


def process_table(info: dict) -> int:
    """The local backend's processes: alive or gone, and the supervisor's restarts."""
    pids = {"launcher": info.get("launcher_pid"), **(info.get("pids") or {})}
    dead = [f"{name} ({pid})" for name, pid in pids.items() if not pid_alive(pid)]
    say(f"  processes    {len(pids) - len(dead)} of {len(pids)} alive; gone: {', '.join(dead) or 'none'}")
    code = supervision_status(info.get("supervision") or {})
    if dead:
        say("some processes are gone: make down cleans up, then make up.")
    return code


def supervision_status(report: dict[str, dict]) -> int:
    """The supervisor's view (stack.json "supervision"): restarts and state per process; 1 on a crash loop."""
    if not report:
        return 0
    say(f"  {'process':<24} {'restarts':>8}  state")
    for name, entry in report.items():
        say(f"    {name:<22} {entry.get('restarts', 0):>8}  {entry.get('state', '?')}")
    if looping := [name for name, entry in report.items() if entry.get("crash_loop")]:
        say(f"crash loop: {', '.join(looping)} keep dying; their logs under logs/ say why (make down stops it).")
        return 1
    return 0


def container_table(containers: list[tuple[str, str, str]], restarts: dict[str, int], workers: object) -> int:
    """The docker backend's containers: (name, state, health) each, with restarts; 1 on a restart loop."""
    unhealthy = [
        name for name, state, health in containers if health != "done" and (state != "running" or health != "healthy")
    ]
    say(f"  containers   {len(containers) - len(unhealthy)} of {len(containers)} healthy or done (workers: {workers})")
    say(f"    {'container':<44} {'state':<10} {'health':<10} restarts")
    for name, state, health in containers:
        say(f"    {name:<44} {state:<10} {health:<10} {restarts.get(name, 0)}")
    if looping := [name for name, state, _ in containers if state == "restarting"]:
        say(f"crash loop: {', '.join(looping)} keep restarting — `docker compose logs <service>` says why.")
        return 1
    if unhealthy:
        say(f"not healthy: {', '.join(unhealthy)} — `docker compose logs <service>` says why.")
    return 0
