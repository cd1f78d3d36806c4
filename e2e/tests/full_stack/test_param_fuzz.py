"""Every DAG's params fuzzed through the REST trigger (hypothesis, fixed seed): invalid conf is refused with a 4xx,
no run is created, nothing hangs. CI runs HSS_FUZZ_EXAMPLES (default 40) per DAG; `make fuzz` runs more."""

from __future__ import annotations

import os

import pytest

from e2e.param_fuzz import fuzz_dag
from stack.client import AirflowClient

EXAMPLES = int(os.environ.get("HSS_FUZZ_EXAMPLES", "40"))
SEED = int(os.environ.get("HSS_FUZZ_SEED", "1313"))
# A valid conf per DAG with params (dataset_triggered_training takes none: it is fed by its sensor).
BASE_CONFS = {
    "comprehensive_analysis": {"song_id": "fuzz_song", "song_path": "songs/fuzz.wav"},
    "ml_training_smart_ensemble": {"dataset_path": "training_data/fuzz.csv", "training_id": "fuzz_training"},
    "daily_model_training": {},
    "batch_analysis": {},
    "train_on_new_dataset": {},
    "rescore_library": {},
}


@pytest.mark.parametrize("dag_id", list(BASE_CONFS))
def test_invalid_conf_is_refused_and_creates_no_run(client: AirflowClient, dag_id: str) -> None:
    report = fuzz_dag(client, dag_id, BASE_CONFS[dag_id], examples=EXAMPLES, seed=SEED)
    print(report)
    assert report.sent > 0
    assert report.created == []  # not one run from an invalid conf


def test_every_dag_with_params_is_fuzzed(client: AirflowClient) -> None:
    with_params = {dag.dag_id for dag in client.list_dags() if client.dag_details(dag.dag_id).params}
    assert with_params == set(BASE_CONFS)
