"""The CLI's control flow without a stack: a stack that cannot start becomes a reported error, not a crash."""

from __future__ import annotations

import argparse

from load.bench import __main__ as cli
from stack.processes import LaunchError


class _NoStack:
    def __init__(self, *_args, **_kwargs) -> None:
        pass

    def __enter__(self):
        raise LaunchError("postgres exited (code 1); last lines of postgres.log: …")

    def __exit__(self, *_: object) -> None:
        pass


def test_a_stack_that_does_not_come_up_is_reported_as_an_error_section(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "BenchStack", _NoStack)
    monkeypatch.setattr(cli.data, "prepare", lambda root, jobs, say: None)  # no synthesis here
    lines: list[str] = []
    args = argparse.Namespace(quick=True, only="analysis", output=None, strict=False)
    sections = cli.run(args, ["analysis"], tmp_path, lines.append)
    (section,) = sections
    assert section.key == "stack" and "postgres exited" in section.error
    assert str(tmp_path / "stack" / "logs") in section.error
    assert any("✘ the full local stack" in line for line in lines)
