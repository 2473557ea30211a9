"""A digest as an email: the headers around its rendered parts (worker.render), and its
Message-ID.

build_email renders the text and HTML parts from the one digest context and writes them as
multipart/alternative bytes (worker.mime) with From, To, Subject, Date, Message-ID, the list
headers of `[email]` (List-Id, List-Unsubscribe and its RFC 8058 one-click POST) and
Auto-Submitted; its HTML part is kept under the size at which Gmail clips it
(worker.clipping). A digest's Message-ID is made when its outbox row is written
(worker.building) and kept for every retry.
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path

from worker import clipping, mime
from worker.mime import Mail
from worker.plaintext import clean_line
from worker.render import DigestContext, render

DEFAULT_SENDER = "Paper Digest <paper-digest@localhost>"


def build_email(ctx: DigestContext, *, sender: str | None,
                templates_dir: Path | None = None, sent_at: datetime | None = None) -> Mail:
    """multipart/alternative (text, then HTML) with From/To/Subject/Date/Message-ID, as bytes
    with its envelope. `sent_at`: the Date, when it is sent (default: when it was made). The
    HTML part is kept under the size at which Gmail clips it (worker.clipping)."""
    return assemble_email(ctx, sender=sender, text=render(ctx, "txt", templates_dir),
                          html=render(ctx, "html", templates_dir), sent_at=sent_at,
                          templates_dir=templates_dir)


def build_message(ctx: DigestContext, *, sender: str | None,
                  templates_dir: Path | None = None) -> EmailMessage:
    """The email of `build_email` as an EmailMessage (parsed back from its bytes), for callers
    that want to look at its headers and parts."""
    return build_email(ctx, sender=sender, templates_dir=templates_dir).parse()


def assemble_email(ctx: DigestContext, *, sender: str | None, text: str, html: str,
                   sent_at: datetime | None = None, templates_dir: Path | None = None) -> Mail:
    """The email of `build_email` from its rendered text and HTML parts. Its Date is when it
    is sent: a digest retried hours after it was made, dated then, looks to spam filters like
    mail held back (SpamAssassin's DATE_IN_PAST_03_06 and later); Message-ID says it is one.
    An HTML part over clipping.HTML_BUDGET is rendered again from `templates_dir` (the one
    `html` came from) with papers compact (clipping.fitted_html)."""
    name, address = clean_line(ctx.subscriber_name), ctx.subscriber_email or ""
    headers = [("From", sender or DEFAULT_SENDER), ("To", mime.mailbox(name, address)),
               ("Subject", ctx.subject),
               ("Date", format_datetime(sent_at or ctx.created_at)),
               ("Message-ID", ctx.message_id),
               ("Auto-Submitted", "auto-generated"),
               ("X-Paper-Digest", f"{ctx.subscriber_id}; digest={ctx.digest_id}")]
    if ctx.list_id:
        headers.append(("List-Id", f"paper-digest <{ctx.list_id}>"))
    if ctx.unsubscribe:
        headers.append(("List-Unsubscribe", ", ".join(f"<{uri}>" for uri in ctx.unsubscribe)))
        if any(uri.startswith("https:") for uri in ctx.unsubscribe):  # RFC 8058 one-click
            headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    html_body = clipping.fitted_html(ctx, html, lambda cut: render(cut, "html", templates_dir))
    data = mime.alternative(headers, mime.quoted_printable(text), html_body, seed=ctx.message_id)
    recipients = (ctx.subscriber_email,) if ctx.subscriber_email else ()
    return Mail(data, recipients, mime.shown_mailbox(name, address))


def message_domain(sender: str | None) -> str:
    address = parseaddr(sender or DEFAULT_SENDER)[1]
    return address.rpartition("@")[2] or "localhost"


def message_id(unique: str, subscriber_id: str, sender: str | None) -> str:
    """`<digest.UNIQUE.SUBSCRIBER@DOMAIN>`, a msg-id of RFC 5322: its left part a dot-atom,
    which neither ends in a dot nor has two in a row. A subscriber id may (`zoe.`, from
    `zoe..toml`; `a..b`): empty parts are left out, as the id is there for a reader of the
    header and UNIQUE alone makes the Message-ID unique."""
    local = ".".join(part for part in f"digest.{unique}.{subscriber_id}".split(".") if part)
    return f"<{local}@{message_domain(sender)}>"
