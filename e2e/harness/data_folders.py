"""The data root and mail folder of a stack on the host: created private (0770), never world-writable.

Every backend writes as one uid: the local ones as the host user, the docker one as AIRFLOW_UID (the host user,
or 50000 when the host user is root) with group 0. So owner and group are all that need access.
"""

from __future__ import annotations

import os
from pathlib import Path

from contracts.data_root import DATA_FOLDERS


def private_folders(*folders: Path, owner: int | None = None) -> None:
    """Create the folders with mode 0770 (never world-writable); as root, hand them to `owner` (uid, group 0).

    The containers run as AIRFLOW_UID:0, so the host user (or, as root, group 0) is all that needs access."""
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        if owner is not None and os.geteuid() == 0 and folder.stat().st_uid != owner:
            os.chown(folder, owner, 0)
        folder.chmod(0o770)


def prepare_data_root(root: Path, owner: int | None = None) -> Path:
    """Create the data root and its folders (contracts.data_root.DATA_FOLDERS), mode 0770."""
    private_folders(*(root / sub for sub in ("", *DATA_FOLDERS)), owner=owner)
    return root


def unsigned_current_model(root: Path) -> str | None:
    """The training id `models/latest.json` names when its model carries no signature record (a data root from
    before signed models, or a planted file): workflow-ml-prediction refuses it and reports not ready."""
    import json

    try:
        training_id = json.loads((root / "models" / "latest.json").read_text()).get("training_id")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(training_id, str) or "/" in training_id or training_id in ("", ".", ".."):
        return None
    return None if (root / "models" / training_id / "model.sig.json").is_file() else training_id


def unsigned_model_warning(root: Path) -> str | None:
    if (training_id := unsigned_current_model(root)) is None:
        return None
    return (
        f"warning: the promoted model {training_id} in {root}/models has no signature (trained before models were "
        f"signed, or not by this platform): prediction will not serve it and reports not ready. Move "
        f"{root}/models/latest.json aside (the built-in baseline is served), then retrain and promote."
    )
