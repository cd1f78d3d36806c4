"""The shared frame: probes, metrics, error envelope, API key and body limit on a tiny app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import APIRouter, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel

from contracts.errors import ErrorEnvelope
from services.common.app_factory import create_app, settings_of
from services.common.paths import resolve_data_path
from services.common.settings import ServiceSettings
from services.conftest import TEST_API_KEY, keyed_client


class Echo(BaseModel):
    path: str
    count: int


def make_app(data_root: Path, *, api_key: str | None = TEST_API_KEY, ready: bool = True, max_body: int = 4096):
    router = APIRouter()

    @router.post("/echo")
    def echo(body: Echo, request: Request) -> dict:
        resolved = resolve_data_path(body.path, settings_of(request.app).resolved_data_root())
        return {"resolved": resolved.name, "count": body.count}

    @router.get("/boom")
    def boom() -> dict:
        raise RuntimeError("bug")

    settings = ServiceSettings(data_root=data_root, api_key=api_key, max_body_bytes=max_body)
    return create_app(
        name="workflow-test",
        version="9.9",
        description="test",
        routers=[router],
        settings=settings,
        ready_checks=lambda _app: {"model_loaded": ready},
    )


@pytest.fixture
def client(data_root: Path) -> Iterator[TestClient]:
    (data_root / "songs" / "a.wav").write_bytes(b"x")
    with keyed_client(make_app(data_root), raise_server_exceptions=False) as c:
        yield c


def assert_envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = ErrorEnvelope.model_validate(response.json())
    assert body.error.code == code
    assert body.error.message
    return response.json()["error"]


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "service": "workflow-test", "version": "9.9"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"model_loaded": True}


def test_not_ready_is_503_and_names_the_failing_check(data_root: Path) -> None:
    with keyed_client(make_app(data_root, ready=False)) as c:
        response = c.get("/ready")
    assert response.status_code == 503
    assert response.json()["status"] == "not_ready"
    assert "model_loaded" in response.json()["detail"]


def test_metrics_are_prometheus_text_and_count_requests(client: TestClient) -> None:
    client.post("/echo", json={"path": "songs/a.wav", "count": 1})
    text = client.get("/metrics").text
    assert "# TYPE http_requests_total counter" in text
    assert 'handler="/echo"' in text


def test_success_path(client: TestClient) -> None:
    assert client.post("/echo", json={"path": "songs/a.wav", "count": 2}).json() == {"resolved": "a.wav", "count": 2}


def test_validation_error_uses_envelope_with_field_location(client: TestClient) -> None:
    error = assert_envelope(
        client.post("/echo", json={"path": "songs/a.wav", "count": "many"}), 422, "validation_error"
    )
    assert "count" in error["message"]
    assert error["details"][0]["loc"] == ["body", "count"]


def test_malformed_json_is_422_envelope(client: TestClient) -> None:
    response = client.post("/echo", content=b"{not json", headers={"content-type": "application/json"})
    assert_envelope(response, 422, "validation_error")


def test_service_errors_map_to_their_status(client: TestClient) -> None:
    assert_envelope(client.post("/echo", json={"path": "../x", "count": 1}), 403, "path_outside_data_root")
    assert_envelope(client.post("/echo", json={"path": "songs/b.wav", "count": 1}), 404, "file_not_found")


def test_unknown_route_and_method_use_envelope(client: TestClient) -> None:
    assert_envelope(client.get("/nope"), 404, "not_found")
    assert_envelope(client.get("/echo"), 405, "method_not_allowed")


def test_unexpected_exception_is_500_envelope_without_internals(client: TestClient) -> None:
    error = assert_envelope(client.get("/boom"), 500, "internal_error")
    assert "bug" not in error["message"]


def test_api_key_required_when_configured(data_root: Path) -> None:
    (data_root / "songs" / "a.wav").write_bytes(b"x")
    with TestClient(make_app(data_root, api_key="s3cret")) as c:
        body = {"path": "songs/a.wav", "count": 1}
        assert_envelope(c.post("/echo", json=body), 401, "unauthorized")
        assert_envelope(c.post("/echo", json=body, headers={"X-API-Key": "wrong"}), 401, "unauthorized")
        assert c.post("/echo", json=body, headers={"X-API-Key": "s3cret"}).status_code == 200
        assert c.get("/health").status_code == 200
        assert c.get("/ready").status_code == 200


def test_oversized_body_is_413_by_content_length(data_root: Path) -> None:
    with keyed_client(make_app(data_root, max_body=1024)) as c:
        response = c.post("/echo", content=b"x" * 2000, headers={"content-type": "application/json"})
    assert_envelope(response, 413, "payload_too_large")


def test_oversized_chunked_body_is_413(data_root: Path) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"x" * 512

    with keyed_client(make_app(data_root, max_body=1024)) as c:
        response = c.post("/echo", content=chunks(), headers={"content-type": "application/json"})
    assert_envelope(response, 413, "payload_too_large")


def test_settings_read_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HSS_DATA_ROOT", str(tmp_path))
    monkeypatch.setenv("HSS_API_KEY", "k")
    settings = ServiceSettings()
    assert settings.resolved_data_root() == tmp_path.resolve()
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "k"
