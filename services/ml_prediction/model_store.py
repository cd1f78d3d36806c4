"""Which model answers: the promoted one models/latest.json names, a pinned version, or the built-in baseline.

Only promoted models are served (workflow-ml-training POST /models/promote writes latest.json and
models/<training_id>/promotion.json): a pinned version must be the baseline or have a promotion.json.
Every request stats latest.json (inode, mtime, size): a new promotion is picked up without a restart.
Loaded artifacts are cached by the same stat key, so an unchanged model is never re-read from disk.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

from contracts.prediction import BASELINE_VERSION
from services.common.errors import Conflict, NotFound, ServiceError, Unavailable
from services.common.model_artifacts import (
    ArtifactError,
    HitModel,
    LatestModel,
    WeightedEnsemble,
    artifact_path,
    is_valid_training_id,
    latest_path,
    latest_unavailable,
    load_artifact,
    read_latest,
    read_promotion,
    training_id_of,
)
from services.common.paths import resolve_data_path
from services.ml_prediction.baseline import BASELINE

log = logging.getLogger("hss.ml_prediction")

StatKey = tuple[int, int, int]


def _stat_key(path: Path) -> StatKey | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class ModelStore:
    def __init__(self, root: Path, *, cache_size: int = 4) -> None:
        self.root = root
        self.cache_size = cache_size
        self._lock = threading.Lock()
        self._latest_key: StatKey | None = None
        self._latest: LatestModel | None = None
        self._cache: OrderedDict[Path, tuple[StatKey, WeightedEnsemble]] = OrderedDict()

    def current(self) -> HitModel:
        """The model latest.json names (promoted last); the baseline when nothing was promoted yet."""
        with self._lock:
            key = _stat_key(latest_path(self.root))
            if key is None:
                self._latest_key, self._latest = None, None
                return BASELINE
            if key != self._latest_key:
                try:
                    self._latest = read_latest(self.root)
                except (ArtifactError, OSError) as exc:
                    raise latest_unavailable(exc) from exc
                self._latest_key = key
            pointer = self._latest
            if pointer is None:  # deleted between stat and read
                return BASELINE
            try:
                path = resolve_data_path(pointer.artifact, self.root, kind="model artifact")
            except ServiceError as exc:
                raise Unavailable(
                    f"models/latest.json names {pointer.model_version}, but its artifact is unusable: {exc.message}",
                    code="model_unavailable",
                ) from exc
            model = self._load(path, pointer.model_version)
        if model.model_version != pointer.model_version:  # retrained after its promotion: never serve unpromoted
            raise Unavailable(
                f"models/latest.json names {pointer.model_version}, but models/{pointer.training_id}/ now holds "
                f"{model.model_version} (retrained); promote a model (POST /models/promote).",
                code="model_unavailable",
            )
        return model

    def pinned(self, model_version: str) -> HitModel:
        """'baseline-v1', or a promoted (now or earlier) '<training_id>@<sha8>' found under models/<training_id>/."""
        if model_version == BASELINE_VERSION:
            return BASELINE
        training_id = training_id_of(model_version)
        if "@" not in model_version or not is_valid_training_id(training_id):
            raise self._unknown(model_version)
        path = artifact_path(self.root, training_id)
        if _stat_key(path) is None:
            raise self._unknown(model_version)
        with self._lock:
            model = self._load(path, model_version)
        if model.model_version != model_version:
            raise self._unknown(model_version, now=model.model_version)
        self._require_promoted(training_id, model_version)
        return model

    def get(self, model_version: str | None) -> HitModel:
        return self.current() if model_version is None else self.pinned(model_version)

    def ready(self) -> bool:
        try:
            self.current()
        except ServiceError:
            return False
        return True

    # ------------------------------------------------------------------------------------------
    def _load(self, path: Path, version_hint: str) -> WeightedEnsemble:
        key = _stat_key(path)
        cached = self._cache.get(path)
        if cached is not None and cached[0] == key:
            self._cache.move_to_end(path)
            return cached[1]
        try:
            model = load_artifact(path)
        except (ArtifactError, OSError) as exc:
            raise Unavailable(
                f"The model artifact for {version_hint} cannot be loaded: {exc}", code="model_unavailable"
            ) from exc
        log.info("loaded model %s from %s", model.model_version, path)
        self._cache[path] = (key, model)
        self._cache.move_to_end(path)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return model

    def _require_promoted(self, training_id: str, model_version: str) -> None:
        try:
            promotion = read_promotion(self.root, training_id)
        except (ArtifactError, OSError) as exc:
            raise Unavailable(
                f"The promotion record of {model_version} cannot be read ({exc}); promote it again.",
                code="model_unavailable",
            ) from exc
        if promotion is None or promotion.model_version != model_version:
            raise Conflict(
                f"Model {model_version} was trained but never promoted; promote it first (POST /models/promote "
                f"on workflow-ml-training with training_id '{training_id}').",
                code="model_not_promoted",
                details={"model_version": model_version},
            )

    def _unknown(self, model_version: str, now: str | None = None) -> NotFound:
        message = f"Unknown model version '{model_version}'."
        if now:
            message += f" models/{training_id_of(model_version)}/ now holds {now}."
        else:
            message += " Versions look like '<training_id>@<8 hex>' as returned by training, or 'baseline-v1'."
        return NotFound(message, code="unknown_model_version", details={"model_version": model_version})
