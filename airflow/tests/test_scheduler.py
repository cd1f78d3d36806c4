"""hss_airflow.scheduler: the scheduler's idle sleep ends when PostgreSQL says a try ended or a run was created.

Against a throwaway PostgreSQL (stack.backing, as the local stacks start it) with two stand-in tables named as
Airflow's: the triggers and the LISTEN are what the scheduler uses, the tables' other columns do not matter to them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg2
import pytest
import yaml
from sqlalchemy.engine import make_url

from hss_airflow import scheduler
from hss_airflow.scheduler import ENDED, RUN_STATES, SleepOnly, WakeableSleep, postgres_connect

LONG = 30.0  # a sleep no test waits out: returning before it is the wake-up


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from stack.backing import running_postgres

    with running_postgres(tmp_path_factory.mktemp("postgres-logs")) as postgres:
        with psycopg2.connect(postgres_url(postgres.url)) as connection, connection.cursor() as cursor:
            cursor.execute("CREATE TABLE task_instance (id int PRIMARY KEY, state text)")
            cursor.execute("CREATE TABLE dag_run (id int PRIMARY KEY, state text)")
            cursor.execute("INSERT INTO task_instance VALUES (1, 'running')")
            cursor.execute("INSERT INTO dag_run VALUES (0, 'running')")
        yield postgres.url


def postgres_url(sql_alchemy_conn: str) -> str:
    return sql_alchemy_conn.replace("postgresql+psycopg2://", "postgresql://")


class Writer(threading.Thread):
    """Runs `statement` on its own connection `after` seconds from now (while the test sleeps); join() raises what
    the write raised: the triggers must never make Airflow's own write fail."""

    def __init__(self, url: str, statement: str, after: float) -> None:
        super().__init__(daemon=True)
        self.url, self.statement, self.after, self.error = url, statement, after, None

    def run(self) -> None:
        time.sleep(self.after)
        try:
            with psycopg2.connect(postgres_url(self.url)) as connection, connection.cursor() as cursor:
                cursor.execute(self.statement)
        except Exception as exc:
            self.error = exc

    def join(self, timeout: float | None = 30) -> None:
        super().join(timeout)
        if self.error is not None:
            raise self.error


def write(url: str, statement: str, after: float = 0.3) -> Writer:
    writer = Writer(url, statement, after)
    writer.start()
    return writer


def timed_sleep(sleeper: WakeableSleep, seconds: float) -> float:
    started = time.monotonic()
    sleeper.sleep(seconds)
    return time.monotonic() - started


@pytest.fixture
def sleeper(database: str) -> WakeableSleep:
    connect = postgres_connect(database)
    assert connect is not None
    sleeper = WakeableSleep(connect)
    sleeper.sleep(0.01)  # listening from here on (the triggers made, LISTEN issued)
    return sleeper


def slept_while(url: str, sleeper: WakeableSleep, statement: str) -> float:
    """How long a LONG sleep lasted while `statement` was written 0.3 s into it (the write must succeed)."""
    writer = write(url, statement)
    slept = timed_sleep(sleeper, LONG)
    writer.join()
    return slept


@pytest.mark.parametrize("state", ENDED)
def test_a_try_that_ends_wakes_the_scheduler(database: str, sleeper: WakeableSleep, state: str) -> None:
    slept = slept_while(database, sleeper, f"UPDATE task_instance SET state = '{state}' WHERE id = 1")
    assert slept < LONG / 2, f"a task instance set to {state} did not end the sleep"
    write(database, "UPDATE task_instance SET state = 'running' WHERE id = 1", after=0).join()


def test_a_new_run_wakes_the_scheduler(database: str, sleeper: WakeableSleep) -> None:
    slept = slept_while(database, sleeper, "INSERT INTO dag_run VALUES ((SELECT max(id) + 1 FROM dag_run), 'queued')")
    assert slept < LONG / 2


@pytest.mark.parametrize("state", RUN_STATES)
def test_a_run_queued_again_or_ended_wakes_the_scheduler(database: str, sleeper: WakeableSleep, state: str) -> None:
    slept = slept_while(database, sleeper, f"UPDATE dag_run SET state = '{state}' WHERE id = 0")
    assert slept < LONG / 2, f"a run set to {state} did not end the sleep"
    write(database, "UPDATE dag_run SET state = 'running' WHERE id = 0", after=0).join()


def test_a_resumed_deferred_task_wakes_the_scheduler(database: str, sleeper: WakeableSleep) -> None:
    write(database, "UPDATE task_instance SET state = 'deferred' WHERE id = 1", after=0).join()
    slept = slept_while(database, sleeper, "UPDATE task_instance SET state = 'scheduled' WHERE id = 1")
    assert slept < LONG / 2
    write(database, "UPDATE task_instance SET state = 'running' WHERE id = 1", after=0).join()


@pytest.mark.parametrize(
    "table, before, after",
    [
        ("task_instance", "running", "queued"),
        ("task_instance", "running", "scheduled"),
        ("dag_run", "queued", "running"),
    ],
)
def test_a_state_that_gives_no_work_lets_the_sleep_run_out(
    database: str, sleeper: WakeableSleep, table: str, before: str, after: str
) -> None:
    key = 1 if table == "task_instance" else 0
    write(database, f"UPDATE {table} SET state = '{before}' WHERE id = {key}", after=0).join()
    sleeper.sleep(0.2)  # `before` may notify (a run queued does): that one ends this sleep
    # written before the sleep, not during it: a notification waits on the connection and would end the sleep
    # at once, so the check does not depend on a thread getting the CPU in time
    write(database, f"UPDATE {table} SET state = '{after}' WHERE id = {key}", after=0).join()
    assert timed_sleep(sleeper, 0.5) >= 0.5, f"{table} {before} -> {after} ended the sleep"
    write(database, f"UPDATE {table} SET state = 'running' WHERE id = {key}", after=0).join()


