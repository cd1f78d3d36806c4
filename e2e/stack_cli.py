"""`make up` / `make down` / `make status`: the full stack in the background, like `docker compose up -d`.

    python -m e2e.stack_cli [--state-dir DIR] [--env-file FILE] [--workers N] up|down|status

up     makes sure .env holds real secrets (generated when missing), then, by E2E_BACKEND (auto|docker|local):
       docker — the images built from uv.lock, `docker compose up -d --wait --scale airflow-worker=N` with .env
                (the seed's ports, the data root a host folder: HSS_DATA_DIR, default .stack/data);
       local  — a detached launcher (`serve`) runs the Celery stack as local processes; its log is echoed
                until the stack is ready. Either way .stack/stack.json (0600) says where everything is.
down   stops what stack.json names (local: SIGTERM to the launcher, then SIGKILL whatever is left;
       docker: `docker compose down`, volumes and the data folder kept).
status what stack.json names, whether each URL answers, and each process's or container's state.
serve  (internal) the launcher: LocalStack(profile="celery") up, blocks until SIGTERM/SIGINT, then down.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

import requests

from e2e.client import AirflowClient
from e2e.harness.dag_repo import DagRepo
from e2e.harness.env_file import ensure_env_file, model_signing_env, read_env_file, write_private
from e2e.harness.processes import tail
from e2e.harness.stack_file import (
    group_members,
    live_pids,
    pid_alive,
    print_access,
    read_stack_file,
    results_url,
    say,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_STATE_DIR = REPO_ROOT / ".stack"
DEFAULT_ENV_FILE = REPO_ROOT / ".env"
UP_TIMEOUT = 1200.0  # the launcher's own timeouts fire first; this only catches a hung launcher
DOWN_TIMEOUT = 60.0
LOG_TAIL_LINES = 40


# ---- processes and stack.json --------------------------------------------------------------------------


class LogFollower:
    """Prints the lines a log file gains from now on (the launcher's progress)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def echo(self) -> None:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
        except OSError:
            return
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.offset += len(complete)
        for line in complete.decode(errors="replace").splitlines():
            say(f"  {line}")


# ---- up ------------------------------------------------------------------------------------------------


def report_env_file(env_file: Path) -> dict[str, str]:
    example = REPO_ROOT / ".env.example"
    result = ensure_env_file(env_file, example)
    if result.created:
        say(f"wrote {env_file} from {example.name} with fresh secrets (mode 0600): {', '.join(result.generated)}")
    elif result.generated:
        say(f"filled in secrets that were missing or placeholders in {env_file}: {', '.join(result.generated)}")
    else:
        say(f"using {env_file} (every secret set)")
    return read_env_file(env_file)


def wait_for_launcher(
    launcher: subprocess.Popen, stack_file: Path, follower: LogFollower, timeout: float
) -> dict | None:
    """Echo the launcher's log until stack.json names it (→ the info) or it exits (→ None)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        follower.echo()
        info = read_stack_file(stack_file)
        if info is not None and info.get("launcher_pid") == launcher.pid:  # LocalStack writes it once all is up
            return info
        if launcher.poll() is not None:
            follower.echo()
            return None
        time.sleep(0.2)
    say(f"the stack is not up after {timeout:.0f} s: stopping the launcher")
    terminate(launcher.pid, follower)
    return None


def terminate(pid: int, follower: LogFollower, timeout: float = DOWN_TIMEOUT) -> None:
    """SIGTERM the launcher (it stops its stack), echo its log meanwhile; SIGKILL its group after `timeout`."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    started, next_note = time.monotonic(), 10.0
    while pid_alive(pid) and time.monotonic() - started < timeout:
        follower.echo()
        if time.monotonic() - started > next_note:
            say(f"  still stopping after {next_note:.0f} s…")
            next_note += 10
        time.sleep(0.2)
    follower.echo()
    if pid_alive(pid):
        say(f"launcher {pid} did not stop within {timeout:.0f} s: killing it (SIGKILL)")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # the launcher leads its own session and group


def start_local(
    state_dir: Path,
    env_file: Path,
    *,
    workers: int = 1,
    launcher_argv: list[str] | None = None,
    timeout: float = UP_TIMEOUT,
) -> int:
    """Spawn the detached launcher and wait until its stack is up (0) or it gave up (1, with its log tail)."""
    stack_file, log_path = state_dir / "stack.json", state_dir / "logs" / "launcher.log"
    info = read_stack_file(stack_file)
    if info is not None:
        if live_pids(info):
            say(f"already up ({stack_file}):")
            print_access(info, stack_file, env_file)
            return 0
        stack_file.unlink()
        say(f"removed a stale {stack_file} (its processes are gone)")
    if pid_alive(pid := read_pid_file(state_dir)):
        say(f"a stack is starting (launcher pid {pid}); wait for it, or stop it with: make down")
        return 1
    log_path.parent.mkdir(parents=True, exist_ok=True)
    follower = LogFollower(log_path)
    argv = launcher_argv or [
        *(sys.executable, "-m", "e2e.stack_cli", "--state-dir", str(state_dir), "--env-file", str(env_file)),
        *("--workers", str(workers), "serve"),
    ]
    with log_path.open("ab") as log:
        launcher = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,  # survives this terminal; Ctrl-C here is forwarded as SIGTERM below
        )
    (state_dir / "launcher.pid").write_text(f"{launcher.pid}\n")
    say(f"starting the local stack (launcher pid {launcher.pid}, log {log_path})…")
    try:
        info = wait_for_launcher(launcher, stack_file, follower, timeout)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave half a stack
        say("interrupted: stopping the launcher and what it started…")
        terminate(launcher.pid, follower)
        return 130
    if info is None:
        code = launcher.poll()
        say(f"the launcher exited with code {code}; last lines of {log_path}:")
        say(tail(log_path, LOG_TAIL_LINES))
        say("fix the cause above and run make up again (make down cleans up anything left).")
        return 1
    print_access(info, stack_file, env_file)
    return 0


