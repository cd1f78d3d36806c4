"""The stack's SMTP sink (docker/mail_sink.py) and what reads its mail: started by the local stacks, a
compose service on docker; either way each message is one `.eml` file in the stack's `mail_dir`.
"""

from __future__ import annotations

import email
import html
import json
import re
import socket
import sys
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

from stack.paths import MAIL_SINK, REPO_ROOT
from stack.processes import ManagedProcess, ProcessGroup
from stack.services import pick_port

SMTP_PORT = 1025  # the sink's port when free (compose: inside the network)
SMTP_CONN_ENV = "AIRFLOW_CONN_SMTP_DEFAULT"  # hss_airflow.alerting sends through `smtp_default`


def smtp_connection_env(host: str, port: int) -> dict[str, str]:
    """Airflow's `smtp_default` pointed at a sink: no login, no TLS (a real relay sets both)."""
    conn = {
        "conn_type": "smtp",
        "host": host,
        "port": port,
        "extra": {"disable_tls": True, "disable_ssl": True, "timeout": 10, "retry_limit": 3},
    }
    return {SMTP_CONN_ENV: json.dumps(conn)}


def start_mail_sink(group: ProcessGroup, mail_dir: Path, log_dir: Path, *, fixed_ports: bool, timeout: float) -> int:
    """Start the sink on 127.0.0.1 and wait until it accepts connections; return its port."""
    port = pick_port(SMTP_PORT, fixed_ports)
    argv = [sys.executable, str(MAIL_SINK), "--dir", str(mail_dir), "--host", "127.0.0.1", "--port", str(port)]
    sink = group.start(ManagedProcess("mail-sink", argv, log_dir / "mail-sink.log", cwd=REPO_ROOT))
    sink.probe = lambda: smtp_answers("127.0.0.1", port)
    sink.wait_healthy(timeout)
    return port


def smtp_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            return sock.recv(64).startswith(b"220")
    except OSError:
        return False


def read_mails(mail_dir: Path) -> list[EmailMessage]:
    """Every message in `mail_dir`, oldest first (the sink's names sort by arrival)."""
    paths = sorted(Path(mail_dir).glob("*.eml"))
    return [email.message_from_bytes(p.read_bytes(), policy=default_policy) for p in paths]  # type: ignore[misc]


def mail_text(message: EmailMessage) -> str:
    """The subject and the body of a message as a person reads them (HTML tags dropped, entities decoded)."""
    body = message.get_body(preferencelist=("plain", "html"))
    content = body.get_content() if body is not None else ""
    if body is not None and body.get_content_subtype() == "html":
        content = html.unescape(re.sub(r"<[^>]+>", "", content))
    return f"{message['Subject']}\n{content}"
