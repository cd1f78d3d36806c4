"""`make demo`: the whole platform on this machine, two DAG runs through the REST API, the results.

    python -m stack.demo [--keep-running] [--data-root PATH] [--state-dir PATH] [--dags-folder PATH]

Starts the embedded stack (the five services + Airflow 3 on SQLite/LocalExecutor, state in .stack/),
synthesizes a demo song with lyrics and a small raw dataset if missing, then — as a user would, with
a JWT from POST /auth/token — triggers `ml_training_smart_ensemble`, then `comprehensive_analysis` on
the demo song (so the prediction uses the model just trained), printing each task-state change.
Exits non-zero with the failing task's log tail when a run fails. Stops everything it started unless
--keep-running (then Ctrl-C stops it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from contracts.data_layout import SONGS, TRAINING_DATA
from stack.client import AirflowClient, AirflowClientError
from stack.config import StackConfig
from stack.env_file import DEFAULT_ENV_FILE, ensure_env_file, model_signing_env, read_env_file
from stack.local_stack import LocalStack
from stack.paths import DAGS_SOURCE, STATE_DIR
from stack.processes import LaunchError
from stack.service_metrics import analysis_critical_path, service_seconds
from stack.stack_file import results_url

TRAINING_DAG = "ml_training_smart_ensemble"
ANALYSIS_DAG = "comprehensive_analysis"
SONG_ID = "demo_song"
SONG_PATH = f"{SONGS}/{SONG_ID}.wav"
DATASET_NAME = "demo_raw"
DATASET_PATH = f"{TRAINING_DATA}/{DATASET_NAME}.csv"
N_SONGS, SONG_SECONDS = 24, 6.0
DATASET_SEED = 5  # 12 hits, 12 not: enough of each class for 5-fold cross-validation
LOG_TAIL_LINES = 30


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m stack.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep-running", action="store_true", help="leave the stack up (Ctrl-C stops it)")
    parser.add_argument("--data-root", type=Path, help="HSS_DATA_ROOT (default: <state-dir>/data)")
    parser.add_argument(
        "--env-file",
        type=Path,
        default=DEFAULT_ENV_FILE,
        help="the secrets file make up uses (created with generated secrets when missing; default .env): the "
        "demo signs its models with its HSS_MODEL_SIGNING_KEY, so make up on the same data root can load them",
    )
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR, help="default: .stack/ in the repo")
    parser.add_argument("--dags-folder", type=Path, default=DAGS_SOURCE, help="default: airflow/dags")
    parser.add_argument("--password", default=os.environ.get("HSS_AIRFLOW_PASSWORD", "admin"), help="UI/API login")
    parser.add_argument("--any-ports", action="store_true", help="free ports instead of 8080 and 8001-8005")
    parser.add_argument("--run-timeout", type=float, default=900.0, help="seconds per DAG run")
    return parser.parse_args(argv)


@contextlib.contextmanager
def stderr_to(path: Path) -> Iterator[None]:
    """Send fd 2 to a file for a while: Essentia and libav chatter while audio is written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    with path.open("ab") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def prepare_data(data_root: Path, log: Path) -> str:
    """The demo song (+ lyrics sidecar) and the raw training dataset, synthesized once; say what was done."""
    song, dataset = data_root / SONG_PATH, data_root / DATASET_PATH
    if song.exists() and dataset.exists():
        return "present"
    started = time.monotonic()
    with stderr_to(log):
        from fixtures.audio import synth_song
        from fixtures.lyrics import UPBEAT_POP, write_sidecar
        from fixtures.songs_dataset import make_raw_dataset

        if not song.exists():
            synth_song(song, bpm=124, tonic="A", scale="minor", seconds=25)
            write_sidecar(song, UPBEAT_POP)
        make_raw_dataset(data_root, DATASET_NAME, n_songs=N_SONGS, seconds=SONG_SECONDS, seed=DATASET_SEED)
    return f"synthesized in {time.monotonic() - started:.1f} s"


def report_import_error(error) -> None:
    last = error.stack_trace.strip().splitlines()[-3:]
    print(f"  import error in {error.filename}:\n    " + "\n    ".join(last), flush=True)


def failure_report(client: AirflowClient, dag_id: str, run_id: str, lines: int = LOG_TAIL_LINES) -> str:
    """The failed tasks of a run, each with the tail of its log."""
    parts = []
    for ti in client.task_instances(dag_id, run_id):
        if ti.state is None or ti.state.value != "failed":
            continue
        label = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
        try:
            log = client.task_log(dag_id, run_id, ti.task_id, max(ti.try_number, 1), ti.map_index)
        except AirflowClientError as exc:
            log = f"(log not readable: {exc})"
        tail = "\n".join(log.splitlines()[-lines:])
        parts.append(f"--- task {label} failed (try {ti.try_number}); last {lines} log lines:\n{tail}")
    return "\n".join(parts) or "(no task in state failed: the run itself failed, see the scheduler log)"


