#!/opt/venv/bin/python
"""The compose init service's first steps, as root with CHOWN/DAC_OVERRIDE/FOWNER: `hss-init-checks`; exit 1 = stop.

1. Host folders: Docker creates a missing bind-mount source as root:root 0755 (a plain `docker compose up`
   before `make up` ever ran), and `.stack/` above them. Such a folder is handed to AIRFLOW_UID:0 with mode
   0770 (`.stack/` itself keeps its mode); a folder someone else owns is left alone, and refused with its
   owner named if AIRFLOW_UID cannot write it. Nothing becomes world-writable.
2. The data root's folders (contracts.data_root.DATA_FOLDERS) are created, owned by AIRFLOW_UID:0.
3. Secrets, last (a refused start leaves no root-owned folder the user cannot delete): every secret of the
   stack (contracts.deployment_secrets.SECRET_NAMES) is set and is not a placeholder (`change-me…`, or the
   Fernet key an earlier .env.example published). A stack whose JWT secret anyone can read in the repository
   must not start.

Everything after this (the DAG repository seed, `airflow db migrate`, …) runs as AIRFLOW_UID (airflow-init.sh).
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from contracts.data_root import DATA_FOLDERS
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
    for name in DATA_FOLDERS:
        folder = DATA_ROOT / name
        if not folder.exists():
            folder.mkdir(parents=True)
            os.chown(folder, uid, 0)
            folder.chmod(0o770)
    check_secrets()  # after the folders: a refused start must not leave root-owned folders the user cannot delete
    print("airflow-init: secrets and folders checked", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
