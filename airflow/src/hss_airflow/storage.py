"""The data root, paths inside it, and atomic writes — what every DAG task reads and writes through.

The rule itself is contracts.data_root (shared with the services); this module binds it to the data root
of hss_airflow.settings and adds safe file names. A refused path is a DataPathError whose message also
names the data root, for the task log; callers turn it into their own error (DatasetError, BatchError,
ServiceRejected), which fails the task without a retry.

Every write of a task into the data root goes through here (atomic_write_*, `writing_into` for a rename). A
PermissionError becomes DataRootNotWritable: the task fails at once, since a retry would be refused the
same way, with a message naming the folder, its owner and mode, and the uid the task runs as.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from contracts import data_root as rule
from contracts.data_root import DataPathError
from hss_airflow.settings import settings

__all__ = [
    "DataPathError",
    "DataRootNotWritable",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "data_root",
    "relative_to_root",
    "resolve_in_root",
    "safe_name",
    "writing_into",
]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def data_root() -> Path:
    """HSS_DATA_ROOT, resolved (hss_airflow.settings)."""
    return settings().data_root


def resolve_in_root(raw: str, root: Path | None = None, *, must_exist: bool = True, kind: str = "file") -> Path:
    """The real path of `raw` (relative to the root, or absolute inside it); DataPathError otherwise."""
    root = root or data_root()
    try:
        return rule.resolve_in_root(raw, root, must_exist=must_exist, kind=kind)
    except DataPathError as exc:
        # Read after a caller's prefix ("dataset_path: no file at ..."), with the root the task used.
        clause = exc.message[:1].lower() + exc.message[1:].rstrip(".")
        message = f"{clause} ({rule.DATA_ROOT_ENV}={rule.resolve_root(root)})"
        raise DataPathError(exc.reason, message, exc.path) from None


def relative_to_root(path: Path, root: Path | None = None) -> str:
    return rule.relative_to_root(path, root or data_root())


def safe_name(raw: str, max_len: int = 150) -> str:
    """A file-name-safe, deterministic form of `raw` (a run id, a file stem).

    Characters outside [A-Za-z0-9_.-] become '_'; when anything had to change, an 8-hex digest of the
    original is appended, so two different run ids never share a file and the same run id always maps to
    the same name (re-running a run rewrites its file)."""
    cleaned = _UNSAFE.sub("_", raw).lstrip(".") or "_"
    if cleaned == raw and len(raw) <= max_len:
        return raw
    digest = hashlib.sha1(raw.encode("utf-8")).hexdigest()[:8]
    return f"{cleaned[: max_len - 9]}-{digest}"


# --- writes ------------------------------------------------------------------------------------------


class DataRootNotWritable(AirflowFailException):
    """The OS refused a write into the data root (PermissionError): fail now, without a retry."""


def _refusing_folder(exc: PermissionError, target: Path) -> Path:
    """The folder that refused: the nearest existing one of the paths involved that this uid cannot write."""
    candidates = [Path(os.fsdecode(f)).parent for f in (exc.filename, exc.filename2) if f] + [target.parent]
    existing = []
    for folder in candidates:
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent  # mkdir(parents=True) failed: its nearest existing parent refused
        existing.append(folder)
    return next((f for f in existing if not os.access(f, os.W_OK | os.X_OK, effective_ids=True)), existing[0])


def not_writable_message(exc: PermissionError, target: Path) -> str:
    """One line (the failure mail shows the first): what was refused, who owns it, who asked, how to fix it."""
    folder = _refusing_folder(exc, Path(target))
    try:
        st = folder.stat()
        mode = f"{stat.S_IMODE(st.st_mode):04o} ({stat.filemode(st.st_mode)})"
        owner = f"owned by uid {st.st_uid} gid {st.st_gid}, mode {mode}"
    except OSError as stat_error:
        owner = f"owner unknown ({stat_error.strerror})"
    uid, gid = os.geteuid(), os.getegid()
    root = data_root()
    if not folder.is_relative_to(root):  # a caller's own root (tests, tools): the hint names the folder
        root = folder
    return (
        f"cannot write {target}: the folder {folder} is not writable for this task ({owner}; the task runs as uid "
        f"{uid} gid {gid}). The data root must be owned by, or writable for, the uid the stack runs as "
        f"(AIRFLOW_UID): fix it with `sudo chown -R {uid}:{gid} {root}` (HSS_DATA_ROOT; on docker, on the host "
        f"folder mounted there). Not retried: a retry would be refused the same way. [{exc}]"
    )


@contextmanager
def writing_into(target: Path) -> Iterator[None]:
    """Around a write into the data root (`target`: the file or folder written).

    PermissionError -> DataRootNotWritable, the one place this is handled for every writer."""
    try:
        yield
    except PermissionError as exc:
        raise DataRootNotWritable(not_writable_message(exc, Path(target))) from exc


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    with writing_into(path):
        return rule.atomic_write_bytes(path, data)


def atomic_write_text(path: Path, text: str) -> Path:
    with writing_into(path):
        return rule.atomic_write_text(path, text)


def atomic_write_json(path: Path, document: Any) -> Path:
    with writing_into(path):
        return rule.atomic_write_json(path, document)


def file_digest(path: str | Path) -> str:
    """The sha256 of a file's content, read in chunks."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()
