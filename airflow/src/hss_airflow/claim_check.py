"""Claim checks: a large task result goes to the data root once, and XCom carries a small reference to it.

Airflow keeps every XCom in its metadata database and moves it through the execution API at each push and
pull; a song's audio analysis (~650 features, ~43 KB of JSON) would make that trip four times per run. The
task that produced it writes the document here instead, and returns the reference: the document without
its bulky field(s), plus `claim_check` = {path (relative to the data root), sha256, bytes}. A downstream task
calls `redeem`, which reads the file and checks its digest — a file changed or lost since fails the task at
once, naming the upstream task to re-run.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from hss_airflow.hooks import ServiceRejected
from hss_airflow.settings import settings
from hss_airflow.storage import DataPathError, atomic_write_bytes, relative_to_root, resolve_in_root

CLAIM_CHECK = "claim_check"


def write_claim(document: dict[str, Any], path: Path, root: Path | None = None) -> dict[str, Any]:
    """Write `document` atomically as compact JSON to `path` (inside the root); return {path, sha256, bytes}."""
    root = root or settings().data_root
    data = (json.dumps(document, sort_keys=True, allow_nan=False) + "\n").encode()
    written = atomic_write_bytes(path, data)
    return {"path": relative_to_root(written, root), "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def check_in(document: dict[str, Any], path: Path, bulky: tuple[str, ...], root: Path | None = None) -> dict[str, Any]:
    """Write the whole document to `path`; return it without its `bulky` fields, plus the claim check."""
    claim = write_claim(document, path, root)
    return {**{k: v for k, v in document.items() if k not in bulky}, CLAIM_CHECK: claim}


def is_claim(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get(CLAIM_CHECK), dict)


def redeem(value: Any, what: str, root: Path | None = None) -> Any:
    """The whole document a reference stands for (its digest checked); any other value as it is."""
    if not is_claim(value):
        return value
    claim = value[CLAIM_CHECK]
    root = root or settings().data_root
    try:
        data = resolve_in_root(str(claim.get("path")), root).read_bytes()
    except (DataPathError, OSError) as exc:
        message = f"{what}: its stored document is unreadable ({exc}); re-run the task that wrote it"
        raise ServiceRejected(message) from None
    if hashlib.sha256(data).hexdigest() != claim.get("sha256"):
        raise ServiceRejected(
            f"{what}: {claim.get('path')} changed since it was written (sha256 differs); re-run the task that wrote it"
        )
    return json.loads(data)
