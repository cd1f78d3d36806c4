"""The metrics path of the full stack: a StatsD bridge, Prometheus and Alertmanager (docs/OBSERVABILITY.md).

Airflow sends StatsD to the bridge, Debian's collectd (its statsd and write_prometheus plugins: a maintained
package, no StatsD server of ours). Prometheus scrapes the bridge, the five services, Flower and Alertmanager,
evaluates the rules of observability/prometheus/rules/ (Airflow's metrics under the Helm chart's names, the
alerts), and Alertmanager mails firing alerts to the stack's SMTP sink.

One set of Jinja2 templates (observability/templates/) serves both backends: the local stack renders them into
its state folder with 127.0.0.1 ports; docker-compose.yml mounts observability/docker/, their rendering with the
compose service names (`python -m stack.observability` writes it; a unit test checks it is current).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from contracts.catalog import SERVICES
from stack.balancer import AUDIO_PORT
from stack.env_file import write_private
from stack.paths import AUDIO_BALANCER, AUDIO_SERVICE, REPO_ROOT
from stack.processes import ManagedProcess, free_port, system_binary
from stack.services import pick_port
from stack.waiting import answers

OBSERVABILITY = REPO_ROOT / "observability"
TEMPLATES = OBSERVABILITY / "templates"
RULES_DIR = OBSERVABILITY / "prometheus" / "rules"
DOCKER_CONFIG = OBSERVABILITY / "docker"
PROMETHEUS_PORT, ALERTMANAGER_PORT = 9090, 9093  # the usual ports, on 127.0.0.1 (when free)
STATSD_PORT, BRIDGE_HTTP_PORT = 8125, 9103  # compose: inside the network only
PROMETHEUS, ALERTMANAGER, STATSD_BRIDGE = "prometheus", "alertmanager", "statsd-bridge"
COMPONENTS = (STATSD_BRIDGE, PROMETHEUS, ALERTMANAGER)
INSTALL_HINT = "apt-get install -y prometheus prometheus-alertmanager collectd-core libprotobuf-c1 libmicrohttpd12"
# Debian's binary names (the alertmanager binary is `prometheus-alertmanager`); collectd lives in /usr/sbin,
# which a user's PATH may lack.
BINARIES = {PROMETHEUS: "prometheus", ALERTMANAGER: "prometheus-alertmanager", STATSD_BRIDGE: "collectd"}
ALERT_TO = "hss-alerts@localhost"  # the task-failure mails' default recipient too (HSS_ALERT_TO)
# The /hss Operations page's settings (hss_airflow.settings): where the api-server reaches Prometheus, and the
# address a browser opens for "open in Prometheus".
PROMETHEUS_URL_ENV, PROMETHEUS_PUBLIC_URL_ENV = "HSS_PROMETHEUS_URL", "HSS_PROMETHEUS_PUBLIC_URL"
HEADER = "Rendered from observability/templates/ by stack/observability.py: edit the template, not this file."


def render(template: str, **values: object) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, keep_trailing_newline=True)
    return env.get_template(template).render(header=HEADER, **values)


def statsd_env(host: str, port: int) -> dict[str, str]:
    """Airflow's StatsD settings: every component sends its metrics to the bridge (prefix `airflow`)."""
    return {
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": host,
        "AIRFLOW__METRICS__STATSD_PORT": str(port),
        "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
    }


def docker_files() -> dict[str, str]:
    """observability/docker/*: what compose mounts (service names; Flower's login is filled in at start)."""
    return {
        "prometheus.yml": render(
            "prometheus.yml.j2",
            rules_dir="/etc/prometheus/rules",
            prometheus=f"localhost:{PROMETHEUS_PORT}",
            alertmanager=f"{ALERTMANAGER}:{ALERTMANAGER_PORT}",
            statsd_bridge=f"{STATSD_BRIDGE}:{BRIDGE_HTTP_PORT}",
            services=[(spec.name, f"{spec.name}:{spec.port}") for spec in SERVICES if spec.name != AUDIO_SERVICE],
            # a static target is `up 0` when its container stops (the ServiceDown alert); workflow-audio's replicas
            # come and go with --scale, so its name is looked up: each address a target (the balancer alerts)
            dns_services=[(AUDIO_SERVICE, AUDIO_PORT)],
            balancer=f"{AUDIO_BALANCER}:{AUDIO_PORT}",
            flower="flower:5555",
            flower_username="@FLOWER_USER@",  # observability/docker/prometheus-start.sh puts .env's login in
            flower_password_file="/tmp/flower_password",
        ),
        "alertmanager.yml": render("alertmanager.yml.j2", alert_to=ALERT_TO, smtp="mail-sink:1025"),
        "collectd.conf": render(
            "collectd.conf.j2",
            base_dir="/tmp",
            statsd_host="0.0.0.0",
            statsd_port=STATSD_PORT,
            http_host="0.0.0.0",
            http_port=BRIDGE_HTTP_PORT,
        ),
    }


