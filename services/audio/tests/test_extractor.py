"""The audio logic without HTTP: naming rule, highlights, file checks, and Essentia run in-process."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from fixtures.audio import synth_samples, synth_song, write_samples, write_truncated
from services.audio.extractor import FIXED_VECTORS, analyze_file, conform, flatten_pool, highlights_of
from services.audio.files import AudioError, inspect_file
from services.audio.headers import sniff_format, truncation_problem

# --- naming rule (pure) ----------------------------------------------------------------------------


def _fake_pool(**overrides: object) -> dict[str, object]:
    pool: dict[str, object] = {name: np.arange(size, dtype=np.float32) for name, size in FIXED_VECTORS.items()}
    pool.update(
        {
            "rhythm.bpm": 121.5,
            "rhythm.beats_position": np.array([0.5, 1.0, 1.5], dtype=np.float32),  # variable length
            "lowlevel.mfcc.cov": np.ones((13, 13), dtype=np.float32),  # matrix
            "lowlevel.spectral_centroid.mean": float("nan"),
            "lowlevel.dissonance.max": float("inf"),
            "tonal.key_edma.key": "C",
            "metadata.tags.tracknumber": 3.0,  # tags are not audio
        }
    )
    pool.update(overrides)
    return pool


def test_flatten_keeps_scalars_and_indexes_fixed_vectors_only() -> None:
    features = flatten_pool(_fake_pool())
    expected_vector_keys = {f"{name}.{i}" for name, size in FIXED_VECTORS.items() for i in range(size)}
    assert set(features) == expected_vector_keys | {
        "rhythm.bpm",
        "lowlevel.spectral_centroid.mean",
        "lowlevel.dissonance.max",
    }
    assert features["rhythm.bpm"] == 121.5
    assert features["lowlevel.mfcc.mean.12"] == 12.0 and features["tonal.hpcp.mean.35"] == 35.0


def test_flatten_replaces_non_finite_values_with_zero() -> None:
    features = flatten_pool(_fake_pool())
    assert features["lowlevel.spectral_centroid.mean"] == 0.0 and features["lowlevel.dissonance.max"] == 0.0
    assert all(math.isfinite(v) for v in features.values())


def test_flatten_refuses_a_fixed_vector_of_another_length() -> None:
    with pytest.raises(RuntimeError, match=r"lowlevel\.mfcc\.mean has 12 values, expected 13"):
        flatten_pool(_fake_pool(**{"lowlevel.mfcc.mean": np.zeros(12, dtype=np.float32)}))


def test_conform_gives_exactly_the_reference_keys() -> None:
    features, missing = conform({"a": 1.0, "b": 2.0, "extra": 9.0}, ["b", "a", "c"])
    assert list(features) == ["b", "a", "c"] and features == {"b": 2.0, "a": 1.0, "c": 0.0}
    assert missing == ["c"]


def test_highlights_map_the_essentia_descriptors() -> None:
    pool = {
        "rhythm.bpm": 128.2,
        "tonal.key_edma.key": "F#",
        "tonal.key_edma.scale": "minor",
        "tonal.key_edma.strength": 0.81,
        "metadata.audio_properties.length": 30.5,
        "lowlevel.loudness_ebu128.integrated": float("-inf"),
        "rhythm.danceability": 1.25,
    }
    assert highlights_of(pool) == {
        "tempo_bpm": 128.2,
        "key": "F#",
        "scale": "minor",
        "key_strength": 0.81,
        "duration_s": 30.5,
        "loudness": -70.0,  # non-finite loudness falls back to EBU R128's absolute gate
        "danceability": 1.25,
    }


# --- file checks -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "wav"),
        (b"fLaC\x00\x00\x00\x22", "flac"),
        (b"OggS\x00\x02", "ogg"),
        (b"ID3\x04\x00", "mp3"),
        (b"\xff\xfb\x90\x00", "mp3"),
        (b"These are lyrics", None),
        (b"\x00\x01\x02\x03", None),
        (b"", None),
    ],
)
def test_sniff_format_reads_magic_bytes(head: bytes, expected: str | None) -> None:
    assert sniff_format(head) == expected


def test_inspect_file_checks_extension_size_and_content(tmp_path: Path) -> None:
    def code_of(path: Path, max_bytes: int = 10_000) -> str:
        with pytest.raises(AudioError) as info:
            inspect_file(path, path.name, max_bytes)
        return info.value.code

    (tmp_path / "a.aiff").write_bytes(b"FORM")
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.mp3").write_text("not audio at all")
    (tmp_path / "big.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVE" + bytes(20_000))
    assert code_of(tmp_path / "a.aiff") == "unsupported_format"
    assert code_of(tmp_path / "empty.wav") == "empty_file"
    assert code_of(tmp_path / "text.mp3") == "not_audio"
    assert code_of(tmp_path / "big.wav") == "file_too_large"
    assert inspect_file(tmp_path / "big.wav", "big.wav", 1_000_000).fmt == "wav"


@pytest.fixture(scope="module")
def short_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("short")
    samples = synth_samples(seconds=3.0, seed=2)
    return {fmt: write_samples(root / f"clip.{fmt}", samples) for fmt in ("wav", "mp3", "flac", "ogg")}


@pytest.mark.parametrize("fmt", ["wav", "mp3", "flac", "ogg"])
def test_truncation_is_detected_from_the_header(fmt: str, short_files: dict[str, Path], tmp_path: Path) -> None:
    complete = short_files[fmt]
    assert truncation_problem(complete, decoded_s=3.0) is None
    cut = write_truncated(complete, tmp_path / f"cut.{fmt}", keep_bytes=complete.stat().st_size // 2)
    problem = truncation_problem(cut, decoded_s=1.4)
    assert problem is not None
    assert ("end-of-stream" in problem) if fmt == "ogg" else ("declares 3.0" in problem)


# --- Essentia in-process ------------------------------------------------------------------------------


@pytest.mark.slow
def test_feature_key_set_is_the_same_for_different_songs(tmp_path: Path) -> None:
    import essentia.standard as es

    long_song = synth_song(tmp_path / "long.wav", seconds=30.0)
    other = synth_song(tmp_path / "other.mp3", seconds=4.0, bpm=90, tonic="A", scale="minor", brightness=0.9)
    first = flatten_pool(es.MusicExtractor()(str(long_song))[0])
    second = flatten_pool(es.MusicExtractor()(str(other))[0])
    assert set(first) == set(second)
    assert len(first) >= 600  # ~470 scalars + 179 vector entries
    assert first != second  # same keys, different music
    assert first["rhythm.bpm"] != second["rhythm.bpm"]


@pytest.mark.slow
def test_ogg_falls_back_to_a_temporary_wav_with_the_same_audio(short_files: dict[str, Path]) -> None:
    import essentia.standard as es

    with pytest.raises(RuntimeError, match="MetadataReader"):  # the reason for the fallback
        es.MusicExtractor()(str(short_files["ogg"]))
    via_wav = analyze_file(str(short_files["ogg"]), "clip.ogg", 1.0)["features"]
    direct = analyze_file(str(short_files["wav"]), "clip.wav", 1.0)["features"]
    assert set(via_wav) == set(direct)
    for key, value in direct.items():
        assert via_wav[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key


@pytest.mark.slow
def test_analyze_file_reports_short_and_silent_audio(tmp_path: Path) -> None:
    short = synth_song(tmp_path / "short.wav", seconds=0.5)
    silent = write_samples(tmp_path / "silent.wav", np.zeros(44100 * 3, dtype=np.float32))
    with pytest.raises(AudioError) as info:
        analyze_file(str(short), "short.wav", 1.0)
    assert info.value.code == "audio_too_short" and info.value.details["duration_s"] == pytest.approx(0.5)
    with pytest.raises(AudioError) as info:
        analyze_file(str(silent), "silent.wav", 1.0)
    assert info.value.code == "silent_audio"
