"""batch_analysis: Essentia analysis of every song of a folder, one mapped task per song."""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

from hss_airflow.batch import BatchError, batch_summary, list_songs, write_batch_summary
from hss_airflow.dag_defaults import AUDIO_POOL, DEFAULT_ARGS
from hss_airflow.operators import AudioAnalysisOperator
from hss_airflow.params import AUDIO_FORMATS, batch_params

DOC = f"""
# Batch audio analysis

`list_songs` → `audio_analysis` (mapped: one task per song) → `summarize_batch`

Lists the audio files ({", ".join(AUDIO_FORMATS)}) of `folder` (relative to the data root, not recursive)
whose name matches `pattern`, analyses each with workflow-audio in its own mapped task instance (dynamic
task mapping; the `hss_audio` pool caps how many run at once, across all DAGs), then writes
`results/batch/<run_id>.json` with each song's highlights. A song that fails (e.g. not audio) fails
only its own mapped task; the summary still records every song, and then fails the run so the failure
is visible.

### Trigger
```bash
airflow dags trigger batch_analysis --conf '{{"folder": "songs/album_1", "pattern": "*.mp3"}}'
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
    def list_songs_task() -> list[dict[str, str]]:
        params = get_current_context()["params"]
        try:
            return list_songs(params["folder"], params["pattern"])
        except BatchError as exc:
            raise AirflowFailException(str(exc)) from None

    songs = list_songs_task()
    analyses = AudioAnalysisOperator.partial(
        task_id="audio_analysis", pool=AUDIO_POOL, map_index_template="{{ task.song_id }}"
    ).expand_kwargs(songs)

    @task(task_id="summarize_batch", trigger_rule="all_done")
    def summarize_batch(songs: list[dict[str, str]], results: list[dict[str, Any] | None]) -> dict[str, Any]:
        """Write results/batch/<run_id>.json; fail (after writing) when any song failed."""
        context = get_current_context()
        run = {"dag_id": context["dag"].dag_id, "run_id": context["run_id"], "params": dict(context["params"])}
        summary = batch_summary(list(songs), list((results or [])[:]), run)
        path = write_batch_summary(summary, context["run_id"])
        if summary["failed"]:
            raise AirflowFailException(f"{len(summary['failed'])} song(s) failed: {', '.join(summary['failed'])}")
        return {"result_path": path, "total": summary["total"], "analysed": summary["analysed"]}

    summarize_batch(songs, analyses.output)


batch_analysis()
