"""Start, health-check and stop local processes; every process logs to its own file.

Only processes started here are ever stopped here (each gets its own session, and the whole
session is signalled), so a user's other servers are never touched.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stack.port_claims import claim
from stack.waiting import WaitTimeout, answers, wait_until


class LaunchError(RuntimeError):
    """A process died or did not become healthy; the message carries the tail of its log."""


# Ports handed out below the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768-60999 by default).
# A port from that range (what bind(0) returns) can become the source port of any outgoing connection between
# the pick and the server's bind — seen: three stacks starting at once, Flower's port taken by a connection to
# PostgreSQL ("Address already in use"). Below it only a listener can take a port, and stacks pick at random.
PICK_FLOOR = 20000
EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def ephemeral_ports_start() -> int | None:
    try:
        return int(EPHEMERAL_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None  # not Linux: bind(0) it is


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    """A port nobody listens on now (kind=socket.SOCK_DGRAM: a UDP one), below the ephemeral range when it
    leaves room for one, and that no other live process of this user has handed out (stack.port_claims)."""
    start = ephemeral_ports_start()
    if start is not None and start - PICK_FLOOR >= 1000:
        for port in random.sample(range(PICK_FLOOR, start), 50):
            if port_is_free(port, host, kind) and claim(port):
                return port
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def system_binary(name: str, purpose: str, install_hint: str) -> str:
    """The path of a Debian-packaged command; /usr/sbin and /sbin are searched too (a user's PATH may lack them)."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if not found:
        raise LaunchError(f"{name} not found ({purpose}): {install_hint}")
    return found


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class ManagedProcess:
    name: str
    argv: Sequence[str]
    log_path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    health_url: str | None = None
    stop_signal: int = signal.SIGTERM  # PostgreSQL: SIGINT (fast shutdown; SIGTERM waits for every client)
    popen: subprocess.Popen | None = None
    probe: Callable[[], bool] | None = None  # "is it serving?" beyond health_url (set by whoever starts it)
    # compose's `restart:` — "unless-stopped": the supervisor (supervisor.py) restarts it when it dies;
    # "no": a one-shot (airflow-init). stop() marks it stopped on purpose, as `docker compose stop` does.
    restart: str = "unless-stopped"
    stopped: bool = False
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def start(self) -> ManagedProcess:
        with self.lock:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            log = self.log_path.open("ab")
            self.popen = subprocess.Popen(
                list(self.argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env},
                cwd=self.cwd,
                start_new_session=True,  # its own process group: stop() ends it and its children only
            )
            log.close()
            self.stopped = False
        return self

    @property
    def exit_code(self) -> int | None:
        """None while it runs (or before it started); a negative code is the signal that ended it."""
        return self.popen.poll() if self.popen else None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            code = self.popen.returncode if self.popen else None
            raise LaunchError(
                f"{self.name} exited (code {code}); last lines of {self.log_path}:\n{tail(self.log_path)}"
            )

    def wait_healthy(self, timeout: float, probe: Callable[[], bool] | None = None) -> float:
        """Block until `probe()` (default: GET health_url answers 2xx); return the seconds it took."""
        started = time.monotonic()
        check = probe or self.probe or self._http_ok

        def healthy() -> bool:
            self.check_alive()
            return check()

        try:
            wait_until(healthy, timeout, 0.2, f"{self.name} healthy")
        except WaitTimeout:
            raise LaunchError(
                f"{self.name} not healthy after {timeout:.0f} s ({self.health_url}); "
                f"last lines of {self.log_path}:\n{tail(self.log_path)}"
            ) from None
        return time.monotonic() - started

    def _http_ok(self) -> bool:
        return answers(self.health_url, timeout=2) if self.health_url else self.alive()

    def stop(self, grace: float = 15.0) -> None:
        """Signal the process group (stop_signal), SIGKILL whatever is left after `grace` seconds.

        A stop is on purpose: the supervisor leaves the process down until start()."""
        with self.lock:
            self.stopped = True
            self._stop(grace)

    def _stop(self, grace: float) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        pgid = self.popen.pid  # it leads its own group (start_new_session)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, self.stop_signal)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(grace)
        with contextlib.suppress(ProcessLookupError):  # children (pool workers, forks) may outlive the leader
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)

    def kill(self) -> None:
        """SIGKILL the whole process group at once (a crash, not a shutdown) and reap the leader.

        Not a stop: the supervisor restarts it, as compose's restart policy restarts a crashed container."""
        with self.lock:
            if self.popen is None or self.popen.poll() is not None:
                return
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(10)


class ProcessGroup:
    """Processes started in order and stopped in reverse order (also on errors: use as a context)."""

    def __init__(self) -> None:
        self.processes: list[ManagedProcess] = []

    def start(self, process: ManagedProcess) -> ManagedProcess:
        self.processes.append(process.start())
        return process

    def get(self, name: str) -> ManagedProcess:
        for process in self.processes:
            if process.name == name:
                return process
        raise KeyError(name)

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop_all()
