"""The data-root rule of contracts.data_root, with its refusals as the services' error envelope."""

from __future__ import annotations

from pathlib import Path

from contracts.data_root import (
    DataPathError,
    atomic_write,
    atomic_write_bytes,
    atomic_write_text,
    relative_to_root,
    resolve_in_root,
)
from services.common.errors import Forbidden, NotFound, ServiceError, Unprocessable

__all__ = [
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "relative_to_root",
    "resolve_data_path",
    "service_error",
]

_STATUS: dict[str, type[ServiceError]] = {DataPathError.OUTSIDE: Forbidden, DataPathError.MISSING: NotFound}


def service_error(exc: DataPathError) -> ServiceError:
    """403 for a path outside the root, 404 for a missing file, 422 otherwise; the reason is the code."""
    return _STATUS.get(exc.reason, Unprocessable)(exc.message, code=exc.reason, details={"path": exc.path})


def resolve_data_path(raw: str, root: Path, *, must_exist: bool = True, kind: str = "file") -> Path:
    """The real path of `raw` inside `root` (contracts.data_root.resolve_in_root), or its ServiceError."""
    try:
        return resolve_in_root(raw, root, must_exist=must_exist, kind=kind)
    except DataPathError as exc:
        raise service_error(exc) from exc
