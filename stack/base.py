"""The one interface every full stack offers, whichever backend runs it.

    stack = make_stack("auto", StackConfig())   # E2E_BACKEND=auto|docker|local (stack/backend.py)
    stack.up()
    stack.airflow_url, stack.username, stack.password, stack.api_key, stack.service_urls, stack.flower
    stack.stop_service("workflow-audio"); stack.start_service("workflow-audio")   # every replica
    stack.scale_audio(2)                 # two workflow-audio replicas behind its HAProxy balancer
    stack.kill_worker()                  # SIGKILL a Celery worker mid-task; a fresh one takes its place
    stack.crash("airflow-scheduler")     # SIGKILL; the restart policy / the local supervisor starts it again
    stack.restart("postgres")            # a graceful restart (docker compose restart)
    stack.restart_counts()               # {"airflow-scheduler": 1, …}
    stack.logs("airflow-scheduler")      # a component's log as text
    stack.memory_bytes()                 # what the whole stack holds in memory now
    stack.down()

Tests speak only this interface, so the same test proves the docker and the local topology.
Component names are compose's service names (the local backend answers to both its own process
names and these).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import requests

from stack.dag_repo import DagRepo
from stack.waiting import try_get


@dataclass(frozen=True)
class FlowerAccess:
    url: str
    username: str
    password: str

    def workers(self) -> dict[str, dict]:
        """Flower's /api/workers after a live inspect (refresh=1): worker name → info with its `timestamp`;
        {} while Flower does not answer.

        Flower inspects the workers only at its start (when they may not answer yet) and on such a request;
        asking once after up fills its cache, so the seed's plain `curl …:5555/api/workers` lists them."""
        response = try_get(f"{self.url}/api/workers", 10, params={"refresh": "1"}, auth=(self.username, self.password))
        try:
            return response.json() if isinstance(response, requests.Response) and response.ok else {}
        except ValueError:
            return {}


class Stack(ABC):
    backend: str = ""
    airflow_url: str
    username: str
    password: str
    api_key: str
    service_urls: dict[str, str]
    flower: FlowerAccess | None
    data_root: Path  # the data root as this process sees it (songs/, training_data/, models/, results/)
    mail_dir: Path  # where the stack's SMTP sink writes each message it gets, as one .eml file
    dag_repo: DagRepo | None  # the Git DAG bundle's repository (the full stacks); None: a plain DAG folder

    @abstractmethod
    def up(self) -> Stack:
        """Start everything and wait on real health endpoints; raise with the failing component's log tail."""

    @abstractmethod
    def down(self) -> None:
        """Stop and remove only what up() started."""

    @abstractmethod
    def stop_service(self, name: str) -> None:
        """Stop one of the five services (e.g. "workflow-audio"); its port stops answering."""

    @abstractmethod
    def start_service(self, name: str) -> None:
        """Start a stopped service again and wait until it answers /ready."""

    @abstractmethod
    def scale_audio(self, replicas: int) -> None:
        """Run `replicas` workflow-audio replicas behind its balancer (compose: `up --scale`); return once the
        balancer serves every one of them."""

    @abstractmethod
    def kill_worker(self) -> None:
        """SIGKILL a Celery worker with whatever it runs, then start a replacement and wait until it is ready."""

    @abstractmethod
    def pause_workers(self) -> None:
        """Stop every Celery worker gracefully: tasks the scheduler queues from now on wait in the broker."""

    @abstractmethod
    def resume_workers(self) -> None:
        """Start the workers again and wait until each answers."""

    @abstractmethod
    def crash(self, component: str) -> None:
        """SIGKILL a component (e.g. "airflow-scheduler", "workflow-audio") as a crash, not a stop; return once
        its restart policy (docker) or the supervisor (local) has it serving again."""

    @abstractmethod
    def stop_component(self, component: str) -> None:
        """Stop any component (e.g. "airflow-scheduler") as `docker compose stop` does: nothing restarts it."""

    @abstractmethod
    def start_component(self, component: str) -> None:
        """Start a component stop_component stopped; return once it serves again."""

    @abstractmethod
    def restart(self, component: str) -> None:
        """Stop a component gracefully and start it again (`docker compose restart`); return once it serves."""

    @abstractmethod
    def restart_counts(self) -> dict[str, int]:
        """compose service name → restarts made by the restart policy / the supervisor since up()."""

    @abstractmethod
    def logs(self, component: str) -> str:
        """The log of one component (compose service name, e.g. "airflow-worker", "workflow-audio")."""

    @abstractmethod
    def memory_bytes(self) -> float:
        """The memory the whole stack holds now (local: PSS of its processes; docker: `docker stats`)."""

    @abstractmethod
    def info(self) -> dict:
        """What stack.json holds: URLs, login, API key, data root."""

    # --- in the background: what `make up` / `make down` / `make status` call (python -m stack) ---------------
    @abstractmethod
    def launch(self) -> int:
        """`make up`: start the stack so it outlives this process, write stack.json, print the access lines;
        the exit code (0 up or already up)."""

    @abstractmethod
    def is_running(self, info: dict) -> bool:
        """Whether the stack stack.json describes (`info`, written by this backend) still runs."""

    @abstractmethod
    def stop_launched(self, info: dict) -> int:
        """`make down`: stop what launch() started (described by `info`); the exit code."""

    @abstractmethod
    def report_status(self, info: dict) -> int:
        """`make status`'s backend part: the processes or containers and their state; 1 when one is failing."""

    @abstractmethod
    def memory_by_component(self, info: dict) -> dict[str, float]:
        """Bytes each process (local: PSS of its process group) or container (docker) of the stack `info`
        describes holds now (`make soak` samples it)."""

    def __enter__(self) -> Stack:
        return self.up()

    def __exit__(self, *_: object) -> None:
        self.down()
