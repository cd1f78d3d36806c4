"""What the execution API costs on this machine, read from the api-server's access log.

A task's in-task overhead is mostly its supervisor's requests to the api-server, one after another: the start
(`PATCH …/run`), one XCom read per upstream, the rendered fields, the XCom write (the final state comes after
the task's end_date). Their server-side medians, measured during the same runs, say how much of the overhead
is this machine's speed per request rather than the number of requests: the same code measured 0.41-0.50 s
on a machine that answered an XCom read in 6 ms and 0.75-0.8 s on one that took 12 ms (2026-12-07).
`window_seconds` adds up the part of the in-task overhead the api-server itself spent on the path's tasks.
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import unquote

from load.bench.airflow_runs import TaskTiming
from load.bench.report import Figure
from stack.base import Stack

# 2026-12-07T13:01:32.304641Z [info     ] request finished   [http.access] client_addr=127.0.0.1:52920 \
# duration_us=36326 loc=http_access_log.py:130 method=PATCH path=/execution/task-instances/01a2…/run query= …
REQUEST_FINISHED = re.compile(
    r"^(\S+Z) .*\brequest finished\b.*\bduration_us=(\d+)\b.*\bmethod=([A-Z]+) path=/execution/(\S+)", re.MULTILINE
)
KINDS = (  # (method, path under /execution/) → what the task's supervisor asked for, in a task's order
    ("PATCH", re.compile(r"task-instances/[^/]+/run$"), "start"),
    ("PUT", re.compile(r"task-instances/[^/]+/heartbeat$"), "heartbeat"),
    ("GET", re.compile(r"xcoms/"), "XCom read"),
    ("PUT", re.compile(r"task-instances/[^/]+/rtif$"), "rendered fields"),
    ("POST", re.compile(r"xcoms/"), "XCom write"),
    ("PATCH", re.compile(r"task-instances/[^/]+/state$"), "final state"),
)
OTHER = "other"
TI_PATH = re.compile(r"^task-instances/([^/]+)/")
XCOM_PATH = re.compile(r"^xcoms/[^/]+/([^/]+)/([^/]+)/")  # xcoms/<dag_id>/<run_id>/<task_id>/<key>


def kind_of(method: str, path: str) -> str:
    for kind_method, pattern, kind in KINDS:
        if method == kind_method and pattern.search(path):
            return kind
    return OTHER


@dataclass(frozen=True)
class Request:
    """One execution-API request as the api-server logged it: when it finished, its server-side seconds."""

    finished: datetime
    seconds: float
    method: str
    path: str  # under /execution/, percent-decoded

    @property
    def started(self) -> datetime:
        return self.finished - timedelta(seconds=self.seconds)

    @property
    def kind(self) -> str:
        return kind_of(self.method, self.path)

    def is_of(self, task: TaskTiming, run_id: str) -> bool:
        """Whether `task` (of run `run_id`) made this request: its own TI id, its XCom write, or an XCom read in
        its run (a task on the critical path is the only one of its run running then; the window decides)."""
        if ti := TI_PATH.match(self.path):
            return ti.group(1) == task.ti_id
        if xcom := XCOM_PATH.match(self.path):
            return xcom.group(1) == run_id and (self.method == "GET" or xcom.group(2) == task.task_id)
        return False


def parse_requests(api_log: str) -> list[Request]:
    """Every execution-API request in the api-server's log (3.11's fromisoformat reads the "Z")."""
    return [
        Request(datetime.fromisoformat(stamp), int(duration_us) / 1e6, method, unquote(path))
        for stamp, duration_us, method, path in REQUEST_FINISHED.findall(api_log)
    ]


def execution_requests(requests: Iterable[Request], since: datetime, until: datetime) -> dict[str, list[float]]:
    """Kind of request → the server-side durations (s) of the execution-API requests finished in [since, until]."""
    found: dict[str, list[float]] = defaultdict(list)
    for request in requests:
        if since <= request.finished <= until:
            found[request.kind].append(request.seconds)
    return dict(found)


def window_seconds(requests: list[Request], run_id: str, tasks: Iterable[TaskTiming]) -> dict[str, float]:
    """Kind → the api-server's seconds on the tasks' own requests inside each task's start→end (the part of a
    request that overlaps it: the start is inside, the final state mostly after the end_date)."""
    spent: dict[str, float] = defaultdict(float)
    for task in tasks:
        if task.start is None or task.end is None:
            continue
        for request in (r for r in requests if r.is_of(task, run_id)):
            overlap = (min(request.finished, task.end) - max(request.started, task.start)).total_seconds()
            if overlap > 0:
                spent[request.kind] += overlap
    return dict(spent)


def window_figure(label: str, per_run: list[dict[str, float]], in_task: float) -> Figure | None:
    """The median per run of `window_seconds`, beside the in-task overhead it is part of; None without requests."""
    totals = [sum(run.values()) for run in per_run]
    if not per_run or not any(totals):
        return None
    order = [kind for _, _, kind in KINDS] + [OTHER]
    kinds = ", ".join(
        f"{kind} {statistics.median(run.get(kind, 0.0) for run in per_run):.3f} s"
        for kind in order
        if any(kind in run for run in per_run)
    )
    total = statistics.median(totals)
    return Figure(
        f"{label} in-task overhead: the api-server's time",
        total,
        "s",
        note=(
            f"{total / in_task:.0%} of the in-task overhead ({in_task:.3f} s): the server-side time of the path's "
            f"tasks' own execution-API requests within their start→end, median per run; by kind: {kinds}. The rest "
            "is the task processes and their supervisors (start-up, DAG parse, the operator, the messages between them)"
        ),
    )


def request_figure(label: str, found: dict[str, list[float]], tasks: int) -> Figure | None:
    """The median execution-API request (ms), with each kind's median and count per task; None without requests."""
    every = [d for durations in found.values() for d in durations]
    if not every or tasks <= 0:
        return None
    order = [kind for _, _, kind in KINDS] + [OTHER]
    kinds = ", ".join(
        f"{kind} {statistics.median(found[kind]) * 1000:.1f} ms ({len(found[kind]) / tasks:.2g} per task)"
        for kind in order
        if kind in found
    )
    return Figure(
        f"{label} execution-API request (median)",
        statistics.median(every) * 1000,
        "ms",
        note=(
            f"server side, from the api-server's access log: {len(every) / tasks:.1f} requests per task over "
            f"{tasks} tasks; per kind the median: {kinds}"
        ),
    )


def api_server_log(stack: Stack) -> str | None:
    """The api-server's log of `stack`, None for a stack that keeps none of its own."""
    try:
        return stack.logs("api-server")
    except KeyError:
        return None
