#!/opt/venv/bin/python
"""The compose init service's first steps, as root with CHOWN/DAC_OVERRIDE/FOWNER: `hss-init-checks`; exit 1 = stop.

1. Host folders: Docker creates a missing bind-mount source as root:root 0755 (a plain `docker compose up`
   before `make up` ever ran), and `.stack/` above them. Such a folder is handed to AIRFLOW_UID:0 with mode
   0770 (`.stack/` itself keeps its mode); a folder someone else owns is left alone, and refused with its
   owner named if AIRFLOW_UID cannot write it. Nothing becomes world-writable.
2. The data root's folders (contracts.data_layout.FOLDERS, parents first) are created, owned by AIRFLOW_UID:0,
   mode 0770.
3. Secrets (after the folders: a refused start leaves no root-owned folder the user cannot delete): every secret
   of the stack (contracts.deployment_secrets.SECRET_NAMES) is set and is not a placeholder (`change-me…`, or
   the Fernet key an earlier .env.example published). A stack whose JWT secret anyone can read in the
   repository must not start.
4. Layout-1 song results (`results/<song_id>/`) are moved to `results/songs/<song_id>/`
   (contracts.data_layout.migrate_song_results), in a child process running as AIRFLOW_UID:0, never as root:
   every container can write the data root, and a symlink planted there must not steer a root rename. A
   rename keeps owners, so nothing moved becomes root's; results/songs/ itself was created in step 2.

Everything after this (the DAG repository seed, `airflow db migrate`, …) runs as AIRFLOW_UID (airflow-init.sh).
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

from contracts.data_layout import RESULTS, SONG_RESULTS, DataLayout, migrate_song_results
from contracts.deployment_secrets import GENERATE_HINT, secret_problems

DATA_ROOT = Path("/app/data")
# The bind mounts the stack writes: data root, mail folder, the Git DAG repository (seeded by the init service).
HOST_FOLDERS = (DATA_ROOT, Path("/app/mail"), Path("/opt/airflow/dags-repo"))
# Whose checkout this is: the owner of the DAG source folder mounted from the host.
DAGS_SOURCE = Path("/opt/hss/dags-source")
# The checkout's .stack/: Docker creates it as root with the default bind sources below it, and a root-owned
# parent would keep the user from ever deleting them. Handed over by itself (not what is inside it).
STATE_FOLDER = Path("/opt/hss/state")
DEFAULT_UID = 50000


def fail(message: str) -> None:
    print(f"airflow-init: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def check_secrets() -> None:
    problems = secret_problems(dict(os.environ))
    if problems:
        fail(
            "refusing to start with these secrets:\n  "
            + "\n  ".join(problems)
            + f"\nSet real values in .env: {GENERATE_HINT}."
        )


def writable_by(st: os.stat_result, uid: int, gid: int = 0) -> bool:
    """Whether uid (with group gid, no capabilities) may create files in a folder with this stat."""
    mode = st.st_mode
    if st.st_uid == uid:
        return bool(mode & stat.S_IWUSR and mode & stat.S_IXUSR)
    if st.st_gid == gid:
        return bool(mode & stat.S_IWGRP and mode & stat.S_IXGRP)
    return bool(mode & stat.S_IWOTH and mode & stat.S_IXOTH)


def describe(path: Path, st: os.stat_result) -> str:
    return f"{path} (owner {st.st_uid}:{st.st_gid}, mode {stat.S_IMODE(st.st_mode):04o})"


def chown_tree(path: Path, uid: int) -> None:
    for folder, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(folder, name), uid, 0)
    os.chown(path, uid, 0)


def prepare_folder(path: Path, uid: int) -> None:
    st = path.stat()
    if st.st_uid == 0 and uid != 0:  # made by Docker for a missing bind source (or by an earlier root run)
        chown_tree(path, uid)
        path.chmod(0o770)
        print(f"airflow-init: {path} belonged to root: now {uid}:0, mode 0770", flush=True)
        st = path.stat()
    if not writable_by(st, uid):
        fail(
            f"{describe(path, st)} is not writable for AIRFLOW_UID={uid} (group 0). Set AIRFLOW_UID in .env to the "
            f"folder's owner (echo AIRFLOW_UID=$(id -u) >> .env), or: sudo chown -R {uid} <the host folder>"
        )


def create_data_folders(uid: int) -> None:
    """The data root and every folder of the layout that is missing, parents first, as AIRFLOW_UID:0 0770."""
    for folder in DataLayout(DATA_ROOT).all_folders():
        if not folder.exists():
            folder.mkdir()
            os.chown(folder, uid, 0)
            folder.chmod(0o770)


def migrate_results(uid: int) -> list[str]:
    """migrate_song_results on the data root as AIRFLOW_UID:0 (a forked child drops root first); the moved ids."""
    if os.geteuid() != 0 or uid == 0:
        return migrate_song_results(DATA_ROOT)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answers {"moved": [...]} or {"error": "..."} through the pipe, never returns
        code = 1
        try:
            os.close(read_end)
            with os.fdopen(write_end, "w") as out:
                try:
                    os.setgroups([])
                    os.setgid(0)
                    os.setuid(uid)
                    answer = {"moved": migrate_song_results(DATA_ROOT)}
                except Exception as exc:
                    answer = {"error": f"{type(exc).__name__}: {exc}"}
                json.dump(answer, out)
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as result:
        text = result.read()  # before waiting: a long list must not block the child on a full pipe
    os.waitpid(pid, 0)
    answer = json.loads(text) if text else {"error": "the migration process ended without an answer"}
    if "error" in answer:
        fail(
            f"moving layout-1 song results ({DATA_ROOT}/{RESULTS}/<song_id>/) to {SONG_RESULTS}/ as "
            f"AIRFLOW_UID={uid} failed: {answer['error']}. Give the folders to that uid "
            f"(sudo chown -R {uid} <the host data folder>) and start again."
        )
    return answer["moved"]


def warn_foreign_uid(uid: int) -> None:
    """A bare `docker compose up` runs as uid 50000: the user's files then belong to a uid that is not theirs."""
    try:
        owner = DAGS_SOURCE.stat().st_uid
    except OSError:
        return
    if owner not in (uid, 0):
        print(
            f"airflow-init: WARNING: AIRFLOW_UID={uid}, but this checkout belongs to uid {owner}: what the stack "
            f"writes into the data root will belong to {uid}. Set AIRFLOW_UID={owner} in .env (make up does).",
            flush=True,
        )


def main() -> int:
    uid = int(os.environ.get("AIRFLOW_UID") or DEFAULT_UID)
    warn_foreign_uid(uid)
    if STATE_FOLDER.is_dir() and STATE_FOLDER.stat().st_uid == 0 and uid != 0:
        os.chown(STATE_FOLDER, uid, 0)
        print(f"airflow-init: {STATE_FOLDER} (.stack/) belonged to root: now {uid}:0", flush=True)
    for folder in HOST_FOLDERS:
        if folder.exists():
            prepare_folder(folder, uid)
    create_data_folders(uid)
    check_secrets()  # after the folders: a refused start must not leave root-owned folders the user cannot delete
    moved = migrate_results(uid)  # after the secrets: a refused start changes nothing in the data
    if moved:
        print(
            f"airflow-init: moved {len(moved)} song result folder(s) from {RESULTS}/<song_id>/ to {SONG_RESULTS}/",
            flush=True,
        )
    print("airflow-init: secrets and folders checked", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
