"""The errors of a service call, and how a task turns them into Airflow's exceptions.

`ServiceRejected` is permanent (a 4xx, a contract violation, an input that can never work): the task fails at
once, without retry. `ServiceUnavailable` is transient and still failing after the hook's in-task retries: the
task fails and its own `retries` apply.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from airflow.sdk.exceptions import AirflowException, AirflowFailException


class ServiceCallError(Exception):
    retryable = False


class ServiceRejected(ServiceCallError):
    """Permanent: a 4xx, a contract violation, an input that can never work. Retrying cannot help."""


class ServiceUnavailable(ServiceCallError):
    """Transient and still failing after the in-task retries; the task's own retries may help."""

    retryable = True


@contextmanager
def airflow_errors() -> Iterator[None]:
    """ServiceRejected -> AirflowFailException (no retry); ServiceUnavailable -> AirflowException (retries)."""
    try:
        yield
    except ServiceRejected as exc:
        raise AirflowFailException(str(exc)) from exc
    except ServiceUnavailable as exc:
        raise AirflowException(str(exc)) from exc
