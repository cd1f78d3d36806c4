"""hss_airflow.promotion: the rule promote_model applies, and the report record it leaves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contracts.training import ServingModel
from hss_airflow.promotion import AUC_TOLERANCE, decide
from hss_airflow.reports import record_promotion, report_path

BASELINE = ServingModel(model_version="baseline-v1", baseline=True)
SERVING = ServingModel(model_version="old@11111111", training_id="old", baseline=False, ensemble_auc=0.80)


def test_the_first_model_is_promoted_over_the_baseline() -> None:
    decision = decide("auto", "new@2", 0.61, BASELINE)
    assert decision.action == "promote" and "nothing is promoted yet" in decision.reason


@pytest.mark.parametrize(
    "new_auc,action",
    [(0.85, "promote"), (0.80, "promote"), (0.80 - AUC_TOLERANCE + 1e-9, "promote"), (0.78, "keep"), (0.5, "keep")],
)
def test_auto_keeps_the_serving_model_only_when_the_new_one_is_worse_beyond_the_tolerance(new_auc, action) -> None:
    decision = decide("auto", "new@2", new_auc, SERVING)
    assert decision.action == action
    assert "old@11111111" in decision.reason and f"{new_auc:.3f}" in decision.reason
    if action == "keep":
        assert "stays in service" in decision.reason and f"{AUC_TOLERANCE:.3f}" in decision.reason


def test_never_keeps_and_approve_asks_with_the_comparison() -> None:
    assert decide("never", "new@2", 0.99, SERVING).action == "keep"
    asked = decide("approve", "new@2", 0.75, SERVING)
    assert asked.action == "ask" and "0.750 vs 0.800" in asked.reason and "(-0.050)" in asked.reason


def test_a_model_already_serving_is_promoted_again_so_a_retry_succeeds() -> None:
    serving = SERVING.model_copy(update={"model_version": "new@2"})
    for mode in ("auto", "approve", "never"):
        assert decide(mode, "new@2", 0.1, serving).action == "promote"


def test_an_unknown_mode_is_an_error() -> None:
    with pytest.raises(ValueError, match="promotion must be one of auto, approve, never"):
        decide("always", "new@2", 0.9, SERVING)


def test_the_decision_is_recorded_in_the_training_report(tmp_path: Path) -> None:
    path = report_path("t1", tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"training_id": "t1", "promotion": None}))
    record_promotion("t1", {"promoted": False, "reason": "kept"}, tmp_path)
    record_promotion("t1", {"promoted": True, "reason": "approved"}, tmp_path)  # a rerun replaces it
    assert json.loads(path.read_text()) == {"training_id": "t1", "promotion": {"promoted": True, "reason": "approved"}}
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]  # no temp file left
