"""Prediction logic: feature vector (median imputation, reported), P(hit) and per-feature explanations.

Explanation of feature f: P(x) - P(x with f set to its training median). All of them come from one
batched predict call: row 0 is the song, row i+1 the song with feature i replaced by its median.
"""

from __future__ import annotations

import numpy as np

from contracts.prediction import Explanation, PredictionRequest, PredictionResponse
from services.common.errors import Unprocessable
from services.common.model_artifacts import HitModel

CONTENT_PREFIX = "lyrics."


def merge_features(request: PredictionRequest) -> dict[str, float]:
    """audio_features and content_features as one map; a name in both is refused, not silently overwritten."""
    both = sorted(set(request.audio_features) & set(request.content_features))
    if both:
        raise Unprocessable(
            f"Feature name(s) {', '.join(both[:5])} appear in both audio_features and content_features.",
            code="feature_name_collision",
            details={"features": both[:20]},
        )
    return {**request.audio_features, **request.content_features}


def predict(
    model: HitModel,
    request: PredictionRequest,
    *,
    top_k: int = 10,
    max_missing_fraction: float = 0.5,
) -> PredictionResponse:
    features = merge_features(request)
    names = list(model.feature_names)
    medians = np.asarray(model.medians, dtype=float)
    x = medians.copy()
    missing: list[str] = []
    for i, name in enumerate(names):
        value = features.get(name)
        if value is None:
            missing.append(name)
        else:
            x[i] = value
    if len(missing) > max_missing_fraction * len(names):
        hint = (
            " Send the lyrics analysis features in content_features."
            if any(n.startswith(CONTENT_PREFIX) for n in missing)
            else ""
        )
        raise Unprocessable(
            f"{len(missing)} of the {len(names)} features model {model.model_version} needs are missing (more than "
            f"{max_missing_fraction:.0%}), e.g. {', '.join(missing[:5])}.{hint}",
            code="too_many_missing_features",
            details={
                "model_version": model.model_version,
                "missing_count": len(missing),
                "required_count": len(names),
                "missing": missing[:20],
            },
        )

    batch = np.tile(x, (len(names) + 1, 1))
    batch[np.arange(1, len(names) + 1), np.arange(len(names))] = medians
    probabilities = model.predict_proba(batch)
    p = float(probabilities[0])
    contributions = p - probabilities[1:]

    missing_set = set(missing)
    present = [i for i in range(len(names)) if names[i] not in missing_set]  # imputed ones contribute exactly 0
    order = sorted(present, key=lambda i: (-abs(contributions[i]), names[i]))[:top_k]
    explanations = [
        Explanation(feature=names[i], value=float(x[i]), contribution=round(float(contributions[i]), 6)) for i in order
    ]
    return PredictionResponse(
        song_id=request.song_id,
        hit_probability=round(min(1.0, max(0.0, p)), 6),
        model_version=model.model_version,
        baseline=model.baseline,
        explanations=explanations,
        missing_features=missing,
    )