def read_pid_file(state_dir: Path) -> int | None:
    try:
        return int((state_dir / "launcher.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def docker_stack(state_dir: Path, env_file: Path, workers: int = 1):  # -> DockerStack (the local path needs none)
    from e2e.harness.docker_stack import DockerStack

    return DockerStack(state_dir=state_dir, env_file=env_file, workers=workers, progress=say)


def start_docker(state_dir: Path, env_file: Path, workers: int) -> int:
    from e2e.harness.compose_project import DockerStackError

    stack_file = state_dir / "stack.json"
    info = read_stack_file(stack_file)
    if running_backend(info) == "docker":
        say(f"already up ({stack_file}); make down first to change WORKERS:")
        print_access(info, stack_file, env_file)
        return 0
    stack = docker_stack(state_dir, env_file, workers)
    say(f"data root: {stack.data_root} (bind-mounted at /app/data; drop songs and datasets there)")
    started = time.monotonic()
    try:
        stack.up()
    except DockerStackError as exc:
        say(str(exc))
        say("fix the cause above and run make up again.")
        return 1
    say(f"docker stack healthy {time.monotonic() - started:.1f} s after make up started")
    write_private(stack_file, json.dumps(stack.info(), indent=2) + "\n")
    print_access(stack.info(), stack_file, env_file)
    return 0


def running_backend(info: dict | None) -> str | None:
    """The backend of the stack stack.json describes, if it still runs (local: its processes; docker: Airflow
    answers), else None."""
    if not info:
        return None
    if info.get("backend") == "docker":
        return "docker" if probe_ok(f"{(info.get('airflow') or {}).get('url')}/api/v2/monitor/health") else None
    return "local" if live_pids(info) else None


def cmd_up(state_dir: Path, env_file: Path, workers: int) -> int:
    from e2e.harness.backend import resolve_backend

    report_env_file(env_file)
    info = read_stack_file(state_dir / "stack.json")
    try:
        backend = running_backend(info) or resolve_backend()  # a running stack wins, whatever E2E_BACKEND says
    except ValueError as exc:
        say(str(exc))
        return 2
    state_dir.mkdir(parents=True, exist_ok=True)
    if backend == "docker":
        return start_docker(state_dir, env_file, workers)
    return start_local(state_dir, env_file, workers=workers)


# ---- serve (the launcher) --------------------------------------------------------------------------------


class StopRequested(BaseException):
    """SIGTERM/SIGINT reached the launcher (BaseException: no `except Exception` may swallow it)."""


def request_stop(signum: int, _frame: object) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):  # one stop is enough: later signals must not cut down() short
        signal.signal(sig, signal.SIG_IGN)
    raise StopRequested(signal.Signals(signum).name)


def cmd_serve(state_dir: Path, env_file: Path, workers: int) -> int:
    from e2e.harness.stack import LocalStack

    values = read_env_file(env_file) if env_file.exists() else {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, request_stop)
    code = 0
    try:
        stack = LocalStack(
            profile="celery",
            workers=workers,
            state_dir=state_dir,
            fixed_ports=True,
            username=values.get("AIRFLOW_ADMIN_USER") or "admin",
            password=values.get("AIRFLOW_ADMIN_PASSWORD") or "admin",
            api_key=values.get("HSS_API_KEY") or None,
            flower_username=values.get("FLOWER_USER") or "admin",
            flower_password=values.get("FLOWER_PASSWORD") or "admin",
            # .env's key: models trained by any stack on this data root (docker, make demo) load here too
            service_env=model_signing_env(values),
        )
    except StopRequested:
        return 0
    except Exception as exc:
        say(f"cannot build the local Celery stack: {type(exc).__name__}: {exc}")
        return 1
    stack.extra_info.update({"backend": "local", "launcher_pid": os.getpid()})
    try:
        stack.up()
        say(f"launcher {os.getpid()} keeps the stack running until SIGTERM (make down)")
        while True:
            signal.pause()
    except StopRequested as stop:
        say(f"{stop} received: stopping the stack…")
    except Exception as exc:  # up() has already stopped what it started
        say(f"the stack did not come up: {type(exc).__name__}: {exc}")
        if not isinstance(exc, RuntimeError):
            traceback.print_exc()
        code = 1
    finally:
        stack.down()
        if read_pid_file(state_dir) == os.getpid():
            (state_dir / "launcher.pid").unlink(missing_ok=True)
    return code


# ---- down and status --------------------------------------------------------------------------------------


def stop_local(state_dir: Path, info: dict, timeout: float = DOWN_TIMEOUT) -> int:
    """SIGTERM the launcher, wait (echoing its log), then SIGKILL any process group stack.json names that is left."""
    launcher = info.get("launcher_pid") or read_pid_file(state_dir)
    follower = LogFollower(state_dir / "logs" / "launcher.log")
    if pid_alive(launcher):
        say(f"stopping the stack (SIGTERM to launcher {launcher}; up to {timeout:.0f} s)…")
        terminate(launcher, follower, timeout)
    killed = []
    for name, pgid in (info.get("pids") or {}).items():
        if group_members(pgid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
            killed.append(f"{name} (group {pgid})")
    if killed:
        say(f"killed what survived the stop (SIGKILL): {', '.join(killed)}")
    (state_dir / "stack.json").unlink(missing_ok=True)
    (state_dir / "launcher.pid").unlink(missing_ok=True)
    say("stack stopped; make up starts it again.")
    return 0


def stop_docker(state_dir: Path, info: dict) -> int:
    command = (info.get("compose") or {}).get("command") or docker_stack(state_dir, DEFAULT_ENV_FILE).compose_command()
    say(f"$ {' '.join([*command, 'down'])}")
    code = subprocess.run([*command, "down"], cwd=REPO_ROOT).returncode
    if code != 0:
        say(f"docker compose down failed (exit {code}); stack.json kept. Is the Docker daemon running?")
        return code
    (state_dir / "stack.json").unlink(missing_ok=True)
    say(
        f"stack stopped; the database volume and the data root {info.get('data_root')} are kept "
        "(`docker compose down -v` drops the volumes). make up starts it again."
    )
    return 0


def cmd_down(state_dir: Path) -> int:
    info = read_stack_file(state_dir / "stack.json")
    if info is None:
        if pid_alive(read_pid_file(state_dir)):  # a launcher still starting: stack.json comes at the end
            return stop_local(state_dir, {})
        say("nothing is up (no stack.json); make up starts the stack.")
        return 0
    if info.get("backend") == "docker":
        return stop_docker(state_dir, info)
    if not live_pids(info) and not pid_alive(read_pid_file(state_dir)):
        (state_dir / "stack.json").unlink(missing_ok=True)
        say("nothing is running: removed a stale stack.json (its processes are gone).")
        return 0
    return stop_local(state_dir, info)


def probe_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=3).ok
    except requests.RequestException:
        return False


def probe(url: str) -> str:
    try:
        response = requests.get(url, timeout=3)
    except requests.RequestException as exc:
        return f"does not answer ({type(exc).__name__})"
    return f"answers ({response.status_code})" if response.ok else f"answers {response.status_code} (not ready)"


def cmd_status(state_dir: Path) -> int:
    stack_file = state_dir / "stack.json"
    info = read_stack_file(stack_file)
    if info is None:
        say("nothing is up (no stack.json); make up starts the stack.")
        return 0
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
        say(f"  {name:<24} {url}   /ready {probe(f'{url}/ready')}")
    say(f"  data root    {info.get('data_root')}")
    if bundle := info.get("dag_bundle"):
        history = DagRepo(bundle["repo"]).history(limit=1) if Path(bundle["repo"]).is_dir() else []
        current = f"{history[0].commit[:8]} ({history[0].message})" if history else "missing"
        say(f"  DAGs         Git bundle {bundle['name']} at {current}; make dags-deploy / dags-rollback")
    dags_code = dags_status(airflow)
    if info.get("mail_dir"):
        say(f"  alert mails  {info['mail_dir']}: {len(list(Path(info['mail_dir']).glob('*.eml')))} so far")
    if info.get("backend") == "docker":
        return docker_status(state_dir, info) or dags_code
    pids = {"launcher": info.get("launcher_pid"), **(info.get("pids") or {})}
    dead = [f"{name} ({pid})" for name, pid in pids.items() if not pid_alive(pid)]
    say(f"  processes    {len(pids) - len(dead)} of {len(pids)} alive; gone: {', '.join(dead) or 'none'}")
    code = supervision_status(info.get("supervision") or {})
    if dead:
        say("some processes are gone: make down cleans up, then make up.")
    return code or dags_code


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


def docker_status(state_dir: Path, info: dict) -> int:
    """Each container's state and health, as `docker compose ps` shows them."""
    compose = info.get("compose") or {}
    stack = docker_stack(state_dir, Path(compose.get("env_file") or DEFAULT_ENV_FILE), info.get("workers") or 1)
    try:
        containers = stack.container_states()
    except Exception as exc:
        say(f"  containers   docker compose ps failed: {exc}")
        return 1
    unhealthy = [
        name for name, state, health in containers if health != "done" and (state != "running" or health != "healthy")
    ]
    restarts = stack.container_restarts()
    say(
        f"  containers   {len(containers) - len(unhealthy)} of {len(containers)} healthy or done (workers: "
        f"{info.get('workers')})"
    )
    say(f"    {'container':<44} {'state':<10} {'health':<10} restarts")
    for name, state, health in containers:
        say(f"    {name:<44} {state:<10} {health:<10} {restarts.get(name, 0)}")
    if looping := [name for name, state, _ in containers if state == "restarting"]:
        say(f"crash loop: {', '.join(looping)} keep restarting — `docker compose logs <service>` says why.")
        return 1
    if unhealthy:
        say(f"not healthy: {', '.join(unhealthy)} — `docker compose logs <service>` says why.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.stack_cli", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("up", "down", "status", "serve"))
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="default: .stack/ in the repo")
    parser.add_argument("--env-file", type=Path, default=DEFAULT_ENV_FILE, help="default: .env in the repo")
    parser.add_argument("--workers", type=int, default=1, help="Celery workers (make up WORKERS=N); default 1")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error(f"--workers must be at least 1, got {args.workers}")
    state_dir, env_file = args.state_dir.resolve(), args.env_file.resolve()
    commands = {
        "up": lambda: cmd_up(state_dir, env_file, args.workers),
        "serve": lambda: cmd_serve(state_dir, env_file, args.workers),
        "down": lambda: cmd_down(state_dir),
        "status": lambda: cmd_status(state_dir),
    }
    return commands[args.command]()


if __name__ == "__main__":
    sys.exit(main())
