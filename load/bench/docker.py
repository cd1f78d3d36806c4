"""The docker section of `make bench` (when a Docker daemon answers): what the compose path costs here.

- image builds: cold (BuildKit's cache pruned: every layer and every wheel again), warm with no change,
  warm after a DAG-folder change (only the source layers); the images' sizes;
- `up` to healthy: DockerStack.up() of a test-run project with the images built (compose creates and starts
  every container, waits on the healthchecks, then the harness checks the real health endpoints);
- comprehensive_analysis trigger→success on the docker stack, timed exactly as the local "analysis" benchmark
  of the same run (target: within 1.2x of the local median);
- the stack's peak memory: the sum of `docker stats` over the project's containers, sampled every ~2 s around
  the timed runs (DockerStack.memory_bytes).
"""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from load.bench import data
from load.bench.airflow_runs import BenchStack
from load.bench.dags import SPLIT_KEYS, analysis_split
from load.bench.report import Figure, Section, Target
from stack.compose_project import DockerStackError, ensure_base_images, output_tail
from stack.config import StackConfig
from stack.docker_api import image_size
from stack.docker_stack import DockerStack
from stack.memory import PeakMemory
from stack.paths import DAGS_SOURCE, REPO_ROOT
from stack.service_metrics import analysis_critical_path

DOCKER_TO_LOCAL_TARGET = 1.2
IMAGES = ("hss-workflow/airflow:3.3.2", "hss-workflow/services:latest")
CHANGE_MARKER = DAGS_SOURCE / ".bench-rebuild"  # not a .py file: no DAG parses it


def _timed(argv: list[str]) -> float:
    """Seconds `argv` took; when it fails, a DockerStackError with the end of its output (compose's reason)."""
    started = time.monotonic()
    try:
        subprocess.run(argv, check=True, cwd=REPO_ROOT, capture_output=True)
    except subprocess.CalledProcessError as exc:
        output = output_tail((exc.stdout or b"") + (exc.stderr or b""), lines=15)
        raise DockerStackError(f"`{argv[-1]}` failed (exit {exc.returncode}):\n{output}") from exc
    return time.monotonic() - started


def image_builds(stack: DockerStack, progress: Callable[[str], None]) -> dict[str, float]:
    build = [*stack.compose_command(), "build"]
    progress("  cold build: BuildKit cache pruned, every layer and wheel again…")
    subprocess.run(["docker", "builder", "prune", "--all", "--force"], check=True, capture_output=True)
    cold = _timed(build)
    warm = _timed(build)
    CHANGE_MARKER.write_text(f"{time.time()}\n")
    try:
        changed = _timed(build)
    finally:
        CHANGE_MARKER.unlink(missing_ok=True)
    _timed(build)  # back to the committed content
    progress(f"  builds: cold {cold:.1f} s, warm {warm:.1f} s, after a DAG change {changed:.1f} s")
    return {"cold_s": cold, "warm_s": warm, "changed_s": changed}


def image_sizes() -> dict[str, float]:
    return {image: (image_size(image) or 0) / 1e9 for image in IMAGES}


