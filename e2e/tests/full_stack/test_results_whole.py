"""Last on each stack (conftest orders it so): every result file the earlier tests wrote is whole."""

from __future__ import annotations

import json

import pytest

from contracts.data_layout import DataLayout
from stack.base import Stack

pytestmark = pytest.mark.both_backends  # CI's docker pass runs these again


def test_result_files_are_never_half_written(stack: Stack, stack_group: str) -> None:
    """One per stack: conftest parametrizes `stack_group` with the run's stack groups, the id names which."""
    results = DataLayout(stack.data_root).results
    leftovers = [p for p in results.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]
    assert not leftovers, f"temp files left in results/: {leftovers}"
    documents = list(results.rglob("*.json"))
    assert documents
    for path in documents:
        json.loads(path.read_text())  # every file parses: written whole or not at all
