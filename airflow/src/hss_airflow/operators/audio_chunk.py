"""batch_analysis's mapped task: a chunk of songs through workflow-audio, each analysis written to the data root.

One task per chunk instead of one per song: a task's fixed cost (a scheduler loop, a Celery hand-off, a task
process that starts the Task SDK and parses the DAG file, its execution-API calls) is paid once per chunk.
The chunk's songs are sent `max_concurrent_requests` at a time, so workflow-audio always has the next song
waiting. Each song's outcome is its own: a song the service refuses (4xx) is recorded failed with the
service's message while its chunk-mates are analysed and written.

The task's XCom is one small outcome per song (status, the analysis file's path and sha256, highlights,
feature count, Essentia time, or the error), never the features. When a song failed, the outcomes are pushed
first and then the task fails: at once (no retry) when every failure was a refusal, through the task's
`retries` when one was transient (the whole chunk is analysed again; its files are rewritten).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from contracts.catalog import AUDIO, AUDIO_ANALYZE
from hss_airflow.batch import write_song_analysis
from hss_airflow.hooks import ServiceCallError
from hss_airflow.operators.service import WorkflowServiceOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

# Two requests in flight per chunk: workflow-audio runs one Essentia worker per core (2 here) and queues the rest.
DEFAULT_REQUESTS_PER_CHUNK = 2


class AudioChunkOperator(WorkflowServiceOperator):
    """workflow-audio `POST /analyze/comprehensive` for each song of a chunk; returns one outcome per song.

    :param songs: the chunk, a list of {"song_id", "song_path"} (templated; batch_analysis maps over chunks).
    :param max_concurrent_requests: songs of this chunk in flight at once (at least 1).
    """

    service = AUDIO
    endpoint = AUDIO_ANALYZE
    template_fields: Sequence[str] = ("songs",)

    def __init__(
        self,
        *,
        songs: list[dict[str, str]],
        max_concurrent_requests: int = DEFAULT_REQUESTS_PER_CHUNK,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if max_concurrent_requests < 1:
            raise ValueError("max_concurrent_requests must be >= 1")
        self.songs = songs
        self.max_concurrent_requests = int(max_concurrent_requests)

    @property
    def chunk_label(self) -> str:
        """The map index the grid shows: the song id for one song, else `first … last (n)`."""
        ids = [str(song.get("song_id")) for song in self.songs or []]
        if len(ids) <= 1:
            return ids[0] if ids else "empty"
        return f"{ids[0]} … {ids[-1]} ({len(ids)})"

    def execute(self, context: Context) -> list[dict[str, Any]]:
        songs, run_id = list(self.songs), context["run_id"]
        if not songs:
            raise AirflowFailException("the chunk holds no songs")
        in_flight = min(len(songs), self.max_concurrent_requests)
        self.log.info("analysing %d song(s), %d at a time", len(songs), in_flight)
        with ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="audio") as pool:
            outcomes = list(pool.map(lambda song: self.analyse(song, run_id), songs))
        failed = [o for o in outcomes if o["status"] == "failed"]
        if not failed:
            return outcomes
        context["ti"].xcom_push(key="return_value", value=outcomes)  # the summary still gets every outcome
        message = f"{len(failed)} of {len(outcomes)} song(s) failed: " + "; ".join(
            f"{o['song_id']}: {o['error']}" for o in failed
        )
        if any(o["retryable"] for o in failed):
            raise AirflowException(message)
        raise AirflowFailException(message)

    def analyse(self, song: dict[str, str], run_id: str) -> dict[str, Any]:
        """One song: its analysis written to the data root and its reference, or the error."""
        payload = {"song_id": song["song_id"], "song_path": song["song_path"]}
        try:
            analysis = self.call_service(self.endpoint, payload)  # a fresh hook per call: safe from threads
        except ServiceCallError as exc:
            self.log.warning("%s failed: %s", song["song_id"], exc)
            return {**song, "status": "failed", "error": str(exc), "retryable": exc.retryable}
        reference = write_song_analysis(analysis, run_id, song["song_id"])
        self.log.info(
            "%s: %d features in %.1f s -> %s",
            song["song_id"],
            reference["feature_count"],
            reference["analysis_seconds"],
            reference["analysis_path"],
        )
        return {**song, "status": "analysed", **reference}
