"""The data root every stack prepares: the one layout (contracts.data_layout), private, layout-1 results moved."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from contracts.data_layout import LATEST_MODEL_FILE, MODEL_SIGNATURE_FILE, DataLayout
from stack.data_folders import prepare_data_root, unsigned_model_warning


def test_every_folder_of_the_layout_is_created_private(tmp_path: Path) -> None:
    root = tmp_path / "data"
    assert prepare_data_root(root) == []
    for folder in DataLayout(root).all_folders():
        assert folder.is_dir() and stat.S_IMODE(folder.stat().st_mode) == 0o770, folder


def test_layout_1_song_results_move_to_results_songs_at_every_start(tmp_path: Path) -> None:
    root = tmp_path / "data"
    old = root / "results" / "song_a"  # where layout 1 kept them
    old.mkdir(parents=True)
    (old / "run_1.json").write_text("{}")
    assert prepare_data_root(root) == ["song_a"]
    assert (DataLayout(root).song_results_of("song_a") / "run_1.json").read_text() == "{}"
    assert not old.exists()
    assert prepare_data_root(root) == []  # idempotent
    assert prepare_data_root(tmp_path / "docker", migrate=False) == []


def test_an_unsigned_promoted_model_is_named_in_a_warning(tmp_path: Path) -> None:
    layout = DataLayout(tmp_path)
    prepare_data_root(tmp_path)
    assert unsigned_model_warning(tmp_path) is None  # nothing promoted
    layout.model_of("t1").mkdir()
    layout.latest_model.write_text(json.dumps({"training_id": "t1"}))
    warning = unsigned_model_warning(tmp_path)
    assert warning and "t1" in warning and f"{layout.models / LATEST_MODEL_FILE} aside" in warning
    (layout.model_of("t1") / MODEL_SIGNATURE_FILE).write_text("{}")
    assert unsigned_model_warning(tmp_path) is None
    layout.latest_model.write_text(json.dumps({"training_id": "../x"}))  # not a folder name: no warning, no error
    assert unsigned_model_warning(tmp_path) is None
