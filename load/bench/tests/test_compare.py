"""`--compare BASE_REF` without a stack: the medians, ratios and table on hand-made bench.json, the argument
errors, and the worktree + interleaving on a throwaway git repository with a fake bench command."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from load.bench import __main__ as cli
from load.bench import compare
from load.bench.report import Figure, Machine, Section, Target, to_json
from stack.paths import REPO_ROOT

MACHINE = Machine(2, "cpu", 8.0, "3.11.7", "3.3.2", "2.1b6", "2025-01-01 12:00 UTC", "0.50 0.40 0.30")
WALL = "comprehensive_analysis trigger→success"
BATCH = "batch_analysis 20 songs, hss_audio slots=2 (pools.json)"


def _bench(wall: float, songs: float | None = None, *, batch_error: str | None = None) -> dict:
    """A bench.json as the real run writes it (report.to_json of real sections)."""
    sections = [Section("analysis", "a", [Figure(WALL, wall, "s", target=Target("<=", 5.0, on="excess"), limit=1)])]
    batch = Section("batch", "b", error=batch_error)
    if songs is not None:
        batch.figures = [Figure(BATCH, songs, "songs/min", target=Target(">=", 0.7, on="ratio"), limit=20.0)]
    return to_json([*sections, batch], MACHINE, "python -m load.bench --only analysis,batch")


def _run(side: str, n: int, bench: dict | None, error: str | None = None) -> compare.Run:
    return compare.Run(side, n, "0" * 40, "0.50 0.40 0.30", f"/logs/{side}-{n}", bench=bench, error=error)


def _rows(runs: list[compare.Run]) -> dict[str, dict]:
    return {row["metric"]: row for row in compare.compare_rows(runs)}


def test_medians_over_the_rounds_the_ratio_head_over_base_and_the_better_side():
    runs = [
        _run("base", 1, _bench(4.0, 13.0)),
        _run("head", 1, _bench(3.0, 12.0)),
        _run("base", 2, _bench(5.0, 15.0)),
        _run("head", 2, _bench(3.5, 16.0)),
    ]
    rows = _rows(runs)
    wall = rows[WALL]
    assert (wall["base_median"], wall["head_median"]) == (4.5, 3.25)
    assert wall["ratio"] == pytest.approx(3.25 / 4.5)
    assert wall["better"] == "head"  # a time: lower wins, and 3.0-3.5 does not reach 4.0-5.0
    batch = rows[BATCH]
    assert batch["ratio"] == pytest.approx(14.0 / 14.0) and batch["better"] == "—"  # equal medians
    runs[3].bench = _bench(3.5, 13.5)
    assert _rows(runs)[BATCH]["better"] == "base (ranges overlap)"  # songs/min: higher wins; 12-13.5 vs 13-15


def test_a_figure_only_one_side_has_gets_a_dash_on_the_other_and_no_ratio(tmp_path):
    runs = [_run("base", 1, _bench(4.0)), _run("head", 1, _bench(3.0, 14.0))]
    batch = _rows(runs)[BATCH]
    assert (batch["base"], batch["head"], batch["base_median"], batch["ratio"]) == ([], [14.0], None, None)
    text = compare.write_report(tmp_path, ["- base: x"], compare.compare_rows(runs), runs)
    (line,) = [line for line in text.splitlines() if line.startswith(BATCH)]
    assert line.split()[-5:] == ["—", "14.0", "songs/min", "—", "—"]  # base, head, head/base, better
    md = (tmp_path / "compare.md").read_text()
    assert f"| {BATCH} | — | 14.0 songs/min | — | — |" in md
    saved = json.loads((tmp_path / "compare.json").read_text())
    assert [r["metric"] for r in saved["rows"]] == [WALL, BATCH]  # the head's order


def test_a_failed_run_or_section_adds_no_figures_and_shows_in_the_runs_table(tmp_path):
    runs = [
        _run("base", 1, _bench(4.0, 13.0)),
        _run("head", 1, None, error="exit code 1, no bench.json"),
        _run("base", 2, _bench(6.0, batch_error="ValueError: boom"), error="batch: ValueError: boom"),
        _run("head", 2, _bench(3.0, 12.0)),
    ]
    rows = _rows(runs)
    assert (rows[WALL]["base"], rows[WALL]["head"]) == ([4.0, 6.0], [3.0])
    assert rows[BATCH]["base"] == [13.0]  # the errored batch section of base 2 counts for nothing
    text = compare.write_report(tmp_path, [], list(rows.values()), runs)
    assert "exit code 1, no bench.json" in text and "batch: ValueError: boom" in text


def test_which_way_is_better_comes_from_the_target_else_the_unit():
    assert compare.direction({"unit": "x", "target": {"op": ">=", "threshold": 1.7, "on": "value"}}) == "higher"
    assert compare.direction({"unit": "songs/min", "target": {"op": "<=", "threshold": 9, "on": "value"}}) == "lower"
    assert compare.direction({"unit": "songs/min", "target": None}) == "higher"
    assert compare.direction({"unit": "s", "target": None}) == "lower"
    assert compare.direction({"unit": "x", "target": None}) is None


# --- arguments --------------------------------------------------------------------------------------


@pytest.fixture
def no_signals(monkeypatch):
    monkeypatch.setattr(cli.signal, "signal", lambda *_: None)  # main() installs a SIGTERM handler


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--compare", "HEAD", "--only", "dags"], "asks for training"),
        (["--compare", "HEAD", "--only", "audio,batch"], "asks for overhead, scaling"),
        (["--compare", "HEAD", "--only", "nope"], "unknown benchmark 'nope'"),
        (["--compare", "HEAD", "--output", "x.md"], "no --output"),
        (["--compare", "HEAD", "--rounds", "0"], "--rounds must be 1 or more"),
        (["--rounds", "3"], "--rounds goes with --compare"),
        (["--compare", "no-such-ref-for-the-bench"], "not a commit"),
    ],
)
def test_bad_compare_arguments_exit_2_with_a_message(argv, message, capsys, monkeypatch, no_signals):
    monkeypatch.setattr(compare, "worktree", None)  # nothing may get as far as a checkout
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_compare_arguments_reach_the_comparison(monkeypatch, no_signals):
    calls: list[tuple] = []
    monkeypatch.setattr(cli.compare, "compare", lambda ref, say, **kw: calls.append((ref, kw)) or 0)
    assert cli.main(["--compare", "origin/main", "--only", "batch", "--quick"]) == 0
    assert cli.main(["--compare", "v1", "--rounds", "3"]) == 0
    assert calls == [
        ("origin/main", {"rounds": 2, "quick": True, "only": "batch"}),
        ("v1", {"rounds": 3, "quick": False, "only": "analysis,batch"}),
    ]


def test_a_plain_run_keeps_the_comparisons_when_it_prunes_old_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "ARTIFACTS", tmp_path)
    for name in ("20250101T000000", "20250102T000000", "20250103T000000", compare.FOLDER):
        (tmp_path / name).mkdir()
    cli._run_dir(quick=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20250102T000000", "20250103T000000", compare.FOLDER]


# --- the orchestration, on a throwaway repository ------------------------------------------------------

FAKE_BENCH = """\
import json, os, sys
from pathlib import Path
order = Path(os.environ["FAKE_ORDER"])
calls = order.read_text().splitlines() if order.exists() else []
order.write_text("".join(line + "\\n" for line in [*calls, os.getcwd()]))
print("fake bench in", os.getcwd(), "for", sys.argv[1])
if str(len(calls) + 1) in os.environ.get("FAKE_FAIL_AT", "").split(","):
    sys.exit(int(os.environ.get("FAKE_FAIL_CODE", "1")))
