"""services.intelligence.rules without HTTP: summary and advice quote the song's own values."""

from __future__ import annotations

import pytest

from services.intelligence.rules import SongIdMismatch, generate_insights

PRIORITY_RANK = {"high": 0, "medium": 1, "low": 2}


@pytest.mark.parametrize(
    ("tempo", "key", "scale", "probability", "expected"),
    [
        (118.4, "C", "major", 0.62, ("118.4 BPM", "C major", "62.0%")),
        (92.66, "F#", "minor", 0.081, ("92.7 BPM", "F# minor", "8.1%")),
    ],
)
def test_summary_quotes_this_songs_tempo_key_and_hit_probability(
    request_factory, tempo, key, scale, probability, expected
):
    req = request_factory(audio_tempo=tempo, audio_key=key, audio_scale=scale, prediction_probability=probability)
    out = generate_insights(req)
    for text in expected:
        assert text in out.summary
    assert "smart_ensemble_20250101" in out.summary
    assert "lyrics.hook_strength (+8.1 pts)" in out.summary  # the top explanation
    assert out.hit_probability == probability and out.model_version == "smart_ensemble_20250101"


def test_quiet_song_gets_a_high_priority_loudness_fix_quoting_its_level(request_factory):
    out = generate_insights(request_factory(audio_loudness=-25.0))
    loud = [r for r in out.recommendations if r.area == "loudness"]
    assert len(loud) == 1
    assert loud[0].priority == "high"
    assert "-25.0 LUFS" in loud[0].message and "11.0 dB below" in loud[0].message
    assert "master louder" in loud[0].message
    assert out.recommendations[0].priority == "high"


def test_loud_song_is_not_told_to_master_louder(request_factory):
    out = generate_insights(request_factory(audio_loudness=-8.0))
    assert not any("master louder" in r.message.lower() for r in out.recommendations)
    loud = [r for r in out.recommendations if r.area == "loudness"]
    assert len(loud) == 1 and "-8.0 LUFS" in loud[0].message and "6.0 dB above" in loud[0].message


def test_song_near_the_streaming_target_has_no_loudness_advice_but_a_strength(request_factory):
    out = generate_insights(request_factory(audio_loudness=-14.6))
    assert not [r for r in out.recommendations if r.area == "loudness"]
    assert any("-14.6 LUFS" in s for s in out.strengths)


def test_instrumental_song_gets_no_lyric_sentiment_advice(request_factory):
    out = generate_insights(request_factory(content_instrumental=True))
    assert not [r for r in out.recommendations if r.area == "lyrics"]
    for text in [r.message for r in out.recommendations] + out.strengths:
        assert "sentiment" not in text.lower() and "compound" not in text.lower()
    assert "instrumental" in out.summary.lower()
    assert any(r.area == "hook" and "melodic" in r.message for r in out.recommendations)


def test_neutral_lyrics_get_sentiment_advice_quoting_the_compound(request_factory):
    out = generate_insights(request_factory(content_compound=0.02))
    advice = [r for r in out.recommendations if r.area == "lyrics" and "neutral" in r.message]
    assert len(advice) == 1 and "+0.02" in advice[0].message


def test_weak_hook_is_high_priority_and_quotes_the_hook_strength(request_factory):
    out = generate_insights(request_factory(content_hook=0.12))
    hook = [r for r in out.recommendations if r.area == "hook"]
    assert len(hook) == 1 and hook[0].priority == "high" and "0.12" in hook[0].message


def test_low_hit_probability_names_the_model_and_the_features_holding_it_back(request_factory):
    out = generate_insights(request_factory(prediction_probability=0.2, prediction_model_version="m_v7"))
    overall = [r for r in out.recommendations if r.area == "overall"]
    assert overall[0].priority == "high"
    assert "20.0%" in overall[0].message and "m_v7" in overall[0].message
    assert "lowlevel.loudness_ebu128.integrated (-4.3 pts)" in overall[0].message


def test_baseline_model_is_flagged(request_factory):
    out = generate_insights(request_factory(prediction_baseline=True, prediction_model_version="baseline-v1"))
    assert any(r.area == "overall" and "baseline-v1" in r.message for r in out.recommendations)


def test_recommendations_are_ordered_high_to_low(request_factory):
    req = request_factory(
        audio_loudness=-25.0, audio_danceability=0.7, audio_duration=300.0, audio_key_strength=0.3, content_hook=0.1
    )
    out = generate_insights(req)
    ranks = [PRIORITY_RANK[r.priority] for r in out.recommendations]
    assert len(set(ranks)) == 3
    assert ranks == sorted(ranks)
    assert any("5:00" in r.message for r in out.recommendations)
    assert any("0.70" in r.message for r in out.recommendations if r.area == "danceability")


def test_same_input_gives_the_same_output(request_factory):
    req = request_factory(audio_loudness=-21.3, content_compound=-0.61)
    assert generate_insights(req).model_dump() == generate_insights(req.model_copy(deep=True)).model_dump()


@pytest.mark.parametrize("part", ["audio", "content", "prediction"])
def test_nested_song_id_mismatch_is_refused(request_factory, part):
    req = request_factory("song_a")
    other = request_factory("song_b")
    req = req.model_copy(update={part: getattr(other, part)})
    with pytest.raises(SongIdMismatch) as info:
        generate_insights(req)
    assert info.value.code == "song_id_mismatch" and info.value.status_code == 422
    assert info.value.details["mismatched"] == {part: "song_b"}


def test_a_song_no_rule_flags_still_gets_one_low_priority_action(request_factory):
    out = generate_insights(request_factory(audio_loudness=-14.2, content_compound=0.7))
    assert [(r.area, r.priority) for r in out.recommendations] == [("overall", "low")]
    assert "-14.2 LUFS" in out.recommendations[0].message


def test_moderately_quiet_song_gets_medium_priority_against_the_minus_14_target(request_factory):
    out = generate_insights(request_factory(audio_loudness=-18.5))
    loud = [r for r in out.recommendations if r.area == "loudness"]
    assert loud[0].priority == "medium"
    assert "-18.5 LUFS, 4.5 dB below the -14 LUFS streaming target" in loud[0].message
