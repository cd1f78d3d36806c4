"""Lyrics analysis without network: VADER sentiment plus cheap, documented lexical features.

Parsing
- Unicode is NFKC-normalised; a leading BOM is dropped; CRLF, CR and LF all end a line.
- A line is a line with text; blank lines separate sections. A line that is only a bracketed
  label ("[Chorus]", "[Verse 2]") is not lyric text: it starts a new section and is not counted.
- Words are runs of letters/digits (any script), contractions kept ("i'm", "don't"), casefolded.
- No words at all (empty, whitespace, only labels or punctuation) = instrumental: every count is
  0, sentiment neutral, `lyrics.instrumental` = 1. The feature key set is always FEATURE_NAMES.

Features (all prefixed `lyrics.`)
- word_count, unique_word_count, line_count, section_count, char_count (characters of lyric lines)
- unique_word_ratio: type-token ratio (unique / total words); falls as songs get longer.
- mtld: Measure of Textual Lexical Diversity (McCarthy & Jarvis 2010, threshold 0.72, mean of a
  forward and a backward pass); length-robust. Capped at word_count when no factor completes.
- mattr: moving-average TTR over a 50-word window (plain TTR for shorter texts).
- repeated_line_ratio: share of lines whose normalised words occur on another line too (chorus).
- unique_line_ratio: distinct lines / lines.  max_line_repeats: occurrences of the most repeated line.
- repeated_section_ratio: share of sections whose normalised text occurs as another section too.
- repeated_trigram_ratio: share of word trigrams (within lines) that occur more than once.
- hook_strength (0..1) = 0.5 * repeated_line_ratio
                       + 0.3 * min(1, (max_line_repeats - 1) / 3)   # a line sung 4+ times is a full hook
                       + 0.2 * repeated_trigram_ratio                # phrase-level echoes ("oh oh oh")
  0 for through-composed lyrics, about 0.7+ for a chorus that returns three times with its title line
  repeated inside it.
- words_per_line_mean / _std, lines_per_section_mean, avg_word_length (characters).
- syllables_per_word and readability_flesch: Flesch reading ease
  206.835 - 1.015 * words/sentences - 84.6 * syllables/words, with each lyric line as a sentence
  (lyrics rarely carry sentence punctuation). Syllables = groups of vowels (a e i o u y, accents
  stripped), minus a silent final 'e' (not '-le' after a consonant), at least 1 per word.
- rhyme_density: share of lines (after the first of a section) whose last word rhymes with the last
  word of one of the two previous lines of the section (AABB and ABAB). Rhyme = same ending from the
  last vowel letter on (silent final 'e' handled: fire/desire, night/light, love/above); identical
  words do not count, so repetition is not mistaken for rhyme.
- first_person_ratio / second_person_ratio: share of words that are I/me/my/we/us/... or you/your/...
- sentiment_compound / _positive / _negative / _neutral: VADER scores of each lyric line (repeats
  included, as they are sung), averaged. Averaging per line avoids the saturation of one VADER call
  over a whole song (which tends to +-0.99). sentiment_compound_std: spread of the line compounds.
  positive_line_ratio / negative_line_ratio: share of lines with compound >= 0.05 / <= -0.05.
"""

from __future__ import annotations

import re
import statistics
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from contracts.content import LyricsAnalysisResponse, Sentiment
from services.common.errors import Unprocessable

MAX_LYRICS_LINES = 2_000  # more lines than any song; beyond it the text is not lyrics (and costs CPU)
LABEL_THRESHOLD = 0.05  # VADER's own convention for positive / negative compound
MTLD_THRESHOLD = 0.72  # McCarthy & Jarvis' factor size
MATTR_WINDOW = 50  # words; the window Covington & McFall recommend for short texts
HOOK_REPEAT_SATURATION = 3  # extra occurrences of a line that make a full-strength hook

