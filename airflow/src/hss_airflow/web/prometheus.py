"""The Operations page's one outside call: Prometheus' HTTP API (GET /api/v1/query_range), nothing else.

Standard library only (urllib.request): import-linter's "only hss_airflow.hooks speaks HTTP" forbids
requests, httpx, aiohttp and urllib3 in the rest of hss_airflow, and Prometheus is no service of ours, so
WorkflowServiceHook (API key, retries, the services' contracts) is no fit either.
"""

from __future__ import annotations

import http.client
import json
import math
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

MAX_BYTES = 8 * 1024 * 1024  # a page of 60-120 points per series never comes near; a runaway answer stops here
# Prometheus is an address inside the stack, reached directly: an HTTP(S)_PROXY set in the api-server's
# environment for the outside world must not get these requests.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class PrometheusError(Exception):
    """Prometheus answered, but not with a result: a bad query, an error, an answer of the wrong shape."""


class Unreachable(PrometheusError):
    """No answer at all: refused, unknown host, timed out."""


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: list[tuple[float, float]]  # (unix seconds, value); NaN and ±Inf left out


def query_range(base_url: str, query: str, *, start: float, end: float, step: float, timeout: float) -> list[Series]:
    """The matrix of `query` over [start, end] every `step` seconds. Raises Unreachable or PrometheusError."""
    params = {
        "query": query,
        "start": f"{start:.3f}",
        "end": f"{end:.3f}",
        "step": f"{step:g}",
        "timeout": f"{timeout:g}s",
    }
    url = f"{base_url.rstrip('/')}/api/v1/query_range?{urlencode(params)}"
    try:
        with _OPENER.open(urllib.request.Request(url, headers={"Accept": "application/json"}), timeout=timeout) as resp:
            body = resp.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:  # 400 bad query, 422 cannot execute, 503 overloaded: JSON says why
        raise PrometheusError(_error_of(exc)) from None
    except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, resets, a cut-off answer
        raise Unreachable(str(getattr(exc, "reason", exc)) or type(exc).__name__) from None
    if len(body) > MAX_BYTES:
        raise PrometheusError(f"the answer is larger than {MAX_BYTES} bytes")
    return _matrix(body)


def _error_of(exc: urllib.error.HTTPError) -> str:
    try:
        answer = json.loads(exc.read(64 * 1024) or b"null")
    except (ValueError, OSError):
        answer = None
    if isinstance(answer, dict) and isinstance(answer.get("error"), str):
        return f"{answer.get('errorType') or 'error'}: {answer['error']}"
    return f"HTTP {exc.code} {exc.reason}"


def _matrix(body: bytes) -> list[Series]:
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested too deep to parse
        raise PrometheusError("the answer is not JSON") from None
    if not isinstance(answer, dict) or answer.get("status") != "success":
        error = answer.get("error") if isinstance(answer, dict) else None
        raise PrometheusError(str(error or "the answer is not a success"))
    data = answer.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "matrix" or not isinstance(data.get("result"), list):
        raise PrometheusError("the answer is not a matrix")
    return [_series(item) for item in data["result"]]


def _series(item: Any) -> Series:
    if (
        not isinstance(item, dict)
        or not isinstance(item.get("metric"), dict)
        or not isinstance(item.get("values"), list)
    ):
        raise PrometheusError("a series of the answer has no metric or values")
    points = []
    for pair in item["values"]:
        try:
            stamp, value = float(pair[0]), float(pair[1])
        except (TypeError, ValueError, IndexError, KeyError):
            raise PrometheusError(f"a point of the answer is not [time, value]: {str(pair)[:80]}") from None
        if math.isfinite(value) and math.isfinite(stamp):  # NaN: e.g. a quantile of no requests
            points.append((stamp, value))
    return Series({str(k): str(v) for k, v in item["metric"].items()}, points)
