"""The SMTP channel sends the message bytes made once (Rendered.email) with sendmail: they
must be what send_message would have sent for the message they are."""

from __future__ import annotations

import copy
import io
from email.generator import BytesGenerator
from email.message import EmailMessage
from typing import Any

import pytest

from tests.unit.test_render_golden import sample_digest
from worker.delivery.base import Rendered
from worker.delivery.smtp import SmtpChannel
from worker.render import build_email, digest_context
from worker.settings import SmtpSettings


def _rendered(email: str, name: str = "Ada Lovelace") -> Rendered:
    ctx = digest_context(sample_digest(), name=name, email=email, profile_file=None)
    return Rendered(7, "ada", "stem", lambda: "", lambda: build_email(
        ctx, sender="Paper Digest <digest@example.org>"))


def _as_send_message_flattens(message: EmailMessage) -> bytes:
    # smtplib.SMTP.send_message, for ASCII addresses: a copy, flattened by a BytesGenerator
    # with the message's own policy and CRLF line ends.
    with io.BytesIO() as out:
        BytesGenerator(out).flatten(copy.copy(message), linesep="\r\n")
        return out.getvalue()


class Recorder:
    """Stands in for smtplib.SMTP: what the channel asked it to send."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def sendmail(self, sender: str, recipients: list[str], data: bytes) -> dict[str, Any]:
        self.calls.append(("sendmail", (sender, recipients, data)))
        return {}



@pytest.mark.parametrize("name", ["Ada Lovelace", "Zoë “Z” O'Brien, PhD"])
def test_bytes_sent_are_those_send_message_sends(name: str) -> None:
    rendered = _rendered("ada@example.org", name)
    channel = SmtpChannel(SmtpSettings(host="127.0.0.1", port=1,
                                       sender="Paper Digest <digest@example.org>"))
    channel.conn = Recorder()  # type: ignore[assignment]
    channel.send(rendered)
    ((how, (sender, recipients, data)),) = channel.conn.calls  # type: ignore[attr-defined]
    assert (how, sender, recipients) == ("sendmail", "digest@example.org", ["ada@example.org"])
    assert data == _as_send_message_flattens(rendered.email.parse())