FEATURE_NAMES: tuple[str, ...] = tuple(
    f"lyrics.{name}"
    for name in (
        "instrumental",
        "word_count",
        "unique_word_count",
        "line_count",
        "section_count",
        "char_count",
        "unique_word_ratio",
        "mtld",
        "mattr",
        "repeated_line_ratio",
        "unique_line_ratio",
        "max_line_repeats",
        "repeated_section_ratio",
        "repeated_trigram_ratio",
        "hook_strength",
        "words_per_line_mean",
        "words_per_line_std",
        "lines_per_section_mean",
        "avg_word_length",
        "syllables_per_word",
        "readability_flesch",
        "rhyme_density",
        "first_person_ratio",
        "second_person_ratio",
        "sentiment_compound",
        "sentiment_positive",
        "sentiment_negative",
        "sentiment_neutral",
        "sentiment_compound_std",
        "positive_line_ratio",
        "negative_line_ratio",
    )
)

_WORD_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_LABEL_RE = re.compile(r"^\s*\[[^\]]*\]\s*$")
_VOWELS = frozenset("aeiouy")
_FIRST_PERSON = frozenset(
    {"i", "me", "my", "mine", "myself", "we", "us", "our", "ours", "ourselves"}
    | {"i'm", "i'll", "i've", "i'd", "we're", "we'll", "we've", "we'd"}
)
_SECOND_PERSON = frozenset(
    ("you", "your", "yours", "yourself", "yourselves", "you're", "you'll", "you've", "you'd", "ya", "y'all")
)


class LyricsTooLong(Unprocessable):
    code = "lyrics_too_long"


@lru_cache(maxsize=1)
def analyzer() -> SentimentIntensityAnalyzer:
    """One VADER analyzer per process: it reads its lexicon from the installed package, no network."""
    return SentimentIntensityAnalyzer()


@dataclass(frozen=True)
class LyricsAnalysis:
    instrumental: bool
    features: dict[str, float]
    sentiment: Sentiment


def parse_sections(text: str) -> list[list[str]]:
    """Sections (lists of lyric lines, stripped) of `text`; labels and blank lines separate them."""
    text = unicodedata.normalize("NFKC", text).lstrip("\ufeff")
    sections: list[list[str]] = []
    current: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or _LABEL_RE.match(line):
            if current:
                sections.append(current)
            current = []
        else:
            current.append(line)
    if current:
        sections.append(current)
    return sections


def words_of(line: str) -> list[str]:
    return _WORD_RE.findall(line.casefold().replace("\u2019", "'").replace("`", "'"))


def _ascii_letters(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if "a" <= ch <= "z")


def syllables(word: str) -> int:
    w = _ascii_letters(word)
    if not w:
        return 1
    groups = 0
    previous_vowel = False
    for ch in w:
        is_vowel = ch in _VOWELS
        if is_vowel and not previous_vowel:
            groups += 1
        previous_vowel = is_vowel
    if w.endswith("e") and not w.endswith("le") and len(w) > 2 and w[-2] not in _VOWELS:
        groups -= 1
    elif w.endswith("le") and len(w) > 2 and w[-3] in _VOWELS:
        groups -= 1  # "while", "smile": the 'e' is silent here too
    return max(1, groups)


def rhyme_key(word: str) -> str:
    w = _ascii_letters(word.replace("'", ""))
    if not w:
        return ""
    stem = w[:-1] if len(w) > 2 and w.endswith("e") and w[-2] not in _VOWELS else w
    for i in range(len(stem) - 1, -1, -1):
        if stem[i] in _VOWELS:
            return w[i:]
    return w


def _mtld_pass(tokens: list[str]) -> float:
    factors = 0.0
    types: set[str] = set()
    count = 0
    for token in tokens:
        types.add(token)
        count += 1
        if len(types) / count <= MTLD_THRESHOLD:
            factors += 1
            types.clear()
            count = 0
    if count:
        factors += (1 - len(types) / count) / (1 - MTLD_THRESHOLD)
    return len(tokens) / factors if factors > 0 else float(len(tokens))


