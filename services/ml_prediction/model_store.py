"""Which model answers: the promoted one models/latest.json names, a pinned version, or the built-in baseline.

Only promoted models are served (workflow-ml-training POST /models/promote writes latest.json and
models/<training_id>/promotion.json): a pinned version must be the baseline or have a promotion.json.
Every request stats latest.json (inode, mtime, size): a new promotion is picked up without a restart.

Nothing is unpickled before it is verified (services.common.model_signing): the artifact path comes from
the training_id alone (latest.json's `artifact` must be exactly models/<training_id>/model.joblib), the
signature must verify with HSS_MODEL_SIGNING_KEY, the signed model_version must be the one asked for, and
its promotion record must exist; only then are the verified bytes unpickled. A loaded model is cached with
the identity (inode, size, mtime, ctime) of its two files, so an unchanged model is never re-read and a
changed one is verified again.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

from contracts.prediction import BASELINE_VERSION
from contracts.training import ServingModel
from services.common.errors import Conflict, NotFound, ServiceError, Unavailable
from services.common.model_artifacts import (
    ArtifactError,
    HitModel,
    LatestModel,
    WeightedEnsemble,
    artifact_name,
    artifact_path,
    is_valid_training_id,
    latest_path,
    latest_unavailable,
    read_latest,
    read_promotion,
    training_id_of,
)
from services.common.model_signing import (
    FileIdentity,
    UntrustedArtifact,
    VerifiedArtifact,
    file_identity,
    read_verified,
    unpickle_verified,
)
from services.ml_prediction.baseline import BASELINE

log = logging.getLogger("hss.ml_prediction")

StatKey = tuple[int, int, int]
SIGNATURE_INVALID = "model_signature_invalid"


def _stat_key(path: Path) -> StatKey | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def signature_invalid(exc: UntrustedArtifact) -> Unavailable:
    return Unavailable(
        str(exc), code=SIGNATURE_INVALID, details={"training_id": exc.training_id, "problem": exc.problem}
    )


class ModelStore:
    def __init__(self, root: Path, *, signing_key: bytes, cache_size: int = 4) -> None:
        self.root = root
        self.cache_size = cache_size
        self._key = signing_key
        self._lock = threading.Lock()
        self._latest_key: StatKey | None = None
        self._latest: LatestModel | None = None
        self._cache: OrderedDict[str, tuple[tuple[FileIdentity, FileIdentity], WeightedEnsemble]] = OrderedDict()
        self._last_not_ready: str | None = None

    def current(self) -> HitModel:
        """The model latest.json names (promoted last); the baseline when nothing was promoted yet."""
        with self._lock:
            pointer = self._pointer()
            if pointer is None:
                return BASELINE
            training_id, version = pointer.training_id, pointer.model_version
            self._check_pointer(pointer)
            self._require_promotion_of_current(training_id, version)
            found = self._lookup(training_id, version)
            if found.model_version != version:  # retrained after its promotion: never serve unpromoted
                raise Unavailable(
                    f"models/latest.json names {version}, but models/{training_id}/ now holds "
                    f"{found.model_version} (retrained); promote a model (POST /models/promote).",
                    code="model_unavailable",
                )
            return self._materialize(found)

    def pinned(self, model_version: str) -> HitModel:
        """'baseline-v1', or a promoted (now or earlier) '<training_id>@<sha8>' found under models/<training_id>/."""
        if model_version == BASELINE_VERSION:
            return BASELINE
        training_id = training_id_of(model_version)
        if "@" not in model_version or not is_valid_training_id(training_id):
            raise self._unknown(model_version)
        if not os.path.lexists(artifact_path(self.root, training_id)):
            raise self._unknown(model_version)
        with self._lock:
            found = self._lookup(training_id, model_version)
            if found.model_version != model_version:
                raise self._unknown(model_version, now=found.model_version)
            self._require_promoted(training_id, model_version)
            return self._materialize(found)

    def get(self, model_version: str | None) -> HitModel:
        return self.current() if model_version is None else self.pinned(model_version)

    def serving(self) -> tuple[str, str] | None:
        """(model_version, source) of the model current() serves: ("baseline-v1", "baseline") before any promotion,
        else latest.json's version and "promoted"; None when latest.json cannot be read or is inconsistent (current()
        answers 503). Loads and verifies nothing (a stat of latest.json, read again only when it changed), so a
        promoted model whose files then fail verification is still named here; /ready's model_loadable says so."""
        with self._lock:
            try:
                pointer = self._pointer()
                if pointer is not None:
                    self._check_pointer(pointer)
            except ServiceError:
                return None
        return (BASELINE_VERSION, "baseline") if pointer is None else (pointer.model_version, "promoted")

    def ready_checks(self) -> dict[str, bool]:
        """{"model_loadable": ...}; plus "model_signature_valid": False when the served model is refused as
        unsigned. Never loads anything the request path would not (current() verifies before unpickling)."""
        try:
            self.current()
        except ServiceError as exc:
            if exc.message != self._last_not_ready:  # the probe runs every few seconds: log a change once
                log.warning("not ready: %s: %s", exc.code, exc.message)
                self._last_not_ready = exc.message
            if exc.code == SIGNATURE_INVALID:
                return {"model_loadable": False, "model_signature_valid": False}
            return {"model_loadable": False}
        self._last_not_ready = None
        return {"model_loadable": True}

    # ------------------------------------------------------------------------------------------
    def _pointer(self) -> LatestModel | None:
        key = _stat_key(latest_path(self.root))
        if key is None:
            self._latest_key, self._latest = None, None
            return None
        if key != self._latest_key:
            try:
                self._latest = read_latest(self.root)
            except (ArtifactError, OSError) as exc:
                raise latest_unavailable(exc) from exc
            self._latest_key = key
        return self._latest  # None: deleted between stat and read

    @staticmethod
    def _check_pointer(pointer: LatestModel) -> None:
        """latest.json only names a model; where it lives follows from the training_id, never from the file."""
        training_id, version = pointer.training_id, pointer.model_version
        if not is_valid_training_id(training_id) or "@" not in version or training_id_of(version) != training_id:
            raise Unavailable(
                f"models/latest.json is inconsistent (training_id {training_id!r}, model_version {version!r}); "
                "promote a model (POST /models/promote) to rewrite it.",
                code="model_unavailable",
            )
        if pointer.artifact != artifact_name(training_id):
            raise Unavailable(
                f"models/latest.json names the artifact {pointer.artifact!r}, but the model of training "
                f"'{training_id}' can only be {artifact_name(training_id)}; nothing was loaded. Promote a model "
                "(POST /models/promote) to rewrite latest.json.",
                code="model_unavailable",
                details={"artifact": pointer.artifact},
            )

    def _lookup(self, training_id: str, wanted: str) -> WeightedEnsemble | VerifiedArtifact:
        """The cached model when neither of its files changed, else its verified bytes (not unpickled yet)."""
        cached = self._cache.get(training_id)
        if cached is not None and cached[0] == file_identity(self.root, training_id):
            self._cache.move_to_end(training_id)
            return cached[1]
        try:
            return read_verified(self.root, training_id, self._key)
        except UntrustedArtifact as exc:
            log.error("refused to load %s: %s", wanted, exc.problem)
            raise signature_invalid(exc) from exc
        except OSError as exc:  # missing (deleted meanwhile) or unreadable
            raise Unavailable(
                f"The model artifact for {wanted} cannot be read: {exc}", code="model_unavailable"
            ) from exc

    def _materialize(self, found: WeightedEnsemble | VerifiedArtifact) -> WeightedEnsemble:
        """Unpickle verified bytes (every check passed) and cache the model."""
        if isinstance(found, WeightedEnsemble):
            return found
        try:
            model = unpickle_verified(found)
        except ArtifactError as exc:
            raise Unavailable(
                f"The model artifact for {found.model_version} cannot be loaded: {exc}", code="model_unavailable"
            ) from exc
        log.info("loaded model %s (signature verified)", model.model_version)
        self._cache[found.training_id] = (found.identity, model)
        self._cache.move_to_end(found.training_id)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return model

    def _read_promotion(self, training_id: str, model_version: str) -> ServingModel | None:
        try:
            return read_promotion(self.root, training_id)
        except (ArtifactError, OSError) as exc:
            raise Unavailable(
                f"The promotion record of {model_version} cannot be read ({exc}); promote it again.",
                code="model_unavailable",
            ) from exc

    def _require_promotion_of_current(self, training_id: str, model_version: str) -> None:
        promotion = self._read_promotion(training_id, model_version)
        if promotion is None or promotion.model_version != model_version:
            raise Unavailable(
                f"models/latest.json names {model_version}, but models/{training_id}/promotion.json does not "
                "record its promotion; promote a model (POST /models/promote) to serve it.",
                code="model_unavailable",
            )

    def _require_promoted(self, training_id: str, model_version: str) -> None:
        promotion = self._read_promotion(training_id, model_version)
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
