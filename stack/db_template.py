"""A new Airflow metadata DB restored from one migrated before, instead of migrated again.

The init step (`airflow db migrate`, then `airflow pools import`) turns an empty DB into the same DB every time for
one Airflow install and one pools file, and costs two interpreters and alembic creating every table: 8.1 s and
7.7 CPU-s on SQLite (each `make demo`, each test process that needs a DB), 9.2 s on a local stack's new PostgreSQL
(where it outlasts the services' start, so every `make up` and each of the e2e stacks waits for it). The first init
with a given key keeps its result in the user's cache — a copy of the SQLite file, a `pg_dump` of the PostgreSQL
database — and a later new DB with that key is restored from it.

The key is what decides the DB's content: the installed apache-airflow distributions (their migrations), the
pools file, the settings that decide what the migration writes (the auth manager's and other external DB
managers' tables, default connections, the default pool's slots, the log templates), and for PostgreSQL the
client tools' version (a dump is restored by the same major version that made it).

A DB that exists is never replaced: a SQLite file that exists is left alone, and a PostgreSQL restore runs in one
transaction that fails on the first table that is there already (the init step then runs, as always; it is
idempotent). Only a template that is the user's own, in a folder only the user can write, is used: a dump runs
SQL as the DB's superuser, so one another user could plant must never be restored. The PostgreSQL password goes
to the client tools in their environment, never on a command line. The cache is best effort: where it cannot be
read or written, or the client tools are missing, the init step simply runs.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

# The settings that decide what `airflow db migrate` writes into a new DB, as the init's environment names them.
MIGRATION_SETTINGS = (
    "AIRFLOW__CORE__AUTH_MANAGER",  # an auth manager may bring its own tables (FAB's)
    "AIRFLOW__DATABASE__EXTERNAL_DB_MANAGERS",
    "AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS",
    "AIRFLOW__CORE__DEFAULT_POOL_TASK_SLOT_COUNT",
    "AIRFLOW__LOGGING__LOG_FILENAME_TEMPLATE",
    "AIRFLOW__ELASTICSEARCH__LOG_ID_TEMPLATE",
)
CONN = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgresql+psycopg2://")
PG_TOOL_TIMEOUT_S = 120.0
_PG_DUMP_VERSIONS: dict[Path, str] = {}  # bin dir -> `pg_dump --version`


def cache_dir() -> Path:
    """$HSS_DB_TEMPLATE_DIR, else $XDG_CACHE_HOME (~/.cache)/hss-workflow/airflow-db."""
    if explicit := os.environ.get("HSS_DB_TEMPLATE_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hss-workflow" / "airflow-db"


def sqlite_path(env: dict[str, str]) -> Path | None:
    """The DB file of an init environment whose metadata DB is SQLite, else None."""
    url = env.get(CONN, "")
    return Path(url.removeprefix(SQLITE_PREFIX)) if url.startswith(SQLITE_PREFIX) else None


@functools.cache
def airflow_distributions() -> tuple[str, ...]:
    """'name==version' of each installed apache-airflow* distribution: read once per process (a scan of every
    installed distribution's metadata, ~60 ms here, which seed() and keep() would otherwise both pay)."""
    return tuple(
        sorted(
            f"{dist.metadata['Name'].lower()}=={dist.version}"
            for dist in importlib.metadata.distributions()
            if (dist.metadata["Name"] or "").lower().startswith("apache-airflow")
        )
    )


class _Sqlite:
    suffix = "db"

    def __init__(self, path: Path) -> None:
        self.path = path

    def key_parts(self) -> list[str]:
        return []

    def restore(self, template: Path) -> bool:
        if self.path.exists():  # never replaced: the init step migrates it
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(self.path, lambda tmp: shutil.copyfile(template, tmp))
        return True

    def dump(self, target: Path) -> None:
        shutil.copyfile(self.path, target)


class _Postgres:
    suffix = "pgdump"

    def __init__(self, url: str, bin_dir: Path) -> None:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        self.bin_dir = bin_dir
        self.env = {
            **os.environ,
            "PGHOST": parsed.host or "127.0.0.1",
            "PGPORT": str(parsed.port or 5432),
            "PGUSER": parsed.username or "",
            "PGPASSWORD": parsed.password or "",  # the environment, not argv: `ps` shows argv to every user
            "PGDATABASE": parsed.database or "",
            "PGCONNECT_TIMEOUT": "10",
        }

    def key_parts(self) -> list[str]:
        # once per process and install: seed() and keep() both key on it, and each asking is a process start
        if self.bin_dir not in _PG_DUMP_VERSIONS:
            _PG_DUMP_VERSIONS[self.bin_dir] = self._run("pg_dump", "--version").stdout.strip()
        return [f"pg_dump {_PG_DUMP_VERSIONS[self.bin_dir]}"]

    def restore(self, template: Path) -> bool:
        # one transaction that stops at the first error: all of the dump or nothing, and never over an existing DB
        # (the first table that is there already fails it)
        flags = ["--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error"]
        return self._run("pg_restore", *flags, f"--dbname={self.env['PGDATABASE']}", str(template)).returncode == 0

    def dump(self, target: Path) -> None:
        done = self._run("pg_dump", "--format=custom", "--no-owner", "--no-privileges", "--file", str(target))
        if done.returncode != 0:
            raise OSError(f"pg_dump failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin_dir / tool), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=PG_TOOL_TIMEOUT_S,
            check=False,
        )


def _database(env: dict[str, str]) -> _Sqlite | _Postgres | None:
    """The metadata DB of an init environment, when it is one a template can make; else None."""
    if (path := sqlite_path(env)) is not None:
        return _Sqlite(path)
    url = env.get(CONN, "")
    if not url.startswith(POSTGRES_PREFIXES):
        return None
    from stack.backing import postgres_bin_dir
    from stack.processes import LaunchError

    try:
        bin_dir = postgres_bin_dir()
    except LaunchError:
        return None
    if not all((bin_dir / tool).is_file() for tool in ("pg_dump", "pg_restore")):
        return None
    return _Postgres(url, bin_dir)


def template_key(env: dict[str, str], pools_file: Path, database: _Sqlite | _Postgres) -> str:
    digest = hashlib.sha256()
    settings = (f"{name}={env.get(name)}" for name in MIGRATION_SETTINGS)
    for part in [*airflow_distributions(), *settings, *database.key_parts()]:
        digest.update(part.encode() + b"\n")
    digest.update(pools_file.read_bytes())
    return digest.hexdigest()[:20]


def template_path(env: dict[str, str], pools_file: Path, directory: Path | None = None) -> Path | None:
    """Where the template of this init environment's DB is kept (None: not a DB a template can make)."""
    located = _located(env, pools_file, directory)
    return None if located is None else located[1]


def _located(env: dict[str, str], pools_file: Path, directory: Path | None) -> tuple[_Sqlite | _Postgres, Path] | None:
    """The init environment's DB and its template's path, or None (not a DB a template can make)."""
    env = {**os.environ, **env}
    database = _database(env)
    if database is None:
        return None
    return database, (directory or cache_dir()) / f"{template_key(env, pools_file, database)}.{database.suffix}"


def seed(env: dict[str, str], pools_file: Path, directory: Path | None = None) -> Path | None:
    """Restore the cached template into the environment's new metadata DB. Returns the template restored (the init
    step is then not needed), or None (another database, the DB exists, no usable template, the restore failed).

    `env`: the init step's environment, over os.environ as the init process gets it."""
    try:
        if (located := _located(env, pools_file, directory)) is None:
            return None
        database, template = located
        if not template.is_file() or not (_private(template) and _private(template.parent)):
            return None
        return template if database.restore(template) else None
    except (OSError, subprocess.SubprocessError):
        return None


def keep(env: dict[str, str], pools_file: Path, directory: Path | None = None) -> Path | None:
    """Right after the init step made a new DB: keep it as the template of its key (when none is kept yet), before
    any component opens the DB. Returns the template's path, or None when nothing was kept."""
    try:
        if (located := _located(env, pools_file, directory)) is None:
            return None
        database, template = located
        if template.exists():
            return None
        template.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_atomically(template, database.dump)
    except (OSError, subprocess.SubprocessError):
        return None
    return template


def _private(path: Path) -> bool:
    """Ours and writable by nobody else, not a symlink: a DB another user could have planted is never used."""
    info = path.lstat()
    return not stat.S_ISLNK(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & 0o022


def _write_atomically(target: Path, write: Callable[[Path], None]) -> None:
    """Whole or not at all, and private: two processes may make or read the same template at once."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
