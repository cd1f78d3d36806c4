"""The fuzz test's case counts, printed at the end of every session that ran it."""

from __future__ import annotations

import sys


def pytest_terminal_summary(terminalreporter) -> None:
    fuzzing = sys.modules.get("services.tests.fuzzing")  # imported only when the fuzz test was collected
    if fuzzing is None or not fuzzing.CASES:
        return
    terminalreporter.section("schemathesis cases per service")
    for line in fuzzing.summary_lines():
        terminalreporter.write_line(line)
