"""The plain logic behind the workflow operators and the training trigger (no Airflow imports).

- validate what is sent and what comes back with the contract models, naming the offending fields;
- classify outcomes: 2xx = done, 4xx = refused (permanent: fail the task at once), 5xx / 429 / connection
  errors / timeouts = transient (retried with exponential backoff, honouring a bounded Retry-After);
- turn the services' error envelope into a one-line message (HTTP status, `error.code`, `error.message`);
- read a song's lyrics sidecar (`songs/x.wav` -> `songs/x.txt`) inside the data root only;
- follow a training job's polls (progress logging, tolerated transient failures, the final verdict).

Errors are `ServiceRejected` (permanent) or `ServiceUnavailable` (transient); the operators map them to
AirflowFailException / AirflowException.
"""

from __future__ import annotations

import ast
import json
import logging
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from pydantic import BaseModel, ValidationError

from contracts.catalog import TRAINING_JOB
from contracts.content import MAX_LYRICS_CHARS
from contracts.errors import ErrorEnvelope
from contracts.training import JobStatus, TrainingJob
from hss_airflow.storage import DataPathError, resolve_in_root

API_KEY_HEADER = "X-API-Key"
MAX_RETRY_AFTER_S = 60.0  # a Retry-After above this is capped: a task must not sleep for hours
# A 429 is back-pressure (workflow-audio's queue is full), not a failure: it is retried for this long in all,
# honouring Retry-After, without using up the attempts that count connection errors, timeouts and 5xx.
BACKPRESSURE_BUDGET_S = 600.0
MAX_BACKOFF_S = 30.0
DEFAULT_MAX_POLL_FAILURES = 10  # consecutive failed polls of a training job before giving up
TRANSIENT_EXCEPTIONS: tuple[type[BaseException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)
_NONE_STRINGS = {"", "none", "null"}


class ServiceCallError(Exception):
    retryable = False


class ServiceRejected(ServiceCallError):
    """Permanent: a 4xx, a contract violation, an input that can never work. Retrying cannot help."""


class ServiceUnavailable(ServiceCallError):
    """Transient and still failing after the in-task retries; the task's own retries may help."""

    retryable = True


# --- inputs ------------------------------------------------------------------------------------


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


def describe_validation_error(exc: ValidationError, limit: int = 8) -> str:
    """'features: Field required; highlights.key: Input should be a valid string' (first `limit` errors)."""
    errors = exc.errors()
    parts = [f"{'.'.join(str(p) for p in err['loc']) or '<body>'}: {err['msg']}" for err in errors[:limit]]
    if len(errors) > limit:
        parts.append(f"... and {len(errors) - limit} more")
    return "; ".join(parts)


def parse_model(model: type[BaseModel], data: Any, what: str) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ServiceRejected(f"{what} is not a valid {model.__name__}: {describe_validation_error(exc)}") from None


def validate_request(model: type[BaseModel], payload: Mapping[str, Any], what: str) -> dict[str, Any]:
    """The payload as JSON-able dict, or ServiceRejected (nothing is sent) naming the bad fields."""
    try:
        return model.model_validate(dict(payload)).model_dump(mode="json")
    except ValidationError as exc:
        raise ServiceRejected(
            f"{what}: refusing to send an invalid {model.__name__}: {describe_validation_error(exc)}"
        ) from None


def validate_response(model: type[BaseModel], text: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        raise ServiceRejected(f"{what}: the response is not JSON: {text[:200]!r}") from None
    try:
        return model.model_validate(data).model_dump(mode="json")
    except ValidationError as exc:
        raise ServiceRejected(
            f"{what}: the response violates the {model.__name__} contract: {describe_validation_error(exc)}"
        ) from None


def api_key_headers(api_key: str | None) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if api_key:
        headers[API_KEY_HEADER] = api_key
    return headers


def no_basic_auth(*_args: Any) -> None:
    """`auth_type` for the HTTP hooks: the connection's password is the API key header, never basic auth."""
    return None


def job_endpoint(job_id: str) -> str:
    """The path of one training job (the id quoted: it comes from the service, and a URL part)."""
    return TRAINING_JOB.format_path(job_id=quote(job_id, safe=""))


# --- outcomes ----------------------------------------------------------------------------------


def is_retryable_status(status: int) -> bool:
    return status == 429 or status >= 500


def error_summary(status: int, text: str) -> str:
    """'HTTP 404 file_not_found: No file at ... (details: {...})' from the error envelope, or the raw body."""
    try:
        error = ErrorEnvelope.model_validate_json(text).error
    except ValidationError:
        body = " ".join(text.split())[:300]
        return f"HTTP {status}: {body or '(empty body)'}"
    summary = f"HTTP {status} {error.code}: {error.message}"
    if error.details:
        summary += f" (details: {json.dumps(error.details, default=str)[:300]})"
    return summary


def interpret_response(status: int, text: str, response_model: type[BaseModel], what: str) -> dict[str, Any]:
    if 200 <= status < 300:
        return validate_response(response_model, text, what)
    summary = error_summary(status, text)
    if is_retryable_status(status):
        raise ServiceUnavailable(f"{what}: {summary}")
    raise ServiceRejected(f"{what} was refused: {summary}")


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


# --- lyrics sidecar ----------------------------------------------------------------------------


def read_sidecar_lyrics(song_path: str, data_root: Path) -> str | None:
    """Lyrics from `<song>.txt` next to the audio; None when there is no sidecar (an instrumental).

    `song_path` is relative to the data root (or absolute inside it). A sidecar that resolves outside
    the root (through '..', an absolute path or a symlink) is refused, as the services refuse such paths:
    this is where the task opens the sidecar, so this is where its path is checked.
    """
    try:
        sidecar_name = Path(song_path).with_suffix(".txt")
    except ValueError:
        raise ServiceRejected(f"song_path {song_path!r} names no file, so it has no lyrics sidecar") from None
    try:
        sidecar = resolve_in_root(str(sidecar_name), data_root, kind="lyrics sidecar")
    except DataPathError as exc:
        if exc.reason == DataPathError.MISSING:
            return None
        raise ServiceRejected(f"lyrics sidecar refused: {exc}") from None
    max_bytes = 4 * MAX_LYRICS_CHARS  # UTF-8 needs at most 4 bytes a character
    size = sidecar.stat().st_size
    if size > max_bytes:
        raise ServiceRejected(
            f"lyrics sidecar {str(sidecar_name)!r} is {size} bytes; lyrics are limited to {MAX_LYRICS_CHARS} characters"
        )
    try:
        return sidecar.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ServiceRejected(f"lyrics sidecar {str(sidecar_name)!r} is not UTF-8 text: {exc}") from None
    except OSError as exc:
        raise ServiceRejected(f"lyrics sidecar {str(sidecar_name)!r} cannot be read: {exc.strerror or exc}") from None


# --- training jobs -----------------------------------------------------------------------------


class JobTracker:
    """Follows one training job's polls; the trigger (async) and the synchronous poll loop share it."""

    def __init__(
        self, job_id: str, *, log: logging.Logger | Any, max_consecutive_failures: int = DEFAULT_MAX_POLL_FAILURES
    ) -> None:
        self.job_id = job_id
        self.what = f"GET {job_endpoint(job_id)}"
        self.log = log
        self.max_consecutive_failures = max(1, max_consecutive_failures)
        self.failures = 0
        self._last: tuple[JobStatus, str] | None = None
        self._last_progress = -1.0

    def on_response(self, status: int, text: str) -> TrainingJob | None:
        """The finished job, or None to keep polling. ServiceRejected on a 4xx or a contract violation."""
        if is_retryable_status(status):
            self.on_transient(error_summary(status, text))
            return None
        job = TrainingJob.model_validate(interpret_response(status, text, TrainingJob, self.what))
        self.failures = 0
        self._log_progress(job)
        return job if job.status.finished else None

    def on_transient(self, reason: str) -> None:
        self.failures += 1
        if self.failures >= self.max_consecutive_failures:
            raise ServiceUnavailable(f"{self.what}: {self.failures} consecutive failed polls; last: {reason}")
        self.log.warning(
            "%s failed (%s); %d/%d consecutive failures, polling on",
            self.what,
            reason,
            self.failures,
            self.max_consecutive_failures,
        )

    def _log_progress(self, job: TrainingJob) -> None:
        state = (job.status, job.stage)
        if state != self._last or job.progress >= self._last_progress + 0.1:
            self.log.info("training job %s: %s %3.0f%% %s", job.job_id, job.status.value, job.progress * 100, job.stage)
            self._last, self._last_progress = state, job.progress


def job_result(job: TrainingJob, log: logging.Logger | Any | None = None) -> dict[str, Any]:
    """A finished job's JSON when it succeeded; ServiceRejected (bad input) or ServiceUnavailable when it failed."""
    if job.status == JobStatus.succeeded:
        if log is not None and job.metrics is not None:
            log.info(
                "training %s succeeded: model %s, ensemble AUC %.3f on %d rows",
                job.training_id,
                job.model_version,
                job.metrics.ensemble_auc,
                job.metrics.n_rows,
            )
        return job.model_dump(mode="json")
    if job.status != JobStatus.failed:
        raise ServiceRejected(f"training job {job.job_id!r} is not finished ({job.status.value})")
    message = f"training job {job.job_id!r} failed: {job.error or '(no error given)'}"
    if job.retryable:  # the service says: an accident (restart, worker died), not bad input
        raise ServiceUnavailable(message)
    raise ServiceRejected(message)
