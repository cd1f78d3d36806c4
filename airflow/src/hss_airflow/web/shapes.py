"""The shape the /hss pages need of a result file or a training report, checked before a page reads it.

A file of the wrong shape (a JSON list, `hit_probability: "abc"`, `audio.features: []`, a string where the
report has a count) is *malformed*: the check returns a short reason naming the field and what it holds,
and the pages show that reason instead of the file. Only what the pages read is checked, and only as far
as they read it: a missing optional field is fine, a present one of the wrong type is not.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]


class Malformed(ValueError):
    """Why a document cannot be shown, e.g. "prediction.hit_probability is the string 'abc', not a finite number"."""


def is_number(value: Any) -> bool:
    """A finite JSON number (not a bool; a 400-digit integer is no float either)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def describe(value: Any) -> str:
    """What a JSON value is, for a reason: 'the string '<x>'', 'a list', 'null', ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"the string {shown!r}"
    if isinstance(value, int | float):
        return f"the number {value}" if is_number(value) else "NaN, infinite or too large"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _field(document: dict[str, Any], path: str, check: Check, wanted: str, *, required: bool = False) -> Any:
    """document[path] (dotted, inside objects already checked); Malformed when present and not `check`."""
    *parents, key = path.split(".")
    holder = document
    for parent in parents:
        holder = holder.get(parent) or {}
    value = holder.get(key)
    if value is None and not required:
        return None
    if key not in holder:
        raise Malformed(f"{path} is missing")
    if not check(value):
        raise Malformed(f"{path} is {describe(value)}, not {wanted}")
    return value


def _object(value: Any) -> bool:
    return isinstance(value, dict)


def _list(value: Any) -> bool:
    return isinstance(value, list)


def _string(value: Any) -> bool:
    return isinstance(value, str)


def _top(document: Any, what: str) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise Malformed(f"the {what} is {describe(document)}, not a JSON object")
    return document


def check_analysis(document: Any) -> dict[str, Any]:
    """An analysis result (results/songs/<song_id>/<run>.json) as the pages read it; Malformed otherwise."""
    doc = _top(document, "file")
    _field(doc, "song_id", lambda v: isinstance(v, str) and bool(v), "a song id", required=True)
    _field(doc, "prediction", _object, "an object", required=True)
    _field(doc, "prediction.hit_probability", is_number, "a finite number")
    _field(doc, "prediction.model_version", _string, "a string")
    explanations = _field(doc, "prediction.explanations", _list, "a list") or []
    for part in ("run", "audio", "content", "insights"):
        _field(doc, part, _object, "an object")
    _field(doc, "audio.features", _object, "an object")
    _field(doc, "audio.highlights", _object, "an object")
    _field(doc, "content.sentiment", _object, "an object")
    _field(doc, "insights.summary", _string, "a string")
    recommendations = _field(doc, "insights.recommendations", _list, "a list") or []
    rescores = _field(doc, "rescores", _list, "a list") or []
    for name, items in (("prediction.explanations", explanations), ("insights.recommendations", recommendations)):
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise Malformed(f"{name}[{i}] is {describe(item)}, not an object")
    for i, item in enumerate(rescores):
        if not isinstance(item, dict) or not is_number(item.get("hit_probability")):
            raise Malformed(f"rescores[{i}] is not an object with a numeric hit_probability")
    return doc


def check_report(document: Any) -> dict[str, Any]:
    """A training report (results/training/<id>/report.json) as the pages read it; Malformed otherwise."""
    doc = _top(document, "report")
    _field(doc, "training_id", lambda v: isinstance(v, str) and bool(v), "a training id", required=True)
    _field(doc, "model_version", _string, "a string")
    for count in ("n_rows", "n_features"):
        _field(doc, count, is_count, "a whole number")
    for part in ("dataset", "ensemble", "promotion", "run"):
        _field(doc, part, _object, "an object")
    _field(doc, "dataset.dropped_count", is_count, "a whole number")
    _field(doc, "ensemble.auc", is_number, "a finite number")
    models = _field(doc, "models", _object, "an object") or {}
    for name, model in models.items():
        if not isinstance(model, dict):
            raise Malformed(f"models.{name} is {describe(model)}, not an object")
        for key in ("auc", "auc_std", "weight"):
            if model.get(key) is not None and not is_number(model[key]):
                raise Malformed(f"models.{name}.{key} is {describe(model[key])}, not a finite number")
    importances = _field(doc, "feature_importances", _object, "an object") or {}
    for name, value in importances.items():
        if not is_number(value):
            raise Malformed(f"feature_importances.{name} is {describe(value)}, not a finite number")
    return doc
