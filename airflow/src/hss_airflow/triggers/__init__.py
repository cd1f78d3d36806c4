"""Triggers of the HSS workflow (run by the triggerer; serialized as `hss_airflow.triggers.<name>`)."""

from hss_airflow.triggers.training_job import MLTrainingJobTrigger

__all__ = ["MLTrainingJobTrigger"]
