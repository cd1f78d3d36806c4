"""Run a load profile against the full stack and judge it: `python -m load.run [--profile default]`.

    python -m load.run --profile smoke                    # ≤ 30 s, all user classes (make test runs it)
    python -m load.run --profile services-50 --user-classes ContentUser
    python -m load.run --list                             # the profiles in load/profiles.toml

Steps: read the stack file (.stack/stack.json, what `make up` writes; when it is missing or its
processes are gone, start the stack with `python -m stack up` and say so — it keeps running
afterwards, `make down` stops it), write the load songs into the data root, wait until the targeted
services answer /ready (and Airflow has parsed the DAG), run Locust headless (at the end of the run
time users finish what is in flight, up to 45 s, so a DAG run that started is measured), then print
a totals table and one PASS/FAIL line per threshold; the exit code is 1 when any threshold is missed.
Reports go to load/reports/<profile>-<UTC time>/: Locust's CSV (`locust_stats.csv`,
`locust_stats_history.csv`, `locust_failures.csv`, `locust_exceptions.csv`), `report.html`, `locust.log`.

Why Locust runs as a subprocess (`python -m locust -f load/locustfile.py --headless … --csv … --html …`)
and not in this process: importing Locust monkey-patches the whole interpreter with gevent (sockets,
threads, ssl, subprocess). `measure()` is called from pytest and from the benchmark, next to the
stack harness's threads and subprocesses; patching them late, mid-session, is what gevent warns
against. As a subprocess it is also exactly the command a user types, and the thresholds are judged
on the CSV it writes (load/report.py), the same numbers as its HTML report.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import requests

from load import targets
from load.payloads import SONGS_DIR, prepare_songs
from load.profiles import Profile, ProfileError, ThresholdResult, evaluate, get_profile, load_profiles
from load.report import RequestStats, format_table, read_failures_csv, read_stats_csv
from stack.paths import REPO_ROOT
from stack.stack_file import operations_url, pid_alive  # the module that defines stack.json reads it too
from stack.waiting import WaitTimeout, answers, wait_until

REPORTS_DIR = REPO_ROOT / "load" / "reports"
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
CSV_PREFIX = "locust"
READY_TIMEOUT_S = 180.0
PROGRESS_EVERY_S = 10.0
# At the end of the run time, users finish what they are doing: a DAG run in flight is measured, not cut
# off (a short run would otherwise count only the DAG runs faster than what was left of the run time).
STOP_TIMEOUT_S = 45
SHUTDOWN_GRACE_S = 60.0  # beyond run time + stop timeout: preparing the insights payload, writing the reports

Echo = Callable[[str], None]


def say(message: str) -> None:
    print(message, flush=True)  # progress shows up at once under make and CI too (piped stdout)


class LoadError(RuntimeError):
    """The load test could not run (stack down, Locust crashed); the message says what to do."""


@dataclass
class LoadResult:
    profile: Profile
    stats: dict[str, RequestStats]  # by request name, plus "Aggregated"
    thresholds: list[ThresholdResult]
    report_dir: Path
    exit_code: int  # Locust's (0 unless it crashed or could not prepare its payloads)

    @property
    def failed_thresholds(self) -> list[str]:
        failed = [str(t) for t in self.thresholds if not t.passed]
        if self.exit_code:
            failed.append(f"FAIL  locust exited with code {self.exit_code} (see {self.report_dir / 'locust.log'})")
        return failed

    @property
    def passed(self) -> bool:
        return not self.failed_thresholds

    @property
    def html_report(self) -> Path:
        return self.report_dir / "report.html"

    def csv_file(self, kind: str) -> Path:
        """kind: stats, stats_history, failures, exceptions."""
        return self.report_dir / f"{CSV_PREFIX}_{kind}.csv"

    def requests_by_class(self) -> dict[str, int]:
        return {
            name: sum(self.stats[n].requests for n in targets.USER_CLASSES[name].requests if n in self.stats)
            for name in self.profile.user_classes
        }


# ---- the stack -------------------------------------------------------------------------------------------


def stack_problem(info: dict | None) -> str | None:
    """Why the stack that `info` describes cannot take load (None: it can)."""
    if info is None:
        return "no stack file"
    gone = [name for name, pid in (info.get("pids") or {}).items() if not pid_alive(pid)]
    if gone:
        return f"its processes are gone ({', '.join(gone)})"
    try:
        health = f"{targets.target_url(info, 'airflow')}/api/v2/monitor/health"
    except targets.TargetError as exc:
        return str(exc)
    return None if answers(health, timeout=5) else f"Airflow does not answer at {health}"


def ensure_stack(stack_file: Path, echo: Echo = say) -> dict:
    """The stack file's targets; when the stack is not running, start it by name (`python -m stack up`)."""
    info = targets.read_targets(stack_file) if stack_file.exists() else None
    if (problem := stack_problem(info)) is None:
        return watched(info, echo)
    command = [sys.executable, "-m", "stack", "--state-dir", str(stack_file.parent), "up"]
    echo(f"{stack_file}: {problem}; starting the stack: {shlex.join(command[1:])}")
    if subprocess.run(command, cwd=REPO_ROOT).returncode != 0:
        raise LoadError("the stack did not come up (its output is above); fix that, then run the load test again")
    info = targets.read_targets(stack_file)
    if (problem := stack_problem(info)) is not None:
        raise LoadError(f"the stack cannot take load: {problem}; restart it with `make down` and `make up`")
    echo("the stack keeps running after the load test; `make down` stops it")
    return watched(info, echo)


