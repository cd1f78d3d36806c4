"""resolve_data_path keeps every caller inside HSS_DATA_ROOT; atomic writes never leave half files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.common.errors import Forbidden, NotFound, Unprocessable
from services.common.paths import atomic_write_text, resolve_data_path


@pytest.fixture
def song(data_root: Path) -> Path:
    path = data_root / "songs" / "a.wav"
    path.write_bytes(b"RIFF")
    return path


def test_relative_path_resolves_inside_root(data_root: Path, song: Path) -> None:
    assert resolve_data_path("songs/a.wav", data_root) == song.resolve()


def test_absolute_path_inside_root_is_accepted(data_root: Path, song: Path) -> None:
    assert resolve_data_path(str(song), data_root) == song.resolve()


@pytest.mark.parametrize("raw", ["../secret.txt", "songs/../../secret.txt", "/etc/passwd", "/"])
def test_paths_leaving_the_root_are_forbidden(data_root: Path, raw: str) -> None:
    (data_root.parent / "secret.txt").write_text("x")
    with pytest.raises(Forbidden) as err:
        resolve_data_path(raw, data_root)
    assert err.value.code == "path_outside_data_root"
    assert err.value.status_code == 403


def test_symlink_pointing_out_of_the_root_is_forbidden(data_root: Path) -> None:
    outside = data_root.parent / "outside.wav"
    outside.write_bytes(b"RIFF")
    os.symlink(outside, data_root / "songs" / "link.wav")
    with pytest.raises(Forbidden):
        resolve_data_path("songs/link.wav", data_root)


def test_symlink_staying_inside_the_root_is_fine(data_root: Path, song: Path) -> None:
    os.symlink(song, data_root / "songs" / "alias.wav")
    assert resolve_data_path("songs/alias.wav", data_root) == song.resolve()


def test_missing_file_is_404(data_root: Path) -> None:
    with pytest.raises(NotFound) as err:
        resolve_data_path("songs/nope.mp3", data_root)
    assert err.value.status_code == 404
    assert "songs/nope.mp3" in err.value.message


def test_directory_is_not_a_file(data_root: Path) -> None:
    with pytest.raises(Unprocessable) as err:
        resolve_data_path("songs", data_root)
    assert err.value.code == "not_a_file"


@pytest.mark.parametrize("raw", ["", "songs/a\x00.wav"])
def test_empty_or_nul_paths_are_refused(data_root: Path, raw: str) -> None:
    with pytest.raises(Unprocessable):
        resolve_data_path(raw, data_root)


def test_must_exist_false_allows_new_files(data_root: Path) -> None:
    assert resolve_data_path("results/x/new.json", data_root, must_exist=False) == (
        data_root.resolve() / "results" / "x" / "new.json"
    )


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "out.json"
    atomic_write_text(target, "first")
    atomic_write_text(target, "second")
    assert target.read_text() == "second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.json"]


def test_atomic_write_failure_keeps_old_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.json"
    atomic_write_text(target, "old")

    def boom(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_overlong_path_component_is_422_not_500(data_root: Path) -> None:
    with pytest.raises(Unprocessable) as err:
        resolve_data_path("songs/" + "a" * 300 + ".wav", data_root)
    assert err.value.code == "invalid_path"


def test_atomic_write_leaves_a_file_others_can_read(tmp_path: Path) -> None:
    """The containers write as uid 50000 into a host folder: the host's user must still read the results."""
    target = tmp_path / "results" / "r.json"
    atomic_write_text(target, "{}")
    assert target.stat().st_mode & 0o777 == 0o644
