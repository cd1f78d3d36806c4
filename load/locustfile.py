"""Locust users for the full stack: one per service, plus one that drives DAG runs through Airflow's REST API.

    locust -f load/locustfile.py --headless -u 20 -r 5 -t 60s AudioUser ContentUser   # by hand
    python -m load.run --profile default                                               # with thresholds

Targets come from the stack file (`HSS_LOAD_STACK_FILE`, default .stack/stack.json, what `make up`
writes): each class's `host` is its service's URL and every service request carries `X-API-Key`.
Request bodies are real (load/payloads.py): synthesized songs, fixture lyrics, feature rows,
and an insights payload assembled at test start from real responses. Every response is checked:
a non-2xx status or a body without the contract's key is a failure with a message.

AirflowUser triggers `comprehensive_analysis`, polls the run until it ends and reports the time
from trigger to success as its own request (type "DAG"); a failed or timed-out run is a failure.
"""

from __future__ import annotations

import logging
import os
import random
import time
import uuid

# `locust -f load/locustfile.py` puts load/ on sys.path; `load.*` imports because the project's editable install
# (uv sync) puts the repository root on every venv interpreter's path.
import gevent
from locust import FastHttpUser, between, constant_throughput, events, task

from contracts import catalog
from load import payloads
from load.targets import (
    AIRFLOW_LOGIN,
    AIRFLOW_POLL,
    AIRFLOW_TRIGGER,
    AUDIO,
    CONTENT,
    DAG_RUN,
    DEFAULT_STACK_FILE,
    INSIGHTS,
    PREDICTION,
    STACK_FILE_ENV,
    THROUGHPUT_ENV,
    USER_CLASSES,
    WAIT_TIME_ENV,
    TargetError,
    data_root,
    read_targets,
    target_url,
)

log = logging.getLogger("load")
TARGETS = read_targets(os.environ.get(STACK_FILE_ENV) or DEFAULT_STACK_FILE)
DAG_TIMEOUT_S = float(os.environ.get("HSS_LOAD_DAG_TIMEOUT_S", "180"))
POLL_INTERVAL_S = 0.5
_wait, _pace = os.environ.get(WAIT_TIME_ENV), os.environ.get(THROUGHPUT_ENV)
if _pace:  # a fixed pace per user: the offered load does not drop when the service slows down
    SERVICE_WAIT = constant_throughput(float(_pace))
else:
    SERVICE_WAIT = between(*(float(x) for x in _wait.split(","))) if _wait else None


def _host(target: str) -> str | None:
    try:
        return target_url(TARGETS, target)
    except TargetError:
        return None  # Locust refuses to start this class and says it has no host


def _snippet(response) -> str:
    return (response.text or "").strip().replace("\n", " ")[:200]


def expect(response, key: str) -> dict | None:
    """Fail `response` unless it is a 2xx JSON object carrying `key`; return the body when it passes."""
    if response.status_code == 0:
        response.failure(f"no response: {response.error!r}")
        return None
    if not 200 <= response.status_code < 300:
        response.failure(f"HTTP {response.status_code}: {_snippet(response)}")
        return None
    try:
        body = response.json()
    except ValueError:
        response.failure(f"HTTP {response.status_code} but not JSON: {_snippet(response)}")
        return None
    if not isinstance(body, dict) or key not in body:
        response.failure(f"HTTP {response.status_code} without {key!r} in the body: {_snippet(response)}")
        return None
    response.success()
    return body


class ServiceUser(FastHttpUser):
    abstract = True
    default_headers = {"X-API-Key": TARGETS.get("api_key") or ""}
    connection_timeout = 10.0
    network_timeout = 60.0
    wait_time = SERVICE_WAIT or between(0.5, 2.0)

    def post_checked(self, path: str, body: dict, key: str) -> dict | None:
        with self.client.post(path, json=body, name=path, catch_response=True) as response:
            return expect(response, key)


class AudioUser(ServiceUser):
    """Essentia on six real 8 s songs: CPU-bound (~0.5 s of a core each), so fewer users and longer pauses."""

    host = _host(catalog.AUDIO.name)
    weight = 2
    wait_time = SERVICE_WAIT or between(1.0, 3.0)
    bodies = payloads.audio_requests()

    @task
    def analyze(self) -> None:
        self.post_checked(AUDIO, random.choice(self.bodies), "features")


class ContentUser(ServiceUser):
    host = _host(catalog.CONTENT.name)
    weight = 4
    bodies = [b for b in payloads.lyrics_requests() if b["lyrics"]]

    @task(4)
    def analyze_lyrics(self) -> None:
        self.post_checked(CONTENT, random.choice(self.bodies), "sentiment")

    @task(1)
    def analyze_instrumental(self) -> None:
        self.post_checked(CONTENT, {"song_id": "load_instrumental", "lyrics": ""}, "sentiment")


