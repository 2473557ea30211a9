"""The SMTP channel sends the message bytes made once (Rendered.email) with sendmail: a real
server on loopback must take in exactly what smtplib's send_message would have sent for the
message they are."""

from __future__ import annotations

import copy
import io
from email.generator import BytesGenerator
from email.message import EmailMessage
from functools import partial
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.integration.smtpserver import free_port
from tests.unit.test_render_golden import sample_digest
from worker.delivery.base import Rendered
from worker.delivery.smtp import SmtpChannel
from worker.digest_mail import build_email
from worker.mime import Mail
from worker.render import digest_context
from worker.smtp_settings import SmtpSettings

SENDER = "Paper Digest <digest@example.org>"


def _rendered(email: str, name: str = "Ada Lovelace") -> Rendered:
    ctx = digest_context(sample_digest(), name=name, email=email, profile_file=None)
    return Rendered(7, "ada", "stem", lambda: "", lambda: build_email(ctx, sender=SENDER))


def _as_send_message_flattens(message: EmailMessage) -> bytes:
    # smtplib.SMTP.send_message, for ASCII addresses: a copy, flattened by a BytesGenerator
    # with the message's own policy and CRLF line ends.
    with io.BytesIO() as out:
        BytesGenerator(out).flatten(copy.copy(message), linesep="\r\n")
        return out.getvalue()


class Raw:
    """Keeps each envelope and the message bytes as the server took them in."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos),
                              envelope.original_content))
        return "250 OK"


def _sent(*rendered: Rendered) -> list[tuple[str, list[str], bytes]]:
    raw, port = Raw(), free_port()
    controller = Controller(raw, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        channel = SmtpChannel(SmtpSettings(host="127.0.0.1", port=port, sender=SENDER))
        try:
            for one in rendered:
                assert channel.send(one) == one.email.to
        finally:
            channel.close()
    finally:
        controller.stop()
    return raw.received


@pytest.mark.parametrize("name", ["Ada Lovelace", "Zoë “Z” O'Brien, PhD"])
def test_bytes_sent_are_those_send_message_sends(name: str) -> None:
    rendered = _rendered("ada@example.org", name)
    ((sender, recipients, data),) = _sent(rendered)
    assert (sender, recipients) == ("digest@example.org", ["ada@example.org"])
    assert data == _as_send_message_flattens(rendered.email.parse())


def test_lines_starting_with_a_dot_arrive_whole() -> None:
    # A line of just "." would end the message early; one starting ".." would lose a dot.
    data = b"Subject: dots\r\n\r\n.\r\n..two\r\n.three.\r\nend."
    mails = [Mail(data, ("ada@example.org",), "ada@example.org"),
             Mail(b"Subject: next\r\n\r\nsecond\r\n", ("bob@example.org",), "bob@example.org")]
    received = _sent(*(Rendered(n, "x", "stem", lambda: "", partial(lambda m: m, mail))
                       for n, mail in enumerate(mails)))
    assert [r[2] for r in received] == [data + b"\r\n", mails[1].data]
