"""resolve_data_path maps every refusal of contracts.data_root to the error envelope's status and code.

The rule itself (containment, symlinks, atomic writes) is tested in contracts/tests/test_data_root.py.
"""

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


def test_a_path_inside_the_root_resolves(data_root: Path, song: Path) -> None:
    assert resolve_data_path("songs/a.wav", data_root) == song.resolve()
    assert resolve_data_path(str(song), data_root) == song.resolve()


@pytest.mark.parametrize(
    ("raw", "error", "status", "code"),
    [
        ("../secret.txt", Forbidden, 403, "path_outside_data_root"),
        ("/etc/passwd", Forbidden, 403, "path_outside_data_root"),
        ("songs/link.wav", Forbidden, 403, "path_outside_data_root"),
        ("songs/nope.mp3", NotFound, 404, "file_not_found"),
        ("songs", Unprocessable, 422, "not_a_file"),
        ("", Unprocessable, 422, "invalid_path"),
        ("songs/a\x00.wav", Unprocessable, 422, "invalid_path"),
        ("songs/" + "a" * 300 + ".wav", Unprocessable, 422, "invalid_path"),
    ],
)
def test_each_refusal_has_its_status_and_code(data_root: Path, raw: str, error: type, status: int, code: str) -> None:
    (data_root.parent / "secret.txt").write_text("x")
    os.symlink(data_root.parent / "secret.txt", data_root / "songs" / "link.wav")
    with pytest.raises(error) as err:
        resolve_data_path(raw, data_root, kind="audio file")
    assert (err.value.status_code, err.value.code) == (status, code)
    assert err.value.details == {"path": raw}
    assert raw in err.value.message or "NUL" in err.value.message  # a NUL byte is not echoed


def test_the_kind_names_the_missing_file(data_root: Path) -> None:
    with pytest.raises(NotFound) as err:
        resolve_data_path("models/x.joblib", data_root, kind="model artifact")
    assert err.value.message == "No model artifact at 'models/x.joblib' in the data root."


def test_must_exist_false_allows_new_files(data_root: Path) -> None:
    assert resolve_data_path("results/x/new.json", data_root, must_exist=False) == (
        data_root.resolve() / "results" / "x" / "new.json"
    )


def test_the_atomic_writes_are_the_shared_ones(tmp_path: Path) -> None:
    target = tmp_path / "results" / "r.json"
    atomic_write_text(target, "{}")
    assert target.read_text() == "{}" and target.stat().st_mode & 0o777 == 0o644
