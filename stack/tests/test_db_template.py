"""stack.db_template: a new metadata DB is restored from one migrated before, keyed by what decides it — a copy of a
SQLite file, a pg_dump of a database of a throwaway PostgreSQL (stack.backing, as the local stacks start it)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from stack import db_template

CONN = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"


def migrated_db(path: Path) -> Path:
    """A stand-in for what the init step leaves: a SQLite file with a table and a row."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE slot_pool (pool TEXT, slots INTEGER)")
        db.execute("INSERT INTO slot_pool VALUES ('hss_audio', 2)")
    return path


@pytest.fixture
def pools(tmp_path: Path) -> Path:
    path = tmp_path / "pools.json"
    path.write_text('{"hss_audio": {"slots": 2}}')
    return path


def env_for(db: Path) -> dict[str, str]:
    return {CONN: f"sqlite:///{db}"}


def test_a_kept_db_seeds_the_next_new_db_of_the_same_key(tmp_path: Path, pools: Path) -> None:
    cache = tmp_path / "cache"
    first = migrated_db(tmp_path / "first.db")
    template = db_template.keep(env_for(first), pools, cache)
    assert template is not None and template.parent == cache and template.stat().st_mode & 0o077 == 0

    second = tmp_path / "home" / "airflow.db"
    assert db_template.seed(env_for(second), pools, cache) == template
    with sqlite3.connect(second) as db:
        assert db.execute("SELECT pool, slots FROM slot_pool").fetchall() == [("hss_audio", 2)]
    assert not [p for p in cache.iterdir() if p.name.startswith(".")], "a temporary copy was left behind"


def test_nothing_is_seeded_without_a_template_over_an_existing_db_or_for_another_database(
    tmp_path: Path, pools: Path
) -> None:
    cache = tmp_path / "cache"
    assert db_template.seed(env_for(tmp_path / "new.db"), pools, cache) is None  # nothing kept yet
    assert not (tmp_path / "new.db").exists()

    db_template.keep(env_for(migrated_db(tmp_path / "first.db")), pools, cache)
    existing = tmp_path / "existing.db"
    existing.write_bytes(b"a DB with runs in it")
    assert db_template.seed(env_for(existing), pools, cache) is None
    assert existing.read_bytes() == b"a DB with runs in it"  # never replaced: the init step migrates it

    mysql = {CONN: "mysql+mysqldb://airflow@127.0.0.1/airflow"}
    assert db_template.seed(mysql, pools, cache) is None
    assert db_template.keep(mysql, pools, cache) is None


@pytest.mark.parametrize(
    "change",
    ["pools", "AIRFLOW__CORE__DEFAULT_POOL_TASK_SLOT_COUNT", "AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS"],
)
def test_a_db_made_for_other_pools_or_migration_settings_is_not_used(tmp_path: Path, pools: Path, change: str) -> None:
    cache = tmp_path / "cache"
    db_template.keep(env_for(migrated_db(tmp_path / "first.db")), pools, cache)
    env = env_for(tmp_path / "second.db")
    if change == "pools":
        pools.write_text('{"hss_audio": {"slots": 3}}')
    else:
        env[change] = "7" if "SLOT" in change else "True"
    assert db_template.seed(env, pools, cache) is None


def test_a_template_is_kept_once_and_not_overwritten(tmp_path: Path, pools: Path) -> None:
    cache = tmp_path / "cache"
    template = db_template.keep(env_for(migrated_db(tmp_path / "first.db")), pools, cache)
    assert template is not None
    before = template.read_bytes()
    other = tmp_path / "other.db"
    other.write_bytes(b"not the same")
    assert db_template.keep(env_for(other), pools, cache) is None
    assert template.read_bytes() == before


