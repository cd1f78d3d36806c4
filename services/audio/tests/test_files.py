"""The file checks without HTTP: durations from headers, opening without blocking, permissions, the copy."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.audio import synth_samples, write_samples
from fixtures.hostile_audio import FOUR_HOURS_S, wav_header, write_song_wav
from services.audio.extractor import analyze_file
from services.audio.files import AudioError, FileIdentity, inspect_file, open_audio, snapshot
from services.audio.headers import HEAD_BYTES, estimated_seconds, wav_overclaim
from services.common.errors import Conflict, Forbidden, NotFound, PayloadTooLarge, Unavailable, Unprocessable

MAX_BYTES = 200 * 1024 * 1024


def _code(fn: Callable[..., object], *args: object) -> str:
    with pytest.raises(AudioError) as info:
        fn(*args)
    return info.value.code


def _estimate(path: Path) -> float | None:
    data = path.read_bytes()
    return estimated_seconds(data[:HEAD_BYTES], data[-HEAD_BYTES:], len(data))


# --- durations from the headers --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["wav", "mp3", "flac", "ogg"])
def test_the_header_tells_the_duration_of_each_format(fmt: str, tmp_path: Path) -> None:
    song = write_samples(tmp_path / f"clip.{fmt}", synth_samples(seconds=3.0))
    assert _estimate(song) == pytest.approx(3.0, abs=0.1)


def test_a_wav_header_cannot_claim_more_than_the_file_holds(tmp_path: Path) -> None:
    pcm = bytes(2 * 44100)  # 1 s of 16-bit mono
    head = wav_header(FOUR_HOURS_S * 44100 * 2) + pcm
    declared, held = wav_overclaim(head, len(head)) or (0, 0)
    assert declared == pytest.approx(FOUR_HOURS_S) and held == pytest.approx(1.0)
    assert wav_overclaim(wav_header(len(pcm)) + pcm, 44 + len(pcm)) is None
    assert wav_overclaim(wav_header(0xFFFFFFFF) + pcm, 44 + len(pcm)) is None  # streamed: size unknown
    (tmp_path / "liar.wav").write_bytes(head)
    assert _code(inspect_file, tmp_path / "liar.wav", "liar.wav", MAX_BYTES, 1200.0) == "corrupt_audio"


def test_noise_after_the_magic_bytes_declares_nothing() -> None:
    noise = bytes(range(256)) * 64
    for magic in (b"fLaC", b"RIFF\x00\x00\x01\x00WAVE", b"OggS"):
        assert estimated_seconds(magic + noise, noise, 4 + len(noise)) is None


def test_audio_longer_than_the_limit_is_refused_before_decoding(tmp_path: Path) -> None:
    song = write_song_wav(tmp_path / "three.wav", seconds=3.0)
    assert inspect_file(song, "three.wav", MAX_BYTES, 3.5).duration_s == pytest.approx(3.0)
    with pytest.raises(AudioError) as info:
        inspect_file(song, "three.wav", MAX_BYTES, 2.0)
    assert info.value.code == "audio_too_long" and info.value.details["max_duration_s"] == 2.0


# --- opening: never blocks, types, permissions -------------------------------------------------------------


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    codes: list[str] = []
    thread = threading.Thread(target=lambda: codes.append(_code(inspect_file, fifo, "pipe.wav", MAX_BYTES)))
    thread.start()
    thread.join(5)
    if thread.is_alive():  # blocked in open(): release it with a writer, then fail
        with open(fifo, "wb"):
            pass
        thread.join()
        pytest.fail("opening the FIFO blocked")
    assert codes == ["not_a_file"]
    assert _code(analyze_file, str(fifo), "pipe.wav", 1.0) == "not_a_file"  # the worker side, too


def test_a_directory_is_not_a_file(tmp_path: Path) -> None:
    (tmp_path / "folder.wav").mkdir()
    assert _code(open_audio, tmp_path / "folder.wav", "folder.wav") == "not_a_file"


def test_an_unreadable_file_is_403_for_a_process_the_mode_binds() -> None:
    """Root opens a mode-000 file anyway, so under root the check runs in a child that drops to nobody; a
    readable file next to it shows the child reaches the folder (pytest's own tmp folders are 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="hss-unreadable-"))
    try:
        folder.chmod(0o755)
        readable = write_song_wav(folder / "open.wav", seconds=1.0)
        locked = write_song_wav(folder / "locked.wav", seconds=1.0)
        locked.chmod(0)
        assert _codes_as_nobody([readable, locked]) == ["ok", "file_unreadable"]
    finally:
        shutil.rmtree(folder)


def _codes_as_nobody(paths: list[Path]) -> list[str]:
    """open_audio on each path in a process that may not bypass file modes: 'ok' or the error code."""

    def codes() -> list[str]:
        out = []
        for path in paths:
            try:
                os.close(open_audio(path, path.name)[0])
                out.append("ok")
            except AudioError as exc:
                out.append(exc.code)
        return out

    if os.geteuid() != 0:
        return codes()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to nobody, report through the pipe, exit without pytest's teardown
        try:
            os.setgid(65534)
            os.setuid(65534)
            os.write(write, ",".join(codes()).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as fh:
        return fh.read().split(",")


def test_each_code_has_its_status() -> None:
    statuses = {
        "file_unreadable": Forbidden,
        "file_not_found": NotFound,
        "file_changed": Conflict,
        "file_too_large": PayloadTooLarge,
        "extractor_unavailable": Unavailable,
        "audio_too_long": Unprocessable,
        "not_a_file": Unprocessable,
    }
    for code, cls in statuses.items():
        error = AudioError(code, "message", {"path": "p"}).service_error()
        assert type(error) is cls and error.code == code and error.details == {"path": "p"}


# --- the worker's private copy -----------------------------------------------------------------------------


def _identity(path: Path) -> FileIdentity:
    return FileIdentity.of(os.stat(path))


def test_the_copy_is_the_file(tmp_path: Path) -> None:
    song = write_song_wav(tmp_path / "song.wav", seconds=1.0)
    copy = snapshot(song, "song.wav", _identity(song), tmp_path / "copy.wav")
    assert copy.read_bytes() == song.read_bytes()


def test_a_file_no_longer_the_checked_one_is_409(tmp_path: Path) -> None:
    song = write_song_wav(tmp_path / "song.wav", seconds=1.0)
    checked = _identity(song)
    write_song_wav(tmp_path / "other.wav", seconds=1.0, seed=3).replace(song)  # renamed over it
    assert _code(snapshot, song, "song.wav", checked, tmp_path / "copy.wav") == "file_changed"
    song.unlink()
    assert _code(snapshot, song, "song.wav", checked, tmp_path / "copy.wav") == "file_changed"
    os.mkfifo(song)  # a FIFO where the song was: refused at once, never waited on
    assert _code(snapshot, song, "song.wav", checked, tmp_path / "copy.wav") == "file_changed"
    assert _code(snapshot, song, "song.wav", None, tmp_path / "copy.wav") == "not_a_file"


def test_a_copy_that_cannot_be_written_is_503(tmp_path: Path) -> None:
    song = write_song_wav(tmp_path / "song.wav", seconds=1.0)
    assert _code(snapshot, song, "song.wav", None, tmp_path / "missing_dir" / "copy.wav") == "extractor_unavailable"
