"""stack.observability: one set of templates for both backends, valid for Prometheus' and Alertmanager's own
checkers, and nothing listening beyond loopback on the local stack."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from stack.observability import DOCKER_CONFIG, LocalObservability, docker_files

PROMTOOL, AMTOOL = shutil.which("promtool"), shutil.which("amtool")
MISSING = "apt-get install prometheus prometheus-alertmanager (make install does it)"


def check(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_committed_docker_configs_are_the_templates_rendering() -> None:
    for name, text in docker_files().items():
        committed = (DOCKER_CONFIG / name).read_text()
        assert committed == text, f"observability/docker/{name} is stale: run python -m stack.observability"


@pytest.fixture
def local(tmp_path: Path) -> tuple[LocalObservability, list]:
    observability = LocalObservability(tmp_path / "observability", tmp_path / "logs", fixed_ports=False)
    observability.bridge()
    servers = observability.servers(
        services=[("workflow-audio", "http://127.0.0.1:18101"), ("workflow-audio", "http://127.0.0.1:18102")],
        balancer="http://127.0.0.1:8001",
        flower="http://127.0.0.1:5555",
        flower_login=("admin", "s3cret-flower"),
        smtp="127.0.0.1:1025",
    )
    return observability, servers


def test_the_local_stack_listens_on_loopback_only_and_keeps_flowers_password_out_of_the_config(local) -> None:
    observability, servers = local
    collectd = (observability.home / "collectd.conf").read_text()
    assert re.findall(r'^\s*Host "([^"]+)"', collectd, re.M) == ["127.0.0.1", "127.0.0.1"]  # statsd and HTTP
    argv = {process.name: process.argv for process, _ in servers}
    assert f"--web.listen-address=127.0.0.1:{observability.prometheus_port}" in argv["prometheus"]
    assert f"--web.listen-address=127.0.0.1:{observability.alertmanager_port}" in argv["alertmanager"]
    assert "--cluster.listen-address=" in argv["alertmanager"]  # no gossip port on every interface
    config = yaml.safe_load((observability.home / "prometheus.yml").read_text())
    targets = [t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    assert targets and all(t.startswith("127.0.0.1:") for t in targets), targets
    services = next(job for job in config["scrape_configs"] if job["job_name"] == "hss-services")["static_configs"]
    assert [(sc["labels"]["service"], sc["targets"]) for sc in services] == [
        ("workflow-audio", ["127.0.0.1:18101"]),  # each replica a target of its own, under the service's label
        ("workflow-audio", ["127.0.0.1:18102"]),
    ]
    assert "s3cret-flower" not in (observability.home / "prometheus.yml").read_text()
    password_file = observability.home / "flower_password"
    assert password_file.read_text() == "s3cret-flower" and password_file.stat().st_mode & 0o077 == 0


def test_every_rendered_config_passes_promtool_and_amtool(local, tmp_path: Path) -> None:
    assert PROMTOOL and AMTOOL, f"promtool/amtool not found: {MISSING}"
    observability, _ = local
    check([PROMTOOL, "check", "config", str(observability.home / "prometheus.yml")])  # rules and files too
    check([AMTOOL, "check-config", str(observability.home / "alertmanager.yml")])
    for name, text in docker_files().items():
        (tmp_path / name).write_text(text)
    check([PROMTOOL, "check", "config", "--syntax-only", str(tmp_path / "prometheus.yml")])  # container paths
    check([AMTOOL, "check-config", str(tmp_path / "alertmanager.yml")])


def test_alerts_are_grouped_by_name_and_mailed_to_the_sink() -> None:
    config = yaml.safe_load(docker_files()["alertmanager.yml"])
    assert config["route"]["group_by"] == ["alertname"]  # one incident, one mail
    [receiver] = config["receivers"]
    assert receiver["email_configs"][0]["smarthost"] == "mail-sink:1025"
