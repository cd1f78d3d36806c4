"""`make bench` = `python -m load.bench [--only audio,dags,...] [--quick] [--output PATH] [--compare BASE_REF]`.

Runs the benchmarks, prints one table (measured vs target vs limit, with the ratio) and writes the
report: docs/PERFORMANCE.md for a full run, artifacts/bench/<time>/PERFORMANCE.md for a partial or quick
one (so a partial run never overwrites the full report), plus bench.json with the raw numbers next to it.
Exit code: 0 when every selected benchmark produced its figures (a missed target is reported, not an
error; --strict makes it one), 1 when a benchmark failed, 2 for bad arguments.
--compare BASE_REF runs analysis and batch for that commit and this tree in turn (load/bench/compare.py).
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from contracts.data_layout import SONGS, TRAINING_DATA
from load.bench import audio, compare, dags, data, demo, docker, growth, metrics_cost, services, training, ui_pages
from load.bench.airflow_runs import BenchStack
from load.bench.report import Machine, Section, render_table, to_json, write_markdown
from stack.client import AirflowClientError
from stack.paths import ARTIFACTS as ARTIFACTS_ROOT
from stack.paths import REPO_ROOT
from stack.processes import LaunchError

ARTIFACTS = ARTIFACTS_ROOT / "bench"
DEFAULT_REPORT = REPO_ROOT / "docs" / "PERFORMANCE.md"
KEEP_RUNS = 3
BENCHMARKS = (
    "overhead",
    "scaling",
    "services",
    "ui",
    "analysis",
    "batch",
    "training",
    "growth",
    "demo",
    "metrics",
    "docker",
)
GROUPS = {"audio": ("overhead", "scaling"), "dags": ("analysis", "batch", "training", "demo"), "all": BENCHMARKS}
STACK_BENCHMARKS = ("analysis", "batch", "training", "growth")
COMPARABLE = ("analysis", "batch")  # what --compare runs on both sides


def select(only: str | None) -> list[str]:
    """--only names (groups audio, dags, all, or single benchmarks) → benchmarks in run order."""
    if not only:
        return list(BENCHMARKS)
    wanted: set[str] = set()
    for name in (x.strip() for x in only.split(",") if x.strip()):
        if name in GROUPS:
            wanted.update(GROUPS[name])
        elif name in BENCHMARKS:
            wanted.add(name)
        else:
            known = ", ".join([*GROUPS, *BENCHMARKS])
            raise ValueError(f"unknown benchmark {name!r}; known: {known}")
    return [b for b in BENCHMARKS if b in wanted]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m load.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        help="comma list: audio (overhead,scaling), services, ui, dags (analysis,batch,training,demo), growth, docker "
        "(run only when a Docker daemon answers; pair it with analysis for the docker/local ratio)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny inputs: checks the bench runs, figures are rough")
    parser.add_argument("--output", type=Path, help="report path (default: docs/PERFORMANCE.md for a full run)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--compare",
        metavar="BASE_REF",
        help="run analysis and batch for BASE_REF (a git worktree with its own .venv) and this tree in turn, "
        "--rounds times each, and print the ratios head/base (report under artifacts/bench/compare/)",
    )
    parser.add_argument("--rounds", type=int, help="with --compare: runs per side, interleaved (default 2)")
    return parser.parse_args(argv)


def compare_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the arguments of a --compare run (or of --rounds without it), None when nothing."""
    if not args.compare:
        return "--rounds goes with --compare" if args.rounds is not None else None
    if args.rounds is not None and args.rounds < 1:
        return f"--rounds must be 1 or more, not {args.rounds}"
    others = [b for b in select(args.only) if b not in COMPARABLE] if args.only else []
    if others:
        return f"--compare runs {' and '.join(COMPARABLE)} only; --only {args.only} asks for {', '.join(others)}"
    if args.output or args.strict:
        return "--compare writes its own report (artifacts/bench/compare/<time>/compare.md): no --output, --strict"
    return None


def _run_dir(quick: bool) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    earlier = sorted(p for p in ARTIFACTS.iterdir() if p.is_dir() and p.name != compare.FOLDER)
    for old in earlier[: max(0, len(earlier) - (KEEP_RUNS - 1))]:
        shutil.rmtree(old, ignore_errors=True)
    return ARTIFACTS / (datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + ("-quick" if quick else ""))


