"""contracts.data_layout: one spelling of every folder of the data root, and the move of layout-1 song results."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest

from contracts.data_layout import (
    FOLDERS,
    LATEST_MODEL_FILE,
    MODEL_SIGNATURE_FILE,
    DataLayout,
    migrate_song_results,
)

# --- the folders ---------------------------------------------------------------------------------


def test_folders_are_unique_relative_and_parents_first() -> None:
    assert len(set(FOLDERS)) == len(FOLDERS)
    for i, name in enumerate(FOLDERS):
        path = PurePosixPath(name)
        assert not path.is_absolute() and ".." not in path.parts and str(path) == name, name
        for parent in path.parents:
            if str(parent) != ".":
                assert parent.as_posix() in FOLDERS[:i], f"{parent} must come before {name}"


def test_folders_name_the_documented_layout() -> None:
    assert set(FOLDERS) == {
        "songs",
        "results",
        "results/songs",
        "results/batch",
        "results/parts",
        "results/training",
        "training_data",
        "training_data/incoming",
        "training_data/claimed",
        "training_data/features",
        "models",
    }


def test_all_folders_is_the_root_then_folders_in_order(tmp_path: Path) -> None:
    layout = DataLayout(tmp_path)
    assert layout.all_folders() == (tmp_path, *(tmp_path / name for name in FOLDERS))
    for folder in layout.all_folders():  # parents first: a plain mkdir (no parents=True) succeeds in order
        folder.mkdir(exist_ok=folder == tmp_path)
    assert all((tmp_path / name).is_dir() for name in FOLDERS)


def test_the_layout_paths(tmp_path: Path) -> None:
    layout = DataLayout(str(tmp_path))  # a str root becomes a Path
    assert layout.root == tmp_path and isinstance(layout.root, Path)
    assert layout.songs == tmp_path / "songs"
    assert layout.results == tmp_path / "results"
    assert layout.song_results == tmp_path / "results" / "songs"
    assert layout.song_results_of("song_1") == tmp_path / "results" / "songs" / "song_1"
    assert layout.batch_summaries == tmp_path / "results" / "batch"
    assert layout.analysis_parts_of("song_1") == tmp_path / "results" / "parts" / "song_1"
    assert layout.training_reports == tmp_path / "results" / "training"
    assert layout.training_report_of("t1") == tmp_path / "results" / "training" / "t1"
    assert layout.training_data == tmp_path / "training_data"
    assert layout.incoming == tmp_path / "training_data" / "incoming"
    assert layout.claimed == tmp_path / "training_data" / "claimed"
    assert layout.features == tmp_path / "training_data" / "features"
    assert layout.models == tmp_path / "models"
    assert layout.model_of("t1") == tmp_path / "models" / "t1"
    assert layout.latest_model == tmp_path / "models" / "latest.json" == layout.models / LATEST_MODEL_FILE
    assert layout.folder("training_data/features") == layout.features
    assert MODEL_SIGNATURE_FILE == "model.sig.json"


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../x", "/etc", "a\x00b"])
def test_a_name_that_is_not_one_path_segment_is_refused(tmp_path: Path, name: str) -> None:
    layout = DataLayout(tmp_path)
    for of in (layout.song_results_of, layout.training_report_of, layout.model_of):
        with pytest.raises(ValueError, match="single path segment"):
            of(name)


def test_names_with_dots_inside_are_single_segments(tmp_path: Path) -> None:
    assert DataLayout(tmp_path).song_results_of("a..b") == tmp_path / "results" / "songs" / "a..b"
    assert DataLayout(tmp_path).song_results_of(".hidden") == tmp_path / "results" / "songs" / ".hidden"


# --- migrate_song_results --------------------------------------------------------------------------


def write(path: Path, text: str, mtime: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def tree(root: Path) -> dict[str, str]:
    """Every file under root (relative POSIX path -> text)."""
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_layout_1_song_folders_move_to_results_songs_and_their_ids_are_returned(tmp_path: Path) -> None:
    write(tmp_path / "results" / "song_b" / "run_1.json", "b1")
    write(tmp_path / "results" / "song_a" / "run_1.json", "a1")
    write(tmp_path / "results" / "song_a" / "run_2.json", "a2")

    assert migrate_song_results(tmp_path) == ["song_a", "song_b"]
    assert tree(tmp_path) == {
        "results/songs/song_a/run_1.json": "a1",
        "results/songs/song_a/run_2.json": "a2",
        "results/songs/song_b/run_1.json": "b1",
    }
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["songs"]


def test_the_migration_is_idempotent(tmp_path: Path) -> None:
    write(tmp_path / "results" / "song_a" / "run_1.json", "a1")
    assert migrate_song_results(tmp_path) == ["song_a"]
    after_first = tree(tmp_path)
    assert migrate_song_results(tmp_path) == []
    assert migrate_song_results(tmp_path) == []
    assert tree(tmp_path) == after_first == {"results/songs/song_a/run_1.json": "a1"}


def test_nothing_to_do_without_a_results_folder(tmp_path: Path) -> None:
    assert migrate_song_results(tmp_path) == []
    assert migrate_song_results(tmp_path / "missing") == []
    assert list(tmp_path.iterdir()) == []  # creates nothing


def test_a_folder_whose_target_exists_is_merged_without_overwriting_the_newer_result(tmp_path: Path) -> None:
    old = write(tmp_path / "results" / "song_a" / "run_1.json", "old copy", mtime=1_000)
    write(tmp_path / "results" / "song_a" / "run_0.json", "only in layout 1")
    write(tmp_path / "results" / "songs" / "song_a" / "run_1.json", "newer", mtime=2_000)
    write(tmp_path / "results" / "songs" / "song_a" / "run_2.json", "only in layout 2")

    assert migrate_song_results(tmp_path) == ["song_a"]
    target = tmp_path / "results" / "songs" / "song_a"
    assert tree(target) == {"run_0.json": "only in layout 1", "run_1.json": "newer", "run_2.json": "only in layout 2"}
    # The same-named file stays where it was (never lost), so its folder stays too.
    assert old.read_text() == "old copy"
    assert sorted(p.name for p in old.parent.iterdir()) == ["run_1.json"]


def test_a_merged_folder_emptied_by_the_move_is_removed(tmp_path: Path) -> None:
    write(tmp_path / "results" / "song_a" / "run_0.json", "a0")
    write(tmp_path / "results" / "songs" / "song_a" / "run_1.json", "a1")
    assert migrate_song_results(tmp_path) == ["song_a"]
    assert not (tmp_path / "results" / "song_a").exists()
    assert tree(tmp_path / "results" / "songs" / "song_a") == {"run_0.json": "a0", "run_1.json": "a1"}


def test_batch_training_songs_files_hidden_folders_and_symlinks_are_left_alone(tmp_path: Path) -> None:
    results = tmp_path / "results"
    write(results / "batch" / "b1.json", "batch")
    write(results / "training" / "t1" / "report.json", "report")
    write(results / "songs" / "song_z" / "run.json", "z")
    write(results / "notes.txt", "a plain file")
    write(results / ".partial" / "x.json", "hidden")
    write(tmp_path / "elsewhere" / "x.json", "not a song folder")
    (results / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    before = tree(tmp_path)

    assert migrate_song_results(tmp_path) == []
    assert tree(tmp_path) == before
    assert (results / "linked").is_symlink()
    names = sorted(p.name for p in results.iterdir())
    assert names == [".partial", "batch", "linked", "notes.txt", "songs", "training"]


def test_only_song_folders_move_among_the_others(tmp_path: Path) -> None:
    write(tmp_path / "results" / "batch" / "b1.json", "batch")
    write(tmp_path / "results" / "parts" / "s1" / "r1" / "audio.json", "part")
    write(tmp_path / "results" / "training" / "t1" / "report.json", "report")
    write(tmp_path / "results" / "my song" / "run.json", "s")

    assert migrate_song_results(tmp_path) == ["my song"]
    assert tree(tmp_path) == {
        "results/batch/b1.json": "batch",
        "results/parts/s1/r1/audio.json": "part",
        "results/songs/my song/run.json": "s",
        "results/training/t1/report.json": "report",
    }