def binary(component: str) -> str:
    return system_binary(BINARIES[component], f"the {component} of the full stack", f"{INSTALL_HINT} (make install)")


@dataclass
class LocalObservability:
    """The bridge, Prometheus and Alertmanager as processes of a local stack, configured under `home`."""

    home: Path
    logs_dir: Path
    fixed_ports: bool
    statsd_port: int = 0
    bridge_port: int = 0
    prometheus_port: int = 0
    alertmanager_port: int = 0

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.alertmanager_port}"

    def bridge(self) -> tuple[ManagedProcess, dict[str, str]]:
        """The statsd bridge (started before Airflow) and the Airflow env that points at it and at Prometheus
        (the /hss Operations page reads it). Every port is chosen here, before Airflow's environment is."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.statsd_port, self.bridge_port = free_port(kind=socket.SOCK_DGRAM), free_port()
        self.prometheus_port = pick_port(PROMETHEUS_PORT, self.fixed_ports)
        self.alertmanager_port = pick_port(ALERTMANAGER_PORT, self.fixed_ports)
        config = self.home / "collectd.conf"
        config.write_text(
            render(
                "collectd.conf.j2",
                base_dir=self.home,
                statsd_host="127.0.0.1",
                statsd_port=self.statsd_port,
                http_host="127.0.0.1",
                http_port=self.bridge_port,
            )
        )
        argv = [binary(STATSD_BRIDGE), "-f", "-C", str(config)]
        process = ManagedProcess(STATSD_BRIDGE, argv, self.logs_dir / f"{STATSD_BRIDGE}.log", cwd=self.home)
        process.probe = lambda: answers(f"http://127.0.0.1:{self.bridge_port}/metrics")
        page_env = {PROMETHEUS_URL_ENV: self.prometheus_url, PROMETHEUS_PUBLIC_URL_ENV: self.prometheus_url}
        return process, {**statsd_env("127.0.0.1", self.statsd_port), **page_env}

    def servers(
        self,
        *,
        services: list[tuple[str, str]],
        balancer: str,
        flower: str,
        flower_login: tuple[str, str],
        smtp: str,
    ) -> list[tuple[ManagedProcess, Callable[[], bool]]]:
        """Prometheus and Alertmanager, with their readiness probes (started beside Airflow's components).
        `services`: (service name, URL) of each process serving one, a replica each; `balancer`: its exporter."""
        password_file = self.home / "flower_password"
        write_private(password_file, flower_login[1])  # Prometheus reads it; the config names only the file
        prometheus_yml = self.home / "prometheus.yml"
        prometheus_yml.write_text(
            render(
                "prometheus.yml.j2",
                rules_dir=RULES_DIR,
                prometheus=f"127.0.0.1:{self.prometheus_port}",
                alertmanager=f"127.0.0.1:{self.alertmanager_port}",
                statsd_bridge=f"127.0.0.1:{self.bridge_port}",
                services=[(name, url.split("://", 1)[-1]) for name, url in services],
                dns_services=[],
                balancer=balancer.split("://", 1)[-1],
                flower=flower.split("://", 1)[-1],
                flower_username=flower_login[0],
                flower_password_file=password_file,
            )
        )
        alertmanager_yml = self.home / "alertmanager.yml"
        alertmanager_yml.write_text(render("alertmanager.yml.j2", alert_to=ALERT_TO, smtp=smtp))
        prometheus = ManagedProcess(
            PROMETHEUS,
            [
                binary(PROMETHEUS),
                f"--config.file={prometheus_yml}",
                f"--storage.tsdb.path={self.home / 'prometheus-data'}",
                "--storage.tsdb.retention.time=2d",
                f"--web.listen-address=127.0.0.1:{self.prometheus_port}",
            ],
            self.logs_dir / f"{PROMETHEUS}.log",
            cwd=self.home,
        )
        alertmanager = ManagedProcess(
            ALERTMANAGER,
            [
                binary(ALERTMANAGER),
                f"--config.file={alertmanager_yml}",
                f"--storage.path={self.home / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{self.alertmanager_port}",
                "--cluster.listen-address=",  # one Alertmanager: no gossip port on every interface
            ],
            self.logs_dir / f"{ALERTMANAGER}.log",
            cwd=self.home,
        )
        return [
            (prometheus, lambda: answers(f"{self.prometheus_url}/-/ready")),
            (alertmanager, lambda: answers(f"{self.alertmanager_url}/-/ready")),
        ]

    def urls(self) -> dict:
        return {"prometheus": {"url": self.prometheus_url}, "alertmanager": {"url": self.alertmanager_url}}


def write_docker_files(folder: Path = DOCKER_CONFIG) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in docker_files().items():
        (folder / name).write_text(text)
        written.append(folder / name)
    return written


if __name__ == "__main__":  # python -m stack.observability: re-render observability/docker/ after a template edit
    for path in write_docker_files():
        print(f"wrote {path.relative_to(REPO_ROOT)}")
