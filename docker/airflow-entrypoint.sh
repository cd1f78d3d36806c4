#!/usr/bin/env bash
# Entry point of the Airflow image, as in Airflow's own image: `bash …`, `python …` and `airflow …` run as
# given; anything else is an Airflow subcommand (`api-server`, `scheduler`, `celery worker`, `db migrate`).
# The command is recorded for hss-healthcheck, which probes whatever this container runs.
set -euo pipefail
case "${1:-}" in
  bash | sh | python | python3 | airflow) ;;
  *) set -- airflow "$@" ;;
esac
printf '%s\n' "$*" > /tmp/hss-component 2>/dev/null || true
exec "$@"
