"""The smart ensemble: pure training logic, no HTTP, no files except what the caller hands in.

1. parse_dataset(): a features CSV -> numeric matrix + 0/1 labels, or a DatasetError saying what is wrong.
2. train_smart_ensemble(): five sklearn pipelines, stratified K-fold out-of-fold probabilities,
   per-model AUC (mean +- std over folds), accuracy, F1; models under the AUC floor are dropped
   (all under: the best one is kept, and a note says so); the rest are weighted by their edge over
   chance, AUC - 0.5 (normalised);
   the kept models are refit on every row.
   Feature importance is honest and cheap: permutation importance of the *ensemble* measured on the
   held-out folds (each fold's models predict one batch holding every permuted copy of the fold).
3. compute_model_version(): '<training_id>@<sha8>' of the dataset bytes + config: same data and
   config -> same version (every estimator is seeded from random_state).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import sklearn
from scipy.stats import rankdata
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from contracts.training import ID_COLUMNS, LABEL, ModelMetrics, TrainingMetrics
from services.common.model_artifacts import EnsembleMember, WeightedEnsemble

MIN_ROWS = 20
MIN_PER_CLASS = 6  # the SVM calibrates inside each training fold (3-fold): it needs a few of each class
RECIPE = "smart-ensemble-v1"  # change it when the model recipes change: it is part of model_version
MODEL_NAMES = ("logistic_regression", "random_forest", "gradient_boosting", "svm", "knn")
TOP_FEATURES = 15
PERMUTATION_REPEATS = 3
_MAX_BATCH_CELLS = 2_000_000  # bounds the memory of one permuted batch

ProgressFn = Callable[[float, str], None]


class DatasetError(ValueError):
    """The dataset cannot be trained on; the message tells a person what to fix."""


@dataclass(frozen=True)
class TrainingConfig:
    cv_folds: int = 5
    auc_floor: float = 0.55
    random_state: int = 42

    def as_dict(self) -> dict[str, object]:
        return {"recipe": RECIPE, **asdict(self)}


@dataclass
class Dataset:
    X: np.ndarray  # float, NaN where a value is missing
    y: np.ndarray  # int 0/1
    feature_names: list[str]
    notes: list[str] = field(default_factory=list)


@dataclass
class TrainingOutcome:
    metrics: TrainingMetrics
    model: WeightedEnsemble


def compute_model_version(training_id: str, data: bytes, config: TrainingConfig) -> str:
    digest = hashlib.sha256(data)
    digest.update(json.dumps(config.as_dict(), sort_keys=True).encode())
    return f"{training_id}@{digest.hexdigest()[:8]}"


def _names(columns: list[str], limit: int = 5) -> str:
    shown = ", ".join(f"'{c}'" for c in columns[:limit])
    return shown + (f" and {len(columns) - limit} more" if len(columns) > limit else "")


def parse_dataset(data: bytes, cv_folds: int = 5, max_rows: int | None = None) -> Dataset:
    """Parse and validate a features CSV given as bytes; more than `max_rows` data rows is a DatasetError."""
    if not data.strip():
        raise DatasetError("the dataset file is empty")
    if b"\x00" in data[:8192]:
        raise DatasetError("the dataset is not a text CSV file (it holds binary data)")
    try:
        df = pd.read_csv(io.BytesIO(data), nrows=None if max_rows is None else max_rows + 1)
    except pd.errors.EmptyDataError as exc:
        raise DatasetError("the dataset has no columns (an empty CSV)") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DatasetError(f"the dataset is not a readable CSV: {exc}") from exc
    if max_rows is not None and len(df) > max_rows:
        raise DatasetError(f"the dataset has more than HSS_TRAINING_MAX_DATASET_ROWS={max_rows} rows")
    df.columns = [str(c).strip() for c in df.columns]
    if LABEL not in df.columns:
        raise DatasetError(
            f"the dataset has no '{LABEL}' column (the 0/1 label); columns found: {_names(list(df.columns))}"
        )
    if df.empty:
        raise DatasetError("the dataset has a header but no rows")

    labels = pd.to_numeric(df[LABEL], errors="coerce")
    bad = ~labels.isin([0, 1])
    if bad.any():
        rows = [int(i) + 2 for i in np.flatnonzero(bad.to_numpy())[:5]]  # +2: header line, 1-based
        raise DatasetError(f"column '{LABEL}' must be 0 or 1 on every row; bad values on CSV line(s) {rows}")
    y = labels.to_numpy(dtype=int)
    n = len(y)
    if n < MIN_ROWS:
        raise DatasetError(f"too few rows: {n} (training needs at least {MIN_ROWS})")
    counts = np.bincount(y, minlength=2)
    if counts.min() == 0:
        only = "hits (1)" if counts[1] else "non-hits (0)"
        raise DatasetError(f"column '{LABEL}' has only one class: all {n} rows are {only}; both classes are needed")
    need = max(cv_folds, MIN_PER_CLASS)
    if counts.min() < need:
        cls = int(np.argmin(counts))
        raise DatasetError(
            f"too few rows of class {cls}: {counts[cls]}; {cv_folds}-fold stratified cross-validation of the five "
            f"models needs at least {need} rows of each class"
        )

    notes: list[str] = []
    unnamed = [c for c in df.columns if c.startswith("Unnamed: ")]
    if unnamed:
        notes.append(f"left out unnamed column(s) {_names(unnamed)} (a saved DataFrame index, not a feature)")
    candidates = [c for c in df.columns if c != LABEL and c not in ID_COLUMNS and c not in unnamed]
    non_numeric = [
        c for c in candidates if not (pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]))
    ]
    if non_numeric:
        first = df[non_numeric[0]].dropna()
        example = f" (e.g. value {str(first.iloc[0])!r} in '{non_numeric[0]}')" if len(first) else ""
        raise DatasetError(
            f"non-numeric feature column(s): {_names(non_numeric)}{example}; encode them as numbers or drop them "
            f"(only {', '.join(ID_COLUMNS)} may hold text)"
        )
    empty = [c for c in candidates if df[c].isna().all()]
    if empty:
        notes.append(f"left out feature column(s) with no values: {_names(empty)}")
    features = [c for c in candidates if c not in empty]
    if not features:
        raise DatasetError(
            f"no feature columns: besides '{LABEL}' and the identifier/text columns ({', '.join(ID_COLUMNS)}) "
            "the dataset has no numeric column with values"
        )
    X = df[features].to_numpy(dtype=float)
    infinite = [features[j] for j in np.flatnonzero(np.isinf(X).any(axis=0))]
    if infinite:
        raise DatasetError(f"feature column(s) {_names(infinite)} hold infinite values")
    return Dataset(X=X, y=y, feature_names=features, notes=notes)


def build_candidates(config: TrainingConfig, n_rows: int) -> dict[str, Pipeline]:
    """The five candidate models (unfitted). Median imputation everywhere, scaling where distances matter."""
    rs = config.random_state
    smallest_train_fold = n_rows - -(-n_rows // config.cv_folds)  # rows left for training in the largest split
    k = max(1, min(15, smallest_train_fold // 2))

    def pipe(model: object, scale: bool) -> Pipeline:
        steps: list[tuple[str, object]] = [("impute", SimpleImputer(strategy="median"))]
        if scale:
            steps.append(("scale", StandardScaler()))
        steps.append(("model", model))
        return Pipeline(steps)

    return {
        "logistic_regression": pipe(LogisticRegression(C=1.0, max_iter=2000), scale=True),
        "random_forest": pipe(
            RandomForestClassifier(n_estimators=60, min_samples_leaf=2, random_state=rs, n_jobs=1), scale=False
        ),
        "gradient_boosting": pipe(
            GradientBoostingClassifier(n_estimators=60, max_depth=2, learning_rate=0.1, subsample=0.8, random_state=rs),
            scale=False,
        ),
        # Platt-scaled SVM (SVC(probability=True) is deprecated since scikit-learn 1.9); cv=3 is deterministic.
        "svm": pipe(
            CalibratedClassifierCV(SVC(C=1.0, kernel="rbf"), method="sigmoid", cv=3, ensemble=False), scale=True
        ),
        "knn": pipe(KNeighborsClassifier(n_neighbors=k, weights="distance"), scale=True),
    }


def _permuted_batches(X_val: np.ndarray, rng: np.random.Generator, repeats: int) -> list[tuple[list[int], np.ndarray]]:
    """Copies of X_val with one column shuffled, stacked (feature-major, then repeat), in bounded chunks."""
    n_val, n_feat = X_val.shape
    per_feature = repeats * n_val * n_feat
    chunk = max(1, _MAX_BATCH_CELLS // max(per_feature, 1))
    batches = []
    for start in range(0, n_feat, chunk):
        cols = list(range(start, min(n_feat, start + chunk)))
        blocks = []
        for j in cols:
            for _ in range(repeats):
                block = X_val.copy()
                block[:, j] = block[rng.permutation(n_val), j]
                blocks.append(block)
        batches.append((cols, np.vstack(blocks)))
    return batches


def _auc_rows(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC AUC of each row of `scores` against labels y (Mann-Whitney U with average ranks for ties).

    Same value as sklearn's roc_auc_score, vectorised: the permutation importance needs hundreds of them.
    """
    ranks = rankdata(scores, axis=-1)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    return (ranks[..., y == 1].sum(axis=-1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def weigh_models(auc: dict[str, float], floor: float) -> tuple[dict[str, float], list[str], list[str]]:
    """The "smart" part: drop models under the AUC floor, weight the rest by AUC - 0.5 (normalised to sum 1).

    Weighting by the edge over chance, not raw AUC: raw AUCs of 0.74..0.84 gave near-equal weights
    (0.19..0.21) and an ensemble below its best member; the edge separates good models from poor ones.

    Returns (weight per model, 0 for the dropped; included names; notes). When every model is under the
    floor, the best one is kept alone and a note says so.
    """
    included = [name for name in auc if auc[name] >= floor]
    notes = []
    if not included:
        best = max(auc, key=lambda name: auc[name])  # ties: the first in insertion order
        included = [best]
        notes.append(
            f"every model's AUC was below the floor {floor:.2f}; kept the best one anyway ({best}, AUC {auc[best]:.3f})"
        )
    edge = {name: max(auc[name] - 0.5, 0.0) for name in included}
    total = sum(edge.values())
    if total == 0:  # every kept model is at (or under) chance: no basis to prefer one
        edge = dict.fromkeys(included, 1.0)
        total = float(len(included))
    weights = {name: (edge[name] / total if name in included else 0.0) for name in auc}
    return weights, included, notes


def _round(x: float) -> float:
    return round(float(x), 6)


def train_smart_ensemble(
    dataset: Dataset,
    config: TrainingConfig,
    *,
    training_id: str,
    model_version: str,
    progress: ProgressFn | None = None,
) -> TrainingOutcome:
    report = progress or (lambda _fraction, _stage: None)
    X, y, names = dataset.X, dataset.y, dataset.feature_names
    n, n_feat = X.shape
    candidates = build_candidates(config, n)
    folds = list(StratifiedKFold(config.cv_folds, shuffle=True, random_state=config.random_state).split(X, y))
    rng = np.random.default_rng(config.random_state)

    oof = {name: np.zeros(n) for name in candidates}
    fold_aucs: dict[str, list[float]] = {name: [] for name in candidates}
    # permuted[name][fold] : (n_feat, repeats, n_val) held-out P(hit) with feature j shuffled
    permuted: dict[str, list[np.ndarray]] = {name: [] for name in candidates}
    steps, done = len(folds) * len(candidates), 0
    for fold_no, (train_idx, val_idx) in enumerate(folds, start=1):
        X_val = X[val_idx]
        batches = _permuted_batches(X_val, rng, PERMUTATION_REPEATS)
        for name, proto in candidates.items():
            report(0.05 + 0.75 * done / steps, f"cross-validating {name} (fold {fold_no}/{len(folds)})")
            est = clone(proto).fit(X[train_idx], y[train_idx])
            p = est.predict_proba(X_val)[:, 1]
            oof[name][val_idx] = p
            fold_aucs[name].append(roc_auc_score(y[val_idx], p))
            out = np.empty((n_feat, PERMUTATION_REPEATS, len(val_idx)))
            for cols, batch in batches:
                probs = est.predict_proba(batch)[:, 1]
                out[cols[0] : cols[-1] + 1] = probs.reshape(len(cols), PERMUTATION_REPEATS, len(val_idx))
            permuted[name].append(out)
            done += 1

    report(0.8, "weighting the ensemble")
    auc = {name: float(np.mean(fold_aucs[name])) for name in candidates}
    weights, included, floor_notes = weigh_models(auc, config.auc_floor)
    notes = [*dataset.notes, *floor_notes]

    ensemble_oof = sum(weights[name] * oof[name] for name in included)
    ens_fold_aucs = [roc_auc_score(y[val], ensemble_oof[val]) for _, val in folds]
    importance = np.zeros(n_feat)
    for f, (_, val) in enumerate(folds):
        ens_perm = sum(weights[name] * permuted[name][f] for name in included)  # (n_feat, repeats, n_val)
        drops = ens_fold_aucs[f] - _auc_rows(y[val], ens_perm)
        importance += drops.mean(axis=1) / len(folds)
    top = sorted(range(n_feat), key=lambda j: (-importance[j], names[j]))[:TOP_FEATURES]

    models = []
    for name in candidates:
        predicted = (oof[name] >= 0.5).astype(int)
        models.append(
            ModelMetrics(
                name=name,
                auc=_round(auc[name]),
                auc_std=_round(np.std(fold_aucs[name])),
                accuracy=_round(accuracy_score(y, predicted)),
                f1=_round(f1_score(y, predicted, zero_division=0)),
                weight=_round(weights[name]),
                included=name in included,
            )
        )
    ens_pred = (ensemble_oof >= 0.5).astype(int)

    members = []
    for i, name in enumerate(included):
        report(0.82 + 0.13 * i / len(included), f"refitting {name} on all {n} rows")
        members.append(EnsembleMember(name=name, weight=weights[name], estimator=clone(candidates[name]).fit(X, y)))
    report(0.95, "ensemble trained")

    metrics = TrainingMetrics(
        models=models,
        ensemble_auc=_round(np.mean(ens_fold_aucs)),
        ensemble_accuracy=_round(accuracy_score(y, ens_pred)),
        ensemble_f1=_round(f1_score(y, ens_pred, zero_division=0)),
        n_rows=n,
        n_features=n_feat,
        positive_rate=_round(y.mean()),
        feature_importances={names[j]: _round(importance[j]) for j in top},
        notes=notes,
    )
    medians = np.nanmedian(X, axis=0)  # no all-NaN column: parse_dataset left those out
    model = WeightedEnsemble(
        training_id=training_id,
        model_version=model_version,
        feature_names=list(names),
        medians=[float(m) for m in medians],
        members=members,
        created_at=datetime.now(UTC),
        sklearn_version=sklearn.__version__,
        extra={"config": config.as_dict(), "ensemble_auc": metrics.ensemble_auc},
    )
    return TrainingOutcome(metrics=metrics, model=model)
