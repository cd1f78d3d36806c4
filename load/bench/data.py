"""The inputs of the DAG benchmarks, synthesized into the bench stack's data root (nothing downloaded).

Songs come from `fixtures.audio.synth_song` (real audio: a kick pattern and chords, distinct tempo and
key per song), datasets from `fixtures.datasets.make_features_dataset` (a features CSV: no extraction)
and `fixtures.songs_dataset.make_raw_dataset` (songs + CSV: every row goes through workflow-audio and
workflow-content). A file that already exists is reused, so a rerun on the same state folder skips it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from contracts.data_layout import SONGS, TRAINING_DATA
from stack.demo import stderr_to

BPMS = (92, 100, 108, 116, 124, 132, 140, 148)
TONICS = ("C", "D", "E", "F", "G", "A")
SCALES = ("major", "minor")


# fd 2 to a file while audio is written (libav and Essentia print a line per file): the demo's helper.
quiet_stderr = stderr_to


def song_folder(root: Path, folder: str, count: int, seconds: float, seed: int = 0) -> list[str]:
    """`count` songs of `seconds` s in root/folder (song_000.wav, …); their paths relative to root."""
    from fixtures.audio import synth_song

    paths = []
    for i in range(count):
        rel = f"{folder}/song_{i:03d}.wav"
        if not (root / rel).exists():
            k = seed + i
            synth_song(
                root / rel,
                bpm=BPMS[k % len(BPMS)],
                tonic=TONICS[k % len(TONICS)],
                scale=SCALES[(k // len(TONICS)) % 2],
                seconds=seconds,
                seed=k,
            )
        paths.append(rel)
    return paths


def analysis_song_path(seconds: float) -> str:
    return f"{SONGS}/bench_song_{seconds:g}s.wav"


def analysis_song(root: Path, seconds: float) -> str:
    """One song with a lyrics sidecar (so content_analysis has real lyrics to analyse)."""
    from fixtures.audio import synth_song
    from fixtures.lyrics import UPBEAT_POP, write_sidecar

    rel = analysis_song_path(seconds)
    if not (root / rel).exists():
        song = synth_song(root / rel, bpm=124, tonic="A", scale="minor", seconds=seconds)
        write_sidecar(song, UPBEAT_POP)
    return rel


def features_dataset(root: Path, rows: int) -> str:
    """A features CSV of `rows` rows (12 named features + 6 noise columns, is_hit): training reads it as is."""
    from fixtures.datasets import make_features_dataset

    rel = f"{TRAINING_DATA}/bench_features_{rows}.csv"
    if not (root / rel).exists():
        make_features_dataset(root / rel, n_rows=rows, seed=7)
    return rel


def raw_dataset(root: Path, songs: int, seconds: float) -> str:
    """A raw CSV of `songs` synthesized songs with lyrics: every row needs audio and content extraction."""
    from fixtures.songs_dataset import make_raw_dataset

    name = f"bench_raw_{songs}"
    return str(make_raw_dataset(root, name, n_songs=songs, seconds=seconds, seed=5).relative_to(root))


def prepare(root: Path, jobs: list[tuple[str, Callable[[], object]]], progress: Callable[[str], None]) -> None:
    """Run the synthesis steps with one progress line each; Essentia's chatter goes to root/../bench-data.log."""
    import time

    with quiet_stderr(root.parent / "logs" / "bench-data.log"):
        for label, job in jobs:
            started = time.monotonic()
            job()
            progress(f"  {label} ready ({time.monotonic() - started:.1f} s)")
