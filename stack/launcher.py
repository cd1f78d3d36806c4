"""The local backend's detached launcher: `make up` spawns `python -m stack serve` in a session of its own,
echoes its log until stack.json names it, and returns; `make down` SIGTERMs it (it stops its stack).

    code = launch_detached(config)      # 0 up (access lines printed), 1 failed (log tail printed), 130 Ctrl-C
    code = stop_launcher(state_dir, info)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from stack.config import StackConfig
from stack.log_follow import LogFollower
from stack.paths import ENV_FILE, LAUNCHER_LOG_NAME, LAUNCHER_PID_NAME, LOGS_DIR_NAME, REPO_ROOT, STACK_FILE_NAME
from stack.process_control import DOWN_TIMEOUT, kill_leftover_groups, read_pid_file, terminate
from stack.processes import tail
from stack.stack_file import live_pids, pid_alive, print_access, read_stack_file, say
from stack.waiting import wait_until

UP_TIMEOUT = 1200.0  # the launcher's own timeouts fire first; this only catches a hung launcher
LOG_TAIL_LINES = 40


def launcher_log(state_dir: Path) -> Path:
    return state_dir / LOGS_DIR_NAME / LAUNCHER_LOG_NAME


def launcher_argv(config: StackConfig) -> list[str]:
    """`python -m stack serve` with this config's state folder, env file, workers and audio replicas."""
    return [
        *(sys.executable, "-m", "stack", "--state-dir", str(config.state_dir)),
        *("--env-file", str(config.env_file or ENV_FILE), "--workers", str(config.workers)),
        *("--audio-replicas", str(config.audio_replicas), "serve"),
    ]


def wait_for_launcher(
    launcher: subprocess.Popen, stack_file: Path, follower: LogFollower, timeout: float
) -> dict | None:
    """Echo the launcher's log until stack.json names it (→ the info) or it exits (→ None)."""

    def named_or_exited() -> dict | bool:
        follower.echo()
        info = read_stack_file(stack_file)
        if info is not None and info.get("launcher_pid") == launcher.pid:  # LocalStack writes it once all is up
            return info
        return launcher.poll() is not None

    outcome = wait_until(named_or_exited, timeout, 0.2, "the launcher's stack", raise_on_timeout=False)
    if isinstance(outcome, dict):
        return outcome
    follower.echo()
    if not outcome:
        say(f"the stack is not up after {timeout:.0f} s: stopping the launcher")
        terminate(launcher.pid, follower)
    return None


def launch_detached(config: StackConfig, argv: list[str] | None = None, timeout: float = UP_TIMEOUT) -> int:
    """Spawn the detached launcher and wait until its stack is up (0) or it gave up (1, with its log tail)."""
    state_dir, env_file = config.state_dir, config.env_file or ENV_FILE
    stack_file, log_path = state_dir / STACK_FILE_NAME, launcher_log(state_dir)
    info = read_stack_file(stack_file)
    if info is not None:
        if live_pids(info):
            say(f"already up ({stack_file}):")
            print_access(info, stack_file, env_file)
            return 0
        stack_file.unlink()
        say(f"removed a stale {stack_file} (its processes are gone)")
    if pid_alive(pid := read_pid_file(state_dir)):
        say(f"a stack is starting (launcher pid {pid}); wait for it, or stop it with: make down")
        return 1
    log_path.parent.mkdir(parents=True, exist_ok=True)
    follower = LogFollower(log_path)
    with log_path.open("ab") as log:
        launcher = subprocess.Popen(
            argv or launcher_argv(config),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,  # survives this terminal; Ctrl-C here is forwarded as SIGTERM below
        )
    (state_dir / LAUNCHER_PID_NAME).write_text(f"{launcher.pid}\n")
    say(f"starting the local stack (launcher pid {launcher.pid}, log {log_path})…")
    try:
        info = wait_for_launcher(launcher, stack_file, follower, timeout)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave half a stack
        say("interrupted: stopping the launcher and what it started…")
        terminate(launcher.pid, follower)
        return 130
    if info is None:
        code = launcher.poll()
        say(f"the launcher exited with code {code}; last lines of {log_path}:")
        say(tail(log_path, LOG_TAIL_LINES))
        say("fix the cause above and run make up again (make down cleans up anything left).")
        return 1
    print_access(info, stack_file, env_file)
    return 0


def launcher_starting(state_dir: Path) -> bool:
    """A launcher still starting its stack (stack.json comes at the end)."""
    return pid_alive(read_pid_file(state_dir))


def stop_launcher(state_dir: Path, info: dict, timeout: float = DOWN_TIMEOUT) -> int:
    """SIGTERM the launcher, wait (echoing its log), then SIGKILL any process group stack.json names that is left."""
    launcher = info.get("launcher_pid") or read_pid_file(state_dir)
    follower = LogFollower(launcher_log(state_dir))
    if pid_alive(launcher):
        say(f"stopping the stack (SIGTERM to launcher {launcher}; up to {timeout:.0f} s)…")
        terminate(launcher, follower, timeout)
    if killed := kill_leftover_groups(info.get("pids") or {}):
        say(f"killed what survived the stop (SIGKILL): {', '.join(killed)}")
    (state_dir / STACK_FILE_NAME).unlink(missing_ok=True)
    (state_dir / LAUNCHER_PID_NAME).unlink(missing_ok=True)
    say("stack stopped; make up starts it again.")
    return 0
