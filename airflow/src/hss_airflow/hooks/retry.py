"""The retry policy of a service call: what is transient, how long to wait, when to give up.

2xx = done; 4xx = refused (permanent: the caller fails the task at once); 5xx, connection errors and timeouts
= transient, retried `attempts` times in all with exponential backoff (a bounded Retry-After on 503 wins); 429
= back-pressure (workflow-audio's queue is full), retried for BACKPRESSURE_BUDGET_S seconds of waiting in all,
honouring Retry-After, without using up the attempts. Expressed as tenacity arguments for
HttpHook.run_with_advanced_retry.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from hss_airflow.hooks.errors import ServiceUnavailable
from hss_airflow.hooks.validation import error_summary, is_retryable_status

MAX_RETRY_AFTER_S = 60.0  # a Retry-After above this is capped: a task must not sleep for hours
# A 429 is back-pressure (workflow-audio's queue is full), not a failure: it is retried for this long in all,
# honouring Retry-After, without using up the attempts that count connection errors, timeouts and 5xx.
BACKPRESSURE_BUDGET_S = 600.0
MAX_BACKOFF_S = 30.0
TRANSIENT_EXCEPTIONS: tuple[type[BaseException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


def retry_after_seconds(headers: Mapping[str, str], cap: float = MAX_RETRY_AFTER_S) -> float | None:
    """Retry-After as seconds (delta-seconds or HTTP date), bounded by `cap`; None when absent or unreadable."""
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(raw).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), cap)


def describe_exception(exc: BaseException, timeout: float | None = None) -> str:
    if isinstance(exc, requests.Timeout):
        limit = f" after {timeout:g} s" if timeout is not None else ""
        return f"timed out{limit} (request_timeout): {exc}"
    if isinstance(exc, requests.ConnectionError):
        cause = getattr(exc.args[0], "reason", None) if exc.args else None  # urllib3's MaxRetryError.reason
        return f"connection failed: {cause or exc}"
    return f"{type(exc).__name__}: {exc}"


def http_retry_args(
    *,
    attempts: int,
    backoff: float,
    what: str,
    timeout: float | None,
    log: logging.Logger | Any,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """tenacity arguments for HttpHook.run_with_advanced_retry (with extra_options check_response=False).

    Retries connection errors, timeouts and 5xx `attempts` times in all, waiting backoff * 2**n (or a bounded
    Retry-After on 503), and 429s for BACKPRESSURE_BUDGET_S seconds of waiting in all (Retry-After honoured),
    logging each reason; then raises ServiceUnavailable. Any other response (2xx, 4xx) is returned to the
    caller to interpret.
    """
    tally = {"failures": 0, "busy_waited": 0.0}

    def busy(state: Any) -> bool:
        outcome = state.outcome
        return outcome is not None and not outcome.failed and outcome.result().status_code == 429

    def reason(state: Any) -> str:
        outcome = state.outcome
        if outcome.failed:
            return describe_exception(outcome.exception(), timeout)
        response = outcome.result()
        return error_summary(response.status_code, response.text)

    def should_retry(state: Any) -> bool:
        outcome = state.outcome
        if outcome.failed:
            return isinstance(outcome.exception(), TRANSIENT_EXCEPTIONS)
        return is_retryable_status(outcome.result().status_code)

    # tenacity calls wait, then stop, after each attempt it retries: wait counts, stop decides.
    def wait(state: Any) -> float:
        outcome = state.outcome
        if not busy(state):
            tally["failures"] += 1
        seconds = min(backoff * 2 ** max(tally["failures"] - 1, 0), MAX_BACKOFF_S)
        if outcome is not None and not outcome.failed and outcome.result().status_code in (429, 503):
            hinted = retry_after_seconds(outcome.result().headers)
            if hinted is not None:
                seconds = hinted
        if busy(state):
            tally["busy_waited"] += seconds
        return seconds

    def stop(state: Any) -> bool:
        if busy(state):
            return tally["busy_waited"] > BACKPRESSURE_BUDGET_S
        return tally["failures"] >= attempts

    def before_sleep(state: Any) -> None:
        pause = state.next_action.sleep if state.next_action else 0.0
        if busy(state):
            log.warning(
                "%s: the service is busy (%s); retrying in %.2f s (%.0f of %.0f s of back-pressure waited)",
                what,
                reason(state),
                pause,
                tally["busy_waited"],
                BACKPRESSURE_BUDGET_S,
            )
            return
        log.warning(
            "%s: attempt %d/%d failed (%s); retrying in %.2f s", what, tally["failures"], attempts, reason(state), pause
        )

    def give_up(state: Any) -> None:
        raise ServiceUnavailable(f"{what}: still failing after {state.attempt_number} attempts: {reason(state)}")

    return {
        "retry": should_retry,
        "wait": wait,
        "stop": stop,
        "before_sleep": before_sleep,
        "retry_error_callback": give_up,
        "sleep": sleep,
    }
