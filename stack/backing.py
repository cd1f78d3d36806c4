"""Throwaway PostgreSQL and Redis for the local full stack: free ports, temp dirs, logs beside the others.

PostgreSQL: `initdb` into a fresh temp dir, then `postgres` in the foreground (a ManagedProcess, so the
stack stops it like any other component). `initdb` and `postgres` refuse to run as root, so as root
(CI) both run as the `postgres` system user through `setpriv`, which execs (no extra process to stop),
on a data dir that user owns. As a normal user they run as that user.

Redis: `redis-server` on a free port, with an append-only file in its temp dir (a restart keeps the queue).

Both authenticate every client, as on docker: PostgreSQL with scram-sha-256 (no `trust`, also not on
127.0.0.1: any local account could otherwise connect as the superuser), Redis with `requirepass` (the Celery
messages carry the tasks' execution-API tokens). Each stack generates its own passwords.

Both are tuned for tests, not durability: PostgreSQL without fsync, Redis without snapshots; each survives
a restart of its process, not a lost disk. Nothing here touches the
machine's own PostgreSQL (5432) or Redis (6379).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import redis

from stack.processes import LaunchError, ManagedProcess, free_port

PG_USER = "airflow"  # superuser created by initdb; password auth (scram-sha-256) on the socket and 127.0.0.1
PG_DATABASE = "airflow"
INSTALL_HINT = "install it: apt-get install -y postgresql redis-server (make install does it when missing)"


def postgres_bin_dir() -> Path:
    """The newest Debian PostgreSQL bin dir, else wherever `initdb` is on PATH."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise LaunchError(f"PostgreSQL's initdb not found: {INSTALL_HINT}")


def _as_postgres_user(argv: list[str]) -> list[str]:
    """Prefix argv so it runs as `postgres` when we are root (initdb/postgres refuse root)."""
    if os.geteuid() != 0:
        return argv
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise LaunchError(f"running as root and no `postgres` user to run PostgreSQL as: {INSTALL_HINT}") from exc
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--", *argv]


def _chown_to_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(path, entry.pw_uid, entry.pw_gid)


@dataclass
class ThrowawayPostgres:
    """One PostgreSQL cluster in a temp dir; `url` is what Airflow's SQL_ALCHEMY_CONN takes."""

    logs_dir: Path
    port: int = 0
    base_dir: Path | None = None
    password: str = ""

    def __post_init__(self) -> None:
        self.port = self.port or free_port()
        self.bin_dir = postgres_bin_dir()
        self.password = self.password or secrets.token_urlsafe(24)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://{PG_USER}:{self.password}@127.0.0.1:{self.port}/{PG_DATABASE}"

    @property
    def data_dir(self) -> Path:
        assert self.base_dir is not None
        return self.base_dir / "data"

    def init(self) -> float:
        """initdb into a new temp dir (≈2 s); return the seconds it took."""
        started = time.monotonic()
        self.base_dir = Path(tempfile.mkdtemp(prefix="hss-pg-"))
        self.base_dir.chmod(0o755)  # the postgres user must reach data/ and the socket dir
        _chown_to_postgres(self.base_dir)
        log = self.logs_dir / "postgres-initdb.log"
        pwfile = self.base_dir / "pwfile"  # read by initdb, then removed
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.password + "\n")
        _chown_to_postgres(pwfile)
        initdb = [str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", PG_USER, "-E", "UTF8"]
        initdb += ["--auth=scram-sha-256", f"--pwfile={pwfile}"]
        argv = _as_postgres_user([*initdb, "--no-sync", "--no-instructions"])
        with log.open("ab") as out:
            code = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, cwd=self.base_dir, check=False).returncode
        pwfile.unlink(missing_ok=True)
        if code != 0:
            raise LaunchError(f"initdb failed (exit {code}); see {log}:\n{log.read_text(errors='replace')[-2000:]}")
        return time.monotonic() - started

    def process(self) -> ManagedProcess:
        """The postmaster in the foreground, tuned for a test stack (no fsync; SIGINT = fast shutdown)."""
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.base_dir),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",  # Celery result backend + every component's pool
        }
        argv = [str(self.bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        log = self.logs_dir / "postgres.log"
        return ManagedProcess("postgres", _as_postgres_user(argv), log, cwd=self.base_dir, stop_signal=signal.SIGINT)

    def ready(self) -> bool:
        """pg_isready, then the airflow database exists (created on the first ready answer)."""
        isready = [str(self.bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER, "-q"]
        if subprocess.run(isready, check=False).returncode != 0:
            return False
        return self._ensure_database()

    def _ensure_database(self) -> bool:
        try:
            conn = psycopg2.connect(
                host="127.0.0.1", port=self.port, user=PG_USER, password=self.password, dbname="postgres"
            )
        except psycopg2.OperationalError:
            return False
        conn.autocommit = True  # CREATE DATABASE cannot run in a transaction (so no `with conn:`)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DATABASE,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{PG_DATABASE}"')
        finally:
            conn.close()
        return True

    def remove(self) -> None:
        """Delete the cluster's files (call after the postmaster stopped)."""
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)


REDIS_PERSISTENCE = ("--appendonly", "yes", "--appendfsync", "everysec")


@contextlib.contextmanager
def running_postgres(logs_dir: Path, timeout: float = 60.0) -> Iterator[ThrowawayPostgres]:
    """A ThrowawayPostgres started and ready (its `airflow` database made); stopped and removed afterwards."""
    postgres = ThrowawayPostgres(logs_dir)
    postgres.init()
    process = postgres.process().start()
    try:
        process.wait_healthy(timeout, probe=postgres.ready)
        yield postgres
    finally:
        process.stop()
        postgres.remove()


@dataclass
class ThrowawayRedis:
    logs_dir: Path
    port: int = 0
    password: str = ""

    def __post_init__(self) -> None:
        self.port = self.port or free_port()
        self.work_dir = Path(tempfile.mkdtemp(prefix="hss-redis-"))
        self.password = self.password or secrets.token_urlsafe(24)

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def config_file(self) -> Path:
        """The password in a 0600 file, not on the command line (`ps` shows argv to every local account)."""
        path = self.work_dir / "redis.conf"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"requirepass {self.password}\n")
        return path

    def process(self) -> ManagedProcess:
        exe = shutil.which("redis-server")
        if exe is None:
            raise LaunchError(f"redis-server not found: {INSTALL_HINT}")
        # The append-only file keeps queued Celery messages across a broker restart (docker-compose.yml: the same).
        argv = [exe, str(self.config_file()), "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        argv += REDIS_PERSISTENCE
        argv += ["--dir", str(self.work_dir)]
        return ManagedProcess("redis", argv, self.logs_dir / "redis.log", cwd=self.work_dir)

    def ready(self) -> bool:
        client = redis.Redis(port=self.port, password=self.password, socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def remove(self) -> None:
        shutil.rmtree(self.work_dir, ignore_errors=True)