def watched(info: dict, echo: Echo) -> dict:
    """Say where to watch the platform while the load runs: the Operations page reads Prometheus."""
    if info.get("prometheus"):
        page = operations_url((info.get("airflow") or {}).get("url") or "")
        echo(f"watch it on the Operations page: {page} (Airflow UI login; charts from {info['prometheus']['url']})")
    return info


def wait_until_ready(stack_info: dict, user_classes: tuple[str, ...], echo: Echo = say) -> None:
    """Each targeted service answers /ready; with AirflowUser, the DAG is parsed and not paused."""
    services = {targets.USER_CLASSES[c].target for c in user_classes} - {"airflow"}
    if set(user_classes) & set(targets.REAL_PAYLOAD_USERS):
        services |= set(targets.REAL_SOURCES)
    checks = {name: _ready_check(f"{targets.target_url(stack_info, name)}/ready") for name in sorted(services)}
    if "AirflowUser" in user_classes:
        checks["airflow"] = lambda: _dag_problem(stack_info)
    told: set[str] = set()

    def all_ready() -> bool:
        for name, check in list(checks.items()):
            if (problem := check()) is None:
                checks.pop(name)
            elif name not in told:
                echo(f"waiting for {name}: {problem}")
                told.add(name)
        return not checks

    try:
        wait_until(all_ready, READY_TIMEOUT_S, 1.0, "the targets ready")
    except WaitTimeout:
        waiting = ", ".join(f"{name} ({check()})" for name, check in checks.items())
        raise LoadError(f"not ready after {READY_TIMEOUT_S:.0f} s: {waiting}") from None


def _ready_check(url: str) -> Callable[[], str | None]:
    return lambda: None if answers(url, timeout=5) else f"{url} is not ready"


def _dag_problem(stack_info: dict) -> str | None:
    base, airflow = targets.target_url(stack_info, "airflow"), stack_info.get("airflow") or {}
    try:
        login = requests.post(
            f"{base}/auth/token",
            json={"username": airflow.get("username"), "password": airflow.get("password")},
            timeout=10,
        )
        if not login.ok:
            return f"login answered {login.status_code}"
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        dag = requests.get(f"{base}/api/v2/dags/{targets.DAG_ID}", headers=headers, timeout=10)
    except (requests.RequestException, ValueError, KeyError) as exc:
        return f"no answer ({type(exc).__name__})"
    if dag.status_code == 404:
        return f"DAG {targets.DAG_ID} not parsed yet"
    if not dag.ok:
        return f"GET /api/v2/dags/{targets.DAG_ID} answered {dag.status_code}"
    return f"DAG {targets.DAG_ID} is paused: unpause it" if dag.json().get("is_paused") else None