figures = [{"name": "wall", "value": float(Path("version.txt").read_text()), "unit": "s", "target": None}]
if Path("extra.txt").exists():  # a benchmark only the head has
    figures.append({"name": "extra", "value": 1.0, "unit": "songs/min", "target": None})
run_dir = Path("artifacts", "bench", "run-%d" % len(calls))
run_dir.mkdir(parents=True)
(run_dir / "bench.json").write_text(json.dumps({"sections": [{"key": "analysis", "error": None, "figures": figures}]}))
print("report:", sys.argv[1], "  raw numbers:", run_dir / "bench.json")
"""


def _git(repo: Path, *args: str) -> str:
    ident = ["-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "-c", "commit.gpgsign=false"]
    return subprocess.run(["git", "-C", str(repo), *ident, *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """Two commits: base (version 10), head (version 8 and extra.txt); the work tree says 6, uncommitted."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / ".gitignore").write_text("/artifacts/\n")
    (repo / "version.txt").write_text("10")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    (repo / "version.txt").write_text("8")
    (repo / "extra.txt").write_text("")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "head")
    (repo / "version.txt").write_text("6")
    (tmp_path / "fake_bench.py").write_text(FAKE_BENCH)
    monkeypatch.setenv("FAKE_ORDER", str(tmp_path / "order.txt"))
    return repo


def _compare(repo: Path, prepared: list | None = None, **kwargs) -> int:
    def prepare(side: str, tree: Path, say) -> Path:
        if prepared is not None:
            prepared.append((side, tree, (tree / "version.txt").read_text()))
        return Path(sys.executable)

    fake = repo.parent / "fake_bench.py"
    command = lambda python, out, only, quick: [str(python), str(fake), str(out)]  # noqa: E731
    return compare.compare("HEAD~1", repo=repo, prepare=prepare, command=command, say=print, **kwargs)


def _worktrees(repo: Path) -> list[str]:
    return [line for line in _git(repo, "worktree", "list", "--porcelain").splitlines() if line.startswith("worktree")]


