"""A second worker host on the local backend: what docker-compose.worker-host.yml runs on another machine, as a
second set of processes beside a running local full stack (docs/WORKER_HOST.md).

    host = worker_host_for(stack)      # LocalWorkerHost beside a LocalStack (profile "celery"), DockerWorkerHost
    host = LocalWorkerHost(stack)      #   (stack/docker_worker_host.py) beside a DockerStack
    host.start()                       # its own workflow-audio replica, then a Celery worker on the audio queue
    host.replica_url, host.hostname    # where its songs are analysed; the task instances' hostname
    host.stop()

The worker is given what a worker host has, not the main host's whole environment: no metadata DB (Airflow 3's
workers reach task state through the execution API), no JWT secret (the tasks' tokens come with the tasks), no
Fernet key, no UI login; its workflow_audio connection
points at its own replica, so the songs of the tasks it takes are analysed there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from contracts.catalog import AUDIO, AUDIO_QUEUE
from stack.airflow_stack import airflow_argv
from stack.paths import REPO_ROOT, WORKER_SERVICE
from stack.processes import ManagedProcess, free_port
from stack.service_metrics import analyses_served
from stack.services import connection_uri_env, start_service_process
from stack.waiting import wait_until

if TYPE_CHECKING:
    from stack.base import Stack
    from stack.docker_worker_host import DockerWorkerHost
    from stack.local_stack import LocalStack

HOSTNAME = "worker-host"  # Celery's node name (worker-host@…) and the task instances' hostname
# What the main host's worker has and a worker host is not given (docker-compose.worker-host.yml leaves them out).
NOT_GIVEN = (
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE",
    "AIRFLOW__CELERY__FLOWER_BASIC_AUTH",
)


class LocalWorkerHost:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.hostname = HOSTNAME
        self.home = stack.state_dir / HOSTNAME
        self.replica: ManagedProcess | None = None
        self.worker: ManagedProcess | None = None
        self.replica_url = ""

    def start(self) -> LocalWorkerHost:
        stack = self.stack
        main_audio = stack.group.get(AUDIO.name)
        replica = start_service_process(
            stack.group, AUDIO, f"{HOSTNAME}-{AUDIO.name}", free_port(), dict(main_audio.env), stack.logs_dir
        )
        self.replica, self.replica_url = replica.process, replica.url
        self.replica.wait_healthy(stack.timeout)
        main_worker = stack.group.get(WORKER_SERVICE)
        env = {key: value for key, value in main_worker.env.items() if key not in NOT_GIVEN}
        env.update(
            {
                "AIRFLOW_HOME": str(self.home / "airflow"),  # its own: nothing of the main host's folder
                # but its task logs land where the api-server reads them: "worker-host" is no name this machine
                # resolves, so the log server the docker worker host uses cannot be reached here
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(stack.airflow_home / "logs"),
                "HSS_WORKER_HOSTNAME": HOSTNAME,
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                **connection_uri_env({AUDIO.name: self.replica_url}, stack.api_key),  # its own replica
            }
        )
        (self.home / "airflow").mkdir(parents=True, exist_ok=True)
        argv = airflow_argv("celery", "worker", "--celery-hostname", f"{HOSTNAME}@%h", "--queues", AUDIO_QUEUE)
        name = f"{HOSTNAME}-worker"
        self.worker = stack.group.start(
            ManagedProcess(name, argv, stack.logs_dir / f"{name}.log", env=env, cwd=REPO_ROOT)
        )
        self.worker.wait_healthy(stack.timeout, probe=lambda: HOSTNAME in stack.profile.ping_workers())
        return self

    def analyses_served(self) -> int:
        """POST /analyze/comprehensive its own replica answered so far."""
        return analyses_served(self.replica_url)

    def stop(self) -> None:
        """Stop its worker (a warm shutdown: tasks in flight finish), then its replica; both stay stopped."""
        for process in (self.worker, self.replica):
            if process is not None:
                process.stop()
        wait_until(lambda: HOSTNAME not in self.stack.profile.ping_workers(), 30, 0.5, f"{HOSTNAME} gone")


def worker_host_for(stack: Stack) -> LocalWorkerHost | DockerWorkerHost:
    """The worker host of `stack`'s backend (not started): processes beside a local stack, a compose project
    beside a docker one."""
    if stack.backend == "local":
        return LocalWorkerHost(stack)  # type: ignore[arg-type]
    from stack.docker_worker_host import DockerWorkerHost  # the docker SDK only where docker runs

    return DockerWorkerHost(stack)  # type: ignore[arg-type]
