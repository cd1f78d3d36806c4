"""`[core] hostname_callable` of the local stack's Celery workers: several workers on one machine, told apart.

In containers every worker has its own hostname; as local processes they share the machine's, so the task
instances they run (`ti.hostname`, the UI's "Host") could not say which worker ran them. Each local worker
gets HSS_WORKER_HOSTNAME (stack/profiles.py); anything else keeps Airflow's default, the FQDN.
"""

from __future__ import annotations

import socket

from hss_airflow.settings import settings


def worker_hostname() -> str:
    return settings().worker_hostname or socket.getfqdn()
