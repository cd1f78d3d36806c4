"""Every service serves the contract models, and the committed OpenAPI snapshots match the apps."""

from __future__ import annotations

import pytest

from contracts.catalog import SERVICES, ServiceSpec
from services.openapi_snapshot import load_app, render, snapshot_path


@pytest.mark.parametrize("spec", SERVICES, ids=lambda s: s.name)
def test_openapi_snapshot_is_current(spec: ServiceSpec) -> None:
    path = snapshot_path(spec)
    assert path.exists(), f"{path} is missing: run `make contracts`"
    assert path.read_text() == render(spec), f"{path.name} is stale: run `make contracts` and commit the result"


@pytest.mark.parametrize("spec", SERVICES, ids=lambda s: s.name)
def test_catalog_endpoints_exist_and_document_the_error_envelope(spec: ServiceSpec) -> None:
    schema = load_app(spec).openapi()
    assert schema["info"]["title"] == spec.name
    for endpoint in spec.endpoints:
        operation = schema["paths"][endpoint.path][endpoint.method.lower()]
        # the route declares the catalog's models: what the operators validate is what the service speaks
        ok = operation["responses"][str(endpoint.status)]["content"]["application/json"]["schema"]
        assert ok["$ref"].endswith(f"/{endpoint.response.__name__}"), endpoint
        if endpoint.request is not None:
            body = operation["requestBody"]["content"]["application/json"]["schema"]
            assert body["$ref"].endswith(f"/{endpoint.request.__name__}"), endpoint
        assert operation.get("description") or operation.get("summary"), f"{endpoint} is undocumented"
        error_refs = [
            r["content"]["application/json"]["schema"].get("$ref", "")
            for status, r in operation["responses"].items()
            if status.startswith("4") and "content" in r
        ]
        assert error_refs and all(ref.endswith("/ErrorEnvelope") for ref in error_refs), endpoint
    for probe in ("/health", "/ready"):
        assert probe in schema["paths"]
