"""AirflowClient.asset_events against a fake api-server that answers as Airflow 3.3 does while a run an event
created has not started yet: 500 (apache/airflow#71360), until the run starts."""

from __future__ import annotations

import urllib.parse

import pytest

from fixtures.http_fakes import JsonHandler, LocalServer
from stack import client_results
from stack.client import AirflowClient, AirflowClientError

NOW = "2026-01-01T00:00:00Z"
ASSET = {
    "id": 7,
    "name": "hss_trained_model",
    "uri": "hss://trained-model",
    "group": "asset",
    "created_at": NOW,
    "updated_at": NOW,
    "aliases": [],
    "consuming_tasks": [],
    "producing_tasks": [],
    "scheduled_dags": [],
    "watchers": [],
}
EVENT = {
    "id": 1,
    "asset_id": 7,
    "source_run_id": "train_1",
    "source_map_index": -1,
    "timestamp": NOW,
    "extra": {"model_version": "m1"},
    "created_dagruns": [
        {"dag_id": "rescore_library", "run_id": "r1", "start_date": NOW, "state": "running", "triggering": True}
    ],
}


class QueuedRunApi(JsonHandler):
    """The asset, and its events: 500 for the first `failures` reads (Airflow's body for an unhandled error)."""

    failures = 2
    event_reads = 0

    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if path.endswith("/assets/events"):
            type(self).event_reads += 1
            if type(self).event_reads <= self.failures:
                return self.send_json(500, {"detail": "Internal Server Error"})
            return self.send_json(200, {"asset_events": [EVENT], "total_entries": 1})
        self.send_json(200, {"assets": [ASSET], "total_entries": 1})


@pytest.fixture
def api():
    QueuedRunApi.event_reads = 0
    server = LocalServer(QueuedRunApi)
    yield AirflowClient(server.url, "admin", "admin", login=False)
    server.close()


def test_the_events_are_read_again_while_airflow_answers_500_for_a_run_not_started_yet(api) -> None:
    QueuedRunApi.failures = 2
    [event] = api.asset_events("hss_trained_model", source_run_id="train_1")
    assert event.extra == {"model_version": "m1"} and event.created_dagruns[0].run_id == "r1"
    assert QueuedRunApi.event_reads == 3


def test_a_500_that_outlasts_the_retry_window_is_raised_naming_the_read(api, monkeypatch) -> None:
    QueuedRunApi.failures = 10_000
    monkeypatch.setattr(client_results, "ASSET_EVENTS_500_RETRY_S", 1.0)
    with pytest.raises(AirflowClientError, match=r"500 to read the events of asset 'hss_trained_model'") as raised:
        api.asset_events("hss_trained_model")
    assert raised.value.status == 500 and 2 <= QueuedRunApi.event_reads <= 4
