"""`stack.attached`: what `make e2e REUSE_STACK=1` runs the tests on — a stack.json written by someone else.

A tiny HTTP server stands in for the api-server's /api/v2/monitor/health; a sleeping child stands in for
the stack's processes (its pid in stack.json), so "runs" and "answers" are real checks, not mocks.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from stack.attached import AttachedStack, NotOwned, attach


class Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/api/v2/monitor/health" else 404)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def api_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def process() -> Iterator[subprocess.Popen]:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    yield child
    child.kill()
    child.wait()


def write_info(tmp_path: Path, airflow_url: str, pid: int, restarts: int = 0) -> Path:
    info = {
        "backend": "local",
        "airflow": {"url": airflow_url, "username": "admin", "password": "pw"},
        "services": {"workflow-audio": "http://127.0.0.1:1"},
        "api_key": "key",
        "data_root": str(tmp_path / "data"),
        "mail_dir": str(tmp_path / "mail"),
        "logs_dir": str(tmp_path / "logs"),
        "pids": {"api-server": pid},
        "supervision": {"scheduler": {"restarts": restarts}, "workflow-audio": {"restarts": 0}},
        "workers": 1,
    }
    path = tmp_path / "stack.json"
    path.write_text(json.dumps(info))
    return path


def test_a_running_answering_stack_is_attached_and_reads_what_stack_json_says(
    tmp_path: Path, api_server: str, process: subprocess.Popen
) -> None:
    stack_file = write_info(tmp_path, api_server, process.pid)
    stack = attach(stack_file)
    assert isinstance(stack, AttachedStack)
    assert (stack.airflow_url, stack.username, stack.password, stack.api_key) == (api_server, "admin", "pw", "key")
    assert stack.data_root == tmp_path / "data" and stack.workers == 1
    assert stack.restart_counts() == {"airflow-scheduler": 0, "workflow-audio": 0}  # compose names
    write_info(tmp_path, api_server, process.pid, restarts=2)  # the supervisor rewrote stack.json
    assert stack.restart_counts()["airflow-scheduler"] == 2
    assert stack.up() is stack
    stack.down()  # leaves it running
    assert process.poll() is None


def test_no_file_a_dead_stack_or_a_silent_api_server_is_not_attached(
    tmp_path: Path, api_server: str, process: subprocess.Popen
) -> None:
    assert attach(tmp_path / "stack.json") is None  # nothing written
    silent = write_info(tmp_path, "http://127.0.0.1:9", process.pid)  # nothing listens on port 9 (discard)
    assert attach(silent) is None
    process.kill()
    process.wait()
    dead = write_info(tmp_path, api_server, process.pid)
    assert attach(dead) is None


@pytest.mark.parametrize(
    "fault",
    [
        lambda s: s.crash("airflow-scheduler"),
        lambda s: s.restart("postgres"),
        lambda s: s.stop_service("workflow-audio"),
        lambda s: s.start_service("workflow-audio"),
        lambda s: s.kill_worker(),
        lambda s: s.pause_workers(),
        lambda s: s.resume_workers(),
        lambda s: s.stop_component("airflow-scheduler"),
        lambda s: s.start_component("airflow-scheduler"),
    ],
    ids=[
        "crash",
        "restart",
        "stop_service",
        "start_service",
        "kill_worker",
        "pause_workers",
        "resume_workers",
        "stop_component",
        "start_component",
    ],
)
def test_a_fault_on_a_stack_it_did_not_start_is_refused_naming_the_way_out(
    tmp_path: Path, api_server: str, process: subprocess.Popen, fault
) -> None:
    stack = attach(write_info(tmp_path, api_server, process.pid))
    assert stack is not None
    with pytest.raises(NotOwned, match="REUSE_STACK=1"):
        fault(stack)
    assert process.poll() is None  # nothing was killed