def _guarded(key: str, title: str, fn: Callable[[], Section], say: Callable[[str], None]) -> Section:
    """Run one benchmark; an exception becomes the section's error (the others still run)."""
    say(f"▶ {title}")
    started = time.monotonic()
    try:
        section = fn()
    except Exception as exc:  # a benchmark's failure is reported in the table and the report
        section = Section(key=key, title=title, error=f"{type(exc).__name__}: {exc}")
        say(f"✘ {title} failed: {section.error}")
    section.seconds = time.monotonic() - started
    if not section.error:
        say(f"✔ {title} ({section.seconds:.0f} s)")
    return section


def run(args: argparse.Namespace, chosen: list[str], run_dir: Path, say: Callable[[str], None]) -> list[Section]:
    quick = args.quick
    sections: list[Section] = []
    audio_params = audio.AudioParams.quick() if quick else audio.AudioParams()
    dag_params = dags.DagParams.quick() if quick else dags.DagParams()
    growth_params = growth.GrowthParams.quick() if quick else growth.GrowthParams()
    if "overhead" in chosen:
        sections.append(
            _guarded("overhead", "Audio service overhead", lambda: audio.overhead_section(audio_params, say), say)
        )
    if "scaling" in chosen:
        sections.append(
            _guarded("scaling", "Audio pool scaling", lambda: audio.scaling_section(audio_params, say), say)
        )
    if "services" in chosen:
        title = "Light services at 50 concurrent users"
        run_time = "10s" if quick else "30s"
        sections.append(
            _guarded("services", title, lambda: services.services_section(run_dir / "load", say, run_time), say)
        )
    if "ui" in chosen:
        songs = 100 if quick else 1000
        sections.append(
            _guarded("ui", "Result pages", lambda: ui_pages.ui_section(say, songs=songs, trainings=songs // 10), say)
        )
    if any(b in chosen for b in STACK_BENCHMARKS):
        _local_stack_benchmarks(chosen, run_dir, dag_params, growth_params, sections, say)
    if "demo" in chosen:  # its own stack, after the celery one is down
        sections.append(_guarded("demo", demo.TITLE, lambda: demo.demo_section(run_dir, dag_params, say), say))
    if "metrics" in chosen:
        title = "What metrics cost"
        idle_s = 20.0 if quick else metrics_cost.IDLE_S
        sections.append(_guarded("metrics", title, lambda: _metrics_benchmark(run_dir, dag_params, idle_s, say), say))
    if "docker" in chosen:
        _docker_benchmark(run_dir, dag_params, sections, say)
    return sections


def _metrics_benchmark(run_dir: Path, dag_params: dags.DagParams, idle_s: float, say: Callable[[str], None]) -> Section:
    """Two local stacks in turn, with and without metrics, each on its own data root with the analysis song."""
    root = run_dir / "metrics"
    for side in ("metrics-on", "metrics-off"):
        song = data.analysis_song(root / side / "data", dag_params.analysis_song_seconds)
    say(f"▶ what metrics cost: a stack with metrics, then one without ({root})")
    return metrics_cost.metrics_cost(root, song, dag_params, say, idle_s=idle_s)


def _docker_benchmark(
    run_dir: Path, dag_params: dags.DagParams, sections: list[Section], say: Callable[[str], None]
) -> None:
    """The docker section, after the local stack is down (never both stacks at once on 2 cores)."""
    from stack.compose_project import docker_available

    available, reason = docker_available()
    if not available:
        say(f"▷ Docker stack: skipped — {reason}")
        return
    local = next((s for s in sections if s.key == "analysis" and not s.error), None)
    title = "Docker stack"
    sections.append(
        _guarded(
            "docker",
            title,
            lambda: docker.docker_section(
                run_dir, local, dag_params.analysis_song_seconds, dag_params.analysis_runs, say
            ),
            say,
        )
    )


def _local_stack_benchmarks(
    chosen: list[str],
    run_dir: Path,
    dag_params: dags.DagParams,
    growth_params: growth.GrowthParams,
    sections: list[Section],
    say: Callable[[str], None],
) -> None:

    stack_dir = run_dir / "stack"
    root = stack_dir / "data"
    say(f"▶ synthesizing the DAG benchmarks' inputs into {root}")
    song = data.analysis_song_path(dag_params.analysis_song_seconds)
    batch_folder = f"{SONGS}/bench_batch_{dag_params.batch_songs}"
    jobs: list[tuple[str, Callable[[], object]]] = []
    if "analysis" in chosen:
        seconds = dag_params.analysis_song_seconds
        jobs.append((f"analysis song of {seconds:g} s", lambda: data.analysis_song(root, seconds)))
    if "batch" in chosen:
        jobs.append(
            (
                f"{dag_params.batch_songs} songs of {dag_params.batch_song_seconds:g} s",
                lambda: data.song_folder(root, batch_folder, dag_params.batch_songs, dag_params.batch_song_seconds),
            )
        )
    if "training" in chosen:
        jobs.append(
            (
                f"features dataset of {dag_params.training_rows} rows",
                lambda: data.features_dataset(root, dag_params.training_rows),
            )
        )
        if dag_params.raw_songs:
            jobs.append(
                (
                    f"raw dataset of {dag_params.raw_songs} songs",
                    lambda: data.raw_dataset(root, dag_params.raw_songs, dag_params.raw_song_seconds),
                )
            )
    if "growth" in chosen:
        jobs += growth.prepare_jobs(root, growth_params)
    data.prepare(root, jobs, say)

    say(f"▶ starting the full local stack (celery profile) in {stack_dir}")
    try:
        _on_stack(chosen, stack_dir, song, batch_folder, dag_params, growth_params, sections, say)
    except (LaunchError, AirflowClientError) as exc:  # the stack did not come up or stopped answering
        logs = stack_dir / "logs"
        sections.append(Section(key="stack", title="the full local stack", error=f"{exc} (component logs: {logs})"))
        say(f"✘ the full local stack: {exc}")


def _on_stack(
    chosen: list[str],
    stack_dir: Path,
    song: str,
    batch_folder: str,
    dag_params: dags.DagParams,
    growth_params: growth.GrowthParams,
    sections: list[Section],
    say: Callable[[str], None],
) -> None:
    """The DAG benchmarks, on one stack started for them and stopped afterwards (also on errors)."""
    root = stack_dir / "data"
    with BenchStack(stack_dir, progress=lambda line: say(f"  {line.strip()}")) as bench:
        if "analysis" in chosen:
            title = "comprehensive_analysis: Airflow's added time"
            sections.append(_guarded("analysis", title, lambda: dags.comprehensive(bench, song, dag_params, say), say))
        if "batch" in chosen:
            files = data.song_folder(root, batch_folder, dag_params.batch_songs, dag_params.batch_song_seconds)
            title = f"batch_analysis over {dag_params.batch_songs} songs"
            sections.append(
                _guarded("batch", title, lambda: dags.batch(bench, batch_folder, files, dag_params, say), say)
            )
        if "training" in chosen:
            datasets = [
                (
                    f"{dag_params.training_rows} feature rows",
                    f"{TRAINING_DATA}/bench_features_{dag_params.training_rows}.csv",
                    400,
                )
            ]
            if dag_params.raw_songs:
                raw = f"{TRAINING_DATA}/bench_raw_{dag_params.raw_songs}.csv"
                datasets.append((f"{dag_params.raw_songs} raw songs", raw, dag_params.raw_batch_size))
            sections.append(
                _guarded("training", "ml_training_smart_ensemble", lambda: training.training(bench, datasets, say), say)
            )
        if "growth" in chosen:
            title = "Growth"
            sections.append(_guarded("growth", title, lambda: growth.growth(bench, growth_params, say), say))


def _interrupt(*_: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so the stack's context manager stops every process it started."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    try:
        chosen = select(args.only)
        problem = compare_problem(args)
    except ValueError as exc:
        problem = str(exc)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()

    def say(line: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {line}", flush=True)

    if args.compare:
        only = ",".join(chosen) if args.only else ",".join(COMPARABLE)
        return compare.compare(args.compare, rounds=args.rounds or 2, quick=args.quick, only=only, say=say)

    command = " ".join(["python -m load.bench", *argv])
    machine = Machine.probe()
    say(f"{command} — {machine.line()}")
    say(machine.load_line())
    partial = args.quick or args.only
    run_dir = _run_dir(args.quick)
    run_dir.mkdir(parents=True)
    try:
        sections = run(args, chosen, run_dir, say)
    except KeyboardInterrupt:
        print("\ninterrupted: the stack (if any) was stopped; no report written", file=sys.stderr, flush=True)
        return 130
    machine.finish()
    output = args.output or (None if partial else DEFAULT_REPORT)
    report = write_markdown(
        output or run_dir / "PERFORMANCE.md", sections, machine, command, time.monotonic() - started
    )
    (run_dir / "bench.json").write_text(json.dumps(to_json(sections, machine, command), indent=2, default=str))
    print()
    print(render_table(sections))
    print()
    print(f"{machine.load_line()}")
    print(f"report: {report}   raw numbers: {run_dir / 'bench.json'}")
    if any(s.error for s in sections):
        return 1
    if args.strict and any(f.passed is False for s in sections for f in s.figures):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
