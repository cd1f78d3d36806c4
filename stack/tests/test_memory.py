"""The stack's memory figure: PSS summed over process groups (with the processes that left one), peak over time."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from stack.memory import PeakMemory, groups_pss, pss_by_group


def test_pss_counts_the_processes_of_a_group_and_nothing_else() -> None:
    # A child that holds ~200 MB of touched memory in its own process group.
    hog = subprocess.Popen(
        [sys.executable, "-c", "import time; b = bytearray(200 * 2**20); time.sleep(30)"], start_new_session=True
    )
    try:
        time.sleep(1.5)
        with PeakMemory(lambda: groups_pss({hog.pid}), interval=0.2) as memory:
            time.sleep(0.6)
        assert groups_pss({hog.pid}) > 190 * 2**20
        assert memory.peak > 190 * 2**20 and memory.samples >= 2
        assert groups_pss({2**22 + 12345}) == 0  # no such group
        # The hog left this process's group (a new session), as PostgreSQL's backends leave the postmaster's:
        # it counts once, with its own group when that is asked for, else with the group of its parent.
        mine, both = pss_by_group({os.getpgid(0)}), pss_by_group({os.getpgid(0), hog.pid})
        assert both[hog.pid] > 190 * 2**20 and mine[os.getpgid(0)] - both[os.getpgid(0)] > 190 * 2**20
    finally:
        hog.kill()
        hog.wait()
