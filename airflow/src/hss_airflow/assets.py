"""The assets the HSS DAGs produce and consume (the UI's Assets view draws their lineage).

- `hss_training_dataset`: a dataset file claimed for training (dataset_triggered_training's claim_dataset);
  each event's extra names the file: {"dataset_path", "original_name", "training_id"}, and its partition key
  is the training_id. train_on_new_dataset is scheduled on it (one run per claim), and its
  validate_training_config declares it as its inlet.
- `hss_trained_model`: a model the training chain promoted (promote_model, PromoteModelOperator; a kept model
  emits no event); the extra names the model. rescore_library is scheduled on it (`schedule=[TRAINED_MODEL]`)
  and runs after each promotion.
"""

from __future__ import annotations

from airflow.sdk import Asset

TRAINING_DATASET = Asset(name="hss_training_dataset", uri="hss://training_data/claimed")
TRAINED_MODEL = Asset(name="hss_trained_model", uri="hss://models/latest")
