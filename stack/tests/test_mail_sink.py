"""The stacks' SMTP sink (docker/mail_sink.py) is bounded: a message over the size limit and any message once the
folder holds the maximum are refused with SMTP errors, so a flood cannot fill the disk."""

from __future__ import annotations

import smtplib
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest

from stack.mail import MAIL_SINK, smtp_answers
from stack.processes import free_port
from stack.waiting import wait_until


def message(body: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "airflow@hss.invalid", "ops@hss.invalid", "test"
    mail.set_content(body)
    return mail


def test_the_sink_refuses_oversized_messages_and_stops_at_its_message_limit(tmp_path: Path) -> None:
    port = free_port()
    argv = [sys.executable, str(MAIL_SINK), "--dir", str(tmp_path / "mail"), "--port", str(port)]
    sink = subprocess.Popen([*argv, "--max-bytes", "4096", "--max-messages", "2"], stdout=subprocess.DEVNULL)
    try:

        def answering() -> bool:
            assert sink.poll() is None, "the sink exited"
            return smtp_answers("127.0.0.1", port)

        wait_until(answering, 30, 0.1, "the sink answering")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            with pytest.raises(smtplib.SMTPException) as too_big:
                smtp.send_message(message("x" * 10_000))
            assert "552" in str(too_big.value) or "size" in str(too_big.value).lower()
        for _ in range(2):
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
                smtp.send_message(message("an alert"))
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp, pytest.raises(smtplib.SMTPDataError) as full:
            smtp.send_message(message("one more"))
        assert full.value.smtp_code == 452
        assert len(list((tmp_path / "mail").glob("*.eml"))) == 2
    finally:
        sink.terminate()
        sink.wait(10)