class PredictionUser(ServiceUser):
    host = _host(catalog.PREDICTION.name)
    weight = 4
    bodies: list[dict] = []  # real features of the load songs, analysed at test start (prepare below)

    @task(4)
    def predict(self) -> None:
        if self.bodies:
            self.post_checked(PREDICTION, random.choice(self.bodies), "hit_probability")

    @task(1)
    def predict_without_lyrics(self) -> None:
        """Unknown lyrics: the service imputes the content features and lists them as missing (still a 200)."""
        if not self.bodies:
            return
        body = dict(random.choice(self.bodies), content_features={})
        self.post_checked(PREDICTION, body, "hit_probability")


class InsightsUser(ServiceUser):
    host = _host(catalog.INTELLIGENCE.name)
    weight = 4
    body: dict | None = None  # built at test start from real responses (prepare below)

    @task
    def generate(self) -> None:
        if self.body is not None:
            self.post_checked(INSIGHTS, self.body, "recommendations")


class DagRunFailed(Exception):
    pass


class AirflowUser(FastHttpUser):
    """One comprehensive_analysis run at a time: trigger, poll every 0.5 s, report trigger→success."""

    host = _host("airflow")
    weight = 1
    wait_time = between(1.0, 3.0)
    connection_timeout = 10.0
    network_timeout = 30.0
    confs = payloads.dag_confs()
    token: str | None = None

    def on_start(self) -> None:
        self.login()

    def login(self) -> bool:
        """POST /auth/token → a JWT for the Authorization header."""
        airflow = TARGETS.get("airflow") or {}
        credentials = {"username": airflow.get("username"), "password": airflow.get("password")}
        with self.client.post(AIRFLOW_LOGIN, json=credentials, name=AIRFLOW_LOGIN, catch_response=True) as response:
            body = expect(response, "access_token")
        self.token = body["access_token"] if body else None
        return self.token is not None

    def call(self, method: str, path: str, name: str, key: str, body: dict | None = None) -> dict | None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with self.client.request(method, path, json=body, headers=headers, name=name, catch_response=True) as response:
            if response.status_code == 401:
                self.token = None  # expired: the next call logs in again
            return expect(response, key)

    @task
    def analyse_song(self) -> None:
        if self.token is None and not self.login():
            return
        conf = random.choice(self.confs)
        run_id = f"load__{conf['song_id']}__{uuid.uuid4().hex[:12]}"
        started = time.perf_counter()
        body = {"logical_date": None, "conf": conf, "dag_run_id": run_id}
        if self.call("POST", AIRFLOW_TRIGGER, AIRFLOW_TRIGGER, "dag_run_id", body) is None:
            return
        outcome = self.wait_for_run(run_id, started + DAG_TIMEOUT_S)
        error = None if outcome == "success" else DagRunFailed(outcome)
        if error:
            log.warning("DAG run %s: %s", run_id, outcome)
        self.environment.events.request.fire(
            request_type="DAG",
            name=DAG_RUN,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=error,
            context={},
        )

    def wait_for_run(self, run_id: str, deadline: float) -> str:
        """'success', or why not (the message groups the failures: no run id in it)."""
        while time.perf_counter() < deadline:
            gevent.sleep(POLL_INTERVAL_S)
            if self.token is None and not self.login():
                continue
            run = self.call("GET", f"{AIRFLOW_TRIGGER}/{run_id}", AIRFLOW_POLL, "state")
            if run and run["state"] == "success":
                return "success"
            if run and run["state"] == "failed":
                return "the run ended 'failed'"
        return f"the run did not finish within {DAG_TIMEOUT_S:.0f} s"


@events.test_start.add_listener
def prepare(environment, **_kwargs) -> None:
    """Songs in the data root, their real features and the insights payload, once, before the users start."""
    selected = {cls.__name__ for cls in environment.user_classes}
    try:
        if any(USER_CLASSES[name].needs_songs for name in selected):
            payloads.prepare_songs(data_root(TARGETS))
        if selected & {"PredictionUser", "InsightsUser"}:
            analyses = payloads.analyse_songs(TARGETS)
            PredictionUser.bodies = payloads.prediction_requests(analyses)
            InsightsUser.body = payloads.insights_request(TARGETS, analyses[3])
    except Exception as exc:
        log.error("cannot prepare the load payloads, stopping: %s", exc)
        environment.process_exit_code = 3
        gevent.spawn(environment.runner.quit)


@events.quitting.add_listener
def let_csv_catch_up(environment, **_kwargs) -> None:
    # Locust's CSV writer rewrites _stats.csv every second and is closed without a last write:
    # one more turn makes the CSV hold the final numbers (what load.run judges the thresholds on).
    if getattr(environment.parsed_options, "csv_prefix", None):
        gevent.sleep(1.5)
