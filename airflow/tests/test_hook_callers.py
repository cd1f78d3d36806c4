"""The callers outside the operators reach the services through WorkflowServiceHook: the training feature
extraction (training_features.call_service) and rescore_library (rescore.prediction_client), on a scripted fake
service standing in for the catalog's connection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from airflow.providers.http.hooks.http import HttpHook

from contracts.catalog import AUDIO, AUDIO_ANALYZE, PREDICT_SINGLE, PREDICTION
from hss_airflow.hooks import ServiceRejected, ServiceUnavailable, WorkflowServiceHook
from hss_airflow.rescore import prediction_client
from hss_airflow.training_features import call_service

REFUSED = {"error": {"code": "file_not_found", "message": "No file at songs/x.wav"}}
PAYLOAD = {"song_id": "s1", "song_path": "songs/x.wav"}


def test_the_hook_is_the_http_providers_with_the_api_key_header_and_no_basic_auth() -> None:
    hook = WorkflowServiceHook.for_service(AUDIO, request_timeout=5)
    assert isinstance(hook, HttpHook) and hook.http_conn_id == AUDIO.conn_id
    assert hook.auth_type() is None  # the password is the X-API-Key header, never basic auth


def test_feature_extraction_calls_go_through_the_hook(
    fake_service: Callable[..., Any], http_connection: Callable[..., str]
) -> None:
    service, _ = fake_service((422, REFUSED, {}, 0.0), (401, None, {}, 0.0))
    http_connection(AUDIO.conn_id, service.port, "feature-key")
    with pytest.raises(ServiceRejected, match=r"HTTP 422 file_not_found: No file at songs/x\.wav"):
        call_service("audio", PAYLOAD, backoff=0.01)
    with pytest.raises(ServiceUnavailable, match="check the connection's password"):  # a 401 drops no row
        call_service("audio", PAYLOAD, backoff=0.01)
    assert [c["path"] for c in service.calls] == [AUDIO_ANALYZE.path] * 2
    assert service.calls[0]["headers"]["X-API-Key"] == "feature-key"


def test_rescore_predictions_go_through_the_hook(
    fake_service: Callable[..., Any], http_connection: Callable[..., str]
) -> None:
    service, _ = fake_service((409, REFUSED, {}, 0.0))
    http_connection(PREDICTION.conn_id, service.port, "rescore-key")
    payload = {"song_id": "s1", "audio_features": {"a": 1.0}, "content_features": {}, "model_version": None}
    with pytest.raises(ServiceRejected, match="HTTP 409"):
        prediction_client(timeout=5)(payload)
    assert service.calls[0]["path"] == PREDICT_SINGLE.path and service.calls[0]["headers"]["X-API-Key"] == "rescore-key"


def test_a_call_looks_its_connection_up_once_and_the_next_call_sees_a_changed_key(
    fake_service: Callable[..., Any], http_connection: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # In a task every look-up is a round trip to its supervisor; HttpHook asks at every request (the base URL).
    unavailable, refused = (503, None, {}, 0.0), (422, REFUSED, {}, 0.0)
    service, _ = fake_service(unavailable, unavailable, refused, refused)
    http_connection(AUDIO.conn_id, service.port, "first-key")
    looked_up: list[str] = []
    original = HttpHook.get_connection.__func__  # BaseHook's classmethod

    def counting(cls: type, conn_id: str) -> Any:
        looked_up.append(conn_id)
        return original(cls, conn_id)

    monkeypatch.setattr(HttpHook, "get_connection", classmethod(counting))
    hook = WorkflowServiceHook.for_service(AUDIO, request_timeout=5, backoff=0.01)
    with pytest.raises(ServiceRejected, match="HTTP 422"):  # two 503s retried, then the 422
        hook.call(AUDIO_ANALYZE, PAYLOAD)
    assert len(service.calls) == 3 and looked_up == [AUDIO.conn_id]  # three requests, one look-up
    http_connection(AUDIO.conn_id, service.port, "second-key")  # the key changed between two calls
    with pytest.raises(ServiceRejected, match="HTTP 422"):
        hook.call(AUDIO_ANALYZE, PAYLOAD)
    assert [c["headers"]["X-API-Key"] for c in service.calls] == ["first-key"] * 3 + ["second-key"]
    assert looked_up == [AUDIO.conn_id] * 2
    assert hook.get_connection(AUDIO.conn_id).password == "second-key" and len(looked_up) == 3  # none kept after
