"""The arithmetic behind the limits and verdicts: what Essentia allows on N cores, how a figure grew.

Pure functions, tested on their own (load/bench/tests/test_limits.py).
"""

from __future__ import annotations

import math
from datetime import datetime


def essentia_limit_per_min(cores: int, seconds_per_song: float) -> float:
    """Songs per minute when every core runs MusicExtractor back to back: cores x 60 / seconds per song."""
    if cores < 1:
        raise ValueError(f"cores must be >= 1, not {cores}")
    if seconds_per_song <= 0:
        raise ValueError(f"seconds per song must be > 0, not {seconds_per_song}")
    return cores * 60.0 / seconds_per_song


def per_minute(count: int, seconds: float) -> float:
    if seconds <= 0:
        raise ValueError(f"elapsed seconds must be > 0, not {seconds}")
    return count * 60.0 / seconds


def growth_exponent(size_ratio: float, time_ratio: float) -> float:
    """b in time ∝ size^b: 1 is linear, < 1 grows slower than the size (fixed costs amortised), > 1 worse."""
    if size_ratio <= 1 or time_ratio <= 0:
        raise ValueError("growth needs a size ratio > 1 and a positive time ratio")
    return math.log(time_ratio) / math.log(size_ratio)


def growth_verdict(exponent: float, tolerance: float = 0.1) -> str:
    if exponent < 1 - tolerance:
        return "sub-linear"
    if exponent <= 1 + tolerance:
        return "linear"
    return "worse than linear"


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()
