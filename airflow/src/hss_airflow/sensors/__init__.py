"""Sensors of the HSS workflow."""

from hss_airflow.sensors.data_root_file import DataRootFileSensor

__all__ = ["DataRootFileSensor"]
