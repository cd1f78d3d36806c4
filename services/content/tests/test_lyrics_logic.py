"""services.content.lyrics without HTTP: features, sentiment, parsing edge cases."""

from __future__ import annotations

import socket

import pytest

from fixtures.lyrics import SAD_BALLAD, UPBEAT_POP, VERSE_ONLY
from services.content import lyrics
from services.content.lyrics import FEATURE_NAMES, LyricsTooLong, extract

REQUIRED = {
    "lyrics.word_count",
    "lyrics.line_count",
    "lyrics.section_count",
    "lyrics.unique_word_ratio",
    "lyrics.hook_strength",
    "lyrics.repeated_line_ratio",
    "lyrics.sentiment_compound",
    "lyrics.sentiment_positive",
    "lyrics.sentiment_negative",
    "lyrics.readability_flesch",
}


def test_feature_names_include_the_names_other_parts_rely_on():
    assert set(FEATURE_NAMES) >= REQUIRED
    assert all(name.startswith("lyrics.") for name in FEATURE_NAMES)
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)


def test_chorus_heavy_song_has_much_stronger_hook_than_verse_only_song():
    pop, verse = extract(UPBEAT_POP).features, extract(VERSE_ONLY).features
    assert pop["lyrics.hook_strength"] > verse["lyrics.hook_strength"] + 0.4
    assert pop["lyrics.repeated_line_ratio"] > verse["lyrics.repeated_line_ratio"] + 0.3
    assert pop["lyrics.max_line_repeats"] > verse["lyrics.max_line_repeats"]
    assert verse["lyrics.repeated_line_ratio"] == 0.0
    assert verse["lyrics.max_line_repeats"] == 1.0
    assert 0.0 <= verse["lyrics.hook_strength"] <= pop["lyrics.hook_strength"] <= 1.0


def test_upbeat_song_is_positive_and_sad_ballad_negative():
    pop, sad = extract(UPBEAT_POP), extract(SAD_BALLAD)
    assert pop.sentiment.compound >= 0.05 and pop.sentiment.label == "positive"
    assert sad.sentiment.compound <= -0.05 and sad.sentiment.label == "negative"
    assert pop.features["lyrics.sentiment_compound"] == pop.sentiment.compound
    assert pop.features["lyrics.sentiment_positive"] > sad.features["lyrics.sentiment_positive"]
    assert sad.features["lyrics.sentiment_negative"] > pop.features["lyrics.sentiment_negative"]


SMALL = "Hello world\nHello world\n\nGoodbye moon!\n\n\n[Chorus]\nHello, world\nSo long my friend\n"


def test_counts_are_exact_on_a_small_known_text():
    f = extract(SMALL).features
    assert f["lyrics.section_count"] == 3  # blank lines and the [Chorus] label separate sections
    assert f["lyrics.line_count"] == 5  # the label is not a lyric line
    assert f["lyrics.word_count"] == 12
    assert f["lyrics.unique_word_count"] == 8  # hello world goodbye moon so long my friend
    assert f["lyrics.unique_word_ratio"] == pytest.approx(8 / 12, abs=1e-6)
    assert f["lyrics.repeated_line_ratio"] == pytest.approx(3 / 5, abs=1e-6)  # punctuation ignored
    assert f["lyrics.max_line_repeats"] == 3
    # documented formula: 0.5 * 3/5 repeated lines + 0.3 * min(1, (3 - 1) / 3) + 0.2 * 0 repeated trigrams
    assert f["lyrics.hook_strength"] == pytest.approx(0.5, abs=1e-6)
    assert f["lyrics.words_per_line_mean"] == pytest.approx(12 / 5, abs=1e-6)
    assert f["lyrics.instrumental"] == 0


@pytest.mark.parametrize("text", ["", "   ", "\n\n \t\r\n", "[Instrumental]", "...\n!!!"])
def test_empty_or_wordless_lyrics_are_instrumental_with_the_same_key_set(text):
    result = extract(text)
    assert result.instrumental is True
    assert list(result.features) == list(extract(UPBEAT_POP).features) == list(FEATURE_NAMES)
    assert result.features["lyrics.word_count"] == result.features["lyrics.line_count"] == 0
    assert result.features["lyrics.section_count"] == result.features["lyrics.hook_strength"] == 0
    assert result.features["lyrics.instrumental"] == 1
    assert result.sentiment.label == "neutral" and result.sentiment.compound == 0


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_crlf_and_cr_line_endings_equal_lf(newline):
    lf = extract(UPBEAT_POP)
    other = extract(UPBEAT_POP.replace("\n", newline))
    assert other.features == lf.features
    assert other.sentiment == lf.sentiment


def test_unicode_and_stray_punctuation_are_handled():
    text = "\ufeffCafé crème, ça va?!\n— — —\nÜber naïve ☀️ love 💖 you\u2019re\n\n«Encore» l'amour…\n"
    f = extract(text).features
    assert f["lyrics.line_count"] == 3  # the dash-only line carries no words
    assert f["lyrics.section_count"] == 2
    assert f["lyrics.word_count"] == 10  # café crème ça va über naïve love you're encore l'amour
    assert f["lyrics.second_person_ratio"] == pytest.approx(1 / 10, abs=1e-6)  # curly apostrophe normalised


def test_more_lines_than_the_cap_is_refused_with_lyrics_too_long():
    with pytest.raises(LyricsTooLong) as info:
        extract("la la\n" * 11, max_lines=10)
    assert info.value.code == "lyrics_too_long" and info.value.status_code == 422
    assert info.value.details == {"lines": 11, "max_lines": 10}
    assert extract("la la\n" * 10, max_lines=10).features["lyrics.line_count"] == 10


def test_same_input_gives_the_same_features():
    assert extract(SAD_BALLAD) == extract(SAD_BALLAD)


@pytest.mark.parametrize(("word", "count"), [("the", 1), ("love", 1), ("table", 2), ("beautiful", 3), ("smile", 1)])
def test_syllable_heuristic(word, count):
    assert lyrics.syllables(word) == count


def test_rhymes_raise_rhyme_density_and_repeated_end_words_do_not():
    rhymed = "I walk in the night\nUnder the light\nI hold you tight\nUntil it is bright\n"
    unrhymed = "I walk in the night\nUnder the table\nI hold you close\nUntil it is morning\n"
    same_word = "I walk in the night\nI run in the night\nI talk in the night\nI fall in the night\n"
    assert extract(rhymed).features["lyrics.rhyme_density"] == 1.0
    assert extract(unrhymed).features["lyrics.rhyme_density"] == 0.0
    assert extract(same_word).features["lyrics.rhyme_density"] == 0.0


def test_length_robust_richness_ranks_diverse_text_above_repetitive_text():
    diverse, repetitive = extract(VERSE_ONLY).features, extract(UPBEAT_POP).features
    assert diverse["lyrics.mtld"] > repetitive["lyrics.mtld"]
    assert diverse["lyrics.mattr"] > repetitive["lyrics.mattr"]


def test_vader_analyzer_loads_and_scores_without_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    lyrics.analyzer.cache_clear()
    try:
        assert lyrics.analyzer().polarity_scores("I love this happy song")["compound"] > 0
        assert extract(SAD_BALLAD).sentiment.label == "negative"
    finally:
        lyrics.analyzer.cache_clear()


def test_analyzer_is_built_once_per_process():
    assert lyrics.analyzer() is lyrics.analyzer()
