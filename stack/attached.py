"""A stack someone else started (`make up`), seen through its stack.json: for a test run that reuses it.

    stack = attach(STACK_FILE)      # None when no stack.json, or what it names no longer runs or answers
    stack.airflow_url, stack.data_root, stack.mail_dir, stack.restart_counts() …

It never starts or stops anything: `up()` returns it as it is and `down()` leaves it running. Breaking a part
(stop_service, crash, kill_worker, …) needs the stack's owner — the local supervisor lives in the `make up`
launcher — so those raise `NotOwned`, naming the way out.
"""

from __future__ import annotations

from pathlib import Path

from stack.backend import recorded_stack
from stack.base import FlowerAccess, Stack
from stack.config import StackConfig
from stack.dag_repo import DagRepo
from stack.process_faults import COMPOSE_NAMES
from stack.stack_file import read_stack_file
from stack.waiting import answers


class NotOwned(RuntimeError):
    """A fault asked of a stack this process did not start."""


class AttachedStack(Stack):
    def __init__(self, info: dict, stack_file: Path, config: StackConfig) -> None:
        self.stack_file = stack_file
        self._info = info
        self._recorded = recorded_stack(info, config, progress=lambda _: None)
        self.backend = info.get("backend", "local")
        airflow = info["airflow"]
        self.airflow_url, self.username, self.password = airflow["url"], airflow["username"], airflow["password"]
        self.api_key = info["api_key"]
        self.service_urls = dict(info["services"])
        flower = info.get("flower")
        self.flower = FlowerAccess(flower["url"], flower["username"], flower["password"]) if flower else None
        self.data_root, self.mail_dir = Path(info["data_root"]), Path(info["mail_dir"])
        bundle = info.get("dag_bundle")
        self.dag_repo = DagRepo(bundle["repo"]) if bundle else None
        self.workers = int(info.get("workers") or 0)

    # --- what the owner does ----------------------------------------------------------------------
    def up(self) -> AttachedStack:
        return self

    def down(self) -> None:
        """Leaves the stack running: `make down` stops it."""

    def _not_owned(self, what: str) -> NotOwned:
        return NotOwned(
            f"{what} needs a stack this test run started; this one was reused from {self.stack_file} "
            "(make e2e without REUSE_STACK=1 starts one of its own)"
        )

    def stop_service(self, name: str) -> None:
        raise self._not_owned(f"stopping {name}")

    def start_service(self, name: str) -> None:
        raise self._not_owned(f"starting {name}")

    def scale_audio(self, replicas: int) -> None:
        raise self._not_owned(f"scaling workflow-audio to {replicas}")

    def kill_worker(self) -> None:
        raise self._not_owned("killing a worker")

    def pause_workers(self) -> None:
        raise self._not_owned("pausing the workers")

    def resume_workers(self) -> None:
        raise self._not_owned("resuming the workers")

    def crash(self, component: str) -> None:
        raise self._not_owned(f"crashing {component}")

    def stop_component(self, component: str) -> None:
        raise self._not_owned(f"stopping {component}")

    def start_component(self, component: str) -> None:
        raise self._not_owned(f"starting {component}")

    def restart(self, component: str) -> None:
        raise self._not_owned(f"restarting {component}")

    # --- what anyone can read -----------------------------------------------------------------------
    def restart_counts(self) -> dict[str, int]:
        if self.backend == "docker":
            return self._recorded.restart_counts()  # the containers' RestartCount, from the engine
        info = read_stack_file(self.stack_file) or self._info  # the supervisor rewrites stack.json on a restart
        compose = {local: name for name, local in COMPOSE_NAMES.items()}
        return {compose.get(name, name): int(r.get("restarts", 0)) for name, r in info.get("supervision", {}).items()}

    def logs(self, component: str) -> str:
        if self.backend == "docker":
            return self._recorded.logs(component)
        path = Path(self._info["logs_dir"]) / f"{COMPOSE_NAMES.get(component, component)}.log"
        return path.read_text(errors="replace")

    def memory_bytes(self) -> float:
        return sum(self._recorded.memory_by_component(self._info).values())

    def info(self) -> dict:
        return dict(self._info)

    # --- make up / down / status: the owner's ----------------------------------------------------------
    def launch(self) -> int:
        raise self._not_owned("make up")

    def is_running(self, info: dict) -> bool:
        return self._recorded.is_running(info)

    def stop_launched(self, info: dict) -> int:
        raise self._not_owned("make down")

    def report_status(self, info: dict) -> int:
        return self._recorded.report_status(info)

    def memory_by_component(self, info: dict) -> dict[str, float]:
        return self._recorded.memory_by_component(info)


def attach(stack_file: Path, config: StackConfig | None = None) -> AttachedStack | None:
    """The stack `stack_file` describes if it runs and its api-server answers; else None."""
    info = read_stack_file(stack_file)
    if not info or "airflow" not in info:
        return None
    config = config or StackConfig(state_dir=stack_file.parent)
    stack = AttachedStack(info, stack_file, config)
    if not stack.is_running(info) or not answers(f"{stack.airflow_url}/api/v2/monitor/health"):
        return None
    return stack
