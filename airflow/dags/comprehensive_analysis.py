"""comprehensive_analysis: one song through all four services, results written under the data root."""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag, get_current_context, task

from hss_airflow.alerting import analysis_deadlines
from hss_airflow.claim_check import redeem
from hss_airflow.dag_defaults import (
    AUDIO_POOL,
    AUDIO_QUEUE,
    DEFAULT_ARGS,
    SERVICES_POOL,
)
from hss_airflow.hooks import airflow_errors
from hss_airflow.operators import (
    AudioAnalysisOperator,
    ContentAnalysisOperator,
    IntelligenceOperator,
    MLPredictionOperator,
)
from hss_airflow.params import song_params
from hss_airflow.results import analysis_document, write_analysis_result

DOC = """
# Comprehensive analysis of one song

Replaces the orchestrator's *comprehensive* workflow template:

`audio_analysis` ∥ `content_analysis` → `hit_prediction` → `ai_insights` → `aggregate_results`

- **audio_analysis** — workflow-audio `POST /analyze/comprehensive`: Essentia MusicExtractor, ≥150
  features + highlights (pool `hss_audio`). The analysis is stored once in
  `results/parts/<song_id>/<run_id>/audio.json`; its XCom is a claim check (the highlights, the
  file's path and sha256), which the tasks after it redeem, so ~43 KB of features do not travel
  through XCom four times.
- **content_analysis** — workflow-content `POST /analyze/lyrics`: lyrics NLP on `lyrics` from conf, else
  the sidecar `<song>.txt` next to the audio, else instrumental (not an error).
- **hit_prediction** — workflow-ml-prediction `POST /predict/single`: hit probability with the latest
  trained model, with explanations.
- **ai_insights** — workflow-intelligence `POST /insights/generate`: summary and recommendations.
- **aggregate_results** — writes `results/songs/<song_id>/<run_id>.json` (all four parts + run metadata)
  atomically and returns a short summary.

A bad input (missing file, not audio, path outside the data root) fails its task at once with the
service's message; connection errors, timeouts and 5xx are retried. Re-running a run rewrites its file.

### Alerts
A task that fails for good sends one mail (DAG, run, task, try, the error, a link to its log). A run not
finished `HSS_ANALYSIS_DEADLINE_S` seconds (600 on the stacks) after it was queued sends one deadline mail.
Both go through the Airflow connection `smtp_default` to `HSS_ALERT_TO`.

### Trigger
`conf` is checked against the params' JSON schema when the run is created: a missing `song_id`, a
`song_id` that is not an identifier, or wrong types are refused with HTTP 400 before anything runs.

```bash
curl -X POST "http://localhost:8080/api/v2/dags/comprehensive_analysis/dagRuns" \\
  -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\
  -d '{"logical_date": null, "conf": {"song_id": "example_song_123", "song_path": "songs/example.mp3"}}'
airflow dags trigger comprehensive_analysis --conf '{"song_id": "example_song_123", "song_path": "songs/example.mp3"}'
```
Paths are relative to the data root (`HSS_DATA_ROOT`, `/app/data` in compose); an absolute path is
accepted only inside it.
"""


@dag(
    dag_id="comprehensive_analysis",
    schedule=None,
    catchup=False,
    max_active_runs=8,
    default_args=DEFAULT_ARGS,
    deadline=analysis_deadlines(),
    params=song_params(),
    tags=["hss", "analysis"],
    doc_md=DOC,
    dag_display_name="Comprehensive song analysis",
)
def comprehensive_analysis() -> None:
    song = {"song_id": "{{ params.song_id }}"}
    audio = AudioAnalysisOperator(
        task_id="audio_analysis",
        song_path="{{ params.song_path }}",
        claim_check=True,
        pool=AUDIO_POOL,
        queue=AUDIO_QUEUE,
        **song,
    )
    content = ContentAnalysisOperator(
        task_id="content_analysis",
        lyrics="{{ params.lyrics }}",
        song_path="{{ params.song_path }}",
        pool=SERVICES_POOL,
        **song,
    )
    prediction = MLPredictionOperator(
        task_id="hit_prediction",
        audio=audio.output,
        content=content.output,
        pool=SERVICES_POOL,
        **song,
    )
    insights = IntelligenceOperator(
        task_id="ai_insights",
        audio=audio.output,
        content=content.output,
        prediction=prediction.output,
        pool=SERVICES_POOL,
        **song,
    )

    @task(task_id="aggregate_results", multiple_outputs=False)
    def aggregate_results(audio: dict, content: dict, prediction: dict, insights: dict) -> dict[str, Any]:
        """Write results/songs/<song_id>/<run_id>.json atomically; return a short summary."""
        context = get_current_context()
        params, dag_run = context["params"], context["dag_run"]
        run = {"dag_id": dag_run.dag_id, "run_id": dag_run.run_id, "conf": dict(dag_run.conf or {})}
        with airflow_errors():  # the audio part comes as a claim check: its file, digest checked
            audio = redeem(audio, "audio")
        parts = {"audio": audio, "content": content, "prediction": prediction, "insights": insights}
        document = analysis_document(song_id=params["song_id"], song_path=params["song_path"], run=run, parts=parts)
        return write_analysis_result(document, dag_run.run_id)

    aggregate_results(audio.output, content.output, prediction.output, insights.output)


comprehensive_analysis()
