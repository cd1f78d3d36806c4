"""workflow-ml-prediction's own Prometheus metrics (served at /metrics with the shared HTTP metrics).

hss_model_info{model_version, source}   1 for the model served by default: source "promoted" (models/latest.json)
                                        or "baseline" (baseline-v1, nothing promoted yet); read at each scrape,
                                        so a promotion shows at the next one; no sample while latest.json is
                                        unreadable or inconsistent (predictions then answer 503)
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.ml_prediction.model_store import ModelStore

INFO_HELP = "The model served by default (value 1): its model_version and source (promoted or baseline)."
INFO_LABELS = ["model_version", "source"]


class ModelInfoCollector(Collector):
    """Asks the store at scrape time what latest.json names; nothing is loaded or verified for a scrape."""

    def __init__(self, store: ModelStore) -> None:
        self.store = store

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return [GaugeMetricFamily("hss_model_info", INFO_HELP, labels=INFO_LABELS)]

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily("hss_model_info", INFO_HELP, labels=INFO_LABELS)
        serving = self.store.serving()
        if serving is not None:
            family.add_metric(list(serving), 1)
        yield family
