"""Runs triggered ahead: runs that do not interfere with each other start together once the stack is up,
and each test awaits its own when its turn comes — while the first tests wait, the later ones' runs go.

A test module opts in with a module-level `trigger_ahead(ahead, stack)`; conftest's `runs_ahead` fixture
calls it for every selected module on the stack of the "runs" group (never on the fault tests' stack), in
collection order. The test then takes its run with `runs_ahead.run(key)` and asserts exactly what it would
had it triggered the run itself; `triggered_at(key)` is when that happened (time.monotonic()).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from stack.client import AirflowClient


@dataclass(frozen=True)
class AheadRun:
    dag_id: str
    dag_run_id: str
    triggered_at: float  # time.monotonic() when the trigger was accepted


class RunsAhead:
    def __init__(self, client: AirflowClient) -> None:
        self.client = client
        self._runs: dict[str, AheadRun] = {}
        self._kept: dict[str, Any] = {}

    def trigger(self, key: str, dag_id: str, conf: dict, run_id: str | None = None) -> AheadRun:
        if key in self._runs:
            raise ValueError(f"run {key!r} was already triggered ahead")
        created = self.client.trigger(dag_id, conf, run_id=run_id)
        self._runs[key] = AheadRun(dag_id, created.dag_run_id, time.monotonic())
        return self._runs[key]

    def settle(self, *keys: str, timeout: float = 300.0) -> None:
        """Wait until these runs ended (whatever their state: their tests assert it) before triggering more."""
        for key in keys:
            run = self.run(key)
            self.client.wait_for_run(run.dag_id, run.dag_run_id, timeout=timeout)

    def keep(self, key: str, value: Any) -> None:
        """Something the trigger step knew that the test needs (e.g. counts taken before the runs began)."""
        self._kept[key] = value

    def kept(self, key: str) -> Any:
        return self._kept[key]

    def run(self, key: str) -> AheadRun:
        try:
            return self._runs[key]
        except KeyError:
            raise AssertionError(
                f"no run {key!r} was triggered ahead (known: {sorted(self._runs)}); does its module's "
                "trigger_ahead() trigger it?"
            ) from None

    def keys(self) -> list[str]:
        return list(self._runs)