def mtld(tokens: list[str]) -> float:
    if not tokens:
        return 0.0
    return (_mtld_pass(tokens) + _mtld_pass(tokens[::-1])) / 2


def mattr(tokens: list[str], window: int = MATTR_WINDOW) -> float:
    if not tokens:
        return 0.0
    if len(tokens) <= window:
        return len(set(tokens)) / len(tokens)
    counts = Counter(tokens[:window])
    total = len(counts) / window
    for i in range(window, len(tokens)):
        out, new = tokens[i - window], tokens[i]
        counts[out] -= 1
        if counts[out] == 0:
            del counts[out]
        counts[new] += 1
        total += len(counts) / window
    return total / (len(tokens) - window + 1)


def _rhyme_density(sections: list[list[list[str]]]) -> float:
    candidates = rhymes = 0
    for section in sections:
        ends = [words[-1] for words in section if words]
        for i in range(1, len(ends)):
            candidates += 1
            key = rhyme_key(ends[i])
            for j in (i - 1, i - 2):
                if j >= 0 and ends[j] != ends[i] and key and rhyme_key(ends[j]) == key:
                    rhymes += 1
                    break
    return rhymes / candidates if candidates else 0.0


def _sentiment(lines: list[str]) -> tuple[Sentiment, dict[str, float]]:
    vader = analyzer()
    unique = {line: vader.polarity_scores(line) for line in dict.fromkeys(lines)}  # a chorus is scored once
    scores = [unique[line] for line in lines]
    compounds = [s["compound"] for s in scores]
    n = len(scores)
    compound = _clip(sum(compounds) / n, -1.0, 1.0)
    sentiment = Sentiment(
        compound=round(compound, 6),
        positive=round(_clip(sum(s["pos"] for s in scores) / n, 0.0, 1.0), 6),
        negative=round(_clip(sum(s["neg"] for s in scores) / n, 0.0, 1.0), 6),
        neutral=round(_clip(sum(s["neu"] for s in scores) / n, 0.0, 1.0), 6),
        label=label_for(compound),
    )
    extra = {
        "sentiment_compound_std": statistics.pstdev(compounds),
        "positive_line_ratio": sum(c >= LABEL_THRESHOLD for c in compounds) / n,
        "negative_line_ratio": sum(c <= -LABEL_THRESHOLD for c in compounds) / n,
    }
    return sentiment, extra


def label_for(compound: float) -> str:
    if compound >= LABEL_THRESHOLD:
        return "positive"
    if compound <= -LABEL_THRESHOLD:
        return "negative"
    return "neutral"