def run_dag(client: AirflowClient, dag_id: str, conf: dict, timeout: float) -> tuple[str, dict | None, float]:
    """Trigger, follow, read aggregate_results; return (run id, summary or None when failed, seconds)."""
    if client.get_dag(dag_id).is_paused:
        client.unpause(dag_id)
    print(f"\n▶ {dag_id}  conf {json.dumps(conf)}", flush=True)
    started = time.monotonic()
    run = client.trigger(dag_id, conf)
    print(f"  run {run.dag_run_id}", flush=True)
    final = client.wait_for_run(
        dag_id, run.dag_run_id, timeout=timeout, on_change=lambda c: print(f"  {c}", flush=True)
    )
    seconds = time.monotonic() - started
    if final.state.value != "success":
        print(f"✘ {dag_id} {final.state.value} after {seconds:.1f} s", flush=True)
        print(failure_report(client, dag_id, run.dag_run_id), flush=True)
        return run.dag_run_id, None, seconds
    print(f"✔ {dag_id} succeeded: trigger → success {seconds:.1f} s", flush=True)
    return run.dag_run_id, client.xcom(dag_id, run.dag_run_id, "aggregate_results"), seconds


def print_summary(title: str, summary: dict, data_root: Path) -> None:
    print(f"  {title} (aggregate_results):")
    for key, value in summary.items():
        if key.endswith("_path") and isinstance(value, str):
            value = str(data_root / value) if not os.path.isabs(value) else value
        print(f"    {key:<20} {value}")


def demo(stack: LocalStack, args: argparse.Namespace) -> int:
    client = AirflowClient(stack.airflow_url, stack.username, stack.password)
    started = time.monotonic()
    print(f"\nwaiting for DAGs {TRAINING_DAG}, {ANALYSIS_DAG} to be parsed…", flush=True)
    client.wait_for_dags([TRAINING_DAG, ANALYSIS_DAG], timeout=180, on_import_error=report_import_error)
    print(f"  parsed after {time.monotonic() - started:.1f} s", flush=True)

    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    training_conf = {
        "dataset_path": DATASET_PATH,
        "training_id": f"demo_{stamp}",
        "batch_size": N_SONGS // 2,  # two mapped extraction tasks
        "max_concurrent_requests": 4,  # 2 cores: two batches x two requests in flight
    }
    times = {}
    _, training, times[TRAINING_DAG] = run_dag(client, TRAINING_DAG, training_conf, args.run_timeout)
    if training is None:
        return 1
    print_summary("training summary", training, stack.data_root)

    before = service_seconds(stack.service_urls)
    _, analysis, times[ANALYSIS_DAG] = run_dag(
        client, ANALYSIS_DAG, {"song_id": SONG_ID, "song_path": SONG_PATH}, args.run_timeout
    )
    if analysis is None:
        return 1
    critical, spent = analysis_critical_path(before, service_seconds(stack.service_urls))
    print_summary("result summary", analysis, stack.data_root)
    print("\n" + "=" * 72)
    result = analysis.get("result_path")
    print(f"result file:      {stack.data_root / result if result else '(not reported by aggregate_results)'}")
    for dag_id, seconds in times.items():
        print(f"trigger→success:  {dag_id} {seconds:.1f} s")
    parts = ", ".join(f"{name.removeprefix('workflow-')} {seconds:.2f} s" for name, seconds in spent.items())
    print(f"service time:     {critical:.2f} s on the critical path of {ANALYSIS_DAG} ({parts})")
    print(f"Airflow's share:  {times[ANALYSIS_DAG] - critical:.1f} s (trigger→success minus service time)")
    print(f"Airflow UI:       {stack.airflow_url}   login {stack.username} / {stack.password}")
    print(f"Song analyses:    {results_url(stack.airflow_url)}   (the UI's nav entry, same login)")
    print(f"logs:             {stack.logs_dir}")
    print("=" * 72, flush=True)
    return 0


def stop_once(exc: BaseException | type[BaseException]):
    def handler(*_: object) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise exc

    return handler


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Ctrl-C and SIGTERM (CI, `kill`) unwind to the finally below, which stops what was started. Only
    # the first one counts: `uv run` forwards Ctrl-C to us a second time, impatient users press it twice.
    signal.signal(signal.SIGINT, stop_once(KeyboardInterrupt))
    signal.signal(signal.SIGTERM, stop_once(SystemExit(143)))
    secrets_file = ensure_env_file(args.env_file)
    config = StackConfig(
        state_dir=args.state_dir,
        data_root=args.data_root,
        service_env=model_signing_env(read_env_file(secrets_file.path)),
        dags_folder=args.dags_folder,
        fixed_ports=not args.any_ports,
        password=args.password,
    )
    stack = LocalStack(config, progress=lambda line: print(line, flush=True))
    print(f"HSS demo — embedded Airflow (SQLite + LocalExecutor); state in {stack.state_dir}", flush=True)
    print(f"demo data in {stack.data_root}: {prepare_data(stack.data_root, stack.logs_dir / 'demo-data.log')}")
    code: int | None = None  # None until the demo has an outcome
    try:
        stack.up()
        print(f"  services: {', '.join(f'{n} {u}' for n, u in stack.service_urls.items())}")
        print(f"  stack.json: {stack.stack_file}", flush=True)
        code = demo(stack, args)
        if args.keep_running:
            print(f"\nThe stack keeps running: {stack.airflow_url} ({stack.username} / {stack.password}).")
            print("Press Ctrl-C to stop it.", flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        print("\ninterrupted", flush=True)
        code = 130 if code is None else code  # after the demo (--keep-running): its outcome stands
    except (LaunchError, AirflowClientError) as exc:
        print(f"\nerror: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        stack.down()
        print("stopped everything the demo started.", flush=True)
    return 1 if code is None else code


if __name__ == "__main__":
    sys.exit(main())
