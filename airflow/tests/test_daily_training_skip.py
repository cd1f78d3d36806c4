"""daily_model_training on a data root without its dataset: the run is skipped, nothing fails, no mail.

Whole runs with `dag.test()` (no services needed: the chain stops in validate_training_config). The SMTP
notifier's `notify` is replaced by a recorder, so every mail the run would send is counted and read, and
none leaves the machine.
"""

from __future__ import annotations

import html
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.providers.smtp.notifications.smtp import SmtpNotifier

from stack.paths import DAGS_SOURCE as DAGS_FOLDER


@pytest.fixture(scope="module")
def dags(airflow_db: Path) -> dict[str, Any]:
    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert not bag.import_errors, bag.import_errors
    return bag.dags


@pytest.fixture
def mails(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The subject and text of every mail a notifier sends during the test (none is sent)."""
    sent: list[str] = []

    def record(self: SmtpNotifier, context: Any) -> None:
        sent.append(html.unescape(f"{self.subject}\n{self.html_content}"))

    monkeypatch.setattr(SmtpNotifier, "notify", record)
    return sent


def run_daily(dags: dict[str, Any], day: int) -> tuple[Any, dict[str, str]]:
    dr = dags["daily_model_training"].test(logical_date=datetime(2026, 5, day, 2, 0, tzinfo=UTC))
    return dr, {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}


def test_a_missing_daily_dataset_skips_the_run_says_which_file_and_mails_nothing(
    dags, root: Path, mails: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    assert not (root / "training_data" / "daily.csv").exists()  # a fresh stack

    with caplog.at_level(logging.INFO):
        dr, states = run_daily(dags, 1)

    assert str(dr.state) == "success", states  # all skipped: Airflow ends the run success, never failed
    assert states["validate_training_config"] == "skipped"
    assert set(states.values()) == {"skipped"}, states  # merge_features too: it does not run on no config
    assert mails == []
    expected = (
        f"No dataset yet: waiting for training_data/daily.csv in the data root ({root}/training_data/daily.csv). "
        "Nothing is wrong"
    )
    assert expected in caplog.text


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"", "daily.csv is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "is not a text CSV file"),
        (b"song_id,tempo\na,120\n", "has no 'is_hit' column"),
    ],
    ids=["empty", "binary", "no-label"],
)
def test_a_daily_dataset_that_is_there_but_broken_still_fails_and_mails(
    dags, root: Path, mails: list[str], content: bytes, error: str
) -> None:
    (root / "training_data" / "daily.csv").write_bytes(content)

    dr, states = run_daily(dags, 2 + len(content) % 20)

    assert str(dr.state) == "failed", states
    assert states["validate_training_config"] == "failed"
    [mail] = mails  # one failure mail, at once (no retry of a bad file)
    assert "daily_model_training: task validate_training_config failed (try 1)" in mail and error in mail


def test_a_manual_training_on_a_missing_dataset_still_fails_with_the_reason(dags, root: Path, mails: list[str]) -> None:
    conf = {"dataset_path": "training_data/nothing_here.csv", "training_id": "manual_missing"}

    dr = dags["ml_training_smart_ensemble"].test(run_conf=conf)

    states = {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}
    assert str(dr.state) == "failed" and states["validate_training_config"] == "failed", states
    [mail] = mails
    assert f"dataset_path: no file at 'training_data/nothing_here.csv' in the data root (HSS_DATA_ROOT={root})" in mail
