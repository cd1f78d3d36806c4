"""What `make up` / `make down` / `make status` do with the docker backend (mixed into DockerStack): compose
up in the foreground, then stack.json; `docker compose down` (volumes and data kept); the containers' table."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from stack.compose_project import DockerStackError
from stack.docker_api import memory_by_container, project_containers
from stack.env_file import write_private
from stack.paths import REPO_ROOT, STACK_FILE_NAME
from stack.stack_file import print_access, read_stack_file, say
from stack.tables import container_table
from stack.waiting import answers


class DockerControl:
    """Provides the Stack interface's background methods for DockerStack (which provides the rest)."""

    state_dir: Path
    env_path: Path
    workers: int
    data_root: Path
    progress: Callable[[str], None]

    def launch(self) -> int:
        stack_file = self.state_dir / STACK_FILE_NAME
        info = read_stack_file(stack_file)
        if info and info.get("backend") == "docker" and self.is_running(info):
            say(f"already up ({stack_file}); make down first to change WORKERS:")
            print_access(info, stack_file, self.env_path)
            return 0
        self.state_dir.mkdir(parents=True, exist_ok=True)
        say(f"data root: {self.data_root} (bind-mounted at /app/data; drop songs and datasets there)")
        started = time.monotonic()
        try:
            self.up()
        except DockerStackError as exc:
            say(str(exc))
            say("fix the cause above and run make up again.")
            return 1
        say(f"docker stack healthy {time.monotonic() - started:.1f} s after make up started")
        write_private(stack_file, json.dumps(self.info(), indent=2) + "\n")
        print_access(self.info(), stack_file, self.env_path)
        return 0

    def memory_by_component(self, info: dict) -> dict[str, float]:
        return memory_by_container(project_containers((info.get("compose") or {}).get("project", "")))

    def is_running(self, info: dict) -> bool:
        """Airflow answers at the URL stack.json names."""
        return answers(f"{(info.get('airflow') or {}).get('url')}/api/v2/monitor/health")

    def stop_launched(self, info: dict) -> int:
        command = (info.get("compose") or {}).get("command") or self.compose_command()
        say(f"$ {' '.join([*command, 'down'])}")
        code = subprocess.run([*command, "down"], cwd=REPO_ROOT).returncode
        if code != 0:
            say(f"docker compose down failed (exit {code}); stack.json kept. Is the Docker daemon running?")
            return code
        (self.state_dir / STACK_FILE_NAME).unlink(missing_ok=True)
        say(
            f"stack stopped; the database volume and the data root {info.get('data_root')} are kept "
            "(`docker compose down -v` drops the volumes). make up starts it again."
        )
        return 0

    def report_status(self, info: dict) -> int:
        """Each container's state and health, as `docker compose ps` shows them."""
        try:
            containers = self.container_states()
        except Exception as exc:
            say(f"  containers   docker compose ps failed: {exc}")
            return 1
        return container_table(containers, self.container_restarts(), info.get("workers"))

    def container_states(self) -> list[tuple[str, str, str]]:
        """(container name, state, health) of every container of the project, `make status`'s view; the one-shot
        airflow-init reads "done" once it exited 0."""
        return [
            (
                container.Name or "?",
                container.State or "?",
                "done" if container.State == "exited" and container.ExitCode == 0 else container.Health or "-",
            )
            for container in self.compose.get_containers(include_all=True)
        ]
