"""A song's lyrics sidecar (`songs/x.wav` -> `songs/x.txt`), read inside the data root only.

Read by content_analysis (ContentAnalysisOperator) and by the training feature extraction when a row has no
lyrics. A refused or unreadable sidecar is ServiceRejected: the input can never work, the task fails at once.
"""

from __future__ import annotations

from pathlib import Path

from contracts.content import MAX_LYRICS_CHARS
from hss_airflow.hooks.errors import ServiceRejected
from hss_airflow.storage import DataPathError, resolve_in_root


def read_sidecar_lyrics(song_path: str, data_root: Path) -> str | None:
    """Lyrics from `<song>.txt` next to the audio; None when there is no sidecar (an instrumental).

    `song_path` is relative to the data root (or absolute inside it). A sidecar that resolves outside
    the root (through '..', an absolute path or a symlink) is refused, as the services refuse such paths:
    this is where the task opens the sidecar, so this is where its path is checked.
    """
    try:
        sidecar_name = Path(song_path).with_suffix(".txt")
    except ValueError:
        raise ServiceRejected(f"song_path {song_path!r} names no file, so it has no lyrics sidecar") from None
    try:
        sidecar = resolve_in_root(str(sidecar_name), data_root, kind="lyrics sidecar")
    except DataPathError as exc:
        if exc.reason == DataPathError.MISSING:
            return None
        raise ServiceRejected(f"lyrics sidecar refused: {exc}") from None
    max_bytes = 4 * MAX_LYRICS_CHARS  # UTF-8 needs at most 4 bytes a character
    size = sidecar.stat().st_size
    if size > max_bytes:
        raise ServiceRejected(
            f"lyrics sidecar {str(sidecar_name)!r} is {size} bytes; lyrics are limited to {MAX_LYRICS_CHARS} characters"
        )
    try:
        return sidecar.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ServiceRejected(f"lyrics sidecar {str(sidecar_name)!r} is not UTF-8 text: {exc}") from None
    except OSError as exc:
        raise ServiceRejected(f"lyrics sidecar {str(sidecar_name)!r} cannot be read: {exc.strerror or exc}") from None