def test_a_symlink_in_the_cache_is_not_followed(tmp_path: Path, pools: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    planted = migrated_db(tmp_path / "planted.db")
    template = db_template.template_path(env_for(tmp_path / "x.db"), pools, cache)
    template.symlink_to(planted)
    assert db_template.seed(env_for(tmp_path / "new.db"), pools, cache) is None
    assert not (tmp_path / "new.db").exists()


def test_a_template_others_could_have_written_is_not_used(tmp_path: Path, pools: Path) -> None:
    cache = tmp_path / "cache"
    template = db_template.keep(env_for(migrated_db(tmp_path / "first.db")), pools, cache)
    assert template is not None
    for path, mode in ((cache, 0o777), (template, 0o666)):  # the folder, then the file, writable by anyone
        original = path.stat().st_mode & 0o777
        path.chmod(mode)
        assert db_template.seed(env_for(tmp_path / "new.db"), pools, cache) is None, path
        assert not (tmp_path / "new.db").exists()
        path.chmod(original)
    assert db_template.seed(env_for(tmp_path / "new.db"), pools, cache) == template


def test_a_template_of_another_user_is_not_used(tmp_path: Path, pools: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    db_template.keep(env_for(migrated_db(tmp_path / "first.db")), pools, cache)
    monkeypatch.setattr(db_template.os, "geteuid", lambda: os.getuid() + 1)  # as seen by someone else
    assert db_template.seed(env_for(tmp_path / "new.db"), pools, cache) is None
    assert not (tmp_path / "new.db").exists()


def test_an_unwritable_cache_path_only_means_no_template(tmp_path: Path, pools: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")  # the cache's parent is a file: mkdir fails for every user, root included
    assert db_template.keep(env_for(migrated_db(tmp_path / "first.db")), pools, blocker / "cache") is None
    assert db_template.seed(env_for(tmp_path / "new.db"), pools, blocker / "cache") is None


def test_the_cache_defaults_to_the_users_cache_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HSS_DB_TEMPLATE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert db_template.cache_dir() == tmp_path / "hss-workflow" / "airflow-db"
    monkeypatch.setenv("HSS_DB_TEMPLATE_DIR", str(tmp_path / "elsewhere"))
    assert db_template.cache_dir() == tmp_path / "elsewhere"


# --- PostgreSQL: a pg_dump restored into a new database of the same cluster ------------------------------------


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway cluster (initdb, scram-sha-256); yields its SQLAlchemy URL (database `airflow`)."""
    from stack.backing import running_postgres

    with running_postgres(tmp_path_factory.mktemp("postgres-logs")) as server:
        yield server.url


def database(url: str, name: str, *statements: str) -> dict[str, str]:
    """A new database `name` in the cluster of `url`, after `statements`; returns an init environment for it."""
    admin = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    env = {CONN: url.rsplit("/", 1)[0] + f"/{name}"}
    with psycopg2.connect(pg_url(env)) as connection, connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    return env


def pg_url(env: dict[str, str]) -> str:
    return env[CONN].replace("postgresql+psycopg2://", "postgresql://")


def rows(env: dict[str, str], query: str) -> list[tuple]:
    with psycopg2.connect(pg_url(env)) as connection, connection.cursor() as cursor:
        cursor.execute(query)
        return cursor.fetchall()


MIGRATED = (
    "CREATE TABLE slot_pool (pool TEXT PRIMARY KEY, slots INTEGER)",
    "INSERT INTO slot_pool VALUES ('hss_audio', 2)",
)
TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"


def test_a_kept_postgres_db_is_restored_into_the_next_new_database(
    postgres: str, tmp_path: Path, pools: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    calls: list[tuple[list[str], dict[str, str]]] = []
    real_run = subprocess.run

    def recording_run(argv, **kwargs):
        calls.append((argv, kwargs.get("env", {})))
        return real_run(argv, **kwargs)

    monkeypatch.setattr(db_template.subprocess, "run", recording_run)
    template = db_template.keep(database(postgres, "first", *MIGRATED), pools, cache)
    assert template is not None and template.suffix == ".pgdump" and template.stat().st_mode & 0o077 == 0

    second = database(postgres, "second")
    assert db_template.seed(second, pools, cache) == template
    assert rows(second, "SELECT pool, slots FROM slot_pool") == [("hss_audio", 2)]
    assert not [p for p in cache.iterdir() if p.name.startswith(".")], "a temporary dump was left behind"

    password = psycopg2.extensions.parse_dsn(pg_url(second))["password"]
    assert {argv[0].rsplit("/", 1)[-1] for argv, _ in calls} >= {"pg_dump", "pg_restore"}
    for argv, env in calls:  # the password reaches the tools in their environment, never on a command line
        assert password not in " ".join(argv) and env["PGPASSWORD"] == password, argv


def test_a_postgres_db_with_tables_is_never_restored_over(postgres: str, tmp_path: Path, pools: Path) -> None:
    cache = tmp_path / "cache"
    assert db_template.seed(database(postgres, "nothing_kept"), pools, cache) is None
    db_template.keep(database(postgres, "migrated", *MIGRATED), pools, cache)

    runs = ("CREATE TABLE slot_pool (pool TEXT PRIMARY KEY, slots INTEGER)", "INSERT INTO slot_pool VALUES ('mine', 9)")
    existing = database(postgres, "with_runs", *runs, "CREATE TABLE dag_run (id INTEGER)")
    assert db_template.seed(existing, pools, cache) is None
    assert rows(existing, "SELECT pool, slots FROM slot_pool") == [("mine", 9)]  # the init step migrates it
    assert rows(existing, TABLES) == [("dag_run",), ("slot_pool",)]  # nothing half restored


def test_a_postgres_template_others_could_have_written_is_not_restored(
    postgres: str, tmp_path: Path, pools: Path
) -> None:
    cache = tmp_path / "cache"
    template = db_template.keep(database(postgres, "kept", *MIGRATED), pools, cache)
    assert template is not None
    template.chmod(0o666)  # a dump runs SQL as the DB's superuser: one anybody could replace is never restored
    planted_into = database(postgres, "planted_into")
    assert db_template.seed(planted_into, pools, cache) is None
    assert rows(planted_into, TABLES) == []
