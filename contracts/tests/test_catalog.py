"""The service catalog is the one place a connection id or an endpoint path is spelled in code.

"Spelled in code" means a string literal without spaces (an identifier, a path, a URL, an f-string piece)
or a "METHOD /path" pair; prose — docstrings, doc_md, descriptions, comments — may name them for readers.
"""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

from contracts.catalog import SERVICES, TRAINING_JOB
from stack.paths import REPO_ROOT as REPO

CATALOG = Path("contracts/src/contracts/catalog.py")
CONN_IDS = tuple(spec.conn_id for spec in SERVICES)
ENDPOINTS = tuple(endpoint for spec in SERVICES for endpoint in spec.endpoints)
# "/train/jobs/{job_id}" -> "/train/jobs/": what an f-string or a concatenation would spell
STATIC_PATHS = tuple(endpoint.path.split("{", 1)[0] for endpoint in ENDPOINTS)
METHOD_PATH = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) /\S+$")


def python_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [Path(name) for name in listed if Path(name) != CATALOG and (REPO / name).exists()]


def docstring_nodes(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def spelled_facts(text: str) -> list[str]:
    """The catalog facts a code string spells (empty for prose)."""
    if re.search(r"\s", text) and not METHOD_PATH.match(text):
        return []
    facts = [conn_id for conn_id in CONN_IDS if conn_id in text.lower()]
    return facts + [path for path in STATIC_PATHS if path in text]


def violations(source: str, filename: str) -> list[str]:
    tree = ast.parse(source, filename)
    skip = docstring_nodes(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            found += [
                f"{filename}:{node.lineno}: {fact!r} in {node.value[:60]!r}" for fact in spelled_facts(node.value)
            ]
    return found


def test_no_python_file_spells_a_connection_id_or_an_endpoint_path() -> None:
    files = python_files()
    assert len(files) > 100  # the scan sees the repository
    found = [v for path in files for v in violations((REPO / path).read_text(), str(path))]
    assert found == [], "use contracts.catalog instead of spelling these:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "code",
    [
        'CONN = "workflow_audio"',
        'url = f"{base}/analyze/lyrics"',
        'path = f"/train/jobs/{job_id}"',
        'name = "POST /predict/single"',
        'env = {"AIRFLOW_CONN_WORKFLOW_INTELLIGENCE": uri}',
    ],
)
def test_the_scan_catches_each_way_of_spelling_them(code: str) -> None:
    assert violations(code, "example.py")


def test_prose_may_name_them() -> None:
    code = '"""Calls POST /analyze/lyrics."""\nDOC = "workflow-audio `POST /analyze/comprehensive` on workflow_audio"\n'
    assert violations(code, "example.py") == []


def test_every_service_has_a_distinct_name_port_and_connection_id() -> None:
    for field in ("name", "port", "conn_id", "app"):
        values = [getattr(spec, field) for spec in SERVICES]
        assert len(set(values)) == len(values), field
    paths = [str(endpoint) for endpoint in ENDPOINTS]
    assert len(set(paths)) == len(paths)
    assert all(spec.env_var == f"AIRFLOW_CONN_{spec.conn_id.upper()}" for spec in SERVICES)


def test_format_path_fills_exactly_the_placeholders() -> None:
    filled = TRAINING_JOB.format_path(job_id="t-1")
    assert filled.endswith("/t-1") and "{" not in filled
    with pytest.raises(ValueError, match="job_id"):
        TRAINING_JOB.format_path()
    with pytest.raises(ValueError):
        TRAINING_JOB.format_path(job_id="t-1", extra="x")
    assert str(TRAINING_JOB) == f"GET {TRAINING_JOB.path}"
