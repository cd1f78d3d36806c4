"""The Airflow client's one error type, and how an answer of Airflow becomes a message saying what to check."""

from __future__ import annotations

import json


class AirflowClientError(RuntimeError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _detail(body: str | bytes | None) -> str:
    """FastAPI's {"detail": …} (a string or a list of validation errors) as one readable line."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        detail = json.loads(body or "").get("detail", body)
    except (ValueError, AttributeError):
        return (body or "").strip()[:500]
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(x) for x in item.get("loc", []))
                parts.append(f"{loc}: {item.get('msg', item)}" if loc else str(item.get("msg", item)))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return detail if isinstance(detail, str) else json.dumps(detail)


def _explain(status: int | None, what: str, url: str, detail: str, username: str) -> str:
    if status == 401:
        return (
            f"Airflow at {url} answered 401 Unauthorized to {what} ({detail}). "
            f"Check the user and password (user {username!r}; the stack prints them and writes .stack/stack.json)."
        )
    if status == 403 and "token" in detail.lower():
        return f"Airflow at {url} refused the token to {what} (403: {detail}); log in again (client.login())."
    if status == 403:
        return f"user {username!r} may not {what} (403 Forbidden: {detail})"
    if status == 404:
        hint = " Is the DAG file parsed? Check GET /api/v2/importErrors." if detail.startswith("Dag with") else ""
        return f"{what}: not found (404: {detail}).{hint}"
    if status in (400, 422):  # 400: conf against the DAG's params schema; 422: the body itself
        return f"Airflow refused the request to {what} ({status}: {detail})"
    return f"Airflow answered {status} to {what}: {detail}"
