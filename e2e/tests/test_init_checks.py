"""docker/init_checks.py, the compose init service's root step, on real folders (no container needed)."""

from __future__ import annotations

import importlib.util
import os
import secrets
import stat
from pathlib import Path

import pytest

from contracts.data_root import DATA_FOLDERS
from contracts.deployment_secrets import SECRET_NAMES

SCRIPT = Path(__file__).resolve().parents[2] / "docker" / "init_checks.py"
spec = importlib.util.spec_from_file_location("init_checks", SCRIPT)
init_checks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(init_checks)


@pytest.fixture
def real_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SECRET_NAMES:
        monkeypatch.setenv(name, secrets.token_urlsafe(32))


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


@pytest.mark.skipif(os.geteuid() != 0, reason="handing a folder to another uid needs root (CI and the container)")
def test_a_folder_docker_created_as_root_is_handed_to_airflow_uid_and_made_private(
    real_secrets: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"  # .stack/, which Docker creates as root above the default bind sources
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
    for folder in (data, mail, data / "old.txt", *(data / name for name in DATA_FOLDERS)):
        assert (folder.stat().st_uid, folder.stat().st_gid) == (1234, 0), folder
    for folder in (data, mail, *(data / name for name in DATA_FOLDERS)):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o770, folder  # never world-writable

    monkeypatch.setattr(init_checks, "HOST_FOLDERS", (foreign,))
    with pytest.raises(SystemExit):
        init_checks.main()
    assert foreign.stat().st_uid == 4321  # someone else's folder is refused, not taken


@pytest.mark.skipif(os.geteuid() != 0, reason="handing a folder to another uid needs root (CI and the container)")
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
