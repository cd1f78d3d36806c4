"""Imported last by hss_airflow.preload: builds and drops one DAG, so that what Airflow does the first time a
process builds a DAG happens once, in the process that forks the tasks, not again in every task.

On the first DAG a process builds, Airflow imports its timetables (croniter with them), the asset models and,
for a mapped operator, EmptyOperator; attrs and the ABCs finish some classes on first use, and Python caches
each isinstance/issubclass answer of an ABC per class. A task process parses its DAG file first thing, forked
from the Celery pool (make demo: from the LocalExecutor's workers; the dag-processor forks each parse), so
without this every task paid that first time again: a DAG file's parse in a forked child, after the Celery
worker's preload, 19 ms; 8 ms with a DAG of Airflow's own operators; 6 ms with one built like ours — our
operators wired by their XComs, our default_args, deadline and params (docs/PERFORMANCE.md). The DAG is not
registered anywhere: Airflow collects DAGs only while it loads a DAG file, and `auto_register=False` says so.
Its template environment compiles one template too: Jinja builds one lexer per set of delimiters for the process
(its ≈ 30 regexes), which each task then built again as it rendered its first template.
"""

from __future__ import annotations

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, task

from hss_airflow.alerting import analysis_deadlines
from hss_airflow.dag_defaults import DEFAULT_ARGS
from hss_airflow.operators import (
    AudioAnalysisOperator,
    ContentAnalysisOperator,
    IntelligenceOperator,
    MLPredictionOperator,
)
from hss_airflow.params import song_params
from hss_airflow.preload import warm_up


def build_and_drop_one_dag() -> None:
    """comprehensive_analysis' shape (its operators, their XComs, a @task after them), and a mapped operator."""
    with DAG(
        "hss_preload_warm_up",
        schedule=None,
        default_args=DEFAULT_ARGS,
        deadline=analysis_deadlines(),
        params=song_params(),
        auto_register=False,
    ) as dag:
        song = {"song_id": "{{ params.song_id }}", "song_path": "{{ params.song_path }}"}
        audio = AudioAnalysisOperator(task_id="audio", claim_check=True, **song)
        content = ContentAnalysisOperator(task_id="content", lyrics="{{ params.lyrics }}", **song)
        parts = {"song_id": song["song_id"], "audio": audio.output, "content": content.output}
        prediction = MLPredictionOperator(task_id="prediction", **parts)
        insights = IntelligenceOperator(task_id="insights", prediction=prediction.output, **parts)

        @task(multiple_outputs=False)
        def warm_up(insights: dict) -> dict:
            return insights

        # a classic operator mapped over a list too, as batch_analysis' chunks are
        warm_up(insights.output) >> PythonOperator.partial(task_id="mapped", python_callable=print).expand(
            op_args=[["x"]]
        )
    dag.get_template_env().from_string(song["song_id"])


warm_up(build_and_drop_one_dag)