def _clip(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


NEUTRAL_SENTIMENT = Sentiment(compound=0.0, positive=0.0, negative=0.0, neutral=1.0, label="neutral")


def instrumental_analysis() -> LyricsAnalysis:
    features = dict.fromkeys(FEATURE_NAMES, 0.0)
    features["lyrics.instrumental"] = 1.0
    features["lyrics.sentiment_neutral"] = 1.0
    return LyricsAnalysis(instrumental=True, features=features, sentiment=NEUTRAL_SENTIMENT)


def extract(text: str, *, max_lines: int = MAX_LYRICS_LINES) -> LyricsAnalysis:
    """All lyric features of `text` (see the module docstring). Raises LyricsTooLong (422)."""
    sections = parse_sections(text)
    line_total = sum(len(s) for s in sections)
    if line_total > max_lines:
        raise LyricsTooLong(
            f"Lyrics have {line_total} lines; at most {max_lines} are accepted.",
            details={"lines": line_total, "max_lines": max_lines},
        )
    # Lines without any word ("...", "—") are punctuation, not lyrics: dropped from every measure.
    parsed = [[(line, words) for line in section if (words := words_of(line))] for section in sections]
    parsed = [section for section in parsed if section]
    if not parsed:
        return instrumental_analysis()
    lines = [line for section in parsed for line, _ in section]
    worded_sections = [[words for _, words in section] for section in parsed]
    line_words = [words for section in worded_sections for words in section]
    tokens = [w for words in line_words for w in words]
    n_words, n_lines, n_sections = len(tokens), len(line_words), len(worded_sections)

    line_keys = [" ".join(words) for words in line_words]
    line_counts = Counter(line_keys)
    section_keys = ["\n".join(" ".join(words) for words in section) for section in worded_sections]
    section_counts = Counter(section_keys)
    trigrams = [tuple(words[i : i + 3]) for words in line_words for i in range(len(words) - 2)]
    trigram_counts = Counter(trigrams)

    repeated_line_ratio = sum(line_counts[k] > 1 for k in line_keys) / n_lines
    max_repeats = max(line_counts.values())
    repeated_trigram_ratio = sum(trigram_counts[t] > 1 for t in trigrams) / len(trigrams) if trigrams else 0.0
    hook = (
        0.5 * repeated_line_ratio
        + 0.3 * min(1.0, (max_repeats - 1) / HOOK_REPEAT_SATURATION)
        + 0.2 * repeated_trigram_ratio
    )
    syllable_total = sum(syllables(w) for w in tokens)
    per_line = [len(words) for words in line_words]
    flesch = 206.835 - 1.015 * (n_words / n_lines) - 84.6 * (syllable_total / n_words)
    sentiment, sentiment_extra = _sentiment(lines)

    values: dict[str, float] = {
        "instrumental": 0.0,
        "word_count": n_words,
        "unique_word_count": len(set(tokens)),
        "line_count": n_lines,
        "section_count": n_sections,
        "char_count": sum(len(line) for line in lines),
        "unique_word_ratio": len(set(tokens)) / n_words,
        "mtld": mtld(tokens),
        "mattr": mattr(tokens),
        "repeated_line_ratio": repeated_line_ratio,
        "unique_line_ratio": len(line_counts) / n_lines,
        "max_line_repeats": max_repeats,
        "repeated_section_ratio": sum(section_counts[k] > 1 for k in section_keys) / n_sections,
        "repeated_trigram_ratio": repeated_trigram_ratio,
        "hook_strength": _clip(hook, 0.0, 1.0),
        "words_per_line_mean": n_words / n_lines,
        "words_per_line_std": statistics.pstdev(per_line),
        "lines_per_section_mean": n_lines / n_sections,
        "avg_word_length": sum(len(w.replace("'", "")) for w in tokens) / n_words,
        "syllables_per_word": syllable_total / n_words,
        "readability_flesch": flesch,
        "rhyme_density": _rhyme_density(worded_sections),
        "first_person_ratio": sum(w in _FIRST_PERSON for w in tokens) / n_words,
        "second_person_ratio": sum(w in _SECOND_PERSON for w in tokens) / n_words,
        "sentiment_compound": sentiment.compound,
        "sentiment_positive": sentiment.positive,
        "sentiment_negative": sentiment.negative,
        "sentiment_neutral": sentiment.neutral,
        **sentiment_extra,
    }
    features = {name: round(float(values[name.removeprefix("lyrics.")]), 6) for name in FEATURE_NAMES}
    return LyricsAnalysis(instrumental=False, features=features, sentiment=sentiment)


def analyze_lyrics(song_id: str, lyrics: str, *, max_lines: int = MAX_LYRICS_LINES) -> LyricsAnalysisResponse:
    started = time.perf_counter()
    result = extract(lyrics, max_lines=max_lines)
    return LyricsAnalysisResponse(
        song_id=song_id,
        instrumental=result.instrumental,
        features=result.features,
        sentiment=result.sentiment,
        analysis_seconds=round(time.perf_counter() - started, 6),
    )
