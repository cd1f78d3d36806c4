"""DataRootFileSensor: the deferrable file sensor of dataset_triggered_training (`wait_for_new_dataset`)."""

from __future__ import annotations

from functools import cached_property

from airflow.providers.standard.sensors.filesystem import FileSensor

from hss_airflow.settings import settings


class DataRootFileSensor(FileSensor):
    """FileSensor whose `filepath` is relative to HSS_DATA_ROOT (no `fs_default` connection needed).

    Everything else is FileSensor's: glob patterns, poke mode or `deferrable=True` (the FileTrigger then
    polls in the triggerer and the worker slot is free while waiting)."""

    @cached_property
    def path(self) -> str:
        return str(settings().data_root / self.filepath)