# ---- Locust ----------------------------------------------------------------------------------------------


def locust_command(profile: Profile, report_dir: Path) -> list[str]:
    return [
        *(sys.executable, "-m", "locust", "-f", str(LOCUSTFILE.relative_to(REPO_ROOT))),
        *("--headless", "-u", str(profile.users), "-r", str(profile.spawn_rate), "-t", profile.run_time),
        *("--csv", str(report_dir / CSV_PREFIX), "--csv-full-history", "--html", str(report_dir / "report.html")),
        *("--stop-timeout", str(STOP_TIMEOUT_S), "--only-summary"),
        *("--exit-code-on-error", "0"),  # failures are judged here, against the thresholds
        *profile.user_classes,
    ]


def _progress(history: Path) -> str | None:
    """The newest aggregate row of the stats history: users, current rate, totals."""
    try:
        rows = [r for r in csv.DictReader(history.open(newline="")) if r.get("Name") == "Aggregated"]
        last = rows[-1]
        return (
            f"{last['User Count']} users, {float(last['Requests/s']):.1f} req/s now, "
            f"{last['Total Request Count']} requests, {last['Total Failure Count']} failures"
        )
    except (OSError, IndexError, KeyError, ValueError, csv.Error):
        return None


def _run_locust(command: list[str], env: dict, report_dir: Path, run_seconds: int, echo: Echo) -> int:
    log_path = report_dir / "locust.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        started, next_note, told_stop = time.monotonic(), PROGRESS_EVERY_S, False
        try:
            while process.poll() is None:
                elapsed = time.monotonic() - started
                if elapsed > run_seconds + STOP_TIMEOUT_S + SHUTDOWN_GRACE_S:
                    echo(f"locust still runs {STOP_TIMEOUT_S + SHUTDOWN_GRACE_S:.0f} s after its run time: stopping it")
                    process.terminate()  # Locust writes its reports on SIGTERM
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        process.wait(15)
                    process.kill()
                elif elapsed >= run_seconds + 2 and not told_stop:  # Locust starts its clock after ~2 s
                    echo(f"run time over: users finish the request or DAG run in flight (up to {STOP_TIMEOUT_S} s)")
                    told_stop = True
                elif elapsed >= next_note:
                    if note := _progress(report_dir / f"{CSV_PREFIX}_stats_history.csv"):
                        echo(f"  [{elapsed:4.0f} s] {note}")
                    next_note += PROGRESS_EVERY_S
                time.sleep(0.5)
        except BaseException:  # Ctrl-C: Locust got SIGINT too and writes its reports; wait for it a little
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(15)
            process.kill()
            raise
    return process.returncode


