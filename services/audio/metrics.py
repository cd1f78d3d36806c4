"""workflow-audio's own Prometheus metrics (served at /metrics with the shared HTTP metrics).

hss_audio_analyses_started_total        Essentia runs handed to a worker process
hss_audio_analyses_total{outcome}       finished runs: succeeded, failed (the file was refused while
                                        decoding), timeout (worker killed), crashed (worker died)
hss_audio_queue_depth                   analyses waiting for a free worker now
hss_audio_busy_workers                  workers holding an analysis now
hss_audio_requests_rejected_total       429 queue_full: HSS_AUDIO_MAX_QUEUE analyses were already waiting
hss_audio_requests_dropped_total        requests whose client disconnected before their run started
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

OUTCOMES = ("succeeded", "failed", "timeout", "crashed")


class PoolMetrics:
    """The collectors of one app (its own registry; None: not exposed, e.g. a pool in a unit test)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.started = Counter(
            "hss_audio_analyses_started", "Essentia runs handed to a worker process.", registry=registry
        )
        self.finished = Counter(
            "hss_audio_analyses", "Finished Essentia runs by outcome.", ["outcome"], registry=registry
        )
        for outcome in OUTCOMES:
            self.finished.labels(outcome=outcome)  # every outcome is exported from the start, at 0
        self.queue_depth = Gauge("hss_audio_queue_depth", "Analyses waiting for a free worker.", registry=registry)
        self.busy_workers = Gauge("hss_audio_busy_workers", "Workers holding an analysis.", registry=registry)
        self.rejected = Counter(
            "hss_audio_requests_rejected",
            "Requests refused with 429 queue_full because HSS_AUDIO_MAX_QUEUE analyses were already waiting.",
            registry=registry,
        )
        self.dropped = Counter(
            "hss_audio_requests_dropped",
            "Requests dropped because their client disconnected before their Essentia run started.",
            registry=registry,
        )
