"""The data root and mail folder of a stack on the host: created private (0770), never world-writable, in the
one layout (contracts.data_layout), with layout-1 song results moved at every start.

Every backend writes as one uid: the local ones as the host user, the docker one as AIRFLOW_UID (the host user,
or 50000 when the host user is root) with group 0. So owner and group are all that need access.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from contracts.data_layout import LATEST_MODEL_FILE, MODEL_SIGNATURE_FILE, DataLayout, migrate_song_results


def private_folders(*folders: Path, owner: int | None = None) -> None:
    """Create the folders with mode 0770 (never world-writable); as root, hand them to `owner` (uid, group 0).

    The containers run as AIRFLOW_UID:0, so the host user (or, as root, group 0) is all that needs access."""
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        if owner is not None and os.geteuid() == 0 and folder.stat().st_uid != owner:
            os.chown(folder, owner, 0)
        folder.chmod(0o770)


def prepare_data_root(root: Path, owner: int | None = None, *, migrate: bool = True) -> list[str]:
    """Create the data root and every folder of its layout (DataLayout.all_folders()), mode 0770, and (`migrate`)
    move layout-1 song results (`results/<song_id>/`) to `results/songs/<song_id>/`; return the moved song ids.

    The docker backend passes migrate=False: its init service migrates as the containers' uid."""
    private_folders(*DataLayout(root).all_folders(), owner=owner)
    return migrate_song_results(root) if migrate else []


def unsigned_current_model(root: Path) -> str | None:
    """The training id `models/latest.json` names when its model carries no signature record (a data root from
    before signed models, or a planted file): workflow-ml-prediction refuses it and reports not ready."""
    layout = DataLayout(root)
    try:
        training_id = json.loads(layout.latest_model.read_text()).get("training_id")
        model = layout.model_of(training_id)
    except (OSError, ValueError, AttributeError, TypeError):
        return None
    return None if (model / MODEL_SIGNATURE_FILE).is_file() else training_id


def unsigned_model_warning(root: Path) -> str | None:
    if (training_id := unsigned_current_model(root)) is None:
        return None
    models = DataLayout(root).models
    return (
        f"warning: the promoted model {training_id} in {models} has no signature (trained before models were "
        f"signed, or not by this platform): prediction will not serve it and reports not ready. Move "
        f"{models / LATEST_MODEL_FILE} aside (the built-in baseline is served), then retrain and promote."
    )


def foreign_owned(root: Path, uid: int, depth: int = 2) -> list[Path]:
    """Folders near the top of `root` that belong to neither `uid` nor root: e.g. results of an older stack
    that ran as uid 50000. The containers (uid `uid`) cannot write into them."""
    found, level = [], [root]
    for _ in range(depth + 1):
        following = []
        for folder in level:
            try:
                if folder.stat().st_uid not in (uid, 0):
                    found.append(folder)
                    continue
                following += [child for child in folder.iterdir() if child.is_dir() and not child.is_symlink()]
            except OSError:
                continue
        level = following
    return found
