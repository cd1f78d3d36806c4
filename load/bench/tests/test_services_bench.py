"""The light-services section: figures and statuses from Locust's per-request stats (no processes started)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from contracts.catalog import INSIGHTS_GENERATE, LYRICS_ANALYZE, PREDICT_SINGLE
from load.bench import services
from load.report import RequestStats


def test_each_light_service_gets_a_rate_and_a_p95_figure_judged_against_the_target(monkeypatch, tmp_path: Path):
    started = {}

    def fake_start_services(group, *, data_root, log_dir, api_key):
        started["api_key"] = api_key
        return {name: SimpleNamespace(url=f"http://127.0.0.1:{9000 + i}") for i, name in enumerate(services.CLASSES)}

    p95 = {LYRICS_ANALYZE.path: 37.0, PREDICT_SINGLE.path: 31.0, INSIGHTS_GENERATE.path: 80.0}  # the last one misses

    def fake_measure(profile, targets, *, user_classes, run_time, reports_dir, echo):
        assert profile == "services-50" and targets["api_key"] == started["api_key"]
        request = services.CLASSES[user_classes[0]][0]
        stats = {request: RequestStats("POST", request, 9600, 0, 320.0, 12.0, p95[request], 60.0)}
        return SimpleNamespace(stats=stats, html_report=reports_dir / "report.html")

    monkeypatch.setattr(services, "start_services", fake_start_services)
    monkeypatch.setattr(services, "measure", fake_measure)
    section = services.services_section(tmp_path, lambda _: None, run_time="1s")

    statuses = {figure.name: figure.passed for figure in section.figures}
    assert len(section.figures) == 6
    assert statuses["workflow-content: p95 at 50 users"] is True
    assert statuses["workflow-content: req/s at 50 users"] is True
    assert statuses["workflow-intelligence: p95 at 50 users"] is False
    assert section.data["workflow-ml-prediction"]["p95_ms"] == 31.0
    assert any("| workflow-intelligence | /insights/generate | 9600 | 0 | 320.0 |" in row for row in section.details)
