"""wait_until, the one poll loop; StackConfig, the one config object."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from stack.config import StackConfig
from stack.waiting import WaitTimeout, answers, wait_until


def test_wait_until_returns_the_first_truthy_value() -> None:
    calls = iter([None, 0, "", "ready"])
    assert wait_until(lambda: next(calls), timeout=5, interval=0.01) == "ready"


def test_wait_until_times_out_naming_what_it_waited_for_or_returns_the_last_value() -> None:
    started = time.monotonic()
    with pytest.raises(WaitTimeout, match=r"the moon not reached within 0\.2 s"):
        wait_until(lambda: False, timeout=0.2, interval=0.05, what="the moon")
    assert time.monotonic() - started < 1.0
    assert wait_until(lambda: [], timeout=0.05, interval=0.01, raise_on_timeout=False) == []


def test_wait_until_ticks_between_calls_and_takes_a_growing_interval() -> None:
    ticks, waited = [], []
    calls = iter([False, False, True])
    assert wait_until(lambda: next(calls), 5, lambda s: waited.append(s) or 0.01, on_tick=lambda: ticks.append(1))
    assert len(ticks) == 2 and len(waited) == 2 and waited[0] <= waited[1]


def test_answers_is_false_for_a_port_nobody_listens_on() -> None:
    assert answers("http://127.0.0.1:9/ready", timeout=1) is False


def test_stack_config_resolves_paths_and_refuses_no_worker(tmp_path: Path) -> None:
    config = StackConfig(state_dir=tmp_path / "." / "state", env_file=tmp_path / ".env")
    assert config.state_dir == (tmp_path / "state").resolve() and config.env_file == (tmp_path / ".env").resolve()
    assert config.with_changes(workers=3).workers == 3 and config.workers == 1
    with pytest.raises(ValueError, match="at least 1"):
        StackConfig(workers=0)
    login = StackConfig.from_env_values({"AIRFLOW_ADMIN_PASSWORD": "pw", "HSS_API_KEY": "k"}, profile="celery")
    assert (login.username, login.password, login.api_key, login.profile) == ("admin", "pw", "k", "celery")
