"""The audio file on disk: opened without blocking, checked before decoding, copied before the worker reads it.

Every open goes through `open_audio`: O_NONBLOCK (a FIFO put where a song was returns at once instead of
waiting for a writer), O_NOFOLLOW (the resolved path's last component must not have become a symlink),
then fstat and S_ISREG on the open descriptor, so what is checked is what is read.

In the service process `inspect_file` checks extension, size, magic bytes and the duration the header
declares (no decoding) and returns the file's identity. In the worker `snapshot` opens the file again,
compares it with that identity, copies it into the worker's private temp folder and compares again
after the copy: Essentia only ever reads the private copy, so an answer is the analysis of one whole
file, and a file replaced or rewritten while it was read is 409 `file_changed`.

Permissions: a file this process may not open is 403 `file_unreadable`. A service running as root opens
every file whatever its mode, so there a mode-000 file is simply read.

The copy costs a read and a write of the file (milliseconds for a song; Essentia takes seconds) and up to
HSS_AUDIO_MAX_FILE_BYTES of temp space per worker while it runs; a killed worker's copy is removed by the
pool (services.audio.pool, TMP_PREFIX).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any, NamedTuple

from contracts.audio import AUDIO_FORMATS
from services.audio.headers import HEAD_BYTES, estimated_seconds, sniff_format, wav_overclaim
from services.common.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ServiceError,
    Unavailable,
    Unprocessable,
)

OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
COPY_CHUNK = 1024 * 1024

# error.code -> HTTP status of the error envelope; every other code of an AudioError is a 422.
STATUS_OF: dict[str, type[ServiceError]] = {
    "file_unreadable": Forbidden,
    "file_not_found": NotFound,
    "file_changed": Conflict,
    "file_too_large": PayloadTooLarge,
    "extractor_unavailable": Unavailable,
}


class AudioError(Exception):
    """A problem with the audio file (422 unless STATUS_OF says otherwise). Raised in workers too, so it
    pickles by its args."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(code, message, details)
        self.code, self.message, self.details = code, message, details

    def service_error(self) -> ServiceError:
        return STATUS_OF.get(self.code, Unprocessable)(self.message, code=self.code, details=self.details)


