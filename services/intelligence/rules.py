"""Rule-based insights: turn the audio, lyrics and prediction responses into a summary and advice.

Every sentence quotes the song's own values. Each rule is a small function that returns strengths
and/or recommendations; the result is ordered high -> medium -> low priority (rule order breaks
ties), so the same input always gives the same output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from contracts.insights import InsightsRequest, InsightsResponse, Recommendation
from services.common.errors import Unprocessable

# Loudness (integrated, LUFS)
STREAMING_TARGET_LUFS = -14.0  # Spotify, YouTube and Tidal normalise playback to about -14 LUFS
LOUDNESS_TOLERANCE_DB = 2.0  # within +-2 dB normalisation barely changes the master
QUIET_HIGH_PRIORITY_DB = 6.0  # >6 dB under target: sounds weak beside mastered tracks (not all platforms lift it)
LOUD_MEDIUM_PRIORITY_DB = 4.0  # >4 dB over target: platforms turn it down, the crushed dynamics remain
# Tempo (BPM)
POP_TEMPO_LOW = 95.0  # most chart pop of the last decade sits between ~95 and ~130 BPM
POP_TEMPO_HIGH = 130.0
SLOW_TEMPO = 75.0  # below this the song reads as a ballad (or the detector halved the tempo)
FAST_TEMPO = 160.0  # above this the detector may have doubled the tempo, or it is genre-specific
# Key
WEAK_KEY_STRENGTH = 0.5  # Essentia key strength below ~0.5: the tonal centre is ambiguous
# Danceability (Essentia DFA, 0..~3)
LOW_DANCEABILITY = 1.0  # below ~1.0 the groove is irregular for dance/streaming playlists
HIGH_DANCEABILITY = 1.3  # above ~1.3 a steady, danceable pulse
# Duration (seconds)
LONG_SONG_S = 240.0  # streaming-era hits average ~3:00-3:30; past 4:00 skips rise
SHORT_SONG_S = 120.0  # under 2:00 feels like a sketch outside of short-form formats
# Lyrics (features of workflow-content)
WEAK_HOOK = 0.3  # hook_strength below: barely any line returns, no chorus to remember
STRONG_HOOK = 0.6  # hook_strength above: a chorus that comes back with its title line
NEUTRAL_SENTIMENT = 0.05  # |compound| below: VADER's own neutral band, the lyric states no emotion
STRONG_SENTIMENT = 0.5  # |compound| above: a clear emotional colour
HARD_READABILITY = 60.0  # Flesch below: wording harder to sing along to (pop lyrics usually score 80+)
FEW_SECTIONS = 3  # fewer sections: no verse/chorus contrast
# Prediction
LOW_HIT_PROBABILITY = 0.35  # below: the model sees the song as unlikely to chart
HIGH_HIT_PROBABILITY = 0.65  # above: the model sees hit potential
TOP_EXPLANATIONS = 3  # how many model explanations the summary names

_PRIORITY_ORDER = {"high": 0, "medium": 1, "low": 2}


class SongIdMismatch(Unprocessable):
    code = "song_id_mismatch"


@dataclass
class Findings:
    strengths: list[str] = field(default_factory=list)
    recommendations: list[Recommendation] = field(default_factory=list)

    def advise(self, area: str, priority: str, message: str) -> None:
        self.recommendations.append(Recommendation(area=area, priority=priority, message=message))


def fmt_bpm(bpm: float) -> str:
    return f"{bpm:.1f} BPM"


def fmt_key(key: str, scale: str) -> str:
    return f"{key} {scale}".strip()


def fmt_lufs(lufs: float) -> str:
    return f"{lufs:.1f} LUFS"


def fmt_target() -> str:
    return f"{STREAMING_TARGET_LUFS:g} LUFS"


def fmt_probability(p: float) -> str:
    return f"{p * 100:.1f}%"


def fmt_points(contribution: float) -> str:
    return f"{contribution * 100:+.1f} pts"


def fmt_duration(seconds: float) -> str:
    total = round(seconds)
    return f"{total // 60}:{total % 60:02d}"


def check_song_ids(req: InsightsRequest) -> None:
    nested = {"audio": req.audio.song_id, "content": req.content.song_id, "prediction": req.prediction.song_id}
    wrong = {part: sid for part, sid in nested.items() if sid != req.song_id}
    if wrong:
        parts = ", ".join(f"{part}.song_id={sid!r}" for part, sid in wrong.items())
        raise SongIdMismatch(
            f"song_id {req.song_id!r} does not match {parts}: the responses belong to another song.",
            details={"song_id": req.song_id, "mismatched": wrong},
        )


def _loudness(req: InsightsRequest, f: Findings) -> None:
    lufs = req.audio.highlights.loudness
    gap = lufs - STREAMING_TARGET_LUFS
    target = fmt_target()
    if abs(gap) <= LOUDNESS_TOLERANCE_DB:
        f.strengths.append(
            f"Loudness {fmt_lufs(lufs)} is within {LOUDNESS_TOLERANCE_DB:.0f} dB of the {target} target."
        )
    elif gap < 0:
        priority = "high" if -gap > QUIET_HIGH_PRIORITY_DB else "medium"
        f.advise(
            "loudness",
            priority,
            f"Loudness is {fmt_lufs(lufs)}, {-gap:.1f} dB below the {target} streaming target: master louder "
            f"(bus compression and a limiter aiming at about {target} integrated, true peak under -1 dBTP) so the "
            "song does not sound weak next to other tracks in a playlist.",
        )
    else:
        priority = "medium" if gap > LOUD_MEDIUM_PRIORITY_DB else "low"
        f.advise(
            "loudness",
            priority,
            f"Loudness is {fmt_lufs(lufs)}, {gap:.1f} dB above the {target} streaming target: platforms will turn it "
            f"down by about {gap:.0f} dB, so the extra limiting only costs punch. Back off the limiter and keep "
            "the transients.",
        )


def _tempo(req: InsightsRequest, f: Findings) -> None:
    bpm = req.audio.highlights.tempo_bpm
    if bpm <= 0:
        f.advise("tempo", "medium", "No steady beat was detected (tempo 0 BPM): add a clear rhythmic pulse.")
    elif POP_TEMPO_LOW <= bpm <= POP_TEMPO_HIGH:
        f.strengths.append(
            f"Tempo {fmt_bpm(bpm)} sits in the {POP_TEMPO_LOW:.0f}-{POP_TEMPO_HIGH:.0f} BPM band of most chart pop."
        )
    elif bpm < SLOW_TEMPO:
        f.advise(
            "tempo",
            "low",
            f"Tempo is {fmt_bpm(bpm)}: ballad territory. For playlists aim at {POP_TEMPO_LOW:.0f}-"
            f"{POP_TEMPO_HIGH:.0f} BPM or add a double-time feel (hi-hats at {fmt_bpm(bpm * 2)}).",
        )
    elif bpm > FAST_TEMPO:
        f.advise(
            "tempo",
            "low",
            f"Tempo reads {fmt_bpm(bpm)}: check it is not a half-time song ({fmt_bpm(bpm / 2)}); if it really is "
            "this fast, make sure the vocal phrasing stays singable.",
        )
    else:
        f.advise(
            "tempo",
            "low",
            f"Tempo is {fmt_bpm(bpm)}, outside the {POP_TEMPO_LOW:.0f}-{POP_TEMPO_HIGH:.0f} BPM pop band: "
            "fine for the genre, but test a version nudged toward it.",
        )


def _key(req: InsightsRequest, f: Findings) -> None:
    h = req.audio.highlights
    key = fmt_key(h.key, h.scale)
    if h.key_strength < WEAK_KEY_STRENGTH:
        f.advise(
            "key",
            "low",
            f"Key reads as {key} with strength {h.key_strength:.2f} only: the tonal centre is ambiguous. Let the "
            "bass land on the tonic and resolve the chorus progression to it.",
        )
    else:
        f.strengths.append(f"Clear tonal centre: {key} (key strength {h.key_strength:.2f}).")


def _danceability(req: InsightsRequest, f: Findings) -> None:
    d = req.audio.highlights.danceability
    if d < LOW_DANCEABILITY:
        f.advise(
            "danceability",
            "medium",
            f"Danceability is {d:.2f} (below {LOW_DANCEABILITY:.1f}): tighten the groove with a steadier kick, "
            "quantised drums and stronger downbeats.",
        )
    elif d >= HIGH_DANCEABILITY:
        f.strengths.append(f"Danceability {d:.2f} shows a steady, danceable pulse.")


def _duration(req: InsightsRequest, f: Findings) -> None:
    s = req.audio.highlights.duration_s
    if s > LONG_SONG_S:
        f.advise(
            "structure",
            "medium",
            f"The song runs {fmt_duration(s)}: past {fmt_duration(LONG_SONG_S)} listeners skip more. Shorten the "
            "intro and cut a repeated section to land near 3:00-3:30.",
        )
    elif 0 < s < SHORT_SONG_S:
        f.advise(
            "structure",
            "low",
            f"The song runs {fmt_duration(s)}: add a second chorus or a bridge to reach about 2:30-3:00.",
        )


def _lyrics(req: InsightsRequest, f: Findings) -> None:
    if req.content.instrumental:
        f.advise(
            "hook",
            "medium",
            "Instrumental: the hook has to be melodic. Give the lead a 2-4 bar motif and bring it back at least "
            "three times, identical each time, so it sticks without words.",
        )
        return
    feats, s = req.content.features, req.content.sentiment
    hook = feats.get("lyrics.hook_strength", 0.0)
    repeated = feats.get("lyrics.repeated_line_ratio", 0.0)
    if hook < WEAK_HOOK:
        f.advise(
            "hook",
            "high",
            f"Hook strength is {hook:.2f} and only {repeated * 100:.0f}% of lines repeat: write a chorus around "
            "one title line and bring it back 3-4 times, repeating the title inside the chorus.",
        )
    elif hook >= STRONG_HOOK:
        f.strengths.append(f"Strong hook: hook strength {hook:.2f}, {repeated * 100:.0f}% of lines repeat.")
    compound = s.compound
    if abs(compound) < NEUTRAL_SENTIMENT:
        f.advise(
            "lyrics",
            "medium",
            f"The lyric sentiment is neutral (compound {compound:+.2f}): sharpen the emotional stakes; name a "
            "feeling in the chorus instead of describing scenes.",
        )
    elif abs(compound) >= STRONG_SENTIMENT:
        f.strengths.append(f"Clear emotional colour: {s.label} lyrics (compound {compound:+.2f}).")
    bpm, scale = req.audio.highlights.tempo_bpm, req.audio.highlights.scale.lower()
    if compound <= -NEUTRAL_SENTIMENT and scale == "major" and bpm >= POP_TEMPO_LOW:
        f.advise(
            "lyrics",
            "low",
            f"Sad words over a bright track: {s.label} lyrics (compound {compound:+.2f}) on {fmt_bpm(bpm)} "
            "in a major key. Make the contrast deliberate (it can work) or let the production follow the lyric.",
        )
    flesch = feats.get("lyrics.readability_flesch")
    if flesch is not None and flesch < HARD_READABILITY:
        f.advise(
            "lyrics",
            "low",
            f"Readability (Flesch) is {flesch:.0f}: shorter, plainer words in the chorus make it easier to sing "
            "along (pop lyrics usually score 80+).",
        )
    sections = feats.get("lyrics.section_count", 0.0)
    if 0 < sections < FEW_SECTIONS:
        f.advise(
            "structure",
            "medium",
            f"The lyric has {sections:.0f} section(s): separate verse, chorus and bridge so the song has contrast.",
        )


def _prediction(req: InsightsRequest, f: Findings) -> None:
    p = req.prediction
    prob = fmt_probability(p.hit_probability)
    negative = [e for e in p.explanations if e.contribution < 0][:TOP_EXPLANATIONS]
    if p.hit_probability < LOW_HIT_PROBABILITY:
        drag = (
            "; it is held back most by " + ", ".join(f"{e.feature} ({fmt_points(e.contribution)})" for e in negative)
            if negative
            else ""
        )
        f.advise(
            "overall",
            "high",
            f"Hit probability is {prob} (model {p.model_version}){drag}. Work through the high-priority items first.",
        )
    elif p.hit_probability >= HIGH_HIT_PROBABILITY:
        f.strengths.append(f"The model ({p.model_version}) rates the hit probability at {prob}.")
    if p.baseline:
        f.advise(
            "overall",
            "low",
            f"The probability comes from the built-in baseline ({p.model_version}): train a model with the "
            "ml_training_smart_ensemble DAG for a calibrated estimate.",
        )


RULES: tuple[Callable[[InsightsRequest, Findings], None], ...] = (
    _loudness,
    _tempo,
    _key,
    _danceability,
    _duration,
    _lyrics,
    _prediction,
)


def summarize(req: InsightsRequest) -> str:
    h, p, c = req.audio.highlights, req.prediction, req.content
    first = (
        f"{req.song_id} runs {fmt_duration(h.duration_s)} at {fmt_bpm(h.tempo_bpm)} in {fmt_key(h.key, h.scale)}, "
        f"{fmt_lufs(h.loudness)} integrated ({h.loudness - STREAMING_TARGET_LUFS:+.1f} dB vs the "
        f"{fmt_target()} streaming target), danceability {h.danceability:.2f}."
    )
    if c.instrumental:
        second = "It is instrumental (no lyrics)."
    else:
        hook = c.features.get("lyrics.hook_strength", 0.0)
        second = (
            f"The lyrics are {c.sentiment.label} (compound {c.sentiment.compound:+.2f}) with hook strength {hook:.2f}."
        )
    third = f"Model {p.model_version} gives a hit probability of {fmt_probability(p.hit_probability)}"
    top = p.explanations[:TOP_EXPLANATIONS]
    if top:
        third += "; top factors: " + ", ".join(f"{e.feature} ({fmt_points(e.contribution)})" for e in top)
    return f"{first} {second} {third}."


def generate_insights(req: InsightsRequest) -> InsightsResponse:
    """The insights for one song. Raises SongIdMismatch (422) when the parts belong to other songs."""
    check_song_ids(req)
    findings = Findings()
    for rule in RULES:
        rule(req, findings)
    if not findings.recommendations:
        h = req.audio.highlights
        findings.advise(
            "overall",
            "low",
            f"No rule flags a weakness ({fmt_bpm(h.tempo_bpm)}, {fmt_lufs(h.loudness)}, danceability "
            f"{h.danceability:.2f}): A/B the mix against two current reference tracks in the same key and tempo.",
        )
    ordered = sorted(findings.recommendations, key=lambda r: _PRIORITY_ORDER[r.priority])  # stable
    return InsightsResponse(
        song_id=req.song_id,
        summary=summarize(req),
        strengths=findings.strengths,
        recommendations=ordered,
        hit_probability=req.prediction.hit_probability,
        model_version=req.prediction.model_version,
    )
