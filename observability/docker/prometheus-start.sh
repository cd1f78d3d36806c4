#!/bin/sh
# The compose Prometheus' entry point: Prometheus reads no environment variables, so Flower's login from .env
# goes into a private copy of the config (and a password file) before Prometheus starts.
set -eu
umask 077
printf '%s' "${FLOWER_PASSWORD:?}" > /tmp/flower_password
sed "s|@FLOWER_USER@|${FLOWER_USER:-admin}|" /etc/prometheus/prometheus.yml > /tmp/prometheus.yml
exec prometheus --config.file=/tmp/prometheus.yml "$@"
