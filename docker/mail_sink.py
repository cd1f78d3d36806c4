#!/usr/bin/env python3
"""The stacks' SMTP sink: every message it accepts becomes one .eml file in a folder (aiosmtpd).

    python docker/mail_sink.py --dir .stack/mail --port 1025      (the local stacks start it like this)
    hss-mail-sink --dir /app/mail --port 1025                     (the compose service `mail-sink`)

It stands where a real relay would be: Airflow's SMTP notifier sends to the connection `smtp_default`, and
pointing that connection at a real server is all a deployment changes. A file is written under a dot-name
and renamed into place, so a reader listing `*.eml` never sees half a message. Names sort by arrival.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import tempfile
import time
from functools import partial
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

# Bounds: an alert is a few KiB, and anything that reaches the port could otherwise fill the disk.
MAX_MESSAGE_BYTES = 1024 * 1024  # larger: 552 at DATA (aiosmtpd's data_size_limit)
MAX_MESSAGES = 1000  # .eml files in the folder; beyond: 452, until someone reads and removes them


class FolderDrop:
    """aiosmtpd handler: one file per message, in arrival order; refuses once the folder holds `max_messages`."""

    def __init__(self, folder: Path, max_messages: int = MAX_MESSAGES) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_messages = max_messages
        self._numbers = itertools.count(1)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # the name aiosmtpd calls
        held = sum(1 for _ in self.folder.glob("*.eml"))
        if held >= self.max_messages:
            print(f"refused a mail from {envelope.mail_from}: {held} messages held (limit {self.max_messages})")
            return f"452 4.3.1 Mailbox full: {held} messages held, limit {self.max_messages}"
        content = envelope.original_content or b""
        name = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}-{next(self._numbers):06d}.eml"
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{name}.", suffix=".tmp")
        try:
            os.fchmod(fd, 0o644)
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            os.replace(tmp, self.folder / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        print(f"mail from {envelope.mail_from} to {', '.join(envelope.rcpt_tos)} -> {name}", flush=True)
        return "250 Message accepted for delivery"


async def serve(
    folder: Path, host: str, port: int, max_bytes: int = MAX_MESSAGE_BYTES, max_messages: int = MAX_MESSAGES
) -> None:
    loop = asyncio.get_running_loop()
    factory = partial(SMTP, FolderDrop(folder, max_messages), data_size_limit=max_bytes, hostname="hss-mail-sink")
    server = await loop.create_server(factory, host=host, port=port)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"SMTP sink on {host}:{port}, writing to {folder}", flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, required=True, help="where each message is written as one .eml file")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=1025, help="SMTP port (default 1025)")
    parser.add_argument("--max-bytes", type=int, default=MAX_MESSAGE_BYTES, help="largest message accepted")
    parser.add_argument("--max-messages", type=int, default=MAX_MESSAGES, help="messages held before 452")
    args = parser.parse_args()
    asyncio.run(serve(args.dir.resolve(), args.host, args.port, args.max_bytes, args.max_messages))


if __name__ == "__main__":
    main()
