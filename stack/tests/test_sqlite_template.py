"""stack.sqlite_template: a new SQLite metadata DB is a copy of one migrated before, keyed by what decides it."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from stack import sqlite_template

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
    template = sqlite_template.keep(env_for(first), pools, cache)
    assert template is not None and template.parent == cache and template.stat().st_mode & 0o077 == 0

    second = tmp_path / "home" / "airflow.db"
    assert sqlite_template.seed(env_for(second), pools, cache) == template
    with sqlite3.connect(second) as db:
        assert db.execute("SELECT pool, slots FROM slot_pool").fetchall() == [("hss_audio", 2)]
    assert not [p for p in cache.iterdir() if p.name.startswith(".")], "a temporary copy was left behind"


def test_nothing_is_seeded_without_a_template_over_an_existing_db_or_for_another_database(
    tmp_path: Path, pools: Path
) -> None:
    cache = tmp_path / "cache"
    assert sqlite_template.seed(env_for(tmp_path / "new.db"), pools, cache) is None  # nothing kept yet
    assert not (tmp_path / "new.db").exists()

    sqlite_template.keep(env_for(migrated_db(tmp_path / "first.db")), pools, cache)
    existing = tmp_path / "existing.db"
    existing.write_bytes(b"a DB with runs in it")
    assert sqlite_template.seed(env_for(existing), pools, cache) is None
    assert existing.read_bytes() == b"a DB with runs in it"  # never replaced: the init step migrates it

    postgres = {CONN: "postgresql+psycopg2://airflow@127.0.0.1/airflow"}
    assert sqlite_template.seed(postgres, pools, cache) is None
    assert sqlite_template.keep(postgres, pools, cache) is None


@pytest.mark.parametrize(
    "change",
    ["pools", "AIRFLOW__CORE__DEFAULT_POOL_TASK_SLOT_COUNT", "AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS"],
)
def test_a_db_made_for_other_pools_or_migration_settings_is_not_used(tmp_path: Path, pools: Path, change: str) -> None:
    cache = tmp_path / "cache"
    sqlite_template.keep(env_for(migrated_db(tmp_path / "first.db")), pools, cache)
    env = env_for(tmp_path / "second.db")
    if change == "pools":
        pools.write_text('{"hss_audio": {"slots": 3}}')
    else:
        env[change] = "7" if "SLOT" in change else "True"
    assert sqlite_template.seed(env, pools, cache) is None


def test_a_template_is_kept_once_and_not_overwritten(tmp_path: Path, pools: Path) -> None:
    cache = tmp_path / "cache"
    template = sqlite_template.keep(env_for(migrated_db(tmp_path / "first.db")), pools, cache)
    assert template is not None
    before = template.read_bytes()
    other = tmp_path / "other.db"
    other.write_bytes(b"not the same")
    assert sqlite_template.keep(env_for(other), pools, cache) is None
    assert template.read_bytes() == before


def test_a_symlink_in_the_cache_is_not_followed(tmp_path: Path, pools: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    planted = migrated_db(tmp_path / "planted.db")
    template = sqlite_template.template_path(env_for(tmp_path / "x.db"), pools, cache)
    template.symlink_to(planted)
    assert sqlite_template.seed(env_for(tmp_path / "new.db"), pools, cache) is None
    assert not (tmp_path / "new.db").exists()


def test_a_template_others_could_have_written_is_not_used(tmp_path: Path, pools: Path) -> None:
    cache = tmp_path / "cache"
    template = sqlite_template.keep(env_for(migrated_db(tmp_path / "first.db")), pools, cache)
    assert template is not None
    for path, mode in ((cache, 0o777), (template, 0o666)):  # the folder, then the file, writable by anyone
        original = path.stat().st_mode & 0o777
        path.chmod(mode)
        assert sqlite_template.seed(env_for(tmp_path / "new.db"), pools, cache) is None, path
        assert not (tmp_path / "new.db").exists()
        path.chmod(original)
    assert sqlite_template.seed(env_for(tmp_path / "new.db"), pools, cache) == template


def test_a_template_of_another_user_is_not_used(tmp_path: Path, pools: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    sqlite_template.keep(env_for(migrated_db(tmp_path / "first.db")), pools, cache)
    monkeypatch.setattr(sqlite_template.os, "geteuid", lambda: os.getuid() + 1)  # as seen by someone else
    assert sqlite_template.seed(env_for(tmp_path / "new.db"), pools, cache) is None
    assert not (tmp_path / "new.db").exists()


def test_an_unwritable_cache_path_only_means_no_template(tmp_path: Path, pools: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")  # the cache's parent is a file: mkdir fails for every user, root included
    assert sqlite_template.keep(env_for(migrated_db(tmp_path / "first.db")), pools, blocker / "cache") is None
    assert sqlite_template.seed(env_for(tmp_path / "new.db"), pools, blocker / "cache") is None


def test_the_cache_defaults_to_the_users_cache_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HSS_SQLITE_TEMPLATE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert sqlite_template.cache_dir() == tmp_path / "hss-workflow" / "airflow-sqlite"
    monkeypatch.setenv("HSS_SQLITE_TEMPLATE_DIR", str(tmp_path / "elsewhere"))
    assert sqlite_template.cache_dir() == tmp_path / "elsewhere"