def test_a_notification_while_the_scheduler_was_busy_ends_the_next_sleep_at_once(
    database: str, sleeper: WakeableSleep
) -> None:
    write(database, "UPDATE task_instance SET state = 'success' WHERE id = 1", after=0).join()
    assert timed_sleep(sleeper, LONG) < LONG / 2
    assert timed_sleep(sleeper, 0.5) >= 0.5, "one notification ends one sleep"
    write(database, "UPDATE task_instance SET state = 'running' WHERE id = 1", after=0).join()


def triggers(url: str) -> list[tuple[str, str]]:
    with psycopg2.connect(postgres_url(url)) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgrelid::regclass::text, pg_get_triggerdef(oid) FROM pg_trigger "
            "WHERE tgname = 'hss_wake_scheduler' ORDER BY 1"
        )
        return cursor.fetchall()


def test_a_second_start_keeps_one_trigger_per_table_and_replaces_an_older_definition(database: str) -> None:
    with psycopg2.connect(postgres_url(database)) as connection, connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS hss_wake_scheduler ON dag_run")
        cursor.execute(
            "CREATE TRIGGER hss_wake_scheduler AFTER INSERT ON dag_run "
            "FOR EACH ROW EXECUTE FUNCTION hss_wake_scheduler()"
        )
    for _ in range(2):
        connect = postgres_connect(database)
        assert connect is not None
        WakeableSleep(connect).sleep(0.01)
    found = triggers(database)
    assert [table for table, _ in found] == ["dag_run", "task_instance"]
    assert "AFTER INSERT OR UPDATE ON" in found[0][1] and "AFTER UPDATE ON" in found[1][1]


def test_without_a_connection_it_sleeps_as_airflow_does_and_tries_again_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    attempts = []
    now = [100.0]

    def refused():
        attempts.append(now[0])
        raise psycopg2.OperationalError("connection refused")

    sleeper = WakeableSleep(refused, clock=lambda: now[0])
    assert timed_sleep(sleeper, 0.2) >= 0.2
    sleeper.sleep(0.01)  # within RECONNECT_AFTER_S: no new attempt
    now[0] += scheduler.RECONNECT_AFTER_S
    sleeper.sleep(0.01)
    assert attempts == [100.0, 100.0 + scheduler.RECONNECT_AFTER_S]
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "connection refused" in warnings[0].getMessage()


def test_sqlite_gets_no_listener_and_the_module_keeps_the_rest_of_time() -> None:
    assert postgres_connect("sqlite:////tmp/airflow.db") is None
    shim = SleepOnly(WakeableSleep(lambda: None))
    assert shim.monotonic is time.monotonic and shim.sleep.__self__.__class__ is WakeableSleep


def test_every_stack_starts_this_scheduler() -> None:
    from stack.airflow_stack import scheduler_argv
    from stack.paths import REPO_ROOT

    command = list(scheduler.COMMAND)
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    chart = yaml.safe_load((REPO_ROOT / "deploy/kubernetes/airflow-values.yaml").read_text())
    assert scheduler_argv()[1:] == command[1:], "the local stacks"
    assert compose["services"]["airflow-scheduler"]["command"] == command, "docker-compose.yml"
    assert chart["scheduler"]["args"] == ["bash", "-c", "exec " + " ".join(command)], "the chart values"


def test_the_module_takes_airflow_scheduler_s_options() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "hss_airflow.scheduler", "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--num-runs" in done.stdout


def test_the_container_healthcheck_probes_it_as_the_scheduler(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from stack.paths import REPO_ROOT

    spec = importlib.util.spec_from_file_location("hss_healthcheck", REPO_ROOT / "docker/healthcheck.py")
    healthcheck = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(healthcheck)
    asked = []
    monkeypatch.setattr(healthcheck, "http_ok", lambda url, *auth: asked.append(url) or True)
    assert healthcheck.probe(" ".join(scheduler.COMMAND)) is True
    assert asked == ["http://127.0.0.1:8974/health"]


def test_it_says_in_its_log_that_it_listens(database: str, caplog: pytest.LogCaptureFixture) -> None:
    connect = postgres_connect(database)
    assert connect is not None
    with caplog.at_level("INFO", logger="hss_airflow.scheduler"):
        WakeableSleep(connect).sleep(0.01)
    assert [r.getMessage() for r in caplog.records] == [
        "listening on channel hss_scheduler_wake: woken when a task's try ends or a run is created"
    ]


def test_a_role_that_cannot_make_the_triggers_sleeps_plainly_and_leaves_no_connection_open(
    database: str, caplog: pytest.LogCaptureFixture
) -> None:
    with psycopg2.connect(postgres_url(database)) as connection, connection.cursor() as cursor:
        cursor.execute("DROP ROLE IF EXISTS reader")
        cursor.execute("CREATE ROLE reader LOGIN PASSWORD 'reader-password'")
    url = make_url(database).set(username="reader", password="reader-password")
    connect = postgres_connect(url.render_as_string(hide_password=False))
    assert connect is not None
    opened = []
    sleeper = WakeableSleep(lambda: opened.append(connect()) or opened[-1])
    assert timed_sleep(sleeper, 0.2) >= 0.2  # a plain sleep
    assert len(opened) == 1 and opened[0].closed, "the connection that failed is closed"
    assert "cannot listen on channel hss_scheduler_wake (permission denied" in caplog.text
