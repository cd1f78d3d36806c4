"""workflow-ml-training's own Prometheus metrics (served at /metrics with the shared HTTP metrics).

hss_training_jobs{state}    training jobs by state: queued, running, succeeded, failed (every state exported,
                            0 when none); counted from the job records (models/<training_id>/job.json) at
                            each scrape, so it is what GET /train/jobs/{job_id} reports, restarts included
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.ml_training.jobs import JobStore

JOBS_HELP = "Training jobs by state, counted from their job records when scraped."


class TrainingJobsCollector(Collector):
    """Counts the job records when /metrics is scraped rather than counting transitions here: the worker process
    writes running/succeeded/failed into job.json, and the records outlive the service's process."""

    def __init__(self, store: JobStore) -> None:
        self.store = store

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return [GaugeMetricFamily("hss_training_jobs", JOBS_HELP, labels=["state"])]  # the registry reads no file

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily("hss_training_jobs", JOBS_HELP, labels=["state"])
        for status, count in self.store.count_by_status().items():
            family.add_metric([status.value], count)
        yield family
