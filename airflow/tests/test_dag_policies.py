"""Policies every DAG keeps (retries, tags, docs, params with schemas, pools) and the exact task graphs.

Bad conf is checked with the validation Airflow's trigger path runs: the REST trigger (and the UI, the CLI,
dag.test) calls `SerializedDAG.create_dagrun`, which does `dag.params.deep_merge(conf).validate()` on the
*serialized* DAG and answers 400 on ParamValidationError; the tests call exactly that on the DAG as the
scheduler and api-server load it (serialized and deserialized).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.sdk import DeadlineReference, XComArg
from airflow.sdk.exceptions import ParamValidationError
from airflow.serialization.serialized_objects import DagSerialization

from hss_airflow.operators import WorkflowServiceOperator
from hss_airflow.params import DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE
from hss_airflow.training_features import PARALLEL_BATCHES
from stack.paths import DAGS_SOURCE as DAGS_FOLDER

SERVICE_POOLS = {"hss_audio", "hss_services"}
# (dag_id, task_id) -> why it has no retries. Empty: every task retries.
NO_RETRY_REASONS: dict[tuple[str, str], str] = {}

G = "process_training_dataset"
TRAINING_GRAPH = {
    "validate_training_config": set(),
    f"{G}.plan_batches": {"validate_training_config"},
    # the config is an argument of the mapped task and of merge (XComArgs), hence the extra edge
    f"{G}.extract_batch_features": {f"{G}.plan_batches", "validate_training_config"},
    f"{G}.merge_features": {f"{G}.extract_batch_features", "validate_training_config"},
    "smart_ensemble_training": {f"{G}.merge_features"},
    "aggregate_results": {"smart_ensemble_training"},
    "promote_model": {"aggregate_results"},
}
GRAPHS = {
    "comprehensive_analysis": {
        "audio_analysis": set(),
        "content_analysis": set(),
        "hit_prediction": {"audio_analysis", "content_analysis"},
        # insights and the aggregate receive the earlier responses as XComArgs: those edges are data flow
        "ai_insights": {"hit_prediction", "audio_analysis", "content_analysis"},
        "aggregate_results": {"ai_insights", "hit_prediction", "audio_analysis", "content_analysis"},
    },
    "ml_training_smart_ensemble": TRAINING_GRAPH,
    "daily_model_training": TRAINING_GRAPH,
    "dataset_triggered_training": {"wait_for_new_dataset": set(), "claim_dataset": {"wait_for_new_dataset"}},
    "train_on_new_dataset": TRAINING_GRAPH,
    "rescore_library": {
        "list_results": set(),
        "rescore_batch": {"list_results"},
        "summarize_rescore": {"rescore_batch"},
    },
    "batch_analysis": {
        "list_songs": set(),
        "audio_analysis": {"list_songs"},
        "summarize_batch": {"audio_analysis", "list_songs"},
    },
}
TRAINING_DAGS = ("ml_training_smart_ensemble", "daily_model_training", "train_on_new_dataset")
# dag_id -> why it takes no conf. Every other DAG declares params with JSON schemas.
NO_PARAMS_REASONS = {"dataset_triggered_training": "its input is the file it finds in training_data/incoming/"}


@pytest.fixture(scope="module")
def dags() -> dict[str, Any]:
    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert not bag.import_errors
    return bag.dags


def serialized(dag: Any) -> Any:
    """The DAG as the scheduler and the api-server see it."""
    return DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))


def trigger_validation(dag: Any, conf: dict[str, Any]) -> dict[str, Any]:
    """What SerializedDAG.create_dagrun runs on a REST/UI/CLI trigger before a run exists."""
    return serialized(dag).params.deep_merge(conf).validate()


def test_the_expected_dags_exist(dags) -> None:
    assert set(dags) == set(GRAPHS)


@pytest.mark.parametrize("dag_id", sorted(GRAPHS))
def test_task_graph_is_exactly_the_designed_one(dags, dag_id: str) -> None:
    dag = dags[dag_id]
    assert {t.task_id: set(t.upstream_task_ids) for t in dag.tasks} == GRAPHS[dag_id]


@pytest.mark.parametrize("dag_id", TRAINING_DAGS)
def test_training_chain_reads_as_five_steps_with_the_dataset_group(dags, dag_id: str) -> None:
    dag = dags[dag_id]
    top = list(dag.task_group.children)
    assert top == ["validate_training_config", G, "smart_ensemble_training", "aggregate_results", "promote_model"]
    group = dag.task_group.children[G]
    assert [t.task_id for t in group.get_roots()] == [f"{G}.plan_batches"]
    assert [t.task_id for t in group.get_leaves()] == [f"{G}.merge_features"]
    extract = dag.get_task(f"{G}.extract_batch_features")
    assert extract.is_mapped and extract.pool == "hss_audio"
    assert extract.max_active_tis_per_dagrun == PARALLEL_BATCHES  # the request budget is split by this
    # runs when nothing was extracted, not when validate_training_config skipped the run (no dataset yet)
    assert dag.get_task(f"{G}.merge_features").trigger_rule == "none_failed_min_one_success"
    training = dag.get_task("smart_ensemble_training")
    assert training.deferrable is True and training.pool == "hss_services"


def test_batch_analysis_maps_the_audio_chunk_operator_in_the_audio_pool(dags) -> None:
    task = dags["batch_analysis"].get_task("audio_analysis")
    assert task.is_mapped and task.pool == "hss_audio"
    assert task.operator_class.__name__ == "AudioChunkOperator"


@pytest.mark.parametrize("dag_id", sorted(GRAPHS))
def test_every_task_retries_with_a_delay(dags, dag_id: str) -> None:
    for task in dags[dag_id].tasks:
        if (dag_id, task.task_id) in NO_RETRY_REASONS:
            continue
        assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"
        assert task.retry_delay.total_seconds() > 0


@pytest.mark.parametrize("dag_id", sorted(GRAPHS))
def test_every_task_mails_through_the_smtp_notifier_when_it_fails(dags, dag_id: str) -> None:
    for task in dags[dag_id].tasks:
        found = task.on_failure_callback or []
        callbacks = found if isinstance(found, list) else [found]  # @task keeps one, operators a list
        notifiers = [c for c in callbacks if isinstance(c, SmtpNotifier)]
        assert len(notifiers) == 1, f"{dag_id}.{task.task_id}: {callbacks}"
        assert notifiers[0].smtp_conn_id == "smtp_default"


def test_the_assets_chain_dataset_training_model_rescore(dags) -> None:
    claim = dags["dataset_triggered_training"].get_task("claim_dataset")
    assert [a.name for a in claim.outlets] == ["hss_training_dataset"]
    consumer = serialized(dags["train_on_new_dataset"])
    assert type(consumer.timetable).__name__ == "PartitionedAssetTimetable"  # one run per claimed file
    assert [a.name for _, a in consumer.timetable.asset_condition.iter_assets()] == ["hss_training_dataset"]
    inlets = dags["train_on_new_dataset"].get_task("validate_training_config").inlets
    assert [a.name for a in inlets] == ["hss_training_dataset"]
    plain = dags["ml_training_smart_ensemble"].get_task("validate_training_config")
    assert plain.inlets == []  # a dataset given in conf is no claimed file
    for dag_id in TRAINING_DAGS:  # only a promotion updates the model asset
        tasks = dags[dag_id].tasks
        assert [(t.task_id, a.name) for t in tasks for a in t.outlets] == [("promote_model", "hss_trained_model")]
    rescore = serialized(dags["rescore_library"])
    assert [a.name for _, a in rescore.timetable.asset_condition.iter_assets()] == ["hss_trained_model"]


@pytest.mark.parametrize("dag_id", TRAINING_DAGS)
def test_promotion_is_a_conf_choice_of_three_and_defaults_to_auto(dags, dag_id: str) -> None:
    schema = serialized(dags[dag_id]).params.get_param("promotion").schema
    assert schema["enum"] == ["auto", "approve", "never"]
    promote = dags[dag_id].get_task("promote_model")
    assert promote.mode == "{{ params.promotion }}" and promote.pool == "hss_services"


def test_only_comprehensive_analysis_has_a_deadline_when_the_stack_sets_one(
    dags, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Unset here (as in a bare dag.test()): no deadline, so dag.test() of the DAG runs to its end.
    assert all(not dag.deadline for dag in dags.values())
    monkeypatch.setenv("HSS_ANALYSIS_DEADLINE_S", "600")  # what every stack sets
    bag = DagBag(str(DAGS_FOLDER))
    [alert] = bag.dags["comprehensive_analysis"].deadline
    assert alert.reference == DeadlineReference.DAGRUN_QUEUED_AT
    assert alert.interval == timedelta(seconds=600)
    assert alert.callback.path == "hss_airflow.alerting.mail_late_run"  # SmtpNotifier, skipping failed runs
    assert all(not dag.deadline for dag_id, dag in bag.dags.items() if dag_id != "comprehensive_analysis")


@pytest.mark.parametrize("dag_id", sorted(GRAPHS))
def test_every_dag_has_tags_docs_and_a_run_limit(dags, dag_id: str) -> None:
    dag = dags[dag_id]
    assert dag.tags and "hss" in dag.tags
    assert dag.doc_md and len(dag.doc_md) > 300
    assert "### Trigger" in dag.doc_md or "How to use" in dag.doc_md  # says how to start it
    assert 1 <= dag.max_active_runs <= 8


@pytest.mark.parametrize("dag_id", sorted(GRAPHS))
def test_service_calling_tasks_run_in_a_service_pool(dags, dag_id: str) -> None:
    for task in dags[dag_id].tasks:
        cls = getattr(task, "operator_class", type(task))
        if isinstance(cls, type) and issubclass(cls, WorkflowServiceOperator):
            assert task.pool in SERVICE_POOLS, f"{dag_id}.{task.task_id} runs in {task.pool}"


def pulled_xcoms(dag: Any) -> set[tuple[str, str]]:
    """(task_id, key) of every XCom a task of `dag` takes as an argument or a template field."""
    pulled = set()
    for task in dag.tasks:
        values = [getattr(task, name, None) for name in task.template_fields]
        if hasattr(task, "expand_input"):  # a mapped task: its partial and expanded arguments
            values += [task.partial_kwargs, task.expand_input.value]
        for value in values:
            pulled.update((op.task_id, key) for op, key in XComArg.iter_xcom_references(value))
    return pulled


@pytest.mark.parametrize("dag_id", sorted(GRAPHS))
def test_a_task_pushes_its_dicts_keys_as_xcoms_only_where_a_task_pulls_one(dags, dag_id: str) -> None:
    """@task infers multiple_outputs from a dict return type: each key is then one more XCom write through the
    execution API (5 on comprehensive_analysis' last task). Only merge_features' keys are pulled."""
    dag = dags[dag_id]
    pushing = {task.task_id for task in dag.tasks if getattr(task, "multiple_outputs", False)}
    pulled = {task_id for task_id, key in pulled_xcoms(dag) if key != "return_value"}
    assert pushing == pulled


@pytest.mark.parametrize("dag_id", sorted(GRAPHS))
def test_every_dag_has_params_with_json_schemas(dags, dag_id: str) -> None:
    dag = serialized(dags[dag_id])
    assert bool(dag.params) is (dag_id not in NO_PARAMS_REASONS)
    for name in dag.params:
        assert dag.params.get_param(name).schema.get("type"), f"{dag_id} param {name} has no schema type"


def test_daily_training_runs_at_two_without_catch_up(dags) -> None:
    dag = serialized(dags["daily_model_training"])
    assert dag.timetable.summary == "0 2 * * *"
    assert dag.catchup is False and dag.max_active_runs == 1
    # a scheduled DAG needs no conf: every param has a valid default
    assert trigger_validation(dags["daily_model_training"], {})["dataset_path"] == "training_data/daily.csv"


def test_dataset_watch_runs_continuously_one_run_at_a_time_with_a_deferrable_sensor(dags) -> None:
    dag = dags["dataset_triggered_training"]
    assert serialized(dag).timetable.summary == "@continuous" and dag.max_active_runs == 1
    assert dag.start_date is not None  # else the second run repeats the first one's logical date
    sensor = dag.get_task("wait_for_new_dataset")
    assert sensor.deferrable is True and sensor.soft_fail is True
    assert sensor.filepath == "training_data/incoming/*.csv"


GOOD_SONG = {"song_id": "example_song_123", "song_path": "songs/example.mp3"}
BAD_SONG_CONFS = {
    "empty conf": ({}, "song_id"),
    "missing song_id": ({"song_path": "songs/example.mp3"}, "song_id"),
    "missing song_path": ({"song_id": "s1"}, "song_path"),
    "song_id not a string": ({**GOOD_SONG, "song_id": 123}, "song_id"),
    "song_id path traversal": ({**GOOD_SONG, "song_id": "../etc/passwd"}, "song_id"),
    "song_id with a space": ({**GOOD_SONG, "song_id": "my song"}, "song_id"),
    "song_id explicitly null": ({**GOOD_SONG, "song_id": None}, "song_id"),
    "empty song_path": ({**GOOD_SONG, "song_path": ""}, "song_path"),
    "song_path outside the root (..)": ({**GOOD_SONG, "song_path": "../secrets/x.wav"}, "song_path"),
    "song_path outside the root (nested ..)": ({**GOOD_SONG, "song_path": "songs/../../x.wav"}, "song_path"),
    "lyrics not a string": ({**GOOD_SONG, "lyrics": ["la"]}, "lyrics"),
    "lyrics too long": ({**GOOD_SONG, "lyrics": "x" * 20_001}, "lyrics"),
}


@pytest.mark.parametrize("conf,param", BAD_SONG_CONFS.values(), ids=list(BAD_SONG_CONFS))
def test_bad_comprehensive_conf_is_refused_at_trigger(dags, conf: dict, param: str) -> None:
    with pytest.raises(ParamValidationError, match=f"param {param}"):
        trigger_validation(dags["comprehensive_analysis"], conf)


def test_paths_inside_the_root_pass_even_absolute_or_with_dots_in_names(dags) -> None:
    from hss_airflow.storage import data_root

    for path in (f"{data_root()}/songs/a.wav", "songs/..hidden/a.wav", "songs/a..b.wav", "./songs/a.wav"):
        assert trigger_validation(dags["comprehensive_analysis"], {**GOOD_SONG, "song_path": path})["song_path"] == path


def test_good_comprehensive_conf_passes_and_lyrics_default_to_none(dags) -> None:
    assert trigger_validation(dags["comprehensive_analysis"], GOOD_SONG) == {**GOOD_SONG, "lyrics": None}
    assert trigger_validation(dags["comprehensive_analysis"], {**GOOD_SONG, "lyrics": "la la"})["lyrics"] == "la la"


GOOD_TRAINING = {"dataset_path": "training_data/x.csv", "training_id": "airflow_smart_training_1"}
BAD_TRAINING_CONFS = {
    "missing dataset_path": ({"training_id": "t1"}, "dataset_path"),
    "missing training_id": ({"dataset_path": "training_data/x.csv"}, "training_id"),
    "dataset not a csv": ({**GOOD_TRAINING, "dataset_path": "training_data/x.parquet"}, "dataset_path"),
    "dataset outside the root": ({**GOOD_TRAINING, "dataset_path": "../../etc/x.csv"}, "dataset_path"),
    "training_id with a slash": ({**GOOD_TRAINING, "training_id": "a/b"}, "training_id"),
    "batch_size as text": ({**GOOD_TRAINING, "batch_size": "400"}, "batch_size"),
    "batch_size zero": ({**GOOD_TRAINING, "batch_size": 0}, "batch_size"),
    "batch_size too big": ({**GOOD_TRAINING, "batch_size": 5001}, "batch_size"),
    "concurrency too high": ({**GOOD_TRAINING, "max_concurrent_requests": 201}, "max_concurrent_requests"),
    "concurrency fractional": ({**GOOD_TRAINING, "max_concurrent_requests": 2.5}, "max_concurrent_requests"),
    "unknown promotion": ({**GOOD_TRAINING, "promotion": "always"}, "promotion"),
    "promotion not a string": ({**GOOD_TRAINING, "promotion": True}, "promotion"),
}


@pytest.mark.parametrize("conf,param", BAD_TRAINING_CONFS.values(), ids=list(BAD_TRAINING_CONFS))
def test_bad_training_conf_is_refused_at_trigger(dags, conf: dict, param: str) -> None:
    with pytest.raises(ParamValidationError, match=f"param {param}"):
        trigger_validation(dags["ml_training_smart_ensemble"], conf)


def test_good_training_conf_gets_the_seed_defaults(dags) -> None:
    params = trigger_validation(dags["ml_training_smart_ensemble"], GOOD_TRAINING)
    assert params == {**GOOD_TRAINING, "batch_size": 400, "max_concurrent_requests": 50, "promotion": "auto"}


def test_batch_conf_defaults_and_refuses_a_pattern_with_a_folder(dags) -> None:
    defaults = {"folder": "songs", "pattern": "*.*", "chunk_size": DEFAULT_CHUNK_SIZE}
    assert trigger_validation(dags["batch_analysis"], {}) == defaults
    with pytest.raises(ParamValidationError, match="param pattern"):
        trigger_validation(dags["batch_analysis"], {"pattern": "../*.wav"})
    for bad in (0, -1, MAX_CHUNK_SIZE + 1, "4", 2.5):
        with pytest.raises(ParamValidationError, match="param chunk_size"):
            trigger_validation(dags["batch_analysis"], {"chunk_size": bad})
