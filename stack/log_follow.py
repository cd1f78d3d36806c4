"""Reading logs: `LogFollower` echoes the lines a log file gains from now on (`make up` shows the launcher's
progress); `json_log_records` reads the records of one of Airflow's JSON-lines logs (task, dag-processor)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from stack.stack_file import say


class LogFollower:
    """Prints the complete lines `path` gained since the last call (a partial last line waits for its end)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def echo(self) -> None:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
        except OSError:
            return
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.offset += len(complete)
        for line in complete.decode(errors="replace").splitlines():
            say(f"  {line}")


def json_log_records(path: Path) -> Iterator[dict]:
    """Each JSON object line of an Airflow JSON-lines log, in order; a line that does not parse (being written,
    plain text from a subprocess) is skipped, and a file that cannot be read yields nothing."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return
    for line in lines:
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            yield record
