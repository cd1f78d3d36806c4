"""`make up` / `make down` / `make status`: the Stack interface's background methods, whichever backend runs.

up     makes sure .env holds real secrets (generated when missing), then, by E2E_BACKEND (auto|docker|local)
       — or the backend of a stack that already runs — `Stack.launch()`: docker runs `docker compose up -d
       --wait --scale airflow-worker=N` with .env; local spawns a detached launcher (`serve`) that runs the
       Celery stack as local processes, its log echoed until the stack is ready. Either way .stack/stack.json
       (0600) says where everything is.
down   `Stack.stop_launched()` for what stack.json names (local: SIGTERM to the launcher, then SIGKILL whatever
       is left; docker: `docker compose down`, volumes and the data folder kept).
status what stack.json names, whether each URL answers, then `Stack.report_status()` (processes or containers).
"""

from __future__ import annotations

from stack.backend import DockerUnavailable, make_stack, recorded_stack, resolve_backend
from stack.config import StackConfig
from stack.env_file import ensure_env_file, read_env_file
from stack.launcher import launcher_starting
from stack.paths import ENV_EXAMPLE, STACK_FILE_NAME
from stack.stack_file import read_stack_file, say
from stack.tables import access_table


def report_env_file(config: StackConfig) -> dict[str, str]:
    env_file = config.env_file
    result = ensure_env_file(env_file, ENV_EXAMPLE)
    if result.created:
        say(f"wrote {env_file} from {ENV_EXAMPLE.name} with fresh secrets (mode 0600): {', '.join(result.generated)}")
    elif result.generated:
        say(f"filled in secrets that were missing or placeholders in {env_file}: {', '.join(result.generated)}")
    else:
        say(f"using {env_file} (every secret set)")
    return read_env_file(env_file)


def running_backend(info: dict | None, config: StackConfig) -> str | None:
    """The backend of the stack stack.json describes, if it still runs, else None."""
    if not info:
        return None
    return info.get("backend", "local") if recorded_stack(info, config, progress=say).is_running(info) else None


def cmd_up(config: StackConfig) -> int:
    report_env_file(config)
    info = read_stack_file(config.state_dir / STACK_FILE_NAME)
    try:
        backend = running_backend(info, config) or resolve_backend()  # a running stack wins, whatever E2E_BACKEND says
    except ValueError as exc:
        say(str(exc))
        return 2
    config.state_dir.mkdir(parents=True, exist_ok=True)
    try:
        stack = make_stack(backend, config, progress=say)
    except (DockerUnavailable, RuntimeError) as exc:
        say(str(exc))
        return 1
    return stack.launch()


def cmd_down(config: StackConfig) -> int:
    info = read_stack_file(config.state_dir / STACK_FILE_NAME)
    if info is None:
        if not launcher_starting(config.state_dir):
            say("nothing is up (no stack.json); make up starts the stack.")
            return 0
        info = {}  # a launcher still starting: stack.json comes at the end
    return recorded_stack(info, config, progress=say).stop_launched(info)


def cmd_status(config: StackConfig) -> int:
    stack_file = config.state_dir / STACK_FILE_NAME
    info = read_stack_file(stack_file)
    if info is None:
        say("nothing is up (no stack.json); make up starts the stack.")
        return 0
    dags_code = access_table(info, stack_file)
    return recorded_stack(info, config, progress=say).report_status(info) or dags_code
