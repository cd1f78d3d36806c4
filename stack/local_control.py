"""What `make up` / `make down` / `make status` do with the local backend (mixed into LocalStack): a detached
launcher runs the stack (stack/launcher.py); down SIGTERMs it; status lists its processes."""

from __future__ import annotations

from pathlib import Path

from stack.launcher import launch_detached, launcher_starting, stop_launcher
from stack.memory import pss_by_group
from stack.paths import STACK_FILE_NAME
from stack.stack_file import live_pids, say
from stack.tables import process_table


class LocalControl:
    """Provides the Stack interface's background methods for LocalStack (which provides `config`)."""

    state_dir: Path

    def launch(self) -> int:
        return launch_detached(self.config)

    def is_running(self, info: dict) -> bool:
        return bool(live_pids(info))

    def stop_launched(self, info: dict) -> int:
        if not live_pids(info) and not launcher_starting(self.state_dir):
            (self.state_dir / STACK_FILE_NAME).unlink(missing_ok=True)
            say("nothing is running: removed a stale stack.json (its processes are gone).")
            return 0
        return stop_launcher(self.state_dir, info)

    def report_status(self, info: dict) -> int:
        return process_table(info)

    def memory_by_component(self, info: dict) -> dict[str, float]:
        pids = {name: pid for name, pid in (info.get("pids") or {}).items() if pid}
        by_group = pss_by_group(set(pids.values()))
        return {name: float(by_group.get(pid, 0)) for name, pid in pids.items()}
