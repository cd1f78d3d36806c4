"""Which model answers: the one models/latest.json names, a pinned version, or the built-in baseline.

Every request stats latest.json (inode, mtime, size): a new training that republishes it is picked
up without a restart. Loaded artifacts are cached by the same stat key, so an unchanged model is
never re-read from disk.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

from services.common.errors import NotFound, ServiceError, Unavailable
from services.common.model_artifacts import (
    ArtifactError,
    HitModel,
    LatestModel,
    WeightedEnsemble,
    artifact_path,
    is_valid_training_id,
    latest_path,
    load_artifact,
    read_latest,
    training_id_of,
)
from services.common.paths import resolve_data_path
from services.ml_prediction.baseline import BASELINE, BASELINE_VERSION

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
        """The model latest.json names; the baseline when nothing was trained yet."""
        with self._lock:
            key = _stat_key(latest_path(self.root))
            if key is None:
                self._latest_key, self._latest = None, None
                return BASELINE
            if key != self._latest_key:
                try:
                    self._latest = read_latest(self.root)
                except (ArtifactError, OSError) as exc:
                    raise Unavailable(
                        f"models/latest.json cannot be read ({exc}); retrain or fix the file.", code="model_unavailable"
                    ) from exc
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
            return self._load(path, pointer.model_version)

    def pinned(self, model_version: str) -> HitModel:
        """A specific model: 'baseline-v1' or '<training_id>@<sha8>' found under models/<training_id>/."""
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

    def _unknown(self, model_version: str, now: str | None = None) -> NotFound:
        message = f"Unknown model version '{model_version}'."
        if now:
            message += f" models/{training_id_of(model_version)}/ now holds {now}."
        else:
            message += " Versions look like '<training_id>@<8 hex>' as returned by training, or 'baseline-v1'."
        return NotFound(message, code="unknown_model_version", details={"model_version": model_version})
