#!/opt/venv/bin/python
"""Container health probe of both images: `hss-healthcheck [component]`; exit 0 = healthy.

Without an argument it probes what the Airflow entrypoint recorded in /tmp/hss-component. Each component
is asked the question its own health means, with the standard library where possible, so a probe costs
≈0.1 CPU-s instead of an `airflow` import (`airflow jobs check` took 2.3 CPU-s: every 10 s for two
components, a quarter of this machine's two cores):
  api-server     GET /api/v2/monitor/health, /execution/health  scheduler  GET :8974/health
  celery worker  a Celery ping to celery@$HOSTNAME            flower     GET /healthcheck (basic auth)
  dag-processor, triggerer   its heartbeat in the metadata DB, as the api-server's /api/v2/monitor/health
                 reports it (the compose stack runs one of each, so the report is this container's); the
                 dag-processor also needs its Git DAG repository readable and at least one DAG loaded
                 (a stack without DAGs is not healthy, whatever its heartbeat says)
  service        GET :$PORT/ready of an HSS service (services image)
"""

from __future__ import annotations

import base64
import json
import os
import sys
import urllib.request
from pathlib import Path

TIMEOUT_S = 10
API_SERVER = "http://127.0.0.1:8080"  # the api-server container's own port


def http_ok(url: str, basic_auth: str | None = None) -> bool:
    request = urllib.request.Request(url)
    if basic_auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(basic_auth.encode()).decode())
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        return response.status == 200


def celery_worker_answers() -> bool:
    from celery import Celery  # the worker image has it; only this probe needs it

    app = Celery(broker=os.environ["AIRFLOW__CELERY__BROKER_URL"])
    try:
        return bool(app.control.ping(destination=[f"celery@{os.environ['HOSTNAME']}"], timeout=5))
    finally:
        app.close()


def heartbeat_healthy(component: str) -> bool:
    """What `airflow jobs check` asks (a recent heartbeat), read from the api-server's health report."""
    api = os.environ["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].removesuffix("/").removesuffix("/execution")
    with urllib.request.urlopen(f"{api}/api/v2/monitor/health", timeout=TIMEOUT_S) as response:
        return json.load(response)[component]["status"] == "healthy"


def dag_bundle_serves() -> bool:
    """The DAG repository is readable here, and the metadata DB holds at least one DAG that is not stale."""
    import subprocess
    from urllib.parse import unquote, urlsplit

    import psycopg2  # the Airflow image has it (the metadata DB's driver)

    repo = json.loads(os.environ["AIRFLOW_CONN_HSS_DAGS_REPO"])["host"]
    git = ["git", f"--git-dir={repo}", "rev-parse", "--verify", "--quiet", "refs/heads/main"]
    if subprocess.run(git, capture_output=True, timeout=TIMEOUT_S, check=False).returncode != 0:
        print(f"the DAG repository {repo} has no branch main (or cannot be read)", file=sys.stderr)
        return False
    url = urlsplit(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    conn = psycopg2.connect(
        host=url.hostname,
        port=url.port or 5432,
        user=unquote(url.username or ""),
        password=unquote(url.password or ""),
        dbname=url.path.lstrip("/"),
        connect_timeout=TIMEOUT_S,
    )
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM dag WHERE NOT is_stale")
            loaded = cur.fetchone()[0]
    finally:
        conn.close()
    if not loaded:
        print("no DAG is loaded (GET /api/v2/importErrors says why)", file=sys.stderr)
    return loaded > 0


# `python -m <module>` → the Airflow component it starts (hss_airflow.dag_processor: #73432 mended;
# hss_airflow.scheduler: woken by PostgreSQL when a try ends)
OUR_COMMANDS = {"hss_airflow.dag_processor": "dag-processor", "hss_airflow.scheduler": "scheduler"}


def probe(component: str) -> bool:
    words = component.split()
    if words[:1] == ["airflow"]:
        words = words[1:]
    if words[:2] == ["python", "-m"] and len(words) > 2 and words[2] in OUR_COMMANDS:  # Airflow's, started by ours
        words = [OUR_COMMANDS[words[2]], *words[3:]]
    match words[:2]:
        case ["api-server", *_]:
            # the execution API builds its versioned routes on its first request (seconds): here, not in a task's
            return http_ok(f"{API_SERVER}/api/v2/monitor/health") and http_ok(f"{API_SERVER}/execution/health")
        case ["scheduler", *_]:
            return http_ok("http://127.0.0.1:8974/health")
        case ["celery", "worker"]:
            return celery_worker_answers()
        case ["celery", "flower"]:
            return http_ok("http://127.0.0.1:5555/healthcheck", os.environ.get("AIRFLOW__CELERY__FLOWER_BASIC_AUTH"))
        case ["dag-processor", *_]:
            return heartbeat_healthy("dag_processor") and dag_bundle_serves()
        case ["triggerer", *_]:
            return heartbeat_healthy("triggerer")
        case ["service", *_]:
            return http_ok(f"http://127.0.0.1:{os.environ['PORT']}/ready")
    return True  # a one-shot or an ad-hoc command (`bash -c …`): nothing long-running to probe


def main() -> int:
    component = " ".join(sys.argv[1:])
    if not component:
        recorded = Path("/tmp/hss-component")
        component = recorded.read_text().strip() if recorded.exists() else ""
    try:
        healthy = probe(component)
    except Exception as exc:  # refused, timed out, 5xx: unhealthy, with the reason in `docker inspect`
        print(f"{component or '?'}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
