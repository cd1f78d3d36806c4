"""Every call to a service goes through hss_airflow.hooks: no other module of hss_airflow imports an HTTP client.

A module outside hss_airflow/hooks/ that imports requests, httpx, aiohttp, urllib3 or the HTTP provider would be
a caller reaching a service its own way (its own connection, auth, timeouts, retries and validation). The walker
reads every module of the package with `ast` (imports anywhere in the file, also inside functions); the last test
proves it does find such imports, in the hooks themselves.
"""

from __future__ import annotations

import ast
from pathlib import Path

import hss_airflow

PACKAGE = Path(hss_airflow.__file__).resolve().parent
HOOKS = PACKAGE / "hooks"
HTTP_CLIENTS = ("requests", "httpx", "aiohttp", "urllib3", "airflow.providers.http")


def http_imports(path: Path) -> set[str]:
    """The HTTP-client modules `path` imports (`import x`, `from x import y`, at any depth of the file)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found |= {name for name in names for client in HTTP_CLIENTS if name == client or name.startswith(client + ".")}
    return found


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_walker_sees_the_whole_package() -> None:
    names = {p.relative_to(PACKAGE).as_posix() for p in modules()}
    assert {
        "operators/service.py",
        "operators/training.py",
        "operators/promotion.py",
        "triggers/training_job.py",
    } <= names
    assert {"training_features.py", "rescore.py", "hooks/workflow_service.py"} <= names


def test_no_module_outside_the_hooks_imports_an_http_client() -> None:
    offenders = {
        path.relative_to(PACKAGE).as_posix(): sorted(found)
        for path in modules()
        if not path.is_relative_to(HOOKS) and (found := http_imports(path))
    }
    assert offenders == {}, f"call the services through hss_airflow.hooks.WorkflowServiceHook instead: {offenders}"


def test_the_walker_finds_the_http_imports_where_they_are() -> None:
    in_hooks = set().union(*(http_imports(p) for p in HOOKS.rglob("*.py")))
    assert {"requests", "aiohttp", "airflow.providers.http.hooks.http"} <= in_hooks


def test_the_walker_finds_an_import_hidden_in_a_function(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text(
        "def f():\n    import httpx.client\n    from urllib3 import PoolManager\n    from requests_x import y\n"
    )
    assert http_imports(sneaky) == {"httpx.client", "urllib3", "urllib3.PoolManager"}