def test_base_and_head_run_interleaved_each_in_its_own_tree_then_the_worktree_goes(repo, capsys):
    prepared: list = []
    assert _compare(repo, prepared) == 0
    (folder,) = (repo / "artifacts" / "bench" / "compare").iterdir()
    base_tree = folder / "base-tree"
    assert [(side, tree, text) for side, tree, text in prepared] == [("base", base_tree, "10"), ("head", repo, "6")]
    order = (repo.parent / "order.txt").read_text().splitlines()
    assert order == [str(base_tree), str(repo), str(base_tree), str(repo)]
    assert not base_tree.exists() and _worktrees(repo) == [f"worktree {repo}"]
    rows = {row["metric"]: row for row in json.loads((folder / "compare.json").read_text())["rows"]}
    assert (rows["wall"]["base"], rows["wall"]["head"], rows["wall"]["ratio"]) == ([10.0, 10.0], [6.0, 6.0], 0.6)
    assert (rows["extra"]["base_median"], rows["extra"]["head_median"]) == (None, 1.0)
    for run in ("base-1", "head-1", "base-2", "head-2"):
        assert json.loads((folder / run / "bench.json").read_text())["sections"][0]["figures"][0]["value"] > 0
        assert "fake bench in" in (folder / run / "bench.log").read_text()
    out = capsys.readouterr().out
    assert "[base 1/2] fake bench in" in out and "[head 2/2] fake bench in" in out
    head = _git(repo, "rev-parse", "HEAD").strip()
    assert f"head: {head} + uncommitted changes" in out and _git(repo, "rev-parse", "HEAD~1").strip() in out


def test_a_failed_run_exits_1_naming_it_and_its_log_and_the_others_still_count(repo, capsys, monkeypatch):
    monkeypatch.setenv("FAKE_FAIL_AT", "3")  # base, round 2
    assert _compare(repo) == 1
    err = capsys.readouterr().err
    (folder,) = (repo / "artifacts" / "bench" / "compare").iterdir()
    assert f"base round 2: exit code 1, no bench.json (log: {folder / 'base-2' / 'bench.log'})" in err
    rows = {row["metric"]: row for row in json.loads((folder / "compare.json").read_text())["rows"]}
    assert (rows["wall"]["base"], rows["wall"]["head"]) == ([10.0], [6.0, 6.0])
    assert _worktrees(repo) == [f"worktree {repo}"]


def test_a_run_that_refuses_its_arguments_stops_the_comparison(repo, monkeypatch):
    monkeypatch.setenv("FAKE_FAIL_AT", "1")
    monkeypatch.setenv("FAKE_FAIL_CODE", "2")
    assert _compare(repo) == 1
    assert len((repo.parent / "order.txt").read_text().splitlines()) == 1
    assert _worktrees(repo) == [f"worktree {repo}"]


def test_ctrl_c_still_removes_the_worktree(repo, monkeypatch):
    def interrupted(side: str, tree: Path, say) -> Path:
        assert (tree / "version.txt").read_text() == "10"  # the base is checked out at that point
        raise KeyboardInterrupt

    command = lambda *_: ["true"]  # noqa: E731
    assert compare.compare("HEAD~1", repo=repo, prepare=interrupted, command=command, say=print) == 130
    assert _worktrees(repo) == [f"worktree {repo}"]
    (folder,) = (repo / "artifacts" / "bench" / "compare").iterdir()
    assert not (folder / "base-tree").exists()


def test_a_bad_ref_exits_2_before_any_checkout(repo, capsys):
    assert compare.compare("no-such-branch", repo=repo, prepare=None, command=None) == 2
    assert "'no-such-branch': not a commit" in capsys.readouterr().err
    assert not (repo / "artifacts").exists()


def test_the_import_check_refuses_a_python_that_imports_another_trees_code(tmp_path):
    assert Path(compare.check_imports(Path(sys.executable), REPO_ROOT)).is_relative_to(REPO_ROOT)
    with pytest.raises(compare.CompareError, match="does not import hss_airflow from"):
        compare.check_imports(Path(sys.executable), tmp_path)  # this venv's hss_airflow is REPO_ROOT's
    with pytest.raises(compare.CompareError, match="run `make install`"):
        compare.check_imports(tmp_path / ".venv" / "bin" / "python", tmp_path)  # a tree never synced


STOPPABLE = """\
import signal, sys, time
def stop(*_):
    print("stopping the stack", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("running", flush=True)
time.sleep(60)
"""


def test_ctrl_c_during_a_run_stops_it_with_sigterm_and_keeps_its_last_words(tmp_path, monkeypatch):
    (tmp_path / "stoppable.py").write_text(STOPPABLE)
    interrupts = ["once"]

    def ctrl_c_at_the_first_line(*args, **kwargs) -> None:
        if interrupts:
            interrupts.pop()
            raise KeyboardInterrupt

    monkeypatch.setattr(compare, "print", ctrl_c_at_the_first_line, raising=False)
    run = compare.Run("head", 1, "0" * 40, "0", str(tmp_path / "bench.log"))
    argv = [sys.executable, str(tmp_path / "stoppable.py")]
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        compare.run_bench(argv, tmp_path, run, tmp_path, "[head 1/1] ", lambda _: None)
    assert time.monotonic() - started < 30  # stopped, not slept out
    assert (tmp_path / "bench.log").read_text() == "running\nstopping the stack\n"
