"""`python -m load.bench --compare BASE_REF [--rounds N] [--quick]`: the DAG benchmarks, base commit vs this tree.

BASE_REF is checked out into a temporary git worktree under artifacts/bench/compare/<time>/ with its own
.venv (`uv sync --frozen`, as `make install` does), so the base runs its own code. Then `python -m load.bench
--only analysis,batch` runs alternately in the base and in this tree (base, head, base, head…): drift of the
shared machine's load hits both sides alike. Each run's bench.json is kept beside compare.md/compare.json,
which hold the median per figure on each side and the ratio head/base. The worktree goes away afterwards.
Exit code: 0 when every run produced its figures, 1 when one did not, 2 for a bad ref.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from load.bench.report import fmt, load_average, md_table, text_table
from stack.paths import REPO_ROOT

FOLDER = "compare"  # artifacts/bench/compare/<time>/: one comparison, the base's worktree while it runs
KEEP_RUNS = 5
SIDES = ("base", "head")
RAW_NUMBERS = re.compile(r"raw numbers: (.+bench\.json)\s*$")
STOP_WAIT_S = 300  # a bench run told to stop takes its stack down first
Say = Callable[[str], None]


class CompareError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Run:
    side: str
    round: int
    commit: str
    load_start: str
    log: str
    seconds: float = 0.0
    exit_code: int | None = None
    error: str | None = None
    bench: dict[str, Any] | None = field(default=None, repr=False)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if done.returncode:
        raise CompareError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def resolve(ref: str, repo: Path) -> str:
    try:
        return git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except CompareError:
        raise CompareError(f"--compare {ref!r}: not a commit in {repo} (try a branch, tag or sha)", 2) from None


@contextmanager
def worktree(repo: Path, commit: str, path: Path) -> Iterator[Path]:
    """`git worktree add --detach`, removed again on every way out (errors and Ctrl-C included)."""
    git(repo, "worktree", "add", "--detach", str(path), commit)
    try:
        yield path
    finally:
        remove_worktree(repo, path)


def remove_worktree(repo: Path, path: Path) -> None:
    try:
        git(repo, "worktree", "remove", "--force", str(path))
    except CompareError:  # git refused (or it is gone already): drop the folder, then git's record of it
        shutil.rmtree(path, ignore_errors=True)
        git(repo, "worktree", "prune")


def tree_env(tree: Path) -> dict[str, str]:
    """The environment of a process of this tree: its own .venv, nothing pointing at another checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "UV_PROJECT_ENVIRONMENT")}
    env["PATH"] = f"{tree / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    # As the Makefile exports them for `make install`.
    env.setdefault("UV_PYTHON_DOWNLOADS", "never")
    env.setdefault("UV_LINK_MODE", "copy")
    env.setdefault("UV_COMPILE_BYTECODE", "1")
    return env


def check_imports(python: Path, tree: Path) -> str:
    """Where this python imports hss_airflow from; an error unless it is inside `tree`."""
    probe = "import hss_airflow; print(hss_airflow.__file__)"
    if not python.exists():
        raise CompareError(f"no {python}: run `make install` in {tree}")
    done = subprocess.run([str(python), "-c", probe], cwd=tree, env=tree_env(tree), capture_output=True, text=True)
    where = done.stdout.strip()
    if done.returncode or not Path(where).resolve().is_relative_to(tree.resolve()):
        detail = done.stderr.strip().splitlines()[-1:] or [where]
        raise CompareError(f"{python} does not import hss_airflow from {tree}: {detail[0]}")
    return where


def prepare_env(side: str, tree: Path, say: Say) -> Path:
    """The python a side runs: the base gets a .venv of its own, synced from its uv.lock."""
    python = tree / ".venv" / "bin" / "python"
    if side == "base":
        uv = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")  # where `make install` puts it
        if not Path(uv).exists():
            raise CompareError("uv not found (on PATH or in ~/.local/bin): `make install` installs it")
        interpreter = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
        say(f"▶ base: uv sync --frozen into {tree / '.venv'} (Python {interpreter})")
        started = time.monotonic()
        argv = [uv, "sync", "--frozen", "--python", str(interpreter)]
        done = subprocess.run(argv, cwd=tree, env=tree_env(tree), capture_output=True, text=True)
        if done.returncode:
            raise CompareError(f"uv sync in the base worktree failed: {done.stderr.strip()[-2000:]}")
        say(f"  base .venv ready ({time.monotonic() - started:.0f} s)")
    say(f"  {side}: hss_airflow from {check_imports(python, tree)}")
    return python


