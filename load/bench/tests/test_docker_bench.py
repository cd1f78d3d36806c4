"""The bench's docker section says why a build failed: compose's own words, not only its exit status."""

from __future__ import annotations

import sys

import pytest

from load.bench.docker import _timed
from stack.compose_project import DockerStackError


def test_a_failed_command_is_reported_with_the_end_of_its_output() -> None:
    failing = [sys.executable, "-c", "import sys; sys.stderr.write('pull access denied for python\\n'); sys.exit(17)"]
    with pytest.raises(DockerStackError, match=r"(?s)exit 17.*pull access denied for python"):
        _timed(failing)


def test_a_command_that_succeeds_is_timed() -> None:
    assert 0 <= _timed([sys.executable, "-c", "pass"]) < 60
