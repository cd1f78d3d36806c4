"""The data root (HSS_DATA_ROOT), paths inside it, and atomic writes — what every DAG task writes through.

Same rules as the services (services/common/paths.py): paths in conf are relative to the root; an absolute path
is accepted only when it lies inside the root; writes go to a temp file in the same folder and are renamed
into place, so a reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


class DataPathError(ValueError):
    """A path from conf or a dataset cannot be used; the message says why, for people."""


def data_root() -> Path:
    """HSS_DATA_ROOT (the services' default 'data' when unset), resolved."""
    return Path(os.environ.get("HSS_DATA_ROOT", "data")).expanduser().resolve()


def resolve_in_root(raw: str, root: Path | None = None, *, must_exist: bool = True) -> Path:
    """The real path of `raw` (relative to the root, or absolute inside it); DataPathError otherwise."""
    root = (root or data_root()).resolve()
    if not raw or "\x00" in raw:
        raise DataPathError("the path is empty or contains a NUL byte")
    candidate = Path(raw)
    real = Path(os.path.realpath(candidate if candidate.is_absolute() else root / candidate))
    if real != root and root not in real.parents:
        raise DataPathError(f"'{raw}' is outside the data root {root}; give a path relative to it")
    if must_exist and not real.is_file():
        raise DataPathError(f"no file at '{raw}' in the data root {root}")
    return real


def relative_to_root(path: Path, root: Path | None = None) -> str:
    return Path(path).resolve().relative_to((root or data_root()).resolve()).as_posix()


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


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write `data` to `path` via a temp file in the same folder + fsync + os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # as an ordinary write: mkstemp's 0600 would hide results from the host's user
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: Path, document: Any) -> Path:
    text = json.dumps(document, indent=2, sort_keys=True, allow_nan=False, default=str)
    return atomic_write_bytes(path, (text + "\n").encode("utf-8"))