def docker_section(
    run_dir: Path,
    local: Section | None,
    song_seconds: float,
    runs: int,
    progress: Callable[[str], None],
) -> Section:
    """`local`: the analysis section of the same bench run (its median and split), when it ran."""
    local_wall = local.figures[0].value if local else None
    stack = DockerStack(StackConfig(state_dir=run_dir / "docker"), progress=lambda line: progress(f"  {line}"))
    stack.prepare()
    # as DockerStack.up does: a base image this machine cannot pull is named with the variable that replaces it
    ensure_base_images(stack.compose, progress=lambda line: progress(f"  {line}"))
    builds = image_builds(stack, progress)
    sizes = image_sizes()
    song = data.analysis_song(stack.data_root, song_seconds)
    stack.build = False  # built above
    walls: list[float] = []
    splits: list[dict[str, float]] = []
    memory = PeakMemory(stack.memory_bytes)
    started = time.monotonic()
    with BenchStack(run_dir / "docker", progress, stack=stack) as bench:
        up_s = time.monotonic() - started
        conf = {"song_id": "bench_song", "song_path": song}
        # `docker stats` costs dockerd CPU: memory is sampled over a warm-up run and a run after the timed ones,
        # not during them (the local benchmark's /proc reads cost nothing comparable).
        with memory:
            bench.run("comprehensive_analysis", conf)  # warm-up
        for i in range(1, runs + 1):
            before = bench.service_seconds()
            run = bench.run("comprehensive_analysis", conf)
            path, spent = analysis_critical_path(before, bench.service_seconds())
            walls.append(run.wall)
            splits.append(analysis_split(run, spent))
            progress(f"  docker run {i}/{runs}: trigger→success {run.wall:.2f} s, service path {path:.2f} s")
        with PeakMemory(stack.memory_bytes) as after:
            bench.run("comprehensive_analysis", conf)
    memory.peak, memory.samples = max(memory.peak, after.peak), memory.samples + after.samples
    wall = statistics.median(walls)
    split = {key: statistics.median(s[key] for s in splits) for key in SPLIT_KEYS}
    local_split = {key: statistics.median(s[key] for s in local.data["splits"]) for key in SPLIT_KEYS} if local else {}
    figures = [
        Figure(
            "docker: comprehensive_analysis trigger→success",
            wall,
            "s",
            target=Target("<=", DOCKER_TO_LOCAL_TARGET, on="ratio") if local_wall else None,
            limit=local_wall,
            limit_label="local stack, same bench run",
            note=f"median of {runs} sequential runs after a warm-up",
        ),
        Figure("docker: image build, cold", builds["cold_s"], "s", note="BuildKit cache pruned"),
        Figure("docker: image build, warm after a DAG change", builds["changed_s"], "s"),
        Figure("docker: up to healthy", up_s, "s", note="images built; up --wait + health endpoints + DAGs parsed"),
        Figure("docker: stack peak memory", memory.peak / 2**30, "GiB", note=f"{memory.samples} docker stats samples"),
    ]
    details = [
        "| image | size |",
        "|---|---|",
        *(f"| `{image}` | {size:.2f} GB |" for image, size in sizes.items()),
        "",
        f"Builds: cold {builds['cold_s']:.1f} s, warm with no change {builds['warm_s']:.1f} s, "
        f"after a change in airflow/dags/ {builds['changed_s']:.1f} s.",
        "",
        "| run | docker trigger→success |",
        "|---|---|",
        *(f"| {i} | {w:.2f} s |" for i, w in enumerate(walls, 1)),
        "",
        "Where the time goes along the critical path (median per part), docker beside local:",
        "",
        "| part | docker s | local s |",
        "|---|---|---|",
        *(f"| {key} | {split[key]:.2f} | {local_split.get(key, float('nan')):.2f} |" for key in SPLIT_KEYS),
    ]
    return Section(
        key="docker",
        title="Docker stack",
        figures=figures,
        details=details,
        method=(
            "Both images built with `docker compose build` (cold after `docker builder prune --all`, then again "
            "unchanged, then after adding a file to airflow/dags/), sizes from `docker image inspect`. A test-run "
            "project (docker-compose.yml + docker-compose.test.yml, one worker) brought up by DockerStack.up(); "
            f"then the analysis benchmark's {song_seconds:g} s song: one warm-up run and {runs} sequential runs of "
            "comprehensive_analysis, each trigger→success measured as in the local benchmark (the run's "
            "end_date minus the moment before the trigger). Memory: `docker stats` summed over the project's "
            "containers, every ~2 s over the warm-up run and one run after the timed ones (not during them: `docker "
            "stats` itself costs dockerd CPU)."
        ),
        limits=(
            "The containers run the same components, settings (0.25 s scheduler loop, worker preload) and "
            "package versions as the local stack; what differs is the network (a bridge instead of loopback), "
            "the overlay filesystem, and Docker's own CPU (dockerd, containerd, the healthchecks)."
        ),
        data={
            "builds": builds,
            "sizes_gb": sizes,
            "walls": walls,
            "splits": splits,
            "up_s": up_s,
            "peak_bytes": memory.peak,
        },
    )
