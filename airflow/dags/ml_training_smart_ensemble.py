"""ml_training_smart_ensemble: train the 5-model smart ensemble on a dataset given in conf."""

from __future__ import annotations

from airflow.sdk import dag

from hss_airflow.dag_defaults import DEFAULT_ARGS
from hss_airflow.params import training_params
from hss_airflow.training_dag import TRAINING_DOC, build_training_chain

DOC = f"""
# Smart-ensemble training

Replaces the orchestrator's ML-training flow:

`validate_training_config` → `process_training_dataset` → `smart_ensemble_training` → `aggregate_results`

The dataset is a CSV under the data root with `song_id`, `song_path`, `is_hit` (0/1), optionally `lyrics`
and precomputed feature columns. Rows without features are analysed through workflow-audio and
workflow-content first; rows with features are used as they are.
{TRAINING_DOC}
### Trigger
`conf` is validated against the params' JSON schema when the run is created (HTTP 400 otherwise):
`dataset_path` (required, a `.csv` path), `training_id` (required, identifier), `batch_size` (1..5000,
default 400), `max_concurrent_requests` (1..200, default 50).

```bash
curl -X POST "http://localhost:8080/api/v2/dags/ml_training_smart_ensemble/dagRuns" \\
  -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\
  -d '{{"logical_date": null, "conf": {{"dataset_path": "training_data/my_dataset.csv",
       "training_id": "airflow_smart_training_1", "batch_size": 400, "max_concurrent_requests": 50}}}}'
```
"""


@dag(
    dag_id="ml_training_smart_ensemble",
    schedule=None,
    catchup=False,
    max_active_runs=2,
    default_args=DEFAULT_ARGS,
    params=training_params(),
    tags=["hss", "training"],
    doc_md=DOC,
    dag_display_name="Smart-ensemble training",
)
def ml_training_smart_ensemble() -> None:
    build_training_chain()


ml_training_smart_ensemble()
