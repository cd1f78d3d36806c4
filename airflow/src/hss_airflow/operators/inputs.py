"""The operators' templated inputs as the values they mean (no Airflow imports).

Templated optional strings ('', 'None', 'null' mean "not given") and upstream responses (XCom dicts, pydantic
models, or their JSON / Python-literal renderings). An input that can never work is ServiceRejected.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from hss_airflow.hooks.errors import ServiceRejected

_NONE_STRINGS = {"", "none", "null"}


def coerce_optional_text(value: Any) -> str | None:
    """Templated optional strings: None, '' and the rendered 'None'/'null' all mean 'not given'."""
    if value is None:
        return None
    text = str(value)
    return None if text.strip().lower() in _NONE_STRINGS else text


def coerce_document(value: Any, what: str) -> dict[str, Any] | None:
    """An upstream response as a dict: XCom dicts, pydantic models, or JSON / Python-literal strings."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return dict(value)
    if value is None or (isinstance(value, str) and coerce_optional_text(value) is None):
        return None
    if isinstance(value, str):
        for parse in (json.loads, ast.literal_eval):
            try:
                parsed = parse(value)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
            if isinstance(parsed, dict):
                return parsed
    raise ServiceRejected(f"{what} must be a JSON object (the upstream task's response), got {type(value).__name__}")
