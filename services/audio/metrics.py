"""workflow-audio's own Prometheus metrics (served at /metrics with the shared HTTP metrics).

hss_audio_analyses_started_total        Essentia runs handed to a worker process
hss_audio_analyses_total{outcome}       finished runs: succeeded, failed (the file was refused while
                                        decoding), timeout (worker killed), crashed (worker died)
hss_audio_analysis_seconds              histogram: wall time of each succeeded run, measured in the service
                                        around the worker's run (Essentia seconds per song; no queue wait,
                                        no worker warm-up)
hss_audio_queue_depth                   analyses waiting for a free worker now
hss_audio_queue_capacity                how many may wait (HSS_AUDIO_MAX_QUEUE), set when the pool starts;
                                        queue_depth >= queue_capacity: the next request gets 429 queue_full
hss_audio_busy_workers                  workers holding an analysis now
hss_audio_requests_rejected_total       429 queue_full: HSS_AUDIO_MAX_QUEUE analyses were already waiting
hss_audio_requests_dropped_total        requests whose client disconnected before their run started
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

OUTCOMES = ("succeeded", "failed", "timeout", "crashed")
# A few seconds per song is typical; the default HSS_AUDIO_TIMEOUT_S (120 s) ends the range.
ANALYSIS_SECONDS_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)


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
        self.analysis_seconds = Histogram(
            "hss_audio_analysis_seconds",
            "Wall time of one succeeded Essentia run in a worker process (queue wait and warm-up excluded).",
            buckets=ANALYSIS_SECONDS_BUCKETS,
            registry=registry,
        )
        self.queue_depth = Gauge("hss_audio_queue_depth", "Analyses waiting for a free worker.", registry=registry)
        self.queue_capacity = Gauge(
            "hss_audio_queue_capacity",
            "Analyses that may wait for a free worker (HSS_AUDIO_MAX_QUEUE); one more is refused with 429.",
            registry=registry,
        )
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