def bench_command(python: Path, out: Path, only: str, quick: bool) -> list[str]:
    return [str(python), "-m", "load.bench", "--only", only, *(["--quick"] if quick else []), "--output", str(out)]


def run_bench(argv: list[str], tree: Path, run: Run, out: Path, prefix: str, say: Say) -> None:
    """One bench run, its output streamed with `prefix` and kept in run.log; its bench.json copied into out/."""
    started, found = time.monotonic(), out / "bench.json"
    # Its own session: Ctrl-C reaches this process only, which stops the run with one SIGTERM (the bench
    # then takes its stack down) and reads its output until it has.
    proc = subprocess.Popen(
        argv, cwd=tree, env=tree_env(tree), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    with open(run.log, "w", encoding="utf-8") as log:

        def show(line: str) -> None:
            log.write(line)
            print(prefix + line, end="", flush=True)

        try:
            for line in proc.stdout or ():
                show(line)
                match = RAW_NUMBERS.search(line)
                found = tree / match.group(1) if match else found  # an absolute path stays as it is
            run.exit_code = proc.wait()
        except BaseException:
            proc.send_signal(signal.SIGTERM)
            try:
                for line in proc.communicate(timeout=STOP_WAIT_S)[0].splitlines(keepends=True):
                    show(line)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
    run.seconds = time.monotonic() - started
    if found.is_file():
        if found != out / "bench.json":
            shutil.copy(found, out / "bench.json")
        run.bench = json.loads(found.read_text())
    failed = [f"{s['key']}: {s['error']}" for s in (run.bench or {}).get("sections", []) if s.get("error")]
    if run.exit_code or run.bench is None or failed:
        run.error = "; ".join(failed) or f"exit code {run.exit_code}" + ("" if run.bench else ", no bench.json")
    say(f"{'✘' if run.error else '✔'} {run.side} round {run.round}: {run.error or 'done'} ({run.seconds:.0f} s)")


# --- the comparison ---------------------------------------------------------------------------------


def direction(figure: dict[str, Any]) -> str | None:
    """'lower' or 'higher' is better: the target's operator, else the unit (a rate up, a time down)."""
    op = (figure.get("target") or {}).get("op")
    unit = figure.get("unit", "")
    if op in ("<=", ">="):
        return "lower" if op == "<=" else "higher"
    return "higher" if "/" in unit else "lower" if unit in ("s", "ms", "min", "MiB", "GiB") else None


def compare_rows(runs: list[Run]) -> list[dict[str, Any]]:
    """One row per figure name: each side's values over its rounds, the medians, head/base, which is better.
    A failed section's figures count for nothing; a figure only one side has gets None on the other."""
    rows: dict[str, dict[str, Any]] = {}
    for run in sorted(runs, key=lambda r: r.side != "head"):  # the head's order first: its names are current
        sections = [s for s in (run.bench or {}).get("sections", []) if not s.get("error")]
        for f in (f for s in sections for f in s.get("figures", [])):
            row = rows.setdefault(f["name"], {"metric": f["name"], "unit": f.get("unit", ""), "base": [], "head": []})
            row["direction"] = row.get("direction") or direction(f)
            row[run.side].append(f["value"])
    for row in rows.values():
        base, head = (statistics.median(row[side]) if row[side] else None for side in SIDES)
        row.update(base_median=base, head_median=head, ratio=head / base if base and head is not None else None)
        row["better"] = _better(row)
    return list(rows.values())


def _better(row: dict[str, Any]) -> str:
    """head or base; '(ranges overlap)' when the rounds' spans of the two sides overlap (within the noise)."""
    base, head, way = row["base_median"], row["head_median"], row["direction"]
    if base is None or head is None or way is None or base == head:
        return "—"
    winner = "head" if (head > base) == (way == "higher") else "base"
    overlap = max(min(row["base"]), min(row["head"])) <= min(max(row["base"]), max(row["head"]))
    return winner + (" (ranges overlap)" if overlap else "")


ROW_HEADERS = ("metric", "base", "head", "head/base", "better")
RUN_HEADERS = ("run", "commit", "load avg at start", "time", "result")


def write_report(folder: Path, heading: list[str], rows: list[dict[str, Any]], runs: list[Run]) -> str:
    """compare.md and compare.json in the comparison's folder; returns the terminal rendering."""
    body = [
        (r["metric"], fmt(r["base_median"], r["unit"]), fmt(r["head_median"], r["unit"]),
         f"{r['ratio']:.3f}" if r["ratio"] is not None else "—", r["better"])
        for r in rows
    ]  # fmt: skip
    run_body = [
        (f"{r.side} {r.round}", r.commit[:12], r.load_start, f"{r.seconds:.0f} s", r.error or "ok") for r in runs
    ]
    md = ["# Bench comparison", "", *heading, "", md_table(ROW_HEADERS, body), "", md_table(RUN_HEADERS, run_body)]
    (folder / "compare.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    dumped = [{k: v for k, v in asdict(r).items() if k != "bench"} for r in runs]
    (folder / "compare.json").write_text(json.dumps({"heading": heading, "rows": rows, "runs": dumped}, indent=2))
    return "\n".join([*heading, "", text_table(ROW_HEADERS, body), "", text_table(RUN_HEADERS, run_body)])


def _prune(root: Path, repo: Path) -> None:
    earlier = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    for old in earlier[: max(0, len(earlier) - (KEEP_RUNS - 1))]:
        if (old / "base-tree").exists():  # a comparison killed before it could remove its worktree
            remove_worktree(repo, old / "base-tree")
        shutil.rmtree(old, ignore_errors=True)


def compare(
    ref: str,
    *,
    rounds: int = 2,
    quick: bool = False,
    only: str = "analysis,batch",
    repo: Path = REPO_ROOT,
    prepare: Callable[[str, Path, Say], Path] = prepare_env,
    command: Callable[[Path, Path, str, bool], list[str]] = bench_command,
    say: Say = print,
) -> int:
    """Interleaved runs of base and head; prints and writes the comparison. `prepare` and `command` are
    what a side runs with (its python) and what a run is (the bench), replaceable for tests."""
    try:
        base_commit = resolve(ref, repo)
        head_commit = git(repo, "rev-parse", "HEAD")
    except CompareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    dirty = " + uncommitted changes" if git(repo, "status", "--porcelain", "--untracked-files=no") else ""
    root = repo / "artifacts" / "bench" / FOLDER
    _prune(root, repo)
    folder = root / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    folder.mkdir(parents=True)
    heading = [
        f"- base: {ref} = {base_commit}",
        f"- head: {head_commit}{dirty} ({repo})",
        f"- `python -m load.bench --only {only}{' --quick' if quick else ''}`, {rounds} round(s) interleaved "
        "(base, head, base, head…); medians over the rounds; head/base = head median / base median",
    ]
    runs: list[Run] = []
    problems: list[str] = []
    try:
        with worktree(repo, base_commit, folder / "base-tree") as base_tree:
            say(f"▶ base {base_commit[:12]} checked out in {base_tree}")
            trees = {"base": (base_tree, base_commit), "head": (repo, head_commit)}
            pythons = {side: prepare(side, trees[side][0], say) for side in SIDES}
            for n, side in itertools.product(range(1, rounds + 1), SIDES):
                (out := folder / f"{side}-{n}").mkdir()
                run = Run(side, n, trees[side][1], load_average(), str(out / "bench.log"))
                runs.append(run)
                say(f"▶ {side} round {n}/{rounds} (load average {run.load_start})")
                argv = command(pythons[side], out / "PERFORMANCE.md", only, quick)
                run_bench(argv, trees[side][0], run, out, f"[{side} {n}/{rounds}] ", say)
                if run.exit_code == 2:  # the bench refused its arguments: every further run would too
                    say(f"✘ {side}'s python -m load.bench refused its arguments: no further runs")
                    break
    except CompareError as exc:  # the worktree or a side's environment could not be made
        say(f"✘ {exc}")
        problems.append(str(exc))
        heading.append(f"- did not complete: {exc}")
    except KeyboardInterrupt:
        print(f"\ninterrupted: the runs were stopped, the worktree removed; logs in {folder}", file=sys.stderr)
        return 130
    rows = compare_rows(runs)
    print("\n" + write_report(folder, heading, rows, runs) + "\n")
    print(f"comparison: {folder / 'compare.md'}   raw numbers: {folder / 'compare.json'}")
    problems += [f"{r.side} round {r.round}: {r.error} (log: {r.log})" for r in runs if r.error]
    for problem in problems:
        print(f"failed: {problem}", file=sys.stderr)
    return 1 if problems else 0
