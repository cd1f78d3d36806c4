"""Stand-ins for analyze_file that the tests hand to the extractor pool: they run in the worker process,
change the song at a chosen moment (during the private copy, or after it, before Essentia reads), then run
the real analyze_file. Bind the first arguments with functools.partial; the rest are analyze_file's.
wait_for_file holds a worker busy until the test lets it go (the queue tests)."""

from __future__ import annotations

import os
import time
from typing import Any

from services.audio import extractor, files


def _change(how: str, path: str, replacement: str) -> None:
    if how == "rename_over":
        os.replace(replacement, path)
    elif how == "truncate":
        os.truncate(path, 4096)
    else:
        raise ValueError(how)


def change_during_copy(how: str, replacement: str, path: str, *args: Any) -> dict[str, Any]:
    """The song changes after its bytes were copied, before the copy is checked against the file."""
    real = files.copy_fd

    def copy_then_change(*copy_args: Any) -> int:
        copied = real(*copy_args)
        _change(how, path, replacement)
        return copied

    files.copy_fd = copy_then_change
    try:
        return extractor.analyze_file(path, *args)
    finally:
        files.copy_fd = real


def change_before_extraction(how: str, replacement: str, path: str, *args: Any) -> dict[str, Any]:
    """The song changes once the private copy is made, while Essentia starts on it."""
    real, changed = extractor._extract, []

    def change_then_extract(private: str) -> Any:
        if not changed:  # once: the Ogg fallback extracts a second time
            _change(how, path, replacement)
            changed.append(how)
        return real(private)

    extractor._extract = change_then_extract
    try:
        return extractor.analyze_file(path, *args)
    finally:
        extractor._extract = real


def wait_for_file(gate: str, within_s: float = 60.0) -> int:
    """Hold a worker until the file `gate` exists (the test creates it to let go); returns the worker's pid."""
    deadline = time.monotonic() + within_s
    while not os.path.exists(gate):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{gate} did not appear within {within_s} s")
        time.sleep(0.02)
    return os.getpid()
