"""The scheduler every stack runs: Airflow's own, woken by PostgreSQL when a task instance ends or a run is created.

Airflow's scheduler polls. A loop that found nothing to do sleeps `scheduler_idle_sleep_time`, and a task that
has just succeeded waits out that sleep before the scheduler queues what comes after it: about half of it per
hand-off, five hand-offs in comprehensive_analysis. A shorter sleep buys latency with CPU: every loop costs
≈ 25 ms whether or not anything changed (docs/PERFORMANCE.md).

On PostgreSQL this module ends the sleep early on a notification, so the sleep can stay at Airflow's default 1 s:
- a trigger on `task_instance` notifies channel `hss_scheduler_wake` when a task instance reaches a state that
  ends a try (success, failed, skipped, up_for_retry, upstream_failed, removed) or a deferred task is resumed,
  and one on `dag_run` when a run is created, queued again (cleared) or ends; the api-server's execution and REST
  APIs, the triggerer and the scheduler itself all write through them;
- the scheduler LISTENs on its own connection and waits on it instead of `time.sleep`.
So a hand-off costs one loop, and an idle scheduler loops once a second. What the triggers do not cover (a retry's
delay running out, an asset event, a timetable's next run) is picked up within the sleep, as in Airflow.

The trigger function reads `NEW.state` in its body, so it holds no dependency on the column that would stand in
the way of Airflow's own migrations; `airflow db reset` drops the triggers with the tables, and the next start
creates them again. On SQLite (`make demo`), or when the connection or the triggers cannot be had, the scheduler
sleeps as Airflow's does and says so once in its log. `python -m hss_airflow.scheduler [airflow scheduler
options]` (local stacks, compose, the chart).
"""

from __future__ import annotations

import contextlib
import logging
import select
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

CHANNEL = "hss_scheduler_wake"
COMMAND = ("python", "-m", "hss_airflow.scheduler")  # how compose and the chart start it
# The states a try ends in: whatever runs after such a task may now be scheduled, or its pool slot is free.
ENDED = ("success", "failed", "skipped", "up_for_retry", "upstream_failed", "removed")
# A run's states that give the scheduler work: queued (new, or cleared), ended (a max_active_runs slot is free).
RUN_STATES = ("queued", "success", "failed")
RECONNECT_AFTER_S = 5.0  # after a lost connection (a PostgreSQL restart), plain sleeps until then


