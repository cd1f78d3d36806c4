"""A second worker host beside a running docker stack: docker-compose.worker-host.yml as its own compose project,
on its own network, reaching the main stack over a second network that stands for the LAN (docs/WORKER_HOST.md).

    host = DockerWorkerHost(stack)   # a DockerStack test run, up
    host.start()                     # the LAN network, the main stack's redis/postgres/api-server on it, the project
    host.analyses_served()           # POST /analyze/comprehensive its own replica answered (its /metrics, docker exec)
    host.stop()                      # the project down with its volumes, the LAN gone

The worker host's env file holds only what worker-host.env.example lists: the main host's three addresses, four
secrets, the shared data root and DAG repository.
"""

from __future__ import annotations

import secrets
import subprocess
from typing import TYPE_CHECKING

from contracts.catalog import AUDIO
from stack.compose_project import DockerStackError, ProjectCompose, output_tail
from stack.docker_api import opened
from stack.env_file import write_private
from stack.paths import AIRFLOW_SERVICE, POSTGRES_SERVICE, REDIS_SERVICE, REPO_ROOT
from stack.service_metrics import analyses_in

if TYPE_CHECKING:
    from stack.docker_stack import DockerStack

HOSTNAME = "worker-host"
WORKER_HOST_FILE, WORKER_HOST_TEST_OVERLAY = "docker-compose.worker-host.yml", "docker-compose.worker-host.test.yml"
WORKER, REPLICA = "audio-worker", AUDIO.name
# The main host's secrets a worker host is given (worker-host.env.example), by their .env names
SECRETS = ("REDIS_PASSWORD", "POSTGRES_PASSWORD", "AIRFLOW_API_SECRET_KEY", "HSS_API_KEY")
# The main stack's components on the LAN, under the names the worker host is given (HSS_MAIN_*)
ON_THE_LAN = {REDIS_SERVICE: "main-redis", POSTGRES_SERVICE: "main-postgres", AIRFLOW_SERVICE: "main-api"}
METRICS = (
    "import sys, urllib.request; "
    f"sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:{AUDIO.port}/metrics', timeout=5).read().decode())"
)


class DockerWorkerHost:
    def __init__(self, stack: DockerStack) -> None:
        self.stack = stack
        self.hostname = HOSTNAME
        self.project = f"{stack.project_name}-host2-{secrets.token_hex(2)}"
        # Named to sort after the main project's `<project>_default`: Docker 20.10 moves a container's published
        # ports to the network whose name sorts first, and the main api-server's host port then stops answering.
        self.lan = f"{stack.project_name}_lan-{self.project[-4:]}"
        self.env_path = stack.state_dir / "worker-host.env"
        self.compose = ProjectCompose(
            context=REPO_ROOT,
            compose_file_name=[WORKER_HOST_FILE, WORKER_HOST_TEST_OVERLAY],
            env_file=[str(self.env_path)],
            project_name=self.project,
            keep_volumes=False,
            wait_timeout=stack.timeout,
        )
        self._connected: list[str] = []

    def env(self) -> dict[str, str]:
        main = self.stack.env_values()
        return {
            "COMPOSE_PROJECT_NAME": self.project,
            "HSS_MAIN_REDIS": f"{ON_THE_LAN[REDIS_SERVICE]}:6379",
            "HSS_MAIN_POSTGRES": f"{ON_THE_LAN[POSTGRES_SERVICE]}:5432",
            "HSS_MAIN_API": f"{ON_THE_LAN[AIRFLOW_SERVICE]}:8080",
            **{key: main[key] for key in SECRETS},
            "HSS_DATA_DIR": str(self.stack.data_root),
            "HSS_DAGS_REPO": str(self.stack.dag_repo.path),
            "HSS_WORKER_HOSTNAME": HOSTNAME,
            "HSS_WORKER_LOG_PORT": "",  # ephemeral: a test run publishes no fixed port
            "AIRFLOW_UID": str(self.stack.airflow_uid),
            "HSS_LAN_NETWORK": self.lan,
        }

    def start(self) -> DockerWorkerHost:
        write_private(self.env_path, "".join(f"{key}={value}\n" for key, value in self.env().items()))
        with opened() as client:
            network = client.networks.create(self.lan, driver="bridge")
            for container in self.stack.compose.get_containers():
                if alias := ON_THE_LAN.get(container.Service):
                    network.connect(container.Name, aliases=[alias])
                    self._connected.append(container.Name)
        try:
            self.compose.start()  # up --wait: its replica healthy, then its worker healthy
        except subprocess.CalledProcessError as exc:
            self.stop()
            raise DockerStackError(f"the worker host did not come up:\n{output_tail(exc.stderr)}") from exc
        except BaseException:  # Ctrl-C or CI's SIGINT mid-start: no fixture teardown runs, so remove it here
            self.stop()  # (its replica restarts `unless-stopped`: left behind, it would come back with the engine)
            raise
        return self

    def analyses_served(self) -> int:
        [replica] = [c.Name for c in self.compose.get_containers() if c.Service == REPLICA]
        with opened() as client:
            code, output = client.containers.get(replica).exec_run(["python", "-c", METRICS])
        if code != 0:
            raise DockerStackError(f"reading {replica}'s /metrics failed: {output.decode(errors='replace')[-500:]}")
        return analyses_in(output.decode())

    def stop(self) -> None:
        try:
            self.compose.stop(down=True)
        finally:
            with opened() as client:
                network = client.networks.get(self.lan)
                for name in self._connected:
                    network.disconnect(name, force=True)
                network.remove()
            self._connected.clear()
