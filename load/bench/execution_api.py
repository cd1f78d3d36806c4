"""What one execution-API request costs on this machine, read from the api-server's access log.

A task's in-task overhead is mostly its supervisor's requests to the api-server, one after another: the start
(`PATCH …/run`), one XCom read per upstream, the rendered fields, the XCom write (the final state comes after
the task's end_date). Their server-side medians, measured during the same runs, say how much of the overhead
is this machine's speed per request rather than the number of requests: the same code measured 0.41-0.50 s
on a machine that answered an XCom read in 6 ms and 0.75-0.8 s on one that took 12 ms (2026-12-07).
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from datetime import datetime

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


def kind_of(method: str, path: str) -> str:
    for kind_method, pattern, kind in KINDS:
        if method == kind_method and pattern.search(path):
            return kind
    return OTHER


def execution_requests(api_log: str, since: datetime, until: datetime) -> dict[str, list[float]]:
    """Kind of request → the server-side durations (s) of the execution-API requests finished in [since, until]."""
    found: dict[str, list[float]] = defaultdict(list)
    for stamp, duration_us, method, path in REQUEST_FINISHED.findall(api_log):
        if since <= datetime.fromisoformat(stamp) <= until:  # 3.11 reads the "Z"
            found[kind_of(method, path)].append(int(duration_us) / 1e6)
    return dict(found)


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


def measured_figure(stack: Stack, label: str, since: datetime, until: datetime, tasks: int) -> Figure | None:
    """`request_figure` for the requests `stack`'s api-server logged between since and until (None: no log)."""
    try:
        api_log = stack.logs("api-server")
    except KeyError:  # a stack that keeps no api-server log of its own
        return None
    return request_figure(label, execution_requests(api_log, since, until), tasks)
