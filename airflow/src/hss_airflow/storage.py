"""The data root, paths inside it, and atomic writes — what every DAG task reads and writes through.

The rule itself is contracts.data_root (shared with the services); this module binds it to the data root
of hss_airflow.settings and adds safe file names. A refused path is a DataPathError whose message also
names the data root, for the task log; callers turn it into their own error (DatasetError, BatchError,
ServiceRejected), which fails the task without a retry.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from contracts import data_root as rule
from contracts.data_root import DataPathError, atomic_write_bytes, atomic_write_json, atomic_write_text
from hss_airflow.settings import settings

__all__ = [
    "DataPathError",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "data_root",
    "relative_to_root",
    "resolve_in_root",
    "safe_name",
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
