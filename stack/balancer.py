"""HAProxy in front of workflow-audio's replicas, on both backends (docs/SCALING.md).

One Jinja2 template (deploy/haproxy/haproxy.cfg.j2): docker-compose.yml mounts deploy/haproxy/haproxy.cfg, its
rendering with a server template on Docker's DNS (`docker compose up --scale workflow-audio=N` fills its slots;
`python -m stack.balancer` writes it, a unit test checks it is current); a local stack renders it into its state
folder with one `server` line per replica process. HAProxy comes from Debian (make install) or the official image:
a balancer of our own would be a server to maintain, and HAProxy's least-connections, /ready health checks,
request retry on a dead replica and Prometheus exporter are what the issue asks for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import requests
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from prometheus_client.parser import text_string_to_metric_families

from contracts.catalog import service_by_name
from stack.paths import AUDIO_BALANCER, AUDIO_SERVICE, REPO_ROOT
from stack.processes import ManagedProcess, system_binary
from stack.services import pick_port
from stack.waiting import answers

HAPROXY_DIR = REPO_ROOT / "deploy" / "haproxy"
TEMPLATE = "haproxy.cfg.j2"
DOCKER_CONFIG = HAPROXY_DIR / "haproxy.cfg"
HEADER = "Rendered from deploy/haproxy/haproxy.cfg.j2 by stack/balancer.py: edit the template, not this file."
AUDIO_PORT = service_by_name(AUDIO_SERVICE).port  # the balancer owns it; replicas listen elsewhere (local)
HEALTH_PATH, METRICS_PATH = "/lb/health", "/lb/metrics"  # the balancer's own, on the service's port
BACKEND = AUDIO_SERVICE  # the template's backend (and frontend) name
MAX_REPLICAS = 16  # server-template slots: `--scale workflow-audio=N` up to this
DOCKER_DNS = "127.0.0.11:53"
INSTALL_HINT = "apt-get install -y haproxy (make install)"


def render(**values: object) -> str:
    env = Environment(loader=FileSystemLoader(HAPROXY_DIR), undefined=StrictUndefined, keep_trailing_newline=True)
    return env.get_template(TEMPLATE).render(header=HEADER, **values)


def docker_config() -> str:
    """What compose mounts: every address `workflow-audio` resolves to is a server (up to MAX_REPLICAS)."""
    return render(
        bind=f":{AUDIO_PORT}",
        resolver=DOCKER_DNS,
        server_template=f"{AUDIO_SERVICE}:{AUDIO_PORT}",
        max_replicas=MAX_REPLICAS,
        servers=[],
    )


def local_config(port: int, replicas: dict[str, str]) -> str:
    """A local stack's: one server per replica process (name -> host:port), all on 127.0.0.1."""
    return render(
        bind=f"127.0.0.1:{port}",
        resolver="",
        server_template="",
        max_replicas=0,
        servers=sorted(replicas.items()),
    )


@dataclass(frozen=True)
class BalancerView:
    """What the balancer's exporter says of workflow-audio's replicas (its server names: local process names, or
    compose's `replica<N>` slots)."""

    active: int  # servers HAProxy counts as up: a server new to it counts before its first check (compose's DNS)
    up: dict[str, bool]  # server -> in service and its last /ready check passed; empty template slots left out
    responses: dict[str, int]  # server -> HTTP responses it returned through the balancer (checks excluded)
    in_flight: dict[str, int]  # server -> requests it holds now
    retried: int  # requests sent again to another replica after theirs failed (connection refused, died mid-request)

    @property
    def serving(self) -> int:
        """Replicas in service that passed a health check: what a caller waits for after scaling."""
        return sum(self.up.values())


def balancer_view(balancer_url: str, timeout: float = 5.0) -> BalancerView:
    """Read `<balancer>/lb/metrics` (HAProxy's Prometheus exporter)."""
    text = requests.get(f"{balancer_url}{METRICS_PATH}", timeout=timeout).text
    active, retried, states, checks, responses, in_flight = 0, 0, {}, {}, {}, {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if labels.get("proxy") != BACKEND:
                continue
            if sample.name == "haproxy_backend_active_servers":
                active = int(sample.value)
            elif sample.name == "haproxy_backend_retry_warnings_total":
                retried = int(sample.value)
            elif sample.name == "haproxy_server_status" and sample.value == 1:
                states[labels["server"]] = labels["state"]
            elif sample.name == "haproxy_server_check_status" and sample.value == 1:
                checks[labels["server"]] = labels["state"]
            elif sample.name == "haproxy_server_http_responses_total":
                server = labels["server"]
                responses[server] = responses.get(server, 0) + int(sample.value)
            elif sample.name == "haproxy_server_current_sessions":
                in_flight[labels["server"]] = int(sample.value)
    passed = {"L7OK", "L7OKC"}  # HTTP check answered as expected (200 from /ready)
    up = {
        server: state == "UP" and checks.get(server) in passed for server, state in states.items() if state != "MAINT"
    }
    known = lambda counts: {server: count for server, count in counts.items() if server in up}  # noqa: E731
    return BalancerView(active, up, known(responses), known(in_flight), retried)


def haproxy_binary() -> str:
    return system_binary("haproxy", "workflow-audio's load balancer", INSTALL_HINT)


@dataclass
class LocalBalancer:
    """The balancer as a process of a local stack: its port is the service's (when free), its config under home."""

    home: Path
    logs_dir: Path
    fixed_ports: bool
    port: int = 0

    def reserve_ports(self) -> None:
        self.port = pick_port(AUDIO_PORT, self.fixed_ports)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"{self.url}{METRICS_PATH}"

    @property
    def config_path(self) -> Path:
        return self.home / "haproxy.cfg"

    def write_config(self, replicas: dict[str, str]) -> None:
        """The config naming these replicas (name -> replica URL); HAProxy reads it when it starts."""
        self.home.mkdir(parents=True, exist_ok=True)
        addresses = {name: url.split("://", 1)[-1] for name, url in replicas.items()}
        self.config_path.write_text(local_config(self.port, addresses))

    def process(self, replicas: dict[str, str]) -> ManagedProcess:
        """HAProxy in the foreground (-db) on a config naming these replicas (name -> replica URL)."""
        self.write_config(replicas)
        argv = [haproxy_binary(), "-db", "-f", str(self.config_path)]
        process = ManagedProcess(AUDIO_BALANCER, argv, self.logs_dir / f"{AUDIO_BALANCER}.log", cwd=self.home)
        process.probe = lambda: answers(f"{self.url}{HEALTH_PATH}")  # 200 once a replica passed its checks
        return process


def write_docker_config(path: Path = DOCKER_CONFIG) -> Path:
    path.write_text(docker_config())
    return path


if __name__ == "__main__":  # python -m stack.balancer: re-render deploy/haproxy/haproxy.cfg after a template edit
    print(f"wrote {write_docker_config().relative_to(REPO_ROOT)}")
