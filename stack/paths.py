"""Where things are: the repository root, the state folders `make up` / `make demo` use, the component names.

The one definition of the repository root in the tree (tests import it from here too). Every other location
of the stack tool is derived from it; the data root's own folders come from contracts.data_layout.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# The repository's inputs the stacks run.
DAGS_SOURCE = REPO_ROOT / "airflow" / "dags"
PLUGINS_FOLDER = REPO_ROOT / "airflow" / "plugins"
POOLS_FILE = REPO_ROOT / "airflow" / "config" / "pools.json"
MAIL_SINK = REPO_ROOT / "docker" / "mail_sink.py"
ENV_FILE = REPO_ROOT / ".env"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
COMPOSE_FILE, COMPOSE_TEST_OVERLAY = "docker-compose.yml", "docker-compose.test.yml"
ARTIFACTS = REPO_ROOT / "artifacts"

# The state folder of `make up` / `make demo` (.stack/) and what lives in it.
STATE_DIR = REPO_ROOT / ".stack"
STACK_FILE_NAME = "stack.json"  # what the running stack is: URLs, login, pids (0600)
LAUNCHER_PID_NAME = "launcher.pid"
LOGS_DIR_NAME = "logs"  # logs/<component>.log, logs/launcher.log
LAUNCHER_LOG_NAME = "launcher.log"
STACK_FILE = STATE_DIR / STACK_FILE_NAME
# As the compose file spells its defaults (${HSS_DATA_DIR:-.stack/data}…), relative to the repository.
DATA_DIR_DEFAULT = ".stack/data"
MAIL_DIR_DEFAULT = ".stack/mail"
DAGS_REPO_DEFAULT = ".stack/dags.git"

# Component names: compose's service names, which both backends answer to.
AIRFLOW_SERVICE = "airflow-apiserver"
SCHEDULER_SERVICE = "airflow-scheduler"
DAG_PROCESSOR_SERVICE = "airflow-dag-processor"
TRIGGERER_SERVICE = "airflow-triggerer"
WORKER_SERVICE = "airflow-worker"
FLOWER_SERVICE = "flower"
INIT_SERVICE = "airflow-init"
POSTGRES_SERVICE, REDIS_SERVICE, MAIL_SERVICE = "postgres", "redis", "mail-sink"
AUDIO_SERVICE, AUDIO_BALANCER = "workflow-audio", "workflow-audio-lb"  # the scalable service and its HAProxy