def _sql_list(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{value}'" for value in values)


WAKE_DDL = f"""
CREATE OR REPLACE FUNCTION hss_wake_scheduler() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- (OLD is not assigned on an INSERT, and an error here would fail Airflow's own write: test each case apart)
  IF TG_OP = 'INSERT' THEN
    PERFORM pg_notify('{CHANNEL}', '');
  ELSIF NEW.state IS NOT DISTINCT FROM OLD.state THEN
    NULL;
  ELSIF TG_TABLE_NAME = 'dag_run' THEN
    IF NEW.state IN ({_sql_list(RUN_STATES)}) THEN
      PERFORM pg_notify('{CHANNEL}', '');
    END IF;
  ELSIF NEW.state IN ({_sql_list(ENDED)}) OR (OLD.state = 'deferred' AND NEW.state = 'scheduled') THEN
    PERFORM pg_notify('{CHANNEL}', '');
  END IF;
  RETURN NULL;
END $$;
DO $$
DECLARE
  wanted record;
  found text;
BEGIN
  -- made, or made again when its events differ from these (an older definition); otherwise left alone
  FOR wanted IN SELECT * FROM (VALUES ('task_instance', 'UPDATE'), ('dag_run', 'INSERT OR UPDATE')) AS w(tab, events)
  LOOP
    SELECT pg_get_triggerdef(oid) INTO found FROM pg_trigger
      WHERE tgname = 'hss_wake_scheduler' AND tgrelid = wanted.tab::regclass;
    IF found IS NULL OR position('AFTER ' || wanted.events || ' ON' IN found) = 0 THEN
      EXECUTE format('DROP TRIGGER IF EXISTS hss_wake_scheduler ON %I', wanted.tab);
      EXECUTE format('CREATE TRIGGER hss_wake_scheduler AFTER %s ON %I FOR EACH ROW EXECUTE FUNCTION '
                     'hss_wake_scheduler()', wanted.events, wanted.tab);
    END IF;
  END LOOP;
END $$;
"""

log = logging.getLogger("hss_airflow.scheduler")  # also when run as __main__ (python -m)


class WakeableSleep:
    """`sleep(seconds)` that returns early when channel CHANNEL is notified; a plain sleep when it cannot listen.

    `connect` returns a new psycopg2 connection to Airflow's database. Notifications that arrived while the
    scheduler was busy end the next sleep at once, so none is lost between two loops.
    """

    def __init__(self, connect: Callable[[], Any], clock: Callable[[], float] = time.monotonic) -> None:
        self._connect = connect
        self._clock = clock
        self._connection: Any = None
        self._retry_at = 0.0
        self._warned = False

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        connection = self._listening()
        if connection is None:
            time.sleep(seconds)
            return
        try:
            connection.poll()
            if not connection.notifies:
                ready, _, _ = select.select([connection], [], [], seconds)
                if ready:
                    connection.poll()
            connection.notifies.clear()
        except Exception as exc:  # psycopg2.Error, OSError: the scheduler must go on as Airflow's would
            self._lost(exc)

    def _listening(self) -> Any:
        if self._connection is not None or self._clock() < self._retry_at:
            return self._connection
        try:
            self._connection = self._connect()
            self._connection.autocommit = True
            with self._connection.cursor() as cursor:
                cursor.execute(WAKE_DDL)
                cursor.execute(f"LISTEN {CHANNEL}")
        except Exception as exc:
            self._lost(exc)  # closes a connection that was opened but could not make the triggers or listen
            return None
        connection = self._connection
        log.info(
            "listening on channel %s: woken when a task's try ends or a run is created%s",
            CHANNEL,
            " (again)" if self._warned else "",
        )
        self._warned = False
        return connection

    def _lost(self, exc: Exception) -> None:
        if not self._warned:
            log.warning(
                "cannot listen on channel %s (%s): sleeping as Airflow does, trying again in %.0f s",
                CHANNEL,
                " ".join(str(exc).split())[:200] or type(exc).__name__,
                RECONNECT_AFTER_S,
            )
            self._warned = True
        if self._connection is not None:
            with contextlib.suppress(Exception):  # already broken: closing only frees the socket
                self._connection.close()
        self._connection = None
        self._retry_at = self._clock() + RECONNECT_AFTER_S


class SleepOnly:
    """What the scheduler's module sees as `time`: the `time` module, with `sleep` from a WakeableSleep."""

    def __init__(self, sleeper: WakeableSleep) -> None:
        self.sleep = sleeper.sleep

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def postgres_connect(sql_alchemy_conn: str) -> Callable[[], Any] | None:
    """A function opening a psycopg2 connection to Airflow's database, or None when it is not PostgreSQL."""
    from sqlalchemy.engine import make_url

    url = make_url(sql_alchemy_conn)
    if url.get_backend_name() != "postgresql":
        return None
    import psycopg2

    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    # bounded: a database that does not answer must not hold the scheduler's loop longer than Airflow's own calls;
    # keepalives: a connection lost without a word (a network gone) is noticed, and the sleep is plain again
    return lambda: psycopg2.connect(dsn, connect_timeout=5, keepalives_idle=30, keepalives_interval=10)


def main(argv: Sequence[str] | None = None) -> None:
    """`airflow scheduler`, its idle sleep ended by PostgreSQL's notifications where the database is PostgreSQL."""
    from airflow.__main__ import main as airflow_main  # first: it imports Airflow's configuration first
    from airflow.configuration import conf
    from airflow.jobs import scheduler_job_runner

    connect = postgres_connect(conf.get("database", "sql_alchemy_conn"))
    if connect is not None:
        scheduler_job_runner.time = SleepOnly(WakeableSleep(connect))  # type: ignore[assignment]
    sys.argv = ["airflow", "scheduler", *(sys.argv[1:] if argv is None else argv)]
    airflow_main()


if __name__ == "__main__":
    main()
