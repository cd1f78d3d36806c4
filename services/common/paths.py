"""Resolve a caller's path inside HSS_DATA_ROOT, refusing anything that leaves it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from services.common.errors import Forbidden, NotFound, Unprocessable


def resolve_data_path(raw: str, root: Path, *, must_exist: bool = True, kind: str = "file") -> Path:
    """Return the real path of `raw` (relative to `root`, or absolute inside it).

    403 when it leaves the root ('..', an absolute path elsewhere, a symlink pointing out),
    404 when it must exist and does not, 422 when it is not a regular file.
    """
    if not raw or "\x00" in raw:
        raise Unprocessable("Path is empty or contains a NUL byte.", code="invalid_path", details={"path": raw})
    root = root.resolve()
    candidate = Path(raw)
    if not candidate.is_absolute():
        candidate = root / candidate
    try:
        return _resolve_inside(raw, candidate, root, must_exist=must_exist, kind=kind)
    except OSError as exc:  # e.g. a path component longer than the filesystem allows
        raise Unprocessable(
            f"Path '{raw}' cannot be used: {exc.strerror or exc}.",
            code="invalid_path",
            details={"path": raw},
        ) from exc


def _resolve_inside(raw: str, candidate: Path, root: Path, *, must_exist: bool, kind: str) -> Path:
    # realpath follows every symlink, so a link inside the root that points out is caught too.
    real = Path(os.path.realpath(candidate))
    if real != root and root not in real.parents:
        raise Forbidden(
            f"Path '{raw}' is outside the data root; give a path relative to the data root (e.g. 'songs/x.mp3').",
            code="path_outside_data_root",
            details={"path": raw},
        )
    if must_exist:
        if not real.exists():
            raise NotFound(f"No {kind} at '{raw}' in the data root.", code="file_not_found", details={"path": raw})
        if not real.is_file():
            raise Unprocessable(f"'{raw}' is not a regular {kind}.", code="not_a_file", details={"path": raw})
    return real


def relative_to_root(path: Path, root: Path) -> str:
    return str(path.resolve().relative_to(root.resolve()))


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Call write(fh) on a temp file in the same folder, fsync, rename: readers see the old or the new
    file, never half of one; on any failure the temp file is removed and the old file stays."""
    path.parent.mkdir(parents=True, exist_ok=True)
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


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
