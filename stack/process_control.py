"""Process control for the local backend's `make up` / `make down`: the launcher's pid file, SIGTERM with a
bounded wait, SIGKILL of whatever process group is left.

Every process a stack starts leads its own process group, so a pid in stack.json is also a group id.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from stack.log_follow import LogFollower
from stack.paths import LAUNCHER_PID_NAME
from stack.stack_file import group_members, pid_alive, say
from stack.waiting import wait_until

DOWN_TIMEOUT = 60.0


def read_pid_file(state_dir: Path) -> int | None:
    try:
        return int((state_dir / LAUNCHER_PID_NAME).read_text().strip())
    except (OSError, ValueError):
        return None


def groups_left(pgids: list[int], timeout: float = 10.0) -> list[int]:
    """The process groups (one per started process) that still hold a process after `timeout` seconds.

    Killed pool workers and forks are reaped a moment after their leader: give them that moment.
    """

    def left() -> list[int]:
        alive = []
        for pgid in pgids:
            try:
                os.killpg(pgid, 0)
                alive.append(pgid)
            except ProcessLookupError:
                pass
            except PermissionError:
                alive.append(pgid)
        return alive

    wait_until(lambda: not left(), timeout, 0.2, "process groups gone", raise_on_timeout=False)
    return left()


def terminate(pid: int, follower: LogFollower, timeout: float = DOWN_TIMEOUT) -> None:
    """SIGTERM the launcher (it stops its stack), echo its log meanwhile; SIGKILL its group after `timeout`."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    started, notes = time.monotonic(), iter(range(10, 10**6, 10))
    next_note = next(notes)

    def tick() -> None:
        nonlocal next_note
        follower.echo()
        if time.monotonic() - started > next_note:
            say(f"  still stopping after {next_note:.0f} s…")
            next_note = next(notes)

    wait_until(
        lambda: not pid_alive(pid), timeout, 0.2, f"launcher {pid} stopped", raise_on_timeout=False, on_tick=tick
    )
    follower.echo()
    if pid_alive(pid):
        say(f"launcher {pid} did not stop within {timeout:.0f} s: killing it (SIGKILL)")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # the launcher leads its own session and group


def kill_leftover_groups(pids: dict[str, int]) -> list[str]:
    """SIGKILL every named process group that still holds a process; return what was killed."""
    killed = []
    for name, pgid in pids.items():
        if group_members(pgid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
            killed.append(f"{name} (group {pgid})")
    return killed
