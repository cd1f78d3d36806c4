"""contracts.data_root: every path stays inside the data root; atomic writes never show half a file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from contracts.data_root import (
    DataPathError,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    data_path_pattern,
    relative_to_root,
    resolve_in_root,
)
from stack.paths import REPO_ROOT


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "songs").mkdir(parents=True)
    (root / "songs" / "a.wav").write_bytes(b"RIFF")
    (tmp_path / "secret.txt").write_text("not yours")
    return root


def refused(raw: str, root: Path, **kwargs: object) -> DataPathError:
    with pytest.raises(DataPathError) as err:
        resolve_in_root(raw, root, **kwargs)
    assert err.value.path == raw and str(err.value) == err.value.message
    return err.value


# --- resolution and containment ------------------------------------------------------------------


def test_relative_path_resolves_inside_the_root(root: Path) -> None:
    assert resolve_in_root("songs/a.wav", root) == (root / "songs" / "a.wav").resolve()
    assert resolve_in_root("./songs/a.wav", root) == (root / "songs" / "a.wav").resolve()


def test_absolute_path_inside_the_root_is_accepted(root: Path) -> None:
    assert resolve_in_root(str(root / "songs" / "a.wav"), root) == (root / "songs" / "a.wav").resolve()


@pytest.mark.parametrize("raw", ["../secret.txt", "songs/../../secret.txt", "songs/../.."])
def test_dot_dot_escapes_are_refused(root: Path, raw: str) -> None:
    assert refused(raw, root).reason == DataPathError.OUTSIDE


def test_absolute_paths_outside_the_root_are_refused(root: Path) -> None:
    for raw in ("/etc/passwd", "/", str(root.parent / "secret.txt"), str(root) + "-sibling/a.wav"):
        error = refused(raw, root)
        assert error.reason == DataPathError.OUTSIDE and "outside the data root" in error.message


def test_a_symlink_pointing_outside_is_refused_one_staying_inside_is_fine(root: Path) -> None:
    os.symlink(root.parent / "secret.txt", root / "songs" / "link.wav")
    os.symlink(root.parent, root / "songs" / "up")
    assert refused("songs/link.wav", root).reason == DataPathError.OUTSIDE
    assert refused("songs/up/secret.txt", root).reason == DataPathError.OUTSIDE
    os.symlink(root / "songs" / "a.wav", root / "songs" / "alias.wav")
    assert resolve_in_root("songs/alias.wav", root) == (root / "songs" / "a.wav").resolve()


def test_a_root_reached_through_a_symlink_still_contains_its_files(root: Path) -> None:
    alias = root.parent / "alias"
    os.symlink(root, alias)
    assert resolve_in_root(str(alias / "songs" / "a.wav"), alias) == (root / "songs" / "a.wav").resolve()


def test_a_missing_file_is_refused_and_named(root: Path) -> None:
    error = refused("songs/nope.mp3", root, kind="audio file")
    assert error.reason == DataPathError.MISSING
    assert error.message == "No audio file at 'songs/nope.mp3' in the data root."


def test_a_directory_is_not_a_file(root: Path) -> None:
    assert refused("songs", root).reason == DataPathError.NOT_A_FILE


@pytest.mark.parametrize("raw", ["", "songs/a\x00.wav", "\x00"])
def test_empty_or_nul_paths_are_refused(root: Path, raw: str) -> None:
    assert refused(raw, root).reason == DataPathError.INVALID


def test_an_os_error_becomes_a_data_path_error(root: Path) -> None:
    error = refused("songs/" + "a" * 300 + ".wav", root)
    assert error.reason == DataPathError.INVALID and "cannot be used" in error.message


def test_must_exist_false_allows_new_files_but_not_escapes(root: Path) -> None:
    assert resolve_in_root("results/x/new.json", root, must_exist=False) == root.resolve() / "results/x/new.json"
    assert refused("../new.json", root, must_exist=False).reason == DataPathError.OUTSIDE


def test_relative_to_root_is_the_posix_path_the_contracts_carry(root: Path) -> None:
    assert relative_to_root(root / "songs" / "a.wav", root) == "songs/a.wav"


def test_data_path_error_is_a_value_error() -> None:
    assert issubclass(DataPathError, ValueError)


# --- the lexical pattern (trigger-time check): `..` refused, the rest left to resolve_in_root -----------


@pytest.mark.parametrize(
    ("raw", "lexically_fine", "inside"),
    [
        ("songs/a.wav", True, True),
        ("./songs/a.wav", True, True),
        ("songs/..hidden/a.wav", True, True),
        ("songs/a..b.wav", True, True),
        ("songs/a../b.wav", True, True),
        ("../secret.txt", False, False),
        ("songs/../../secret.txt", False, False),
        ("songs/../a.wav", False, True),  # inside, yet refused at trigger time: no `..` segment at all
        ("songs/..", False, True),
        ("..", False, False),
        ("/etc/passwd", True, False),  # absolute: the pattern lets it through, resolve_in_root refuses it
    ],
)
def test_the_pattern_refuses_dot_dot_and_resolve_in_root_decides_the_rest(
    root: Path, raw: str, lexically_fine: bool, inside: bool
) -> None:
    assert bool(re.match(data_path_pattern(), raw)) is lexically_fine
    try:
        resolve_in_root(raw, root, must_exist=False)
        resolved_inside = True
    except DataPathError:
        resolved_inside = False
    assert resolved_inside is inside


def test_the_pattern_is_the_same_for_every_root_and_refuses_empty_and_nul() -> None:
    assert data_path_pattern() == data_path_pattern("")
    pattern = data_path_pattern()
    assert "data" not in pattern and "tmp" not in pattern  # names no root: a DAG Param reads the same everywhere
    assert not re.match(pattern, "") and not re.match(pattern, "\x00songs/a.wav")


def test_an_absolute_path_passes_the_pattern_and_resolve_in_root_refuses_one_outside(tmp_path: Path) -> None:
    root = tmp_path / "da.ta+(1)"  # regex characters in the root change nothing: the pattern names no root
    (root / "training_data").mkdir(parents=True)
    pattern = data_path_pattern(r"\.[cC][sS][vV]$")
    inside, outside = f"{root.resolve()}/training_data/x.csv", f"{tmp_path.resolve()}/daXta+(1)/x.csv"
    assert re.match(pattern, inside) and re.match(pattern, outside) and re.match(pattern, "training_data/x.CSV")
    assert not re.match(pattern, "training_data/x.txt") and not re.match(pattern, "../x.csv")
    assert resolve_in_root(inside, root, must_exist=False) == root.resolve() / "training_data" / "x.csv"
    with pytest.raises(DataPathError) as err:
        resolve_in_root(outside, root, must_exist=False)
    assert err.value.reason == DataPathError.OUTSIDE


# --- atomic writes -------------------------------------------------------------------------------


def test_atomic_write_leaves_no_temp_file_and_a_file_others_can_read(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "out.txt"
    assert atomic_write_text(target, "first") == target
    atomic_write_text(target, "second")
    assert target.read_text() == "second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]
    assert target.stat().st_mode & 0o777 == 0o644


def test_atomic_write_failure_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.bin"
    atomic_write_bytes(target, b"old")

    def boom(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


KILLED_WRITER = """
import sys, time
from pathlib import Path
from contracts.data_root import atomic_write
def half(fh):
    fh.write(b'{"half": ')
    fh.flush()
    time.sleep(600)
