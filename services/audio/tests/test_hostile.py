"""Hostile files through workflow-audio: each gets its error envelope at once, none hangs or kills a
worker, and afterwards /ready is 200 and a real song still analyses. The cases come from
fixtures.hostile_audio, which the full-stack tests reuse."""

from __future__ import annotations

import errno
import functools
import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from contracts.catalog import AUDIO_ANALYZE
from fixtures.hostile_audio import (
    EXPECTED,
    FILE_CHANGED,
    HostileCase,
    make_changing_file,
    make_hostile_audio,
    rename_over,
    truncate,
    write_song_wav,
)
from services.audio import extractor
from services.audio.app import build_app
from services.audio.settings import AudioSettings
from services.audio.tests import worker_hooks
from services.audio.tests.support import wait_ready, worker_pids
from services.conftest import TEST_API_KEY, keyed_client

ANALYZE = AUDIO_ANALYZE.path
PROMPT_S = 10.0  # an error answer takes milliseconds; this only tells a hang from a slow machine
ANALYSIS_S = 60.0  # Essentia on a few seconds of audio: 1-2 s alone, 11 s seen beside CI's docker pass
_names = itertools.count()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, HostileCase]]:
    root = tmp_path_factory.mktemp("hostile") / "data"
    (root / "songs").mkdir(parents=True)
    return root, make_hostile_audio(root)


@pytest.fixture(scope="module")
def client(hostile: tuple[Path, dict[str, HostileCase]]) -> Iterator[TestClient]:
    with keyed_client(build_app(AudioSettings(data_root=hostile[0], pool_size=1, api_key=TEST_API_KEY))) as client:
        wait_ready(client)
        client.app.state.pids_at_start = worker_pids(client)
        yield client


@pytest.fixture
def changing(hostile: tuple[Path, dict[str, HostileCase]]) -> tuple[Path, str, str]:
    """A fresh song and its replacement for each test: (root, target, replacement)."""
    root = hostile[0]
    return root, *make_changing_file(root, name=f"changing_{next(_names)}")


def _post(client: TestClient, song_path: str, within_s: float = PROMPT_S) -> Any:
    started = time.monotonic()
    response = client.post(ANALYZE, json={"song_id": "hostile", "song_path": song_path})
    assert time.monotonic() - started < within_s, f"{song_path} took {time.monotonic() - started:.1f} s"
    return response


def _assert_refused(response: Any, song_path: str, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert song_path in body["error"]["message"] and body["error"]["details"]["path"] == song_path


def _deny_open(monkeypatch: pytest.MonkeyPatch, target: Path) -> None:
    """What the kernel does to a non-root process opening a mode-000 file (root is never refused)."""
    real_open = os.open

    def open_as_nobody(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if os.fspath(path) == os.fspath(target):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_as_nobody)


# --- every static case ---------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", list(EXPECTED))
def test_hostile_file_gets_its_error_at_once(
    name: str, client: TestClient, hostile: tuple[Path, dict[str, HostileCase]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, cases = hostile
    case = cases[name]
    if case.root_bypasses and os.geteuid() == 0:
        _deny_open(monkeypatch, root / case.path)
    _assert_refused(_post(client, case.path), case.path, case.status, case.code)


@pytest.mark.timeout(60)
def test_a_fifo_that_appears_after_the_path_check_is_not_opened_blocking(
    client: TestClient, hostile: tuple[Path, dict[str, HostileCase]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, cases = hostile
    fifo = root / cases["fifo_wav"].path
    monkeypatch.setattr(extractor, "resolve_data_path", lambda *_, **__: fifo)  # the race: checked, then swapped
    _assert_refused(_post(client, cases["fifo_wav"].path), cases["fifo_wav"].path, 422, "not_a_file")


# --- a file that changes while it is analysed ------------------------------------------------------------------


@pytest.mark.parametrize("how", ["rename_over", "truncate"])
def test_a_file_changed_after_its_checks_is_409(
    how: str, client: TestClient, changing: tuple[Path, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, target, replacement = changing
    real_inspect = extractor.inspect_file

    def inspect_then_change(*args: Any) -> Any:
        inspected = real_inspect(*args)
        if how == "rename_over":
            rename_over(root, target, replacement)
        else:
            truncate(root, target)
        return inspected

    monkeypatch.setattr(extractor, "inspect_file", inspect_then_change)
    _assert_refused(_post(client, target), target, *FILE_CHANGED)


@pytest.mark.parametrize("how", ["rename_over", "truncate"])
def test_a_file_changed_while_the_worker_copies_it_is_409(
    how: str, client: TestClient, changing: tuple[Path, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Truncated in place: size and mtime change. Renamed over: the copied bytes are the old file's, but
    the old inode's ctime moves when it loses its name, and the check does not guess why: 409 either way."""
    root, target, replacement = changing
    hook = functools.partial(worker_hooks.change_during_copy, how, str(root / replacement))
    monkeypatch.setattr(extractor, "analyze_file", hook)
    _assert_refused(_post(client, target), target, *FILE_CHANGED)


@pytest.mark.slow
@pytest.mark.parametrize(("how", "next_status"), [("rename_over", 200), ("truncate", 422)])
def test_a_change_during_extraction_cannot_mix_two_files(
    how: str, next_status: int, client: TestClient, changing: tuple[Path, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Essentia reads the worker's private copy: whatever happens to the file meanwhile, the answer is the
    analysis of the whole file as it was copied, equal to the one before the change."""
    root, target, replacement = changing
    before = _post(client, target, ANALYSIS_S).json()
    with monkeypatch.context() as patch:
        patch.setattr(
            extractor,
            "analyze_file",
            functools.partial(worker_hooks.change_before_extraction, how, str(root / replacement)),
        )
        during = _post(client, target, ANALYSIS_S)
    assert during.status_code == 200, during.text
    assert during.json()["features"] == pytest.approx(before["features"], rel=1e-6, abs=1e-9)
    assert during.json()["highlights"]["duration_s"] == pytest.approx(6.0, abs=0.05)
    after = _post(client, target, ANALYSIS_S)  # the change did happen: the next request sees the new file
    assert after.status_code == next_status, after.text
    if next_status == 200:
        assert after.json()["highlights"]["duration_s"] == pytest.approx(9.0, abs=0.05)
    else:
        assert after.json()["error"]["code"] == "corrupt_audio"


# --- afterwards: the pool is healthy (keep these last) --------------------------------------------------------------


def test_no_worker_died_or_was_replaced(client: TestClient) -> None:
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json()["checks"]["extractor_workers_warm"] is True
    assert worker_pids(client) == client.app.state.pids_at_start


@pytest.mark.slow
def test_a_real_song_still_analyses(client: TestClient, hostile: tuple[Path, dict[str, HostileCase]]) -> None:
    write_song_wav(hostile[0] / "songs/after_the_hostile_cases.wav", seconds=10.0, bpm=120.0)
    response = _post(client, "songs/after_the_hostile_cases.wav", ANALYSIS_S)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["feature_count"] >= 150 and body["highlights"]["duration_s"] == pytest.approx(10.0, abs=0.05)
    assert body["highlights"]["tempo_bpm"] == pytest.approx(120.0, rel=0.03)
