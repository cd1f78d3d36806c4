"""fixtures/lyrics.py: the generator is reproducible and its knobs do what they say."""

from __future__ import annotations

import pytest

from fixtures.lyrics import NAMED_LYRICS, generate_lyrics, sidecar_path, write_sidecar
from services.content.lyrics import extract


def test_generator_is_deterministic_per_seed():
    assert generate_lyrics(7, mood="sad", hook_level=0.6) == generate_lyrics(7, mood="sad", hook_level=0.6)
    assert generate_lyrics(7) != generate_lyrics(8)


def test_hook_level_controls_repetition():
    hooks = [extract(generate_lyrics(3, hook_level=h, sections=8)).features["lyrics.hook_strength"] for h in (0, 1)]
    assert hooks[1] > hooks[0] + 0.3
    no_hook = extract(generate_lyrics(3, hook_level=0, sections=8)).features
    assert no_hook["lyrics.repeated_line_ratio"] == 0.0


def test_mood_controls_sentiment_sign():
    assert extract(generate_lyrics(1, mood="upbeat")).sentiment.compound > 0.05
    assert extract(generate_lyrics(1, mood="sad")).sentiment.compound < -0.05


def test_generator_rejects_out_of_range_knobs():
    with pytest.raises(ValueError):
        generate_lyrics(hook_level=1.5)
    with pytest.raises(ValueError):
        generate_lyrics(mood="angry")  # type: ignore[arg-type]


def test_named_lyrics_cover_the_documented_cases():
    assert set(NAMED_LYRICS) == {"upbeat_pop", "sad_ballad", "verse_only", "instrumental"}
    assert extract(NAMED_LYRICS["instrumental"]).instrumental


def test_write_sidecar_puts_song_txt_next_to_the_audio(tmp_path):
    song = tmp_path / "songs" / "demo song.mp3"
    song.parent.mkdir()
    song.write_bytes(b"ID3")
    path = write_sidecar(song, "Café\r\nline two\n")
    assert path == tmp_path / "songs" / "demo song.txt" == sidecar_path(song)
    assert path.read_bytes() == "Café\r\nline two\n".encode()
    assert sorted(p.name for p in path.parent.iterdir()) == ["demo song.mp3", "demo song.txt"]  # no temp left
