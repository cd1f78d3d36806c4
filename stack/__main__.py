"""`make up` / `make down` / `make status`: the full stack in the background, like `docker compose up -d`.

    python -m stack [--state-dir DIR] [--env-file FILE] [--workers N] [--audio-replicas N] up|down|status

up, down, status: see stack/commands.py. serve (internal): the local backend's launcher (stack/serve.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stack.commands import cmd_down, cmd_status, cmd_up
from stack.config import StackConfig
from stack.paths import ENV_FILE, STATE_DIR


def parse_args(argv: list[str] | None = None) -> tuple[str, StackConfig]:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("up", "down", "status", "serve"))
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR, help="default: .stack/ in the repo")
    parser.add_argument("--env-file", type=Path, default=ENV_FILE, help="default: .env in the repo")
    parser.add_argument("--workers", type=int, default=1, help="Celery workers (make up WORKERS=N); default 1")
    parser.add_argument(
        "--audio-replicas",
        type=int,
        default=1,
        help="workflow-audio replicas behind its balancer (make up AUDIO_REPLICAS=N); default 1",
    )
    args = parser.parse_args(argv)
    for flag, value in (("--workers", args.workers), ("--audio-replicas", args.audio_replicas)):
        if value < 1:
            parser.error(f"{flag} must be at least 1, got {value}")
    config = StackConfig(
        profile="celery",
        workers=args.workers,
        audio_replicas=args.audio_replicas,
        state_dir=args.state_dir,
        env_file=args.env_file,
    )
    return args.command, config


def main(argv: list[str] | None = None) -> int:
    command, config = parse_args(argv)
    if command == "serve":
        from stack.serve import serve  # the launcher alone builds a LocalStack in this process

        return serve(config)
    return {"up": cmd_up, "down": cmd_down, "status": cmd_status}[command](config)


if __name__ == "__main__":
    sys.exit(main())
