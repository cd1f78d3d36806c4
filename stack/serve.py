"""`python -m stack serve` (internal): the local backend's launcher. Builds LocalStack (profile "celery") from
.env, brings it up, blocks until SIGTERM/SIGINT (`make down`), then stops it."""

from __future__ import annotations

import os
import signal
import traceback

from stack.config import StackConfig
from stack.env_file import read_env_file
from stack.local_stack import LocalStack
from stack.paths import ENV_FILE, LAUNCHER_PID_NAME
from stack.process_control import read_pid_file
from stack.stack_file import say


class StopRequested(BaseException):
    """SIGTERM/SIGINT reached the launcher (BaseException: no `except Exception` may swallow it)."""


def request_stop(signum: int, _frame: object) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):  # one stop is enough: later signals must not cut down() short
        signal.signal(sig, signal.SIG_IGN)
    raise StopRequested(signal.Signals(signum).name)


def serve(config: StackConfig) -> int:
    env_file = config.env_file or ENV_FILE
    values = read_env_file(env_file) if env_file.exists() else {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, request_stop)
    code = 0
    try:
        # .env's login and keys: models trained by any stack on this data root (docker, make demo) load here too
        config = StackConfig.from_env_values(
            values,
            profile="celery",
            workers=config.workers,
            audio_replicas=config.audio_replicas,
            state_dir=config.state_dir,
            env_file=env_file,
        )
        stack = LocalStack(config, progress=say)
    except StopRequested:
        return 0
    except Exception as exc:
        say(f"cannot build the local Celery stack: {type(exc).__name__}: {exc}")
        return 1
    stack.extra_info.update({"backend": "local", "launcher_pid": os.getpid()})
    try:
        stack.up()
        say(f"launcher {os.getpid()} keeps the stack running until SIGTERM (make down)")
        while True:
            signal.pause()
    except StopRequested as stop:
        say(f"{stop} received: stopping the stack…")
    except Exception as exc:  # up() has already stopped what it started
        say(f"the stack did not come up: {type(exc).__name__}: {exc}")
        if not isinstance(exc, RuntimeError):
            traceback.print_exc()
        code = 1
    finally:
        stack.down()
        if read_pid_file(config.state_dir) == os.getpid():
            (config.state_dir / LAUNCHER_PID_NAME).unlink(missing_ok=True)
    return code
