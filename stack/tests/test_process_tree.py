"""stack.process_tree.owning_group: the component a process belongs to, for the CPU and memory figures."""

from __future__ import annotations

from stack.process_tree import owning_group

# pid -> parent, pid -> process group: a launcher (100) started PostgreSQL (500, leading its group) and the
# scheduler (200); a backend (501) left the postmaster's group with setsid() and started a helper (502).
PARENT = {1: 0, 100: 1, 200: 100, 201: 200, 500: 100, 501: 500, 502: 501, 999: 1}
GROUP = {1: 1, 100: 100, 200: 200, 201: 200, 500: 500, 501: 501, 502: 501, 999: 999}
COMPONENTS = {200, 500}


def test_a_process_in_a_components_group_belongs_to_it() -> None:
    assert owning_group(200, PARENT, GROUP, COMPONENTS) == 200
    assert owning_group(201, PARENT, GROUP, COMPONENTS) == 200


def test_a_process_that_left_the_group_belongs_to_its_nearest_ancestors_component() -> None:
    assert owning_group(501, PARENT, GROUP, COMPONENTS) == 500
    assert owning_group(502, PARENT, GROUP, COMPONENTS) == 500


def test_its_own_group_wins_when_that_is_a_component_too() -> None:
    assert owning_group(501, PARENT, GROUP, COMPONENTS | {501}) == 501


def test_the_launcher_someone_else_an_unknown_pid_and_a_cycle_belong_to_none() -> None:
    assert owning_group(100, PARENT, GROUP, COMPONENTS) is None
    assert owning_group(999, PARENT, GROUP, COMPONENTS) is None
    assert owning_group(12345, PARENT, GROUP, COMPONENTS) is None
    assert owning_group(7, {7: 8, 8: 7}, {7: 7, 8: 8}, COMPONENTS) is None  # a pid reused mid-walk
