"""The stack's memory figure: PSS summed over process groups (with the processes that left one), peak over time."""

from __future__ import annotations

import os
import subprocess
import sys

from stack.memory import PeakMemory, groups_pss, pss_by_group
from stack.waiting import wait_until

# A parent in its own session that starts a child holding ~200 MB of touched memory in another new session, as
# PostgreSQL's backends leave the postmaster's group. Its own group, not this test's: pytest's group (xdist
# workers, other tests' stacks) changes its memory between two readings by more than the margin (seen in CI).
PARENT = """
import subprocess, sys, time
hog = subprocess.Popen([sys.executable, "-c", "import time; b = bytearray(200 * 2**20); time.sleep(60)"],
                       start_new_session=True)
print(hog.pid, flush=True)
time.sleep(60)
"""


def test_pss_counts_the_processes_of_a_group_and_nothing_else() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], start_new_session=True, stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    hog_pid = int(parent.stdout.readline())
    try:
        # Waits on the events, not fixed times: one scan of /proc took longer than 0.6 s beside CI's docker pass.
        wait_until(lambda: groups_pss({hog_pid}) > 190 * 2**20, timeout=25, interval=0.05, what="the hog's 200 MB")
        with PeakMemory(lambda: groups_pss({hog_pid}), interval=0.2) as memory:
            wait_until(lambda: memory.samples >= 2, timeout=25, interval=0.05, what="two samples of the hog's PSS")
        assert groups_pss({hog_pid}) > 190 * 2**20
        assert memory.peak > 190 * 2**20 and memory.samples >= 2
        assert groups_pss({2**22 + 12345}) == 0  # no such group
        # The hog left its parent's group (a new session): it counts once, with its own group when that is asked
        # for, else with the group of its parent.
        mine, both = pss_by_group({parent.pid}), pss_by_group({parent.pid, hog_pid})
        assert both[hog_pid] > 190 * 2**20 and mine[parent.pid] - both[parent.pid] > 190 * 2**20
    finally:
        os.killpg(hog_pid, 9)
        parent.kill()
        parent.wait()
