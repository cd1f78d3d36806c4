"""batch_analysis: Essentia analysis of every song of a folder, one mapped task per chunk of songs."""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

from hss_airflow.batch import BatchError, batch_summary, chunk_songs, list_songs, songs_of, write_batch_summary
from hss_airflow.dag_defaults import AUDIO_POOL, AUDIO_QUEUE, DEFAULT_ARGS
from hss_airflow.operators import AudioChunkOperator
from hss_airflow.params import AUDIO_FORMATS, batch_params

DOC = f"""
# Batch audio analysis

`list_songs` → `audio_analysis` (mapped: one task per chunk of `chunk_size` songs) → `summarize_batch`

Lists the audio files ({", ".join(AUDIO_FORMATS)}) of `folder` (relative to the data root, not recursive)
whose name matches `pattern` and cuts them into chunks of `chunk_size` songs (default 4; 1 gives one task
per song). Each chunk is one mapped `audio_analysis` task instance (dynamic task mapping; the `hss_audio`
pool caps how many run at once, across all DAGs), named in the grid by its first and last song; it sends
its songs to workflow-audio two at a time and writes each song's analysis to
`results/batch/<run_id>/<song_id>.json`. Its XCom is one small outcome per song (the file's path and
sha256, highlights, feature count), not the features.

`summarize_batch` writes `results/batch/<run_id>.json` with every song's outcome. A song that fails (e.g.
not audio) is recorded with the service's message and fails its chunk's task — at once for a refusal,
through the task's retries for a transient error — while the chunk's other songs are analysed and kept;
the summary then fails the run so the failure is visible.

### Trigger
```bash
airflow dags trigger batch_analysis --conf '{{"folder": "songs/album_1", "pattern": "*.mp3", "chunk_size": 4}}'
```
"""


@dag(
    dag_id="batch_analysis",
    schedule=None,
    catchup=False,
    max_active_runs=2,
    default_args=DEFAULT_ARGS,
    params=batch_params(),
    tags=["hss", "analysis", "batch"],
    doc_md=DOC,
    dag_display_name="Batch audio analysis",
)
def batch_analysis() -> None:
    @task(task_id="list_songs")
    def list_songs_task() -> list[dict[str, list[dict[str, str]]]]:
        """The folder's songs in chunks of chunk_size: the mapped tasks' kwargs."""
        params = get_current_context()["params"]
        try:
            return chunk_songs(list_songs(params["folder"], params["pattern"]), int(params["chunk_size"]))
        except BatchError as exc:
            raise AirflowFailException(str(exc)) from None

    chunks = list_songs_task()
    analyses = AudioChunkOperator.partial(
        task_id="audio_analysis", pool=AUDIO_POOL, queue=AUDIO_QUEUE, map_index_template="{{ task.chunk_label }}"
    ).expand_kwargs(chunks)

    @task(task_id="summarize_batch", trigger_rule="all_done", multiple_outputs=False)
    def summarize_batch(chunks: list[dict[str, Any]], results: list[list[dict[str, Any]] | None]) -> dict[str, Any]:
        """Write results/batch/<run_id>.json; fail (after writing) when any song failed."""
        context = get_current_context()
        run = {"dag_id": context["dag"].dag_id, "run_id": context["run_id"], "params": dict(context["params"])}
        outcomes = [outcome for chunk in (results or []) if chunk for outcome in chunk]
        summary = batch_summary(songs_of(list(chunks)), outcomes, run)
        path = write_batch_summary(summary, context["run_id"])
        if summary["failed"]:
            raise AirflowFailException(f"{len(summary['failed'])} song(s) failed: {', '.join(summary['failed'])}")
        return {"result_path": path, "total": summary["total"], "analysed": summary["analysed"]}

    summarize_batch(chunks, analyses.output)


batch_analysis()
