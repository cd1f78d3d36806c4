"""json_log_records: the records of an Airflow JSON-lines log, as the e2e helpers and the bench read them."""

from __future__ import annotations

import json
from pathlib import Path

from stack.log_follow import json_log_records


def test_records_are_read_in_order_skipping_what_does_not_parse(tmp_path: Path) -> None:
    log = tmp_path / "task.log"
    first = {"timestamp": "2026-12-06T10:00:00Z", "event": "::group::Pre Execute"}
    second = {"timestamp": "2026-12-06T10:00:01Z", "event": "DAG bundles loaded: dags-folder"}
    log.write_text(
        "\n".join(
            [json.dumps(first), "plain text a subprocess printed", "[1, 2]", json.dumps(second), '{"event": "half']
        )
    )
    assert list(json_log_records(log)) == [first, second]


def test_a_log_that_is_not_there_yields_nothing(tmp_path: Path) -> None:
    assert list(json_log_records(tmp_path / "missing.log")) == []
