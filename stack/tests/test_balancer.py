"""workflow-audio's balancer: the committed compose config is the template's rendering, both renderings pass
`haproxy -c`, and a real HAProxy (Debian's, from make install) in front of two small replicas balances by least
connections, sends a request whose replica died mid-request to the other, and refuses in the error envelope."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from contracts.catalog import AUDIO_ANALYZE
from contracts.errors import ErrorEnvelope
from stack.balancer import (
    DOCKER_CONFIG,
    HEALTH_PATH,
    METRICS_PATH,
    LocalBalancer,
    balancer_view,
    docker_config,
    haproxy_binary,
)
from stack.processes import ManagedProcess, free_port
from stack.services import replica_names
from stack.waiting import wait_until

# A replica: /ready answers at once; /analyze waits `delay` seconds (a request in flight), then names the replica;
# /die exits the process without a response, as a crash mid-request.
REPLICA = textwrap.dedent(
    """
    import os, sys, time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.answer(b"ready")

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if open(sys.argv[3]).read().strip() == "die":
                os._exit(1)  # the connection closes with no response
            time.sleep(float(sys.argv[2]))
            self.answer(sys.argv[1].encode())

        def answer(self, body):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[4])), Handler).serve_forever()
    """
)


def test_the_committed_compose_config_is_the_templates_rendering() -> None:
    assert DOCKER_CONFIG.read_text() == docker_config(), "deploy/haproxy/haproxy.cfg is stale: python -m stack.balancer"


def test_both_renderings_pass_haproxys_own_check(tmp_path: Path) -> None:
    balancer = LocalBalancer(tmp_path, tmp_path / "logs", fixed_ports=False)
    balancer.reserve_ports()
    balancer.process({"workflow-audio": "http://127.0.0.1:18101", "workflow-audio-2": "http://127.0.0.1:18102"})
    for config in (DOCKER_CONFIG, tmp_path / "haproxy.cfg"):
        check = subprocess.run([haproxy_binary(), "-c", "-f", str(config)], capture_output=True, text=True)
        assert check.returncode == 0, f"{config}: {check.stdout}{check.stderr}"
    local = (tmp_path / "haproxy.cfg").read_text()
    assert f"bind 127.0.0.1:{balancer.port}" in local  # loopback only, as every port of a local stack
    assert "server workflow-audio 127.0.0.1:18101" in local and "server workflow-audio-2 127.0.0.1:18102" in local
    assert "balance leastconn" in local and "option httpchk GET /ready" in local


def test_replica_names_keep_the_service_name_for_the_first() -> None:
    assert replica_names("workflow-audio", 3) == ["workflow-audio", "workflow-audio-2", "workflow-audio-3"]
    with pytest.raises(ValueError, match="at least 1"):
        replica_names("workflow-audio", 0)


@pytest.fixture
def two_replicas(tmp_path: Path):
    """Two replicas (0.5 s per request) and the balancer in front of them; yields (balancer, replicas, modes)."""
    script = tmp_path / "replica.py"
    script.write_text(REPLICA)
    replicas, modes = {}, {}
    for name in replica_names("workflow-audio", 2):
        port, mode = free_port(), tmp_path / f"{name}.mode"
        mode.write_text("serve")
        process = ManagedProcess(
            name,
            [sys.executable, str(script), name, "0.5", str(mode), str(port)],
            tmp_path / f"{name}.log",
            health_url=f"http://127.0.0.1:{port}/ready",
        )
        replicas[name], modes[name] = (process.start(), f"http://127.0.0.1:{port}"), mode
    balancer = LocalBalancer(tmp_path / "balancer", tmp_path / "logs", fixed_ports=False)
    balancer.reserve_ports()
    for process, _ in replicas.values():
        process.wait_healthy(20)
    lb = balancer.process({name: url for name, (_, url) in replicas.items()}).start()
    try:
        lb.wait_healthy(20)
        yield balancer, replicas, modes
    finally:
        for process in [lb, *(p for p, _ in replicas.values())]:
            process.stop(grace=2)


def analyse(url: str) -> requests.Response:
    return requests.post(f"{url}{AUDIO_ANALYZE.path}", json={"song_id": "s"}, timeout=30)


def test_least_connections_spreads_requests_in_flight_over_both_replicas(two_replicas) -> None:
    balancer, _, _ = two_replicas
    with ThreadPoolExecutor(2) as pool:  # two at a time, as Airflow's hss_audio pool sends them
        answers = list(pool.map(lambda _: analyse(balancer.url), range(8)))
    assert all(answer.status_code == 200 for answer in answers), [a.text for a in answers]
    served = [answer.text for answer in answers]
    assert 3 <= served.count("workflow-audio") <= 5, served  # 4/4 expected; never all on one
    view = balancer_view(balancer.url)  # HAProxy's exporter, per replica
    assert view.responses == {
        "workflow-audio": served.count("workflow-audio"),
        "workflow-audio-2": 8 - view.responses["workflow-audio"],
    }
    assert view.active == 2 and view.in_flight == {"workflow-audio": 0, "workflow-audio-2": 0} and view.retried == 0
    assert balancer.metrics_url.endswith(METRICS_PATH)


def test_a_replica_that_dies_mid_request_is_retried_on_the_other_and_taken_out(two_replicas) -> None:
    balancer, replicas, modes = two_replicas
    modes["workflow-audio"].write_text("die")  # its next request kills it with no response
    answers = [analyse(balancer.url) for _ in range(4)]
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    assert {a.text for a in answers} == {"workflow-audio-2"}  # the one that died answered none
    assert balancer_view(balancer.url).retried == 1  # its request, sent again
    assert not replicas["workflow-audio"][0].alive()
    assert requests.get(f"{balancer.url}{HEALTH_PATH}", timeout=5).status_code == 200  # one replica is enough


def test_with_no_replica_left_the_balancer_refuses_in_the_error_envelope(two_replicas) -> None:
    balancer, replicas, _ = two_replicas
    for process, _ in replicas.values():
        process.stop(grace=2)
    started = time.monotonic()
    wait_until(
        lambda: requests.get(f"{balancer.url}{HEALTH_PATH}", timeout=5).status_code == 503, 10, 0.2, "balancer down"
    )
    answer = analyse(balancer.url)
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "2"
    error = ErrorEnvelope.model_validate_json(answer.text).error
    assert error.code == "no_replica_ready" and "workflow-audio" in error.message
    assert time.monotonic() - started < 10  # the checks take a dead replica out within seconds
