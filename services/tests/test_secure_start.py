"""Fail closed: a service does not start without a real HSS_API_KEY (unless HSS_ALLOW_NO_API_KEY=true, which
warns), the model services not without a real HSS_MODEL_SIGNING_KEY (no bypass), a placeholder of .env.example
counts as missing, a wrong key is 401 and the probes stay open. Proven in-process for all five services and
by starting uvicorn the way the stacks do (`services.<name>.app:app`)."""

from __future__ import annotations

import logging
import os
import string
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from contracts.catalog import LYRICS_ANALYZE, SERVICES
from services.common.security import GENERATE_COMMAND, InsecureConfiguration
from services.conftest import TEST_SIGNING_KEY
from stack.processes import free_port

NAMES = [spec.name for spec in SERVICES]
MODEL_SERVICES = ["workflow-ml-training", "workflow-ml-prediction"]
SECRETS = ("HSS_API_KEY", "HSS_ALLOW_NO_API_KEY", "HSS_MODEL_SIGNING_KEY")
SIGNING = {"model_signing_key": TEST_SIGNING_KEY}


@pytest.fixture(autouse=True)
def no_secrets_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)


def build(service: str, root: Path, **fields: Any) -> Any:
    """The service's app, built as build_app() builds it, with settings `fields`."""
    if service == "workflow-audio":
        from services.audio.app import build_app
        from services.audio.settings import AudioSettings

        return build_app(AudioSettings(data_root=root, pool_size=1, **fields))
    if service == "workflow-content":
        from services.content.app import build_app
        from services.content.settings import ContentSettings

        return build_app(ContentSettings(data_root=root, **fields))
    if service == "workflow-ml-training":
        from services.ml_training.app import build_app
        from services.ml_training.settings import TrainingSettings

        return build_app(TrainingSettings(data_root=root, **{**SIGNING, **fields}))
    if service == "workflow-ml-prediction":
        from services.ml_prediction.app import build_app
        from services.ml_prediction.settings import PredictionSettings

        return build_app(PredictionSettings(data_root=root, **{**SIGNING, **fields}))
    from services.common.settings import ServiceSettings
    from services.intelligence.app import build_app

    return build_app(ServiceSettings(data_root=root, **fields))


@pytest.mark.parametrize("service", NAMES)
@pytest.mark.parametrize("api_key", [None, "", "   ", "change-me-api-key", "Change-Me"], ids=repr)
def test_a_service_without_a_real_api_key_refuses_to_start(data_root: Path, service: str, api_key) -> None:
    with pytest.raises(InsecureConfiguration) as info:
        build(service, data_root, api_key=api_key)
    message = str(info.value)
    assert message.startswith("HSS_API_KEY ") and GENERATE_COMMAND in message
    assert "HSS_ALLOW_NO_API_KEY=true" in message
    if api_key and api_key.strip():
        assert "placeholder" in message and api_key not in message  # never echo a secret


@pytest.mark.parametrize("service", NAMES)
def test_a_placeholder_api_key_is_refused_even_with_the_development_flag(data_root: Path, service: str) -> None:
    with pytest.raises(InsecureConfiguration, match="placeholder"):
        build(service, data_root, api_key="change-me-api-key", allow_no_api_key=True)


@pytest.mark.parametrize("service", MODEL_SERVICES)
@pytest.mark.parametrize("signing_key", [None, "", "change-me-model-signing-key"], ids=repr)
def test_a_model_service_without_a_real_signing_key_refuses_to_start_without_bypass(
    data_root: Path, service: str, signing_key
) -> None:
    with pytest.raises(InsecureConfiguration) as info:  # the API-key flag does not cover the signing key
        build(service, data_root, allow_no_api_key=True, model_signing_key=signing_key)
    message = str(info.value)
    assert message.startswith("HSS_MODEL_SIGNING_KEY ") and GENERATE_COMMAND in message
    assert "no development bypass" in message


def _paths(spec) -> list[tuple[str, str]]:
    routes = []
    for endpoint in spec.endpoints:
        names = [name for _, name, _, _ in string.Formatter().parse(endpoint.path) if name]
        routes.append((endpoint.method, endpoint.format_path(**dict.fromkeys(names, "x1"))))
    return routes


@pytest.mark.parametrize("spec", SERVICES, ids=lambda s: s.name)
def test_a_wrong_or_missing_key_is_401_on_every_route_and_the_probes_stay_open(data_root: Path, spec) -> None:
    client = TestClient(build(spec.name, data_root, api_key="the-right-key-0123456789"))  # no lifespan needed
    for method, path in _paths(spec):
        for headers in ({}, {"X-API-Key": "the-wrong-key-0123456789"}, {"X-API-Key": ""}):
            r = client.request(method, path, json={} if method == "POST" else None, headers=headers)
            assert r.status_code == 401, (method, path, headers, r.text)
            assert r.json()["error"]["code"] == "unauthorized"
    assert client.get("/health").status_code == 200
    assert client.get("/metrics").status_code == 200
    assert client.get("/ready").status_code in (200, 503)  # open: ready or not, never 401


def test_the_development_flag_accepts_requests_without_a_key_and_warns(
    data_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="hss.services"):
        app = build("workflow-content", data_root, allow_no_api_key=True)
    assert any("HSS_ALLOW_NO_API_KEY=true" in r.message and "EVERY request" in r.message for r in caplog.records)
    r = TestClient(app).post(LYRICS_ANALYZE.path, json={"song_id": "s1", "lyrics": "la la"})
    assert r.status_code == 200, r.text


# --- as the stacks start them: uvicorn services.<name>.app:app -------------------------------------


def _uvicorn(app: str, env: dict[str, str], port: int) -> subprocess.Popen:
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS}
    argv = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(argv, env={**clean, **env}, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)


@pytest.mark.parametrize(
    ("app", "env", "missing"),
    [
        ("services.intelligence.app:app", {}, "HSS_API_KEY"),
        ("services.content.app:app", {"HSS_API_KEY": "change-me-api-key"}, "HSS_API_KEY"),
        ("services.ml_prediction.app:app", {"HSS_API_KEY": "a-real-key-0123456789"}, "HSS_MODEL_SIGNING_KEY"),
        ("services.ml_training.app:app", {"HSS_ALLOW_NO_API_KEY": "true"}, "HSS_MODEL_SIGNING_KEY"),
    ],
)
def test_uvicorn_refuses_to_start_the_service_and_says_why(app: str, env: dict[str, str], missing: str) -> None:
    server = _uvicorn(app, env, free_port())
    try:
        _, stderr = server.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        server.kill()
        server.communicate()
        pytest.fail(f"{app} started although {missing} is unusable")
    text = stderr.decode()
    assert server.returncode != 0
    assert f"InsecureConfiguration: {missing} " in text and "secrets.token_urlsafe(32)" in text, text[-2000:]


def test_uvicorn_with_the_development_flag_serves_without_a_key_and_warns() -> None:
    port = free_port()
    server = _uvicorn("services.content.app:app", {"HSS_ALLOW_NO_API_KEY": "true"}, port)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.communicate()[1].decode()[-2000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.1)
        r = httpx.post(f"http://127.0.0.1:{port}{LYRICS_ANALYZE.path}", json={"song_id": "s1", "lyrics": "la la"})
        assert r.status_code == 200, r.text
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=60)
    assert "HSS_ALLOW_NO_API_KEY=true" in stderr.decode() and "EVERY request" in stderr.decode()
