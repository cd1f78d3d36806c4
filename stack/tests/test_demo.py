"""`python -m stack.demo` end to end, as `make demo` runs it, from a clean state folder and data root.

Proves: exit 0; task-state lines while the runs go; the result summary; a result file holding the
audio, content, prediction and insights parts; and that every process it started is gone (each
component's process group, and every port stack.json named) once it exits.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from contracts.data_layout import DataLayout
from stack.paths import DAGS_SOURCE as DAGS_FOLDER
from stack.paths import REPO_ROOT
from stack.process_control import groups_left
from stack.waiting import wait_until

DEMO_TIMEOUT_S = 1500


def port_closed(url: str) -> bool:
    host, port = url.split("://")[1].split(":")
    with socket.socket() as sock:
        return sock.connect_ex((host, int(port))) != 0


@pytest.mark.slow
@pytest.mark.timeout(DEMO_TIMEOUT_S + 60)
@pytest.mark.skipif(not (DAGS_FOLDER / "comprehensive_analysis.py").exists(), reason="the real DAGs are not there")
def test_demo_runs_both_dags_prints_results_and_leaves_nothing_running(tmp_path: Path) -> None:
    state, data = tmp_path / "state", tmp_path / "data"
    argv = [sys.executable, "-m", "stack.demo", "--state-dir", str(state), "--data-root", str(data), "--any-ports"]
    argv += ["--env-file", str(tmp_path / "demo.env")]
    output = tmp_path / "demo.out"
    with output.open("w") as out:
        demo = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, env={**os.environ})
        info = None

        def demo_done() -> bool:
            nonlocal info
            if info is None and (state / "stack.json").exists():  # written once the stack is up
                info = json.loads((state / "stack.json").read_text())
            return demo.poll() is not None

        wait_until(demo_done, DEMO_TIMEOUT_S, 0.5, "the demo finished", raise_on_timeout=False)
        if demo.poll() is None:
            demo.terminate()  # SIGTERM: the demo stops its stack on the way out
            demo.wait(120)
            pytest.fail(f"demo still running after {DEMO_TIMEOUT_S} s:\n{output.read_text()[-5000:]}")
    text = output.read_text()
    print(text)

    assert demo.returncode == 0, text[-5000:]
    # Task-state lines, one per change, with elapsed seconds.
    for task in ("validate_training_config", "smart_ensemble_training", "audio_analysis", "ai_insights"):
        assert re.search(rf"\[\s*\d+\.\d s\] {task}\s+\S+ → success", text), f"no success line for {task}"
    assert "✔ ml_training_smart_ensemble succeeded" in text and "✔ comprehensive_analysis succeeded" in text
    assert "result summary (aggregate_results):" in text and "hit_probability" in text
    assert re.search(r"Airflow UI:\s+http://127\.0\.0\.1:\d+\s+login admin / admin", text)
    service = re.search(r"service time:\s+(\d+\.\d+) s on the critical path", text)
    assert service and float(service.group(1)) > 0.1, "the services' own time was not measured"

    result = Path(re.search(r"^result file:\s+(\S+)$", text, re.M).group(1))
    assert result.is_file() and result.parent == DataLayout(data).song_results_of("demo_song")  # results/songs/<id>/
    document = json.loads(result.read_text())
    assert {"audio", "content", "prediction", "insights"} <= set(document)
    assert document["song_id"] == "demo_song"
    assert 0.0 <= document["prediction"]["hit_probability"] <= 1.0

    # A fresh demo is green: the daily training without its dataset is skipped, and nobody gets an alert mail.
    assert not list((state / "mail").glob("*.eml")), [p.read_text()[:400] for p in (state / "mail").glob("*.eml")]
    assert info is not None, "stack.json never appeared while the demo ran"
    assert info["data_root"] == str(data) and set(info["services"]) >= {"workflow-audio", "workflow-intelligence"}
    assert not (state / "stack.json").exists()
    # Each started process leads its own group (workers, pools, log servers): every group is empty.
    assert groups_left(list(info["pids"].values())) == [], info["pids"]
    for url in [info["airflow"]["url"], *info["services"].values()]:
        assert port_closed(url), f"{url} still answers"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_ctrl_c_while_starting_stops_everything_started_so_far(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "stack.demo", "--state-dir", str(tmp_path / "state"), "--any-ports"]
    argv += ["--env-file", str(tmp_path / "demo.env")]
    output = tmp_path / "demo.out"
    with output.open("w") as out:
        demo = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT)

        def airflow_starting() -> bool:
            assert demo.poll() is None, output.read_text()
            return "starting api-server" in output.read_text()

        wait_until(airflow_starting, 400, 0.2, "the api-server starting", raise_on_timeout=False)
        time.sleep(2)  # the Airflow components are starting, the services are up
        started = psutil.Process(demo.pid).children(recursive=True)
        assert len(started) >= 9, [p.name() for p in started]
        demo.send_signal(signal.SIGINT)
        code = demo.wait(120)
    text = output.read_text()
    assert code == 130, text[-3000:]
    assert "interrupted" in text and "stopped everything the demo started." in text
    _, alive = psutil.wait_procs(started, timeout=10)
    assert not alive, [(p.pid, p.name()) for p in alive]
    assert not (tmp_path / "state" / "stack.json").exists()
