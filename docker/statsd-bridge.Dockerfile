# The statsd bridge: Debian's collectd (statsd + write_prometheus plugins) between Airflow's StatsD and Prometheus.
# A packaged, maintained component instead of a StatsD server of ours (docs/OBSERVABILITY.md says why collectd).
# Built on the same Debian base as our other images (HSS_PYTHON_IMAGE); python3 serves the healthcheck.
ARG HSS_PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${HSS_PYTHON_IMAGE}
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
       collectd-core libprotobuf-c1 libmicrohttpd12 >/dev/null \
    && rm -rf /var/lib/apt/lists/*
USER 65534:65534
EXPOSE 8125/udp 9103
ENTRYPOINT ["/usr/sbin/collectd", "-f", "-C", "/etc/collectd/collectd.conf"]