atomic_write(Path(sys.argv[1]), half)
"""


def test_the_retry_after_a_writer_killed_mid_write_leaves_no_temp_file(tmp_path: Path) -> None:
    target, other = tmp_path / "run_1.json", tmp_path / ".run_2.json.abc123.tmp"
    atomic_write_json(target, {"try": 1})
    other.write_bytes(b"another target's write in progress")
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(target)], cwd=REPO_ROOT)
    try:
        # Until the half is flushed into the temp file, not only until the file exists: on a loaded machine (CI
        # beside the docker pass) the kill once landed between the file's creation and its first write.
        deadline = time.monotonic() + 30
        while not any(p.read_bytes() == b'{"half": ' for p in tmp_path.glob(".run_1.json.*.tmp")):
            assert writer.poll() is None and time.monotonic() < deadline, "the writer never wrote its half"
            time.sleep(0.05)
    finally:
        writer.kill()  # SIGKILL mid-write: no except/finally of atomic_write runs
        writer.wait()
    [leftover] = tmp_path.glob(".run_1.json.*.tmp")
    assert leftover.read_bytes() == b'{"half": '
    assert json.loads(target.read_text()) == {"try": 1}  # readers still see the whole old file

    atomic_write_json(target, {"try": 2})  # the retry
    assert json.loads(target.read_text()) == {"try": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name, "run_1.json"]  # only its own leftovers go


def test_atomic_write_json_is_sorted_with_a_final_newline_and_refuses_nan(tmp_path: Path) -> None:
    target = atomic_write_json(tmp_path / "r.json", {"b": 1, "a": [1.5]})
    assert target.read_text() == '{\n  "a": [\n    1.5\n  ],\n  "b": 1\n}\n'
    with pytest.raises(ValueError):
        atomic_write_json(target, {"x": float("nan")})
    assert json.loads(target.read_text()) == {"a": [1.5], "b": 1}


def test_a_concurrent_reader_never_sees_a_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "big.bin"
    size = 1 << 20
    versions = [bytes([i]) * size for i in range(2)]
    atomic_write_bytes(target, versions[0])
    done, seen = threading.Event(), set()

    def read() -> None:
        while not done.is_set():
            data = target.read_bytes()
            seen.add(data in versions)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(40):
            atomic_write_bytes(target, versions[i % 2])
    finally:
        done.set()
        reader.join(timeout=10)
    assert seen == {True}
