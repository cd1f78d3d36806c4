"""hss_airflow.claim_check: a document stored once in the data root, and the reference XCom carries instead.

Who can write an XCom can hand a task any reference: it must not read outside the data root, and a file
changed since it was written must not be used."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from hss_airflow.claim_check import check_in, is_claim, redeem
from hss_airflow.hooks import ServiceRejected

DOC = {"song_id": "s", "features": {f"f.{i}": float(i) for i in range(650)}, "feature_count": 650, "extractor": "x"}


def stored(root: Path) -> dict:
    return check_in(DOC, root / "results" / "parts" / "s" / "run" / "audio.json", bulky=("features",))


def test_the_reference_is_the_document_without_its_bulk_and_redeems_to_the_whole(root: Path) -> None:
    reference = stored(root)
    assert is_claim(reference) and "features" not in reference and reference["feature_count"] == 650
    claim = reference["claim_check"]
    data = (root / claim["path"]).read_bytes()
    assert claim["path"] == "results/parts/s/run/audio.json" and claim["bytes"] == len(data)
    assert hashlib.sha256(data).hexdigest() == claim["sha256"]
    assert len(json.dumps(reference)) * 20 < len(data)  # what XCom carries is a small fraction of it
    assert redeem(reference, "audio") == DOC


def test_anything_but_a_reference_passes_through(root: Path) -> None:
    for value in (DOC, {"claim_check": "not a dict"}, None, "text"):
        assert redeem(value, "audio") == value


def test_a_file_changed_since_it_was_written_is_refused(root: Path) -> None:
    reference = stored(root)
    path = root / reference["claim_check"]["path"]
    path.write_text(json.dumps({**DOC, "feature_count": 1}))
    with pytest.raises(ServiceRejected, match=r"audio: .*changed since it was written \(sha256 differs\)"):
        redeem(reference, "audio")


def test_a_missing_file_is_refused_naming_what_to_re_run(root: Path) -> None:
    reference = stored(root)
    (root / reference["claim_check"]["path"]).unlink()
    with pytest.raises(ServiceRejected, match=r"unreadable.*re-run the task that wrote it"):
        redeem(reference, "audio")


@pytest.mark.parametrize("path", ["../outside.json", "/etc/passwd", "results/../../outside.json"])
def test_a_reference_pointing_outside_the_data_root_is_refused(root: Path, path: str) -> None:
    outside = root.parent / "outside.json"
    outside.write_text("{}")
    digest = hashlib.sha256(outside.read_bytes()).hexdigest()
    with pytest.raises(ServiceRejected, match="unreadable"):
        redeem({"claim_check": {"path": path, "sha256": digest, "bytes": 2}}, "audio")
