"""docker/init_checks.py, the compose init service's root step, on real folders (no container needed)."""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.data_layout import FOLDERS
from contracts.deployment_secrets import SECRET_NAMES
from stack.paths import REPO_ROOT

SCRIPT = REPO_ROOT / "docker" / "init_checks.py"
spec = importlib.util.spec_from_file_location("init_checks", SCRIPT)
init_checks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(init_checks)


AS_ROOT = pytest.mark.skipif(
    os.geteuid() != 0, reason="handing a folder to another uid needs root (CI and the container)"
)


@pytest.fixture
def real_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SECRET_NAMES:
        monkeypatch.setenv(name, secrets.token_urlsafe(32))


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A temp folder any uid may traverse, as /app is in the container: pytest's tmp_path is root's and 0700,
    so the migration's child, running as AIRFLOW_UID, could not reach a data root below it."""
    path = Path(tempfile.mkdtemp(prefix="hss-init-checks-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def owner(path: Path) -> tuple[int, int]:
    st = path.lstat()
    return st.st_uid, st.st_gid


@pytest.mark.parametrize("value", ["change-me-jwt-secret", "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg=", ""])
def test_a_placeholder_secret_stops_the_stack_naming_it_and_the_generator(
    real_secrets: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, value: str
) -> None:
    monkeypatch.setenv("AIRFLOW_JWT_SECRET", value)
    with pytest.raises(SystemExit) as stop:
        init_checks.check_secrets()
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert "AIRFLOW_JWT_SECRET" in err and "make up" in err and "token_urlsafe" in err


def test_real_secrets_pass(real_secrets: None) -> None:
    init_checks.check_secrets()  # no SystemExit


def test_writable_by_follows_owner_then_group_0(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir(mode=0o750)
    folder.chmod(0o750)
    st = folder.stat()
    assert init_checks.writable_by(st, st.st_uid)
    assert not init_checks.writable_by(st, st.st_uid + 1, gid=st.st_gid)  # group may read, not write
    folder.chmod(0o770)
    assert init_checks.writable_by(folder.stat(), st.st_uid + 1, gid=st.st_gid)


@AS_ROOT
def test_a_folder_docker_created_as_root_is_handed_to_airflow_uid_and_made_private(
    real_secrets: None, open_tmp: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = open_tmp / "state"  # .stack/, which Docker creates as root above the default bind sources
    data, mail = state / "data", state / "mail"
    for folder in (state, data, mail):
        folder.mkdir(mode=0o755)
    (data / "old.txt").write_text("x")
    foreign = tmp_path / "foreign"  # someone else's folder, 0755: not writable for the containers' uid
    foreign.mkdir(mode=0o755)
    os.chown(foreign, 4321, 4321)
    monkeypatch.setattr(init_checks, "DATA_ROOT", data)
    monkeypatch.setattr(init_checks, "HOST_FOLDERS", (data, mail))
    monkeypatch.setattr(init_checks, "STATE_FOLDER", state)
    monkeypatch.setenv("AIRFLOW_UID", "1234")

    assert init_checks.main() == 0
    assert state.stat().st_uid == 1234  # so the user can delete what is below it
    for folder in (data, mail, data / "old.txt", *(data / name for name in FOLDERS)):
        assert owner(folder) == (1234, 0), folder
    for folder in (data, mail, *(data / name for name in FOLDERS)):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o770, folder  # never world-writable

    monkeypatch.setattr(init_checks, "HOST_FOLDERS", (foreign,))
    with pytest.raises(SystemExit):
        init_checks.main()
    assert foreign.stat().st_uid == 4321  # someone else's folder is refused, not taken


@AS_ROOT
def test_a_refused_start_still_hands_the_folders_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    monkeypatch.setattr(init_checks, "DATA_ROOT", data)
    monkeypatch.setattr(init_checks, "HOST_FOLDERS", (data,))
    monkeypatch.setattr(init_checks, "STATE_FOLDER", tmp_path / "none")
    monkeypatch.setenv("AIRFLOW_UID", "1234")
    for name in SECRET_NAMES:
        monkeypatch.setenv(name, "change-me-x")
    with pytest.raises(SystemExit):
        init_checks.main()
    assert data.stat().st_uid == 1234  # the user can still delete what Docker created


def test_the_data_folders_are_created_parents_first_for_airflow_uid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"  # missing: created too
    (data / "results").mkdir(parents=True)  # an existing folder is left as it is
    monkeypatch.setattr(init_checks, "DATA_ROOT", data)
    given: list[tuple[str, int, int]] = []  # recorded, so the test needs no root (the root-only tests chown)
    monkeypatch.setattr(init_checks.os, "chown", lambda path, uid, gid: given.append((str(path), uid, gid)))
    init_checks.create_data_folders(1234)
    made = [name for name in FOLDERS if name != "results"]
    assert given == [(str(data / name), 1234, 0) for name in made]  # in FOLDERS' order: parents first
    assert sorted(p.relative_to(data).as_posix() for p in data.rglob("*")) == sorted(FOLDERS)
    assert all(stat.S_IMODE((data / name).stat().st_mode) == 0o770 for name in made)


@AS_ROOT
def test_layout_1_song_results_move_to_results_songs_owned_by_airflow_uid(
    real_secrets: None, open_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    data = open_tmp / "data"
    old = data / "results" / "song_a"
    old.mkdir(parents=True)
    (old / "x.json").write_text('{"run": 1}')
    (data / "results" / "batch").mkdir()
    (data / "results" / "batch" / "b.json").write_text("{}")
    data.chmod(0o755)  # as Docker creates a missing bind source: root-owned, so it is handed over whole
    monkeypatch.setattr(init_checks, "DATA_ROOT", data)
    monkeypatch.setattr(init_checks, "HOST_FOLDERS", (data,))
    monkeypatch.setattr(init_checks, "STATE_FOLDER", open_tmp / "none")
    monkeypatch.setenv("AIRFLOW_UID", "1234")

    assert init_checks.main() == 0
    moved = data / "results" / "songs" / "song_a" / "x.json"
    assert json.loads(moved.read_text()) == {"run": 1}
    assert not old.exists()
    assert (data / "results" / "batch" / "b.json").read_text() == "{}"  # not a song folder: left alone
    for path in (moved, moved.parent, moved.parent.parent):
        assert owner(path) == (1234, 0), path  # nothing root-owned
    assert "moved 1 song result folder(s) from results/<song_id>/ to results/songs/" in capsys.readouterr().out

    assert init_checks.main() == 0  # every start runs it: the second one has nothing to move, and says nothing
    assert "moved" not in capsys.readouterr().out
    assert json.loads(moved.read_text()) == {"run": 1}


@AS_ROOT
def test_the_migration_runs_as_airflow_uid_never_as_root(
    real_secrets: None, open_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A layout-1 folder only root may move (root-owned, 0755, in a data root AIRFLOW_UID owns): as root the
    rename would succeed; as AIRFLOW_UID it is refused, so the start stops, saying what to do."""
    data = open_tmp / "data"
    data.mkdir(mode=0o770)
    os.chown(data, 1234, 0)
    monkeypatch.setattr(init_checks, "DATA_ROOT", data)
    monkeypatch.setattr(init_checks, "HOST_FOLDERS", (data,))
    monkeypatch.setattr(init_checks, "STATE_FOLDER", open_tmp / "none")
    monkeypatch.setenv("AIRFLOW_UID", "1234")
    init_checks.create_data_folders(1234)
    locked = data / "results" / "song_b"
    locked.mkdir(mode=0o755)
    (locked / "x.json").write_text("{}")

    with pytest.raises(SystemExit) as stop:
        init_checks.main()
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert "PermissionError" in err and "sudo chown -R 1234" in err
    assert (locked / "x.json").exists() and not (data / "results" / "songs" / "song_b").exists()
