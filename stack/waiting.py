"""One way to wait: `wait_until(predicate, timeout, interval, what)`, and `answers(url)` for "does it serve?".

    wait_until(lambda: answers(f"{url}/ready"), timeout=60, what="workflow-audio /ready")
    info = wait_until(lambda: read_stack_file(path), timeout=30, what="stack.json")   # the truthy value

The predicate is called at once, then every `interval` seconds (or `interval(seconds waited so far)`) until
it returns something truthy (returned) or `timeout` seconds have passed (WaitTimeout, or the last value with
`raise_on_timeout=False`). `on_tick` runs after every unsuccessful call (e.g. echo a log). Exceptions of the
predicate propagate: catch inside it what means "not yet".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import requests

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """`what` did not happen within the timeout."""


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    interval: float | Callable[[float], float] = 0.5,
    what: str = "the condition",
    *,
    raise_on_timeout: bool = True,
    on_tick: Callable[[], object] | None = None,
) -> T:
    started = time.monotonic()
    deadline = started + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            if raise_on_timeout:
                raise WaitTimeout(f"{what} not reached within {timeout:g} s")
            return value
        if on_tick is not None:
            on_tick()
        pause = interval(time.monotonic() - started) if callable(interval) else interval
        time.sleep(max(0.0, min(pause, deadline - time.monotonic())))


def try_get(url: str, timeout: float = 3.0, **kwargs: object) -> requests.Response | requests.RequestException:
    """GET `url`: the response, or the exception when it does not answer at all (not raised)."""
    try:
        return requests.get(url, timeout=timeout, **kwargs)  # type: ignore[arg-type]
    except requests.RequestException as exc:
        return exc


def answers(url: str, timeout: float = 3.0, **kwargs: object) -> bool:
    """Whether GET `url` answers 2xx."""
    response = try_get(url, timeout, **kwargs)
    return isinstance(response, requests.Response) and response.ok
