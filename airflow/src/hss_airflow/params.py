"""DAG `params` with JSON schemas: what the trigger form shows and what a bad `conf` is refused by.

Airflow validates `conf` against these schemas when a run is created (REST `POST /api/v2/dags/{id}/dagRuns`,
the UI form, `airflow dags trigger`, `dag.test`): `SerializedDAG.create_dagrun` calls
`params.deep_merge(conf).validate()` and the API answers 400 on a ParamValidationError. A Param without a
default is required: leaving it out is refused ("No value passed and Param has no default value"), never
defaulted. Conf keys that no Param names are passed through by Airflow; the tasks ignore them.
"""

from __future__ import annotations

from airflow.sdk import Param

from contracts.audio import AUDIO_FORMATS
from contracts.common import IDENTIFIER_PATTERN
from contracts.content import MAX_LYRICS_CHARS
from contracts.data_layout import SONGS, TRAINING_DATA
from contracts.data_root import data_path_pattern
from hss_airflow.promotion import DEFAULT_PROMOTION, PROMOTION_MODES

CSV_SUFFIX = r"\.[cC][sS][vV]$"  # ECMA-compatible (no inline flags): the UI form validates it too


def data_path_schema(suffix: str = "") -> dict:
    """A path the trigger accepts: relative or absolute, without `..` segments.

    This is the first of the two checks a path gets (contracts.data_root.data_path_pattern, the lexical part);
    `songs/../../x` is refused at trigger time with the param's name, before any task runs. The schema names no
    data root on purpose: the DAG is serialized where it is parsed and must read the same on every host. The
    second check is where the file is opened (the service, or the task, with resolve_in_root): an absolute
    path outside the data root, or a symlink out of it, fails the task on its first try, without a retry."""
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": 1024,
        "pattern": data_path_pattern(suffix),
    }


DEFAULT_CHUNK_SIZE = 4  # batch_analysis songs per mapped task, chosen by measurement (docs/PERFORMANCE.md)
MAX_CHUNK_SIZE = 100
DEFAULT_BATCH_SIZE = 400
DEFAULT_MAX_CONCURRENT_REQUESTS = 50


def song_params() -> dict[str, Param]:
    """comprehensive_analysis: song_id and song_path required, lyrics optional."""
    return {
        "song_id": Param(
            type="string",
            pattern=IDENTIFIER_PATTERN,
            title="Song id",
            description=(
                "Letters, digits, '_', '.', '-' (max 128, starts alphanumeric); names results/songs/<song_id>/."
            ),
        ),
        "song_path": Param(
            **data_path_schema(),
            title="Song path",
            description="Audio file relative to the data root (no `..`), e.g. songs/example.mp3.",
        ),
        "lyrics": Param(
            None,
            type=["null", "string"],
            maxLength=MAX_LYRICS_CHARS,
            title="Lyrics",
            description=(
                "Optional. When empty, the lyrics are read from the sidecar <song>.txt next to the audio; "
                "no sidecar means instrumental (not an error)."
            ),
        ),
    }


def tuning_params(
    batch_size: int = DEFAULT_BATCH_SIZE, max_concurrent: int = DEFAULT_MAX_CONCURRENT_REQUESTS
) -> dict[str, Param]:
    """batch_size and max_concurrent_requests, shared by every training DAG."""
    return {
        "batch_size": Param(
            batch_size,
            type="integer",
            minimum=1,
            maximum=5000,
            title="Batch size",
            description="Rows per feature-extraction task (one mapped task per batch).",
        ),
        "max_concurrent_requests": Param(
            max_concurrent,
            type="integer",
            minimum=1,
            maximum=200,
            title="Max concurrent requests",
            description="Service requests in flight at once over the whole run (split across running batches).",
        ),
    }


def promotion_params() -> dict[str, Param]:
    """`promotion`, shared by every training DAG: what promote_model does with the new model."""
    return {
        "promotion": Param(
            DEFAULT_PROMOTION,
            type="string",
            enum=list(PROMOTION_MODES),
            title="Promotion",
            description=(
                "auto: serve the new model unless its AUC is worse than the serving model's by more than the "
                "tolerance; approve: a person approves or rejects in the UI (Required actions) or the REST API; "
                "never: train and report only."
            ),
        ),
    }


def training_params() -> dict[str, Param]:
    """ml_training_smart_ensemble: dataset_path and training_id required."""
    return {
        "dataset_path": Param(
            **data_path_schema(CSV_SUFFIX),
            title="Dataset path",
            description="Raw or features CSV relative to the data root, e.g. training_data/my_dataset.csv.",
        ),
        "training_id": Param(
            type="string",
            pattern=IDENTIFIER_PATTERN,
            title="Training id",
            description="Names the model (models/<training_id>/) and the features CSV; the idempotency key.",
        ),
        **tuning_params(),
        **promotion_params(),
    }


DAILY_DATASET = f"{TRAINING_DATA}/daily.csv"


def daily_training_params(dataset_path: str = DAILY_DATASET, prefix: str = "daily") -> dict[str, Param]:
    """daily_model_training: every value has a default (a scheduled DAG must not need conf)."""
    return {
        "dataset_path": Param(
            dataset_path,
            **data_path_schema(CSV_SUFFIX),
            title="Dataset path",
            description="The dataset retrained every night, relative to the data root.",
        ),
        "training_id_prefix": Param(
            prefix,
            type="string",
            pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,110}$",
            title="Training id prefix",
            description="training_id = <prefix>_<YYYYMMDD> of the run's logical date.",
        ),
        **tuning_params(),
        **promotion_params(),
    }


def batch_params() -> dict[str, Param]:
    """batch_analysis: a folder of the data root and a glob."""
    return {
        "folder": Param(
            SONGS,
            **data_path_schema(),
            title="Folder",
            description="Folder relative to the data root whose audio files are analysed (not recursive).",
        ),
        "pattern": Param(
            "*.*",
            type="string",
            minLength=1,
            maxLength=200,
            pattern=r"^[^/\\]+$",
            title="File pattern",
            description=f"Glob on file names; only {', '.join(AUDIO_FORMATS)} files are taken.",
        ),
        "chunk_size": Param(
            DEFAULT_CHUNK_SIZE,
            type="integer",
            minimum=1,
            maximum=MAX_CHUNK_SIZE,
            title="Songs per task",
            description=(
                "Songs each mapped audio_analysis task analyses (two at a time); 1 maps one task per song. "
                "Larger chunks pay Airflow's per-task cost once for several songs (docs/PERFORMANCE.md)."
            ),
        ),
    }