def _tail(path: Path, lines: int = 15) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def _new_report_dir(parent: Path, profile: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for suffix in ("", *(f"-{i}" for i in range(2, 100))):
        candidate = parent / f"{profile}-{stamp}{suffix}"
        with contextlib.suppress(FileExistsError):
            candidate.mkdir(parents=True)
            return candidate
    raise LoadError(f"cannot create a report folder under {parent}")


def measure(
    profile: str,
    stack_info: dict,
    *,
    users: int | None = None,
    run_time: str | None = None,
    user_classes: list[str] | None = None,
    reports_dir: Path | None = None,
    echo: Echo = say,
) -> LoadResult:
    """Run `profile` (overridden by `users` / `run_time` / `user_classes`) against `stack_info` (stack.json)."""
    chosen = get_profile(profile).with_overrides(users=users, run_time=run_time, user_classes=user_classes)
    if any(targets.USER_CLASSES[c].needs_songs for c in chosen.user_classes):
        root = targets.data_root(stack_info)
        if written := prepare_songs(root):
            echo(f"wrote {len(written)} load songs under {root / SONGS_DIR}")
    wait_until_ready(stack_info, chosen.user_classes, echo)
    report_dir = _new_report_dir(Path(reports_dir or REPORTS_DIR).resolve(), chosen.name)  # Locust runs elsewhere
    command = locust_command(chosen, report_dir)
    # The targets (with the API key and the Airflow password) go through a private temp file, not the reports.
    fd, targets_file = tempfile.mkstemp(prefix="hss-load-targets-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(stack_info, handle)
        env = {**os.environ, targets.STACK_FILE_ENV: targets_file, "PYTHONUNBUFFERED": "1"}
        if chosen.wait_time_s is not None:
            env[targets.WAIT_TIME_ENV] = ",".join(str(x) for x in chosen.wait_time_s)
        if chosen.throughput_per_user is not None:
            env[targets.THROUGHPUT_ENV] = str(chosen.throughput_per_user)
        echo(f"profile {chosen.name}: {chosen.users} users ({', '.join(chosen.user_classes)}) for {chosen.run_time}")
        echo(f"$ {shlex.join(['locust', *command[3:]])}")
        code = _run_locust(command, env, report_dir, chosen.run_seconds, echo)
    finally:
        os.unlink(targets_file)
    stats_csv, log_path = report_dir / f"{CSV_PREFIX}_stats.csv", report_dir / "locust.log"
    if not stats_csv.exists():
        raise LoadError(f"locust exited with code {code} without writing {stats_csv}:\n{_tail(log_path)}")
    if code:
        echo(f"locust exited with code {code}; the end of {log_path}:\n{_tail(log_path)}")
    stats = read_stats_csv(stats_csv)
    return LoadResult(chosen, stats, evaluate(chosen, stats), report_dir, code)


def print_result(result: LoadResult, echo: Echo = say) -> None:
    echo("")
    echo(format_table(result.stats))
    if failures := read_failures_csv(result.csv_file("failures")):
        echo("\nfailures (most frequent first):")
        for line in failures[:10]:
            echo(f"  {line}")
    echo(f"\nthresholds of profile {result.profile.name}:")
    for threshold in result.thresholds:
        echo(f"  {threshold}")
    echo(f"\nreports: {result.report_dir} (report.html, {CSV_PREFIX}_*.csv, locust.log)")
    missed = len(result.failed_thresholds)
    echo("load test PASSED" if result.passed else f"load test FAILED: {missed} threshold(s) missed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="default", help="a profile of load/profiles.toml (default: default)")
    parser.add_argument(
        "--stack-file", type=Path, default=targets.DEFAULT_STACK_FILE, help="default: .stack/stack.json"
    )
    parser.add_argument("--reports", type=Path, default=REPORTS_DIR, help="default: load/reports")
    parser.add_argument("--users", type=int, help="override the profile's users")
    parser.add_argument("--run-time", help="override the profile's run time (e.g. 30s, 2m)")
    parser.add_argument("--user-classes", help="override the profile's classes, comma-separated")
    parser.add_argument("--list", action="store_true", help="list the profiles and exit")
    args = parser.parse_args(argv)
    try:
        if args.list:
            for profile in load_profiles().values():
                classes = ", ".join(profile.user_classes)
                print(f"{profile.name:<12} {profile.users} users, {profile.run_time}, {classes}: {profile.description}")
            return 0
        classes = [c.strip() for c in args.user_classes.split(",")] if args.user_classes else None
        get_profile(args.profile).with_overrides(users=args.users, run_time=args.run_time, user_classes=classes)
        stack_info = ensure_stack(args.stack_file.resolve())
        result = measure(
            args.profile,
            stack_info,
            users=args.users,
            run_time=args.run_time,
            user_classes=classes,
            reports_dir=args.reports,
        )
    except (ProfileError, targets.TargetError, LoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print_result(result)
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
