"""A new SQLite metadata DB copied from one made before, instead of migrated again (`make demo`, the unit tests).

The init step (`airflow db migrate`, then `airflow pools import`) turns an empty SQLite file into the same DB every
time for one Airflow install and one pools file: 8.1 s and 7.7 CPU-s here (two interpreters, alembic creating
every table), on the critical path of each demo start and of each test process that needs a DB. The first init
with a given key keeps a copy of its result in the user's cache; a later new DB with that key is that copy.

The key is what decides the DB's content: the installed apache-airflow distributions (their migrations), the
pools file, and the settings that decide what the migration writes (the auth manager's and other external DB
managers' tables, default connections, the default pool's slots, the log templates). A DB that already exists
is never replaced: the init step runs on it as always (it is idempotent), and PostgreSQL stacks are not
concerned. Only a template that is the user's own, in a folder only the user can write, is copied. The cache is
best effort: where it cannot be read or written, the init step simply runs.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import os
import shutil
import stat
import tempfile
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
SQLITE_PREFIX = "sqlite:///"


def cache_dir() -> Path:
    """$HSS_SQLITE_TEMPLATE_DIR, else $XDG_CACHE_HOME (~/.cache)/hss-workflow/airflow-sqlite."""
    if explicit := os.environ.get("HSS_SQLITE_TEMPLATE_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hss-workflow" / "airflow-sqlite"


def sqlite_path(env: dict[str, str]) -> Path | None:
    """The DB file of an init environment whose metadata DB is SQLite, else None."""
    url = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
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


def template_key(env: dict[str, str], pools_file: Path) -> str:
    digest = hashlib.sha256()
    for part in [*airflow_distributions(), *(f"{name}={env.get(name)}" for name in MIGRATION_SETTINGS)]:
        digest.update(part.encode() + b"\n")
    digest.update(pools_file.read_bytes())
    return digest.hexdigest()[:20]


def template_path(env: dict[str, str], pools_file: Path, directory: Path | None = None) -> Path:
    return (directory or cache_dir()) / f"{template_key(env, pools_file)}.db"


def seed(env: dict[str, str], pools_file: Path, directory: Path | None = None) -> Path | None:
    """Copy the cached template to the environment's SQLite DB when that file does not exist yet. Returns the
    template copied (the init step is then not needed), or None (not SQLite, the DB exists, no usable template).

    `env`: the init step's environment, over os.environ as the init process gets it."""
    env = {**os.environ, **env}
    db = sqlite_path(env)
    if db is None or db.exists():
        return None
    try:
        template = template_path(env, pools_file, directory)
        if not template.is_file() or not (_private(template) and _private(template.parent)):
            return None
        db.parent.mkdir(parents=True, exist_ok=True)
        _copy_atomically(template, db)
    except OSError:
        return None
    return template


def keep(env: dict[str, str], pools_file: Path, directory: Path | None = None) -> Path | None:
    """After an init that made a new SQLite DB: keep a copy as the template of its key (when none is kept yet).
    Call it before any component opens the DB. Returns the template's path, or None when nothing was kept."""
    env = {**os.environ, **env}
    db = sqlite_path(env)
    if db is None or not db.is_file():
        return None
    try:
        template = template_path(env, pools_file, directory)
        if template.exists():
            return None
        template.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _copy_atomically(db, template)
    except OSError:
        return None
    return template


def _private(path: Path) -> bool:
    """Ours and writable by nobody else, not a symlink: a DB another user could have planted is never copied."""
    info = path.lstat()
    return not stat.S_ISLNK(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & 0o022


def _copy_atomically(source: Path, target: Path) -> None:
    """Whole or not at all: two processes may make or read the same template at once."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