class FileIdentity(NamedTuple):
    """Which file, in which state: a rename over it changes dev/ino, any write changes size, mtime or ctime."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileIdentity:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class Inspected(NamedTuple):
    fmt: str  # the extension, lower case
    identity: FileIdentity
    duration_s: float | None  # what the header declares (bounded by the file size); None: it does not say


def _changed(raw: str, how: str) -> AudioError:
    return AudioError("file_changed", f"'{raw}' {how}; retry once the file is no longer being written.", {"path": raw})


def open_audio(path: Path, raw: str) -> tuple[int, os.stat_result]:
    """A descriptor of the regular file at `path` and its fstat; AudioError otherwise. Never blocks."""
    details = {"path": raw}
    try:
        fd = os.open(path, OPEN_FLAGS)
    except PermissionError:
        raise AudioError(
            "file_unreadable", f"'{raw}' exists but this service may not read it (permission denied).", details
        ) from None
    except FileNotFoundError:
        raise AudioError("file_not_found", f"No audio file at '{raw}' in the data root.", details) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # the checked real path's last component is now a symlink
            raise _changed(raw, "was replaced by a symbolic link after it was checked") from None
        if exc.errno in (errno.ENXIO, errno.EOPNOTSUPP):  # a socket, a device without a driver
            raise AudioError("not_a_file", f"Audio file '{raw}' is not a regular file.", details) from None
        raise AudioError("invalid_path", f"Path '{raw}' cannot be read: {exc.strerror or exc}.", details) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):  # a directory, a FIFO, a device
        os.close(fd)
        raise AudioError("not_a_file", f"Audio file '{raw}' is not a regular file.", details)
    return fd, st


# --- in the service process: checks before any decoding ---------------------------------------------------


def inspect_file(path: Path, raw: str, max_file_bytes: int, max_duration_s: float | None = None) -> Inspected:
    """Extension, type, size, magic bytes and declared duration; AudioError for the first problem found."""
    fmt = path.suffix.lower().lstrip(".")
    details: dict[str, Any] = {"path": raw}
    if fmt not in AUDIO_FORMATS:
        raise AudioError(
            "unsupported_format",
            f"'{raw}' has an unsupported extension '{path.suffix}'; supported formats: {', '.join(AUDIO_FORMATS)}.",
            {**details, "supported": list(AUDIO_FORMATS)},
        )
    fd, st = open_audio(path, raw)
    try:
        _check_size(st.st_size, raw, max_file_bytes)
        head = os.pread(fd, HEAD_BYTES, 0)
        tail = os.pread(fd, HEAD_BYTES, max(0, st.st_size - HEAD_BYTES))
    except OSError as exc:  # e.g. EIO
        raise AudioError("invalid_path", f"Path '{raw}' cannot be read: {exc.strerror or exc}.", details) from None
    finally:
        os.close(fd)
    if sniff_format(head) is None:
        raise AudioError("not_audio", f"'{raw}' is not audio: its content is not WAV, MP3, FLAC or Ogg.", details)
    duration = _check_duration(head, tail, st.st_size, raw, max_duration_s)
    return Inspected(fmt, FileIdentity.of(st), duration)


def _check_size(size: int, raw: str, max_file_bytes: int) -> None:
    if size == 0:
        raise AudioError("empty_file", f"'{raw}' is an empty file (0 bytes).", {"path": raw})
    if size > max_file_bytes:
        raise AudioError(
            "file_too_large",
            f"'{raw}' is {size} bytes; the limit is {max_file_bytes} bytes.",
            {"path": raw, "size_bytes": size, "max_bytes": max_file_bytes},
        )


def _check_duration(head: bytes, tail: bytes, size: int, raw: str, max_duration_s: float | None) -> float | None:
    overclaim = wav_overclaim(head, size)
    if overclaim:
        declared, held = overclaim
        raise AudioError(
            "corrupt_audio",
            f"'{raw}' is truncated or damaged: its header declares {declared:.2f} s of audio "
            f"but the file holds at most {held:.2f} s.",
            {"path": raw, "declared_s": declared, "held_s": held},
        )
    duration = estimated_seconds(head, tail, size)
    if duration is not None and max_duration_s is not None and duration > max_duration_s:
        raise AudioError(
            "audio_too_long",
            f"'{raw}' holds {duration:.0f} s of audio by its header; the limit is {max_duration_s:g} s.",
            {"path": raw, "duration_s": duration, "max_duration_s": max_duration_s},
        )
    return duration


# --- in the worker: the private copy Essentia reads -------------------------------------------------------


def snapshot(path: Path, raw: str, expected: FileIdentity | None, dest: Path) -> Path:
    """Copy the file at `path` to `dest` (the worker's private temp folder) and return `dest`.

    With `expected` (inspect_file's identity) the file must still be that one; it must not change while
    it is copied either. Otherwise AudioError `file_changed` (409)."""
    try:
        fd, before = open_audio(path, raw)
    except AudioError as exc:
        if expected is None or exc.code == "file_unreadable":
            raise
        raise _changed(raw, "was removed or replaced after it was checked") from None
    try:
        if expected is not None and FileIdentity.of(before) != expected:
            raise _changed(raw, "was replaced or modified after it was checked")
        copied = copy_fd(fd, dest, before.st_size, raw)
        after = os.fstat(fd)
    finally:
        os.close(fd)
    if copied != before.st_size or FileIdentity.of(after) != FileIdentity.of(before):
        raise _changed(raw, "changed while it was being read")
    return dest


def copy_fd(fd: int, dest: Path, size: int, raw: str) -> int:
    """Copy at most size + 1 bytes of `fd` to `dest` (one more shows a file that grew); the bytes copied."""
    copied = 0
    try:
        with dest.open("wb") as out:
            while copied <= size:
                chunk = _read(fd, min(COPY_CHUNK, size + 1 - copied), raw)
                if not chunk:
                    break
                out.write(chunk)
                copied += len(chunk)
    except OSError as exc:  # writing the private copy, e.g. ENOSPC (reading raises AudioError)
        raise AudioError(
            "extractor_unavailable",
            f"The analysis worker cannot write its private copy of '{raw}': {exc.strerror or exc}.",
            {"path": raw},
        ) from None
    return copied


def _read(fd: int, n: int, raw: str) -> bytes:
    try:
        return os.read(fd, n)
    except OSError as exc:  # e.g. EIO
        raise AudioError(
            "invalid_path", f"Path '{raw}' cannot be read: {exc.strerror or exc}.", {"path": raw}
        ) from None
