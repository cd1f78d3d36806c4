"""How `make e2e E2E_STACKS=N` spreads the full-stack tests over its stacks (e2e/tests/full_stack/conftest.py):
every layout entry names a module or a test that exists, and an entry for one test wins over its module's."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from e2e.tests.full_stack import conftest as full_stack
from e2e.tests.full_stack.conftest import FAULTS_2_GROUP, FAULTS_GROUP, LAYOUTS, RUNS_GROUP, group_for

FULL_STACK = Path(full_stack.__file__).parent


def functions_in(module: str) -> set[str]:
    tree = ast.parse((FULL_STACK / module).read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


@pytest.mark.parametrize("stacks", sorted(LAYOUTS))
def test_every_layout_entry_names_a_full_stack_module_or_test(stacks: int) -> None:
    unknown = []
    for key in LAYOUTS[stacks]:
        module, _, test = key.partition("::")
        if not (FULL_STACK / module).is_file() or (test and test not in functions_in(module)):
            unknown.append(key)
    assert unknown == [], f"LAYOUTS[{stacks}] places tests that do not exist (a rename?): {unknown}"


def test_an_entry_for_one_test_wins_over_its_module(monkeypatch: pytest.MonkeyPatch) -> None:
    module = "e2e/tests/full_stack/test_infrastructure_faults.py"
    moved = f"{module}::test_triggerer_killed_while_training_is_deferred_resumes_without_a_second_job"
    stays = f"{module}::test_redis_restarted_while_tasks_wait_in_the_queue_loses_none_of_them"
    entry = moved.removeprefix("e2e/tests/full_stack/")  # a layout key names the module file, then the test
    monkeypatch.setitem(LAYOUTS, 3, {**LAYOUTS[3], entry: FAULTS_GROUP})  # CI's layout has no such entry now
    assert group_for(moved, 3) == FAULTS_GROUP
    assert group_for(stays, 3) == FAULTS_2_GROUP
    assert group_for(moved, 2) == group_for(stays, 2) == FAULTS_GROUP  # two stacks: every breaking test together
    assert group_for(moved, 1) == RUNS_GROUP
    assert group_for("e2e/tests/full_stack/test_results_whole.py::test_x[full-stack-faults-2]", 3) == FAULTS_2_GROUP
    assert group_for("e2e/tests/test_stack_layouts.py::test_x", 3) is None  # not a full-stack test
