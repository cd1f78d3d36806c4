"""`LogFollower`: echoes the lines a log file gains from now on (`make up` shows the launcher's progress)."""

from __future__ import annotations

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
