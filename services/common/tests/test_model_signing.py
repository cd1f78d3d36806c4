"""services.common.model_signing: a model is unpickled only when this deployment's key signed exactly its bytes,
and only from inside its own models/<training_id>/ folder. Every refusal also proves nothing was unpickled."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import joblib
import pytest

from services.common.model_artifacts import WeightedEnsemble, artifact_path, signature_path
from services.common.model_signing import (
    UntrustedArtifact,
    load_signed_model,
    read_verified,
    save_signed_artifact,
    sign,
    signed_message,
    unpickle_verified,
)
from services.common.tests.hostile_models import FOREIGN_KEY, malicious_pickle, plant_model

KEY = b"the-deployments-model-signing-key"


def tiny_model(training_id: str = "t1", version: str = "t1@0123abcd") -> WeightedEnsemble:
    return WeightedEnsemble(
        training_id=training_id,
        model_version=version,
        feature_names=["rhythm.bpm"],
        medians=[120.0],
        members=[],
        created_at=datetime.now(UTC),
        sklearn_version="test",
    )


@pytest.fixture
def signed(data_root: Path) -> Path:
    save_signed_artifact(data_root, tiny_model(), KEY)
    return data_root


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "pwned"


def refusal(root: Path, training_id: str = "t1", key: bytes = KEY) -> str:
    with pytest.raises(UntrustedArtifact) as info:
        read_verified(root, training_id, key)
    return info.value.problem


def test_the_planted_payload_is_live_when_unpickled_without_a_check(data_root: Path, marker: Path) -> None:
    """The control: what the other tests plant really runs code when something unpickles it."""
    plant_model(data_root, "evil", "evil@00000000", marker)
    joblib.load(artifact_path(data_root, "evil"))
    assert marker.read_text() == "pwned"


def test_a_signed_model_round_trips(signed: Path) -> None:
    record = json.loads(signature_path(signed, "t1").read_text())
    assert set(record) == {"format", "algorithm", "training_id", "model_version", "sha256", "hmac"}
    assert record["algorithm"] == "hmac-sha256" and record["training_id"] == "t1"
    model = load_signed_model(signed, "t1", KEY)
    assert (model.training_id, model.model_version, model.feature_names) == ("t1", "t1@0123abcd", ["rhythm.bpm"])


def test_the_hmac_binds_a_domain_the_training_id_the_version_and_the_bytes() -> None:
    message = json.loads(signed_message("t1", "t1@0123abcd", "ab" * 32))
    assert message == {
        "domain": "hss-workflow/model-artifact/v1",
        "training_id": "t1",
        "model_version": "t1@0123abcd",
    } | {"sha256": "ab" * 32}
    base = sign(KEY, "t1", "t1@0123abcd", b"bytes").hmac
    assert sign(KEY, "t2", "t1@0123abcd", b"bytes").hmac != base
    assert sign(KEY, "t1", "t1@0123abce", b"bytes").hmac != base
    assert sign(KEY, "t1", "t1@0123abcd", b"bytez").hmac != base
    assert sign(FOREIGN_KEY, "t1", "t1@0123abcd", b"bytes").hmac != base


@pytest.mark.parametrize("record", ["foreign", "plain", "none", "keep"])
def test_planted_bytes_are_refused_before_unpickling(signed: Path, marker: Path, record: str) -> None:
    plant_model(signed, "t1", "t1@0123abcd", marker, record=record)
    problem = refusal(signed)
    expected = {
        "foreign": "HMAC does not verify",
        "plain": "HMAC does not verify",
        "none": "no model.sig.json",
        "keep": "sha256 differs",  # the real record of the model the payload replaced
    }[record]
    assert expected in problem
    assert not marker.exists()


def test_a_signature_cannot_be_moved_to_another_version_or_training(signed: Path) -> None:
    path = signature_path(signed, "t1")
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "model_version": "t1@ffffffff"}))
    assert "HMAC does not verify" in refusal(signed)
    path.write_text(json.dumps({**record, "training_id": "t2"}))
    assert "record of training 't2'" in refusal(signed)


def test_the_wrong_key_is_refused_and_the_message_says_what_to_do(signed: Path) -> None:
    with pytest.raises(UntrustedArtifact) as info:
        read_verified(signed, "t1", b"some-other-key")
    message = str(info.value)
    assert "HSS_MODEL_SIGNING_KEY" in message and "not signed by this deployment's key" in message
    assert "force=true" in message and "promote it again" in message


def test_a_symlinked_model_file_is_refused_even_with_valid_content(signed: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.joblib"
    shutil.copy(artifact_path(signed, "t1"), outside)  # the genuine signed bytes, elsewhere
    artifact_path(signed, "t1").unlink()
    artifact_path(signed, "t1").symlink_to(outside)
    assert "symlink" in refusal(signed)


def test_a_symlinked_model_folder_is_refused_even_with_valid_content(signed: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    shutil.move(signed / "models" / "t1", elsewhere)
    (signed / "models" / "t1").symlink_to(elsewhere, target_is_directory=True)
    assert "symlink to another folder" in refusal(signed)


def test_a_fifo_is_refused_without_blocking(signed: Path) -> None:
    artifact_path(signed, "t1").unlink()
    os.mkfifo(artifact_path(signed, "t1"))
    assert "not a regular file" in refusal(signed)


def test_a_missing_model_is_file_not_found(data_root: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_verified(data_root, "nothing", KEY)
    with pytest.raises(ValueError):
        read_verified(data_root, "../escape", KEY)


def test_the_verified_bytes_are_what_is_unpickled_not_the_file_again(signed: Path, marker: Path) -> None:
    verified = read_verified(signed, "t1", KEY)
    artifact_path(signed, "t1").write_bytes(malicious_pickle(marker))  # swapped after the check
    assert unpickle_verified(verified).model_version == "t1@0123abcd"
    assert not marker.exists()
