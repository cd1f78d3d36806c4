"""The DAGs' param schemas do not depend on the host that parsed them (HSS_DATA_ROOT), and a path the schema lets
through but the data root refuses (absolute, outside the root) fails the task on its first try, without a retry.

The dag-processor serializes each DAG where it parses it; the api-server validates a trigger's conf against that
serialized schema. A schema that named the parsing host's data root would change with the host (and differ
between a developer's parse and the stack's), so containment is checked where the file is opened instead.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.exceptions import AirflowFailException
from airflow.serialization.serialized_objects import DagSerialization

from hss_airflow.batch import BatchError, list_songs
from hss_airflow.operators import ContentAnalysisOperator
from hss_airflow.settings import settings
from hss_airflow.training_features import DatasetError, check_training_config
from stack.paths import DAGS_SOURCE as DAGS_FOLDER

OUTSIDE = "/etc/hss-outside-the-data-root"


def serialized_params(monkeypatch: pytest.MonkeyPatch, data_root: Path) -> dict[str, Any]:
    """dag_id -> its params as the dag-processor serializes them, parsed with HSS_DATA_ROOT=data_root."""
    monkeypatch.setenv("HSS_DATA_ROOT", str(data_root))
    getattr(settings, "cache_clear", lambda: None)()  # settings() is read fresh each call; clear any cache anyway
    assert settings().data_root == data_root.resolve()
    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert not bag.import_errors
    return {
        dag_id: json.loads(json.dumps(DagSerialization.serialize_dag(dag)["params"], sort_keys=True, default=str))
        for dag_id, dag in bag.dags.items()
    }


def test_serialized_param_schemas_are_the_same_whatever_the_parsing_hosts_data_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = serialized_params(monkeypatch, tmp_path / "host_a" / "data")
    second = serialized_params(monkeypatch, tmp_path / "host_b" / "elsewhere")
    assert first == second
    # The comparison can fail: the params are there, with their path patterns, and name neither root.
    text = json.dumps(first)
    assert "song_path" in text and "dataset_path" in text and "pattern" in text
    assert "host_a" not in text and "host_b" not in text


def schema_of(dag_id: str, param: str) -> dict[str, Any]:
    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(bag.dags[dag_id]))
    return dag.params.get_param(param).schema


@pytest.mark.parametrize(
    "dag_id,param,value",
    [
        ("comprehensive_analysis", "song_path", f"{OUTSIDE}/a.wav"),
        ("ml_training_smart_ensemble", "dataset_path", f"{OUTSIDE}/x.csv"),
        ("batch_analysis", "folder", OUTSIDE),
    ],
)
def test_an_absolute_path_outside_the_root_passes_the_trigger_form(dag_id: str, param: str, value: str) -> None:
    assert re.search(schema_of(dag_id, param)["pattern"], value)
    assert not re.search(schema_of(dag_id, param)["pattern"], "songs/../../x.csv")  # `..` is still refused


def test_the_task_refuses_it_on_its_first_try_with_the_data_root_error(root: Path) -> None:
    with pytest.raises(DatasetError, match=r"dataset_path: .*HSS_DATA_ROOT=") as training:
        check_training_config(
            {"training_id": "t1", "dataset_path": f"{OUTSIDE}/x.csv", "batch_size": 10, "max_concurrent_requests": 2}
        )
    assert str(root) in str(training.value)
    with pytest.raises(BatchError, match=r"folder: .*HSS_DATA_ROOT="):
        list_songs(OUTSIDE, "*.*")
    content = ContentAnalysisOperator(task_id="content_analysis", song_id="s1", song_path=f"{OUTSIDE}/a.wav")
    # AirflowFailException: the task fails without its retries (before any request is sent).
    with pytest.raises(AirflowFailException, match=r"lyrics sidecar refused: .*outside the data root"):
        content.execute(context={})  # type: ignore[arg-type]
