"""hss_airflow.storage: safe names, paths kept inside the data root, atomic writes."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from hss_airflow import storage

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
