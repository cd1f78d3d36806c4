"""Write (or check) contracts/openapi/<service>.json from each service's app.

python -m services.openapi_snapshot          # regenerate (make contracts)
python -m services.openapi_snapshot --check  # exit 1 and name the stale files

At the root of `services`, not in services.common: it imports every service app, and the shared code
must not depend on any concrete service. Each app is built as uvicorn builds it (`module:app`), with
throwaway secrets set only while it is built: a service refuses to start without HSS_API_KEY (and the model
services without HSS_MODEL_SIGNING_KEY), and the OpenAPI document does not depend on their values.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import contracts
from contracts.catalog import SERVICES, ServiceSpec

# The snapshots belong to the contracts project (contracts/openapi/, beside contracts/src/contracts).
SNAPSHOT_DIR = Path(contracts.__file__).resolve().parents[2] / "openapi"


SNAPSHOT_SECRETS = ("HSS_API_KEY", "HSS_MODEL_SIGNING_KEY")


@contextmanager
def throwaway_secrets() -> Iterator[None]:
    """Fresh random values of the required secrets while the block runs; the environment is restored after."""
    saved = {name: os.environ.get(name) for name in SNAPSHOT_SECRETS}
    os.environ.update({name: secrets.token_urlsafe(32) for name in SNAPSHOT_SECRETS})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def load_app(spec: ServiceSpec) -> Any:
    module, _, attribute = spec.app.partition(":")
    with throwaway_secrets():
        return getattr(importlib.import_module(module), attribute)


def render(spec: ServiceSpec) -> str:
    return json.dumps(load_app(spec).openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def snapshot_path(spec: ServiceSpec) -> Path:
    return SNAPSHOT_DIR / f"{spec.name}.json"


def stale_snapshots() -> list[str]:
    """Names of the services whose committed snapshot differs from what the app serves now."""
    return [
        spec.name
        for spec in SERVICES
        if not snapshot_path(spec).exists() or snapshot_path(spec).read_text() != render(spec)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a snapshot is stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_snapshots()
        for name in stale:
            print(f"stale: contracts/openapi/{name}.json (run `make contracts`)")
        return 1 if stale else 0
    SNAPSHOT_DIR.mkdir(parents=True, exist_ok=True)
    for spec in SERVICES:
        snapshot_path(spec).write_text(render(spec))
        print(f"wrote {snapshot_path(spec).relative_to(SNAPSHOT_DIR.parents[1])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
