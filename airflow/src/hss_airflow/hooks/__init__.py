"""The hook layer: the only modules of hss_airflow that speak HTTP (airflow/tests/test_hook_boundary.py).

`WorkflowServiceHook` (sync, `HttpHook`) and `WorkflowServiceAsyncHook` (the triggerer's, `HttpAsyncHook`) own the
connection, the API key header, timeouts, the retry policy, contract validation and the error classes.
"""

from hss_airflow.hooks.errors import ServiceCallError, ServiceRejected, ServiceUnavailable, airflow_errors
from hss_airflow.hooks.training_jobs import DEFAULT_MAX_POLL_FAILURES, job_endpoint, job_result
from hss_airflow.hooks.validation import parse_model
from hss_airflow.hooks.workflow_service import (
    API_KEY_HEADER,
    WorkflowServiceAsyncHook,
    WorkflowServiceHook,
    call_service,
)

__all__ = [
    "API_KEY_HEADER",
    "DEFAULT_MAX_POLL_FAILURES",
    "ServiceCallError",
    "ServiceRejected",
    "ServiceUnavailable",
    "WorkflowServiceAsyncHook",
    "WorkflowServiceHook",
    "airflow_errors",
    "call_service",
    "job_endpoint",
    "job_result",
    "parse_model",
]
