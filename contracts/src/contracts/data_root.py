"""The data root (HSS_DATA_ROOT): paths inside it and atomic writes, for the services and the Airflow side.

Standard library only. Every path a caller gives is relative to the root, or absolute inside it; `..`,
an absolute path elsewhere and a symlink pointing out are refused (the real path is compared, so links are
followed). Every refusal is a DataPathError whose `reason` is a stable code each side maps to its own
failure: the services to their error envelope (403/404/422), the Airflow side to a failed task.

Writes go to a temp file in the target's folder, are fsynced and renamed into place: a reader sees the old
file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from glob import escape as glob_escape
from pathlib import Path
from typing import Any, BinaryIO

DATA_ROOT_ENV = "HSS_DATA_ROOT"
DEFAULT_DATA_ROOT = "data"  # the one default of HSS_DATA_ROOT, for both sides' settings
# The folders inside the root are named in contracts.data_layout.

StrPath = str | os.PathLike[str]


class DataPathError(ValueError):
    """A path that cannot be used; `reason` says why (one of the codes below), `path` is the caller's text."""

    INVALID = "invalid_path"  # empty, NUL byte, or the OS refuses it (e.g. a name too long)
    OUTSIDE = "path_outside_data_root"
    MISSING = "file_not_found"
    NOT_A_FILE = "not_a_file"

    def __init__(self, reason: str, message: str, path: str) -> None:
        super().__init__(message)
        self.reason, self.message, self.path = reason, message, path


def resolve_root(root: StrPath) -> Path:
    """The root as an absolute real path (`~` expanded, symlinks followed)."""
    return Path(root).expanduser().resolve()


def resolve_in_root(raw: str, root: StrPath, *, must_exist: bool = True, kind: str = "file") -> Path:
    """The real path of `raw` (relative to `root`, or absolute inside it); DataPathError otherwise.

    With `must_exist`, the path must also name an existing regular file (`kind` names it in messages,
    e.g. "audio file")."""
    if not raw or "\x00" in raw:
        raise DataPathError(DataPathError.INVALID, "Path is empty or contains a NUL byte.", raw)
    real_root = resolve_root(root)
    candidate = Path(raw)
    try:
        # realpath follows every symlink, so a link inside the root that points out is caught too.
        real = Path(os.path.realpath(candidate if candidate.is_absolute() else real_root / candidate))
        if real != real_root and real_root not in real.parents:
            raise DataPathError(
                DataPathError.OUTSIDE,
                f"Path '{raw}' is outside the data root; give a path relative to the data root (e.g. 'songs/x.mp3').",
                raw,
            )
        if must_exist:
            check_file(real, raw, kind)
    except OSError as exc:  # e.g. a path component longer than the filesystem allows
        raise DataPathError(DataPathError.INVALID, f"Path '{raw}' cannot be used: {exc.strerror or exc}.", raw) from exc
    return real


def check_file(real: Path, raw: str, kind: str = "file") -> None:
    """DataPathError unless `real` exists and is a regular file (a directory, a FIFO, ... are refused)."""
    if not real.exists():
        raise DataPathError(DataPathError.MISSING, f"No {kind} at '{raw}' in the data root.", raw)
    if not real.is_file():
        raise DataPathError(DataPathError.NOT_A_FILE, f"{kind.capitalize()} '{raw}' is not a regular file.", raw)


def relative_to_root(path: StrPath, root: StrPath) -> str:
    """`path` (inside `root`) as the POSIX relative path the contracts carry, e.g. 'songs/a.wav'."""
    return Path(path).resolve().relative_to(resolve_root(root)).as_posix()


def data_path_pattern(suffix: str = "") -> str:
    """The lexical part of the rule as a regex valid in Python and ECMA (JSON-schema validators).

    Accepts a path without `..` segments (relative to the root, or absolute), then `.*suffix` when `suffix`
    (itself a regex) is given. It names no root on purpose: a DAG's Param schema is serialized where the DAG
    is parsed, and must read the same on every host. Whether an absolute path is inside the root, and
    symlinks, are checked by resolve_in_root where the file is opened (the task fails on its first try)."""
    no_parent = r"(?!(?:.*/)?\.\.(?:/|$))"
    return f"^{no_parent}[^\\x00]" + (f".*{suffix}" if suffix else "")


# --- atomic writes -------------------------------------------------------------------------------


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> Path:
    """Call write(fh) on a temp file in the same folder, fsync, rename over `path`; return `path`.

    On any failure the temp file is removed and the old file stays. A writer killed mid-write (SIGKILL,
    a lost container) cannot clean up: each target has one writer at a time (a task try, a lock holder),
    so the next write of the same target — the retry — removes such leftovers first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in path.parent.glob(f".{glob_escape(path.name)}.*.tmp"):
        leftover.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # as an ordinary write: mkstemp's 0600 would hide results from the host's user
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, document: Any) -> Path:
    """Pretty, key-sorted JSON with a final newline; NaN/inf are refused (JSON has none)."""
    text = json.dumps(document, indent=2, sort_keys=True, allow_nan=False, default=str)
    return atomic_write_text(path, text + "\n")
