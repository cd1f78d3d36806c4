"""The assets the HSS DAGs produce and consume (the UI's Assets view draws their lineage).

- `hss_training_dataset`: a dataset file claimed for training (dataset_triggered_training's claim_dataset);
  each event's extra names the file: {"dataset_path", "original_name", "training_id"}. The training chain
  that follows in the same run declares it as its inlet.
- `hss_trained_model`: a model the training chain produced (aggregate_results); a DAG scheduled on it
  (`schedule=[TRAINED_MODEL]`) runs after each one.
"""

from __future__ import annotations

from airflow.sdk import Asset

TRAINING_DATASET = Asset(name="hss_training_dataset", uri="hss://training_data/claimed")
TRAINED_MODEL = Asset(name="hss_trained_model", uri="hss://models/latest")
