"""Signed model artifacts: no pickle is ever loaded that this deployment's training did not sign.

A model.joblib is a pickle, and unpickling runs code. Whoever can write into the data root (a share, a
volume, a bug in another writer) must not get code executed by workflow-ml-training or -prediction. So:

* Training saves `models/<training_id>/model.joblib` and next to it `model.sig.json` (ArtifactSignature):
  training_id, model_version, the sha256 of the file's bytes and an HMAC-SHA256 over a domain-separated
  message binding those three, keyed by HSS_MODEL_SIGNING_KEY — a secret of the deployment's environment,
  never a file of the data root.
* Every load goes through read_verified() then unpickle_verified(): the path comes from the training_id
  alone; the file and its record must be regular files directly in realpath(models/<training_id>/) (no
  symlink, no symlinked folder); the bytes are read once; the record must name that training_id and its
  HMAC must verify (hmac.compare_digest) over the sha256 of exactly those bytes. The caller then checks the
  model_version against what it asked for (and prediction the promotion record), and only then are the
  verified bytes unpickled from memory (io.BytesIO): nothing can swap the file between check and load.
* A model written before signing existed (no model.sig.json), signed with another key, or changed since,
  is refused with UntrustedArtifact; the services answer `model_signature_invalid`. Retrain it
  (POST /train/smart_ensemble with force=true) and promote it again.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import io
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import joblib
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.data_layout import MODEL_SIGNATURE_FILE, MODELS
from contracts.deployment_secrets import MODEL_SIGNING_KEY_ENV
from services.common.model_artifacts import (
    ARTIFACT_FORMAT,
    MODEL_FILE,
    ArtifactError,
    WeightedEnsemble,
    artifact_path,
    model_dir,
    models_dir,
    signature_path,
)
from services.common.paths import atomic_write_bytes, atomic_write_text
from services.common.security import require_secret
from services.common.settings import ModelSigningSettings

SIGNING_KEY_ENV = MODEL_SIGNING_KEY_ENV
SIGNATURE_DOMAIN = "hss-workflow/model-artifact/v1"  # what the HMAC signs is never mistaken for another message
MAX_ARTIFACT_BYTES = 1024 * 1024 * 1024  # a model of this recipe is a few MB; never read a planted giant file
MAX_SIGNATURE_BYTES = 64 * 1024
RETRAIN_HINT = "retrain it (POST /train/smart_ensemble with force=true) and promote it again"

FileIdentity = tuple[int, int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns


class UntrustedArtifact(ArtifactError):
    """The artifact is not provably this deployment's: unsigned, signed with another key, changed, or not a
    regular file inside its models/<training_id>/ folder. Nothing of it was unpickled."""

    def __init__(self, training_id: str, problem: str) -> None:
        self.training_id = training_id
        self.problem = problem
        super().__init__(
            f"{MODELS}/{training_id}/{MODEL_FILE} is not signed by this deployment's key "
            f"({SIGNING_KEY_ENV}): {problem}. It was not loaded; {RETRAIN_HINT}."
        )


def signing_key(settings: ModelSigningSettings) -> bytes:
    """HSS_MODEL_SIGNING_KEY as bytes; InsecureConfiguration (the service does not start) when unusable."""
    purpose = (
        "It signs every model training writes and is verified before any model is unpickled; "
        "workflow-ml-training and workflow-ml-prediction need the same value. There is no development bypass."
    )
    return require_secret(settings.model_signing_key, SIGNING_KEY_ENV, purpose).encode()


class ArtifactSignature(BaseModel):
    """models/<training_id>/model.sig.json."""

    model_config = ConfigDict(extra="forbid")

    format: Literal[1] = 1
    algorithm: Literal["hmac-sha256"] = "hmac-sha256"
    training_id: str
    model_version: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of model.joblib's bytes, hex.")
    hmac: str = Field(pattern=r"^[0-9a-f]{64}$", description="HMAC-SHA256 of signed_message(), hex.")


def signed_message(training_id: str, model_version: str, sha256_hex: str) -> bytes:
    """The exact bytes the HMAC covers: canonical JSON (unambiguous) under a domain tag."""
    fields = {"domain": SIGNATURE_DOMAIN, "training_id": training_id, "model_version": model_version}
    return json.dumps({**fields, "sha256": sha256_hex}, sort_keys=True, separators=(",", ":")).encode()


def _mac(key: bytes, training_id: str, model_version: str, sha256_hex: str) -> str:
    return hmac.new(key, signed_message(training_id, model_version, sha256_hex), hashlib.sha256).hexdigest()


def sign(key: bytes, training_id: str, model_version: str, data: bytes) -> ArtifactSignature:
    digest = hashlib.sha256(data).hexdigest()
    return ArtifactSignature(
        training_id=training_id,
        model_version=model_version,
        sha256=digest,
        hmac=_mac(key, training_id, model_version, digest),
    )


def save_signed_artifact(root: Path, model: WeightedEnsemble, key: bytes) -> None:
    """model.joblib, then its model.sig.json, each atomically (a reader in between sees a mismatch: refused)."""
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    data = buffer.getvalue()
    record = sign(key, model.training_id, model.model_version, data)
    atomic_write_bytes(artifact_path(root, model.training_id), data)
    atomic_write_text(signature_path(root, model.training_id), record.model_dump_json(indent=2))


@dataclass(frozen=True)
class VerifiedArtifact:
    """Bytes of a model.joblib whose signature verified; model_version is the signed one."""

    training_id: str
    model_version: str
    identity: tuple[FileIdentity, FileIdentity]  # of model.joblib and model.sig.json as read
    data: bytes = field(repr=False)


def _identity(st: os.stat_result) -> FileIdentity:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def file_identity(root: Path, training_id: str) -> tuple[FileIdentity, FileIdentity] | None:
    """lstat identities of model.joblib and model.sig.json (None if either is missing): a cache key that
    changes whenever either file is replaced or rewritten (ctime cannot be set back)."""
    try:
        model = os.lstat(artifact_path(root, training_id))
        record = os.lstat(signature_path(root, training_id))
    except FileNotFoundError:
        return None
    return _identity(model), _identity(record)


def _read_contained(path: Path, folder: str, training_id: str, limit: int) -> tuple[bytes, FileIdentity]:
    """The bytes of `path`, a regular file directly in the real folder `folder`, read through one descriptor."""
    if os.path.dirname(os.path.realpath(path)) != folder:
        raise UntrustedArtifact(training_id, f"{path.name} resolves outside {MODELS}/{training_id}/ (a symlink)")
    try:  # O_NOFOLLOW: a symlink swapped in after the check fails here; O_NONBLOCK: a FIFO never blocks
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UntrustedArtifact(training_id, f"{path.name} is a symlink") from None
        raise
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise UntrustedArtifact(training_id, f"{path.name} is not a regular file")
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise UntrustedArtifact(training_id, f"{path.name} is larger than {limit} bytes")
    return data, _identity(st)


def read_verified(root: Path, training_id: str, key: bytes) -> VerifiedArtifact:
    """Read models/<training_id>/model.joblib once and verify its signature; nothing is unpickled.

    FileNotFoundError when model.joblib is missing; UntrustedArtifact for everything that is not provably
    signed by `key`; ValueError for a training_id that is not an identifier."""
    folder = os.path.realpath(model_dir(root, training_id))
    if folder != os.path.join(os.path.realpath(models_dir(root)), training_id):
        raise UntrustedArtifact(training_id, f"{MODELS}/{training_id}/ is a symlink to another folder")
    data, model_identity = _read_contained(artifact_path(root, training_id), folder, training_id, MAX_ARTIFACT_BYTES)
    try:
        text, record_identity = _read_contained(
            signature_path(root, training_id), folder, training_id, MAX_SIGNATURE_BYTES
        )
    except FileNotFoundError:
        raise UntrustedArtifact(
            training_id, f"it has no {MODEL_SIGNATURE_FILE} (written before models were signed, or not by training)"
        ) from None
    try:
        record = ArtifactSignature.model_validate_json(text)
    except ValidationError:
        raise UntrustedArtifact(training_id, f"{MODEL_SIGNATURE_FILE} is not a valid signature record") from None
    if record.training_id != training_id:
        raise UntrustedArtifact(training_id, f"{MODEL_SIGNATURE_FILE} is the record of training '{record.training_id}'")
    digest = hashlib.sha256(data).hexdigest()
    if not hmac.compare_digest(digest, record.sha256):
        raise UntrustedArtifact(training_id, "the file's sha256 differs from the signed one (changed since)")
    if not hmac.compare_digest(_mac(key, training_id, record.model_version, digest), record.hmac):
        raise UntrustedArtifact(training_id, "its HMAC does not verify with this key (another key, or forged)")
    return VerifiedArtifact(training_id, record.model_version, (model_identity, record_identity), data)


def unpickle_verified(verified: VerifiedArtifact) -> WeightedEnsemble:
    """The model from bytes read_verified() returned (never from the file again)."""
    name = f"{MODELS}/{verified.training_id}/{MODEL_FILE}"
    try:
        model = joblib.load(io.BytesIO(verified.data))
    except Exception as exc:  # signed, yet unreadable here (e.g. another library version): say which
        raise ArtifactError(f"cannot load {name}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, WeightedEnsemble):
        raise ArtifactError(f"{name} does not hold a WeightedEnsemble (found {type(model).__name__})")
    if model.format != ARTIFACT_FORMAT:
        raise ArtifactError(f"{name} has artifact format {model.format}; this code reads {ARTIFACT_FORMAT}")
    if (model.training_id, model.model_version) != (verified.training_id, verified.model_version):
        raise ArtifactError(f"{name} holds {model.model_version}, its signature {verified.model_version}")
    return model


def load_signed_model(root: Path, training_id: str, key: bytes) -> WeightedEnsemble:
    """read_verified() then unpickle_verified(): for callers with nothing to check in between (tests, tools)."""
    return unpickle_verified(read_verified(root, training_id, key))
