"""The model promotion rule: whether a freshly trained ensemble replaces the model prediction serves.

Plain logic, no Airflow: `PromoteModelOperator` (hss_airflow.operators.promotion) asks `decide()` and acts on
the answer. Modes (the training DAGs' conf `promotion`):

- `auto` (default): promote unless the new ensemble's cross-validated AUC is worse than the serving
  model's by more than AUC_TOLERANCE; nothing promoted yet (the baseline serves) always promotes.
- `approve`: a person decides (Airflow's human-in-the-loop approval); the comparison is put before them.
- `never`: train and report, keep the serving model (e.g. to evaluate a dataset).

The two AUCs are each ensemble's cross-validated AUC on its own training data: a fair comparison when
the datasets are alike (the same library, retrained), which is how these DAGs are used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from contracts.training import ServingModel

PROMOTION_MODES = ("auto", "approve", "never")
DEFAULT_PROMOTION = "auto"
# Cross-validated AUCs of the same data move by about this much between folds and seeds: a model this close
# to the serving one is not worse in any way that matters.
AUC_TOLERANCE = 0.01

Action = Literal["promote", "keep", "ask"]


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str  # one sentence for the task log, the training report and the promotion record


def comparison(new_version: str, new_auc: float, serving: ServingModel) -> str:
    """'AUC 0.812 vs 0.800 of the serving model x@1 (+0.012)' — or that the baseline serves."""
    if serving.baseline:
        return f"{new_version} has AUC {new_auc:.3f}; nothing is promoted yet ({serving.model_version} serves)"
    if serving.ensemble_auc is None:
        return f"{new_version} has AUC {new_auc:.3f}; the serving model {serving.model_version} has no recorded AUC"
    delta = new_auc - serving.ensemble_auc
    return (
        f"{new_version} has AUC {new_auc:.3f} vs {serving.ensemble_auc:.3f} of the serving model "
        f"{serving.model_version} ({delta:+.3f})"
    )


def decide(
    mode: str, new_version: str, new_auc: float, serving: ServingModel, tolerance: float = AUC_TOLERANCE
) -> Decision:
    """What to do with the new model. ValueError for a mode that is not one of PROMOTION_MODES."""
    if mode not in PROMOTION_MODES:
        raise ValueError(f"promotion must be one of {', '.join(PROMOTION_MODES)}; got {mode!r}")
    if serving.model_version == new_version:  # a retry after the promotion went through
        return Decision("promote", f"{new_version} is already the serving model")
    compared = comparison(new_version, new_auc, serving)
    if mode == "never":
        return Decision("keep", f"promotion=never: {compared}; {serving.model_version} stays in service")
    if mode == "approve":
        return Decision("ask", compared)
    if serving.baseline or serving.ensemble_auc is None:
        return Decision("promote", f"auto: {compared}")
    worse_by = serving.ensemble_auc - new_auc
    if worse_by > tolerance:
        return Decision(
            "keep",
            f"auto: {compared}, worse by more than the tolerance {tolerance:.3f}; "
            f"{serving.model_version} stays in service",
        )
    return Decision("promote", f"auto: {compared}, within the tolerance {tolerance:.3f}")
