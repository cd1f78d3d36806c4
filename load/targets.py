"""Where the load goes (stack.json) and which user class sends which requests.

Plain data and file reading, no Locust import: `load.run`, the profiles and the tests use it
without gevent's monkey-patching, and the locustfile uses the same names, so a threshold in
profiles.toml and a row of the Locust report always agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from contracts import catalog
from stack.paths import STACK_FILE

DEFAULT_STACK_FILE = STACK_FILE
# The locustfile reads the targets from this file (run.py passes a private copy of the stack dict).
STACK_FILE_ENV = "HSS_LOAD_STACK_FILE"
# "min,max" seconds between a service user's requests (a profile's wait_time_s); unset = the class default.
WAIT_TIME_ENV = "HSS_LOAD_WAIT_TIME_S"
THROUGHPUT_ENV = "HSS_LOAD_THROUGHPUT_PER_USER"

DAG_ID = "comprehensive_analysis"
# Request names as they appear in the Locust stats (one row per name).
AUDIO = catalog.AUDIO_ANALYZE.path
CONTENT = catalog.LYRICS_ANALYZE.path
PREDICTION = catalog.PREDICT_SINGLE.path
INSIGHTS = catalog.INSIGHTS_GENERATE.path
AIRFLOW_LOGIN = "/auth/token"
AIRFLOW_TRIGGER = f"/api/v2/dags/{DAG_ID}/dagRuns"
AIRFLOW_POLL = f"/api/v2/dags/{DAG_ID}/dagRuns/[run_id]"  # one row for every run id
DAG_RUN = f"{DAG_ID} trigger→success"  # request_type "DAG": the measured run time
AGGREGATED = "Aggregated"  # Locust's total row


@dataclass(frozen=True)
class UserClassSpec:
    name: str
    target: str  # a service name in stack.json, or "airflow"
    requests: tuple[str, ...]
    needs_songs: bool = False  # reads audio files from the data root


USER_CLASSES: dict[str, UserClassSpec] = {
    spec.name: spec
    for spec in (
        UserClassSpec("AudioUser", catalog.AUDIO.name, (AUDIO,), needs_songs=True),
        UserClassSpec("ContentUser", catalog.CONTENT.name, (CONTENT,)),
        UserClassSpec("PredictionUser", catalog.PREDICTION.name, (PREDICTION,), needs_songs=True),  # REAL_SOURCES
        UserClassSpec("InsightsUser", catalog.INTELLIGENCE.name, (INSIGHTS,), needs_songs=True),  # REAL_SOURCES
        UserClassSpec(
            "AirflowUser", "airflow", (AIRFLOW_LOGIN, AIRFLOW_TRIGGER, AIRFLOW_POLL, DAG_RUN), needs_songs=True
        ),
    )
}
# The prediction and insights payloads are built once from real audio, content (and prediction) responses.
REAL_SOURCES = (catalog.AUDIO.name, catalog.CONTENT.name, catalog.PREDICTION.name)
REAL_PAYLOAD_USERS = ("PredictionUser", "InsightsUser")


def request_owner(name: str) -> str | None:
    """The user class that sends request `name` (None for the aggregate row or an unknown name)."""
    for spec in USER_CLASSES.values():
        if name in spec.requests:
            return spec.name
    return None


class TargetError(RuntimeError):
    """The stack file is missing, unreadable or lacks what a user class needs."""


def read_targets(path: Path | str) -> dict:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise TargetError(f"no stack file at {path}: start the stack with `make up`") from None
    except (OSError, ValueError) as exc:
        raise TargetError(f"cannot read the stack file {path}: {exc}") from None


def target_url(targets: dict, target: str) -> str:
    """Base URL of a service (by its stack.json name) or of Airflow ("airflow")."""
    if target == "airflow":
        url = (targets.get("airflow") or {}).get("url")
    else:
        url = (targets.get("services") or {}).get(target)
    if not url:
        raise TargetError(f"the stack file names no URL for {target!r}")
    return str(url).rstrip("/")


def data_root(targets: dict) -> Path:
    """The data root as a local folder (the docker backend's is a volume: audio files cannot be put there)."""
    root = Path(str(targets.get("data_root") or ""))
    if not root.is_absolute() or not root.is_dir():
        raise TargetError(
            f"data root {targets.get('data_root')!r} is not a folder on this machine: AudioUser and AirflowUser "
            "need the load songs in it (run them against the local backend, or leave them out of the profile)"
        )
    return root
