"""The dag-processor every stack runs: Airflow's own, with apache/airflow#73432 mended.

In Airflow 3.3 a callback pinned to a bundle version — a task that lost its heartbeat, a DAG-level callback of a
run on the Git bundle — leaves a second stat for its DAG file (the pinned copy) that never gets a finish time.
`DagFileProcessorManager.prepare_file_queue` looks the stats up by file and finds that one, so from then on the
file counts as never parsed and is parsed again at every loop, until the dag-processor restarts: measured here,
one parse of comprehensive_analysis.py every ~1.4 s (0.3 CPU-s each) for as long as the stack ran after a killed
worker (docs/TROUBLESHOOTING.md). The fix proposed upstream is apache/airflow#73433; until a release carries
it, this subclass drops the pinned copy's stat once its callback ran, and the file's own stat decides again.

Airflow's CLI builds the manager in one place and takes no class from the configuration, so this module runs that
CLI with the name pointing at the subclass: `python -m hss_airflow.dag_processor [airflow dag-processor options]`
(local stacks, compose, the chart). It also imports hss_airflow.preload's modules first, as the Celery worker
does: the manager forks one process per DAG-file parse, and without them each parse imported the operators, the
hooks and the contracts again (0.27 → 0.04 CPU-s for three DAG files in a forked child, measured here).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from airflow.dag_processing import manager

from hss_airflow.preload import import_preloaded

COMMAND = ("python", "-m", "hss_airflow.dag_processor")  # how compose and the chart start it


class DagFileProcessorManager(manager.DagFileProcessorManager):
    """Airflow's manager, minus the stats of version-pinned callback runs once they are handled."""

    def handle_parsing_result(self, file: manager.DagFileInfo, proc: Any, **kwargs: Any) -> None:
        super().handle_parsing_result(file, proc, **kwargs)
        if file.bundle_version is not None:
            # Only a pinned callback makes such an entry (the bundle scan never pins a file); left in place, it
            # shadows the file's own stat in prepare_file_queue's lookup by (bundle, path).
            self._file_stats.pop(file, None)


def main(argv: Sequence[str] | None = None) -> None:
    """`airflow dag-processor` with its manager built from the subclass above, the DAGs' modules imported."""
    from airflow.__main__ import main as airflow_main  # first: it imports Airflow's configuration first
    from airflow.cli.commands import dag_processor_command

    import_preloaded()  # before the manager forks its first parse

    dag_processor_command.DagFileProcessorManager = DagFileProcessorManager  # type: ignore[misc]
    sys.argv = ["airflow", "dag-processor", *(sys.argv[1:] if argv is None else argv)]
    airflow_main()


if __name__ == "__main__":
    main()
