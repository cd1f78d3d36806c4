"""hss_airflow.storage: safe names, paths kept inside the data root, atomic writes, a data root it cannot write."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException

from hss_airflow import batch, incoming, reports, results, storage

RUN_ID = "manual__2026-11-24T04:32:02.560962+00:00"


def test_safe_name_keeps_safe_ids_and_makes_run_ids_file_names_without_collisions() -> None:
    assert storage.safe_name("song_001") == "song_001"
    name = storage.safe_name(RUN_ID)
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", name) and name == storage.safe_name(RUN_ID)
    assert storage.safe_name("a:b") != storage.safe_name("a+b")
    assert not storage.safe_name("../../etc").startswith(".")
    assert len(storage.safe_name("x" * 500)) <= 150


def test_resolve_in_root_refuses_paths_that_leave_the_root(root: Path, tmp_path_factory) -> None:
    (root / "songs").mkdir()
    (root / "songs" / "a.wav").write_bytes(b"x")
    outside = tmp_path_factory.mktemp("outside") / "b.wav"
    outside.write_bytes(b"x")
    (root / "songs" / "link.wav").symlink_to(outside)
    assert storage.resolve_in_root("songs/a.wav") == root / "songs" / "a.wav"
    assert storage.resolve_in_root(str(root / "songs" / "a.wav")) == root / "songs" / "a.wav"
    for bad in ("../b.wav", str(outside), "songs/link.wav", "", "songs/missing.wav"):
        with pytest.raises(storage.DataPathError):
            storage.resolve_in_root(bad)


def test_atomic_write_leaves_the_old_file_and_no_temp_file_when_it_fails(root: Path, monkeypatch) -> None:
    target = root / "results" / "x.json"
    storage.atomic_write_json(target, {"v": 1})

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        storage.atomic_write_json(target, {"v": 2})
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in target.parent.iterdir()] == ["x.json"]


def test_atomic_write_leaves_a_result_others_can_read(root: Path) -> None:
    """Workers write as uid 50000 into the host's data folder: the host's user must still read the results."""
    target = storage.atomic_write_json(root / "results" / "x.json", {"v": 1})
    assert target.stat().st_mode & 0o777 == 0o644


# --- a data root the task cannot write: one clear failure, no retry --------------------------------------

OWNER, TASK_UID = 1234, 65534  # who owns the folders, and the uid the "task" runs as (root: nobody)


def read_only_data_root(base: Path) -> Path:
    """A data root whose folders this test's task cannot write (only training_data/incoming is open)."""
    root = base / "data"
    for folder in ("results/songs/song_ro", "results/training/t1", "training_data/incoming", "training_data/claimed"):
        (root / folder).mkdir(parents=True)
    (root / "results/training/t1/report.json").write_text('{"training_id": "t1"}')
    (root / "training_data/incoming/export.csv").write_text("a,is_hit\n1,0\n")
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        os.chmod(folder, 0o777 if folder.name == "incoming" else 0o555)
    if os.geteuid() == 0:  # root writes anywhere: the folders get another owner, the probe drops to nobody
        for path in (root, *root.rglob("*")):
            os.chown(path, OWNER, OWNER)
    return root


def probe_writes(root: Path) -> dict[str, dict]:
    """Every kind of task write, in a forked child that runs as TASK_UID when this test runs as root."""
    document = {"song_id": "song_new", "prediction": {}, "insights": {}}
    writes = {
        "new song folder": lambda: results.write_analysis_result(document, "manual__1", root),
        "song folder": lambda: results.write_analysis_result({**document, "song_id": "song_ro"}, "manual__1", root),
        "batch summary": lambda: batch.write_batch_summary({"songs": []}, "manual__1", root),
        "training report": lambda: reports.record_promotion("t1", {"promoted": True}, root),
        "features": lambda: storage.atomic_write_bytes(root / "training_data/features/t1.csv", b"a,is_hit\n"),
        "claimed dataset": lambda: incoming.claim_dataset("manual__1", datetime(2026, 1, 1), root),
    }
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(read)
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(TASK_UID)
                os.setuid(TASK_UID)
            outcomes = {}
            for name, attempt in writes.items():
                try:
                    attempt()
                    outcomes[name] = {"mro": [], "message": "written"}
                except BaseException as exc:
                    outcomes[name] = {"mro": [c.__name__ for c in type(exc).__mro__], "message": str(exc)}
            os.write(write, json.dumps(outcomes).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        answer = pipe.read()
    os.waitpid(pid, 0)
    return json.loads(answer)


def test_a_folder_the_task_cannot_write_fails_at_once_naming_folder_owner_and_uid(monkeypatch) -> None:
    base = Path(tempfile.mkdtemp(prefix="hss-readonly-"))
    os.chmod(base, 0o755)  # the task's uid must reach the data root
    try:
        root = read_only_data_root(base)
        monkeypatch.setenv("HSS_DATA_ROOT", str(root))
        outcomes = probe_writes(root)
    finally:
        subprocess.run(["chmod", "-R", "u+rwx", str(base)], check=False)
        shutil.rmtree(base, ignore_errors=True)
    uid, gid = (TASK_UID, TASK_UID) if os.geteuid() == 0 else (os.geteuid(), os.getegid())
    owner = OWNER if os.geteuid() == 0 else os.geteuid()
    refused_by = {
        "new song folder": "results/songs",
        "song folder": "results/songs/song_ro",
        "batch summary": "results",
        "training report": "results/training/t1",
        "features": "training_data",
        "claimed dataset": "training_data/claimed",
    }
    assert set(outcomes) == set(refused_by)
    for name, folder in refused_by.items():
        outcome = outcomes[name]
        # AirflowFailException: the task fails without its retries (a retry is refused the same way)
        assert outcome["mro"][:2] == ["DataRootNotWritable", "AirflowFailException"], (name, outcome)
        message = outcome["message"]
        assert f"the folder {root / folder} is not writable for this task" in message, (name, message)
        assert f"owned by uid {owner} gid {owner}, mode 0555 (dr-xr-xr-x)" in message, (name, message)
        assert f"the task runs as uid {uid} gid {gid}" in message, (name, message)
        assert f"(AIRFLOW_UID): fix it with `sudo chown -R {uid}:{gid} {root}`" in message, (name, message)
        assert "\n" not in message  # the failure mail shows the first line
    assert issubclass(storage.DataRootNotWritable, AirflowFailException)
