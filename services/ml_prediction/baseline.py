"""The built-in baseline: what prediction answers with before any model was promoted ("baseline-v1").

A fixed, documented logistic formula over five named features; nothing is fitted:

    logit = -0.2
          + 1.2 * z(rhythm.danceability;                 centre 1.2,  scale 0.3)
          + 0.6 * z(lowlevel.loudness_ebu128.integrated; centre -9.0, scale 3.0)   # louder (towards -6 LUFS) helps
          + 1.0 * (2 * tempo_closeness - 1)        tempo_closeness = exp(-((rhythm.bpm - 120) / 20) ** 2)
          + 0.4 * lyrics.sentiment_compound                                          # -1..1
          + 1.0 * z(lyrics.hook_strength;                centre 0.4,  scale 0.2)
    P(hit) = 1 / (1 + exp(-logit)),   z(x; c, s) = clip((x - c) / s, -3, 3)

The "training medians" (used to impute a missing feature and as the reference of the explanations)
are the typical values listed in BASELINE_MEDIANS. It is a sane prior, not a trained model: the
response says `baseline: true`.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from contracts.prediction import BASELINE_VERSION

BASELINE_MEDIANS: dict[str, float] = {
    "rhythm.danceability": 1.2,
    "lowlevel.loudness_ebu128.integrated": -9.0,
    "rhythm.bpm": 118.0,
    "lyrics.sentiment_compound": 0.1,
    "lyrics.hook_strength": 0.4,
}


def _z(x: np.ndarray, centre: float, scale: float) -> np.ndarray:
    return np.clip((x - centre) / scale, -3.0, 3.0)


class BaselineModel:
    model_version = BASELINE_VERSION
    baseline: ClassVar[bool] = True

    def __init__(self) -> None:
        self.feature_names = list(BASELINE_MEDIANS)
        self.medians = list(BASELINE_MEDIANS.values())

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            raise ValueError(f"expected shape (n, {len(self.feature_names)}), got {X.shape}")
        dance, loudness, bpm, sentiment, hook = X.T
        tempo_closeness = np.exp(-(((bpm - 120.0) / 20.0) ** 2))
        logit = (
            -0.2
            + 1.2 * _z(dance, 1.2, 0.3)
            + 0.6 * _z(loudness, -9.0, 3.0)
            + 1.0 * (2.0 * tempo_closeness - 1.0)
            + 0.4 * np.clip(sentiment, -1.0, 1.0)
            + 1.0 * _z(hook, 0.4, 0.2)
        )
        return 1.0 / (1.0 + np.exp(-logit))


BASELINE = BaselineModel()
