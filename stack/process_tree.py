"""Which stack component a process belongs to: the one shared rule of the CPU and memory accounting."""

from __future__ import annotations

from collections.abc import Container, Mapping


def owning_group(pid: int, parent: Mapping[int, int], group: Mapping[int, int], groups: Container[int]) -> int | None:
    """The process group among `groups` that `pid` is in, or else that its nearest ancestor is in (None: none).

    Each component of a local stack leads its own process group, and its children stay in it — except those
    that leave it: PostgreSQL's backends call setsid(), and a pooled connection's backend lives as long as the
    stack. `parent` and `group` map pids to their parent's pid and their process group."""
    seen: set[int] = set()
    while pid in group and pid not in seen:
        seen.add(pid)
        if group[pid] in groups:
            return group[pid]
        pid = parent.get(pid, 0)
    return None
