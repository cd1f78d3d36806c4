"""The stack's memory figure: PSS summed over process groups, peak over time."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from stack.memory import PeakMemory, groups_pss


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
        assert groups_pss({os.getpgid(0)}) < groups_pss({os.getpgid(0), hog.pid})
    finally:
        hog.kill()
        hog.wait()
