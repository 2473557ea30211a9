"""Email over a real SMTP server on loopback: the message, escaping, and retry after refusal."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import create_engine, select

from tests.integration.helpers import add_seed_day, make_config, run_cli
from tests.integration.smtpserver import Handler, free_port, smtp_server
from worker.store.schema import digests

SUB = """
name = "Ada Lovelace"
email = "ada@example.org"
deliver = ["email"]
max_items = 50
min_score = 0.01
[interests]
keywords = ["segmentation", "<script>"]
"""
BOB = SUB.replace("ada@", "bob@").replace("Ada Lovelace", "Bob")
HOSTILE = ("new\n\nMar 14\n\n<script>alert(1)</script> Segmentation \"><img src=x onerror=alert(2)>"
           "\n\nWe study <b>segmentation</b> & stuff.\n")


def _parts(message: EmailMessage) -> tuple[str, str]:
    assert message.get_content_type() == "multipart/alternative"
    plain, html = message.iter_parts()
    assert plain.get_content_type() == "text/plain"  # text first, HTML last: preferred
    assert html.get_content_type() == "text/html"
    return plain.get_content(), html.get_content()  # type: ignore[attr-defined]


def test_email_arrives_whole_and_escaped(tmp_path: Path, seeds_dir: Path,
                                         sqlite_url: str) -> None:
    with smtp_server() as (handler, port):
        config = make_config(tmp_path, sqlite_url, {"ada": SUB}, smtp_port=port)
        add_seed_day(tmp_path, seeds_dir, "2026-03-14")
        (tmp_path / "dumps" / "hostile.txt").write_text(HOSTILE, encoding="utf-8")
        result = run_cli(config, "run", "--now", "2026-03-14T20:00:00+00:00")
        assert result.exit_code == 0, result.output
    (message,) = handler.messages
    assert handler.envelopes == [("digest@example.org", ["ada@example.org"])]
    assert message["From"] == "Paper Digest <digest@example.org>"
    assert message["To"] == "Ada Lovelace <ada@example.org>"
    assert message["Subject"].startswith("Paper digest for Ada Lovelace: ")
    assert message["Date"] and message["Message-ID"].startswith("<digest.")
    assert message["Message-ID"].endswith(".ada@example.org>")
    plain, html = _parts(message)
    # Dump text reaches the HTML only as text: every tag from it is escaped (the keyword
    # "<script>" is highlighted inside the escaped text, with <mark> tags of our own).
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    assert "&gt;alert(1)&lt;/" in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "&lt;b&gt;" in html
    assert "<script>alert(1)</script>" in plain  # plain text shows it as text
    assert all(len(line) <= 72 for line in plain.splitlines() if " " in line.strip())
    with create_engine(sqlite_url).connect() as conn:
        stored = conn.execute(select(digests.c.message_id)).scalar_one()
    assert stored == message["Message-ID"]


def test_refused_then_accepted_sends_once_with_same_message_id(
        tmp_path: Path, seeds_dir: Path, sqlite_url: str) -> None:
    """A relay that cannot be reached is no digest's fault: the digests wait, their attempts
    not counted, however many runs it takes (it used to count one a run, so a relay down
    for longer than `max_attempts` made every digest failed, not sent again without
    `retry`); the first run that reaches it sends each once, with its Message-ID."""
    port = free_port()  # nothing listens yet: connection refused
    limit = "[delivery]\nmax_attempts = 2\n"
    config = make_config(tmp_path, sqlite_url, {"ada": SUB, "bob": BOB}, smtp_port=port,
                         extra=limit)
    add_seed_day(tmp_path, seeds_dir, "2026-03-14")
    for minute in range(3):
        down = run_cli(config, "run", "--now", f"2026-03-14T20:0{minute}:00+00:00")
        assert down.exit_code == 3
        assert down.output.count(f"NOT SENT (will retry) SMTP 127.0.0.1:{port} cannot be "
                                 "reached: ") == 2, down.output
    status = run_cli(config, "status")
    assert "1 pending, 0 failed" in status.output and "0 attempts" in status.output, \
        status.output
    with smtp_server(Handler()) as (handler, live_port):
        assert live_port != port
        config = make_config(tmp_path, sqlite_url, {"ada": SUB, "bob": BOB},
                             smtp_port=live_port, extra=limit)
        up = run_cli(config, "run", "--now", "2026-03-14T20:01:00+00:00")
        assert up.exit_code == 0, up.output
        again = run_cli(config, "run", "--now", "2026-03-14T20:02:00+00:00")
        assert again.exit_code == 0
    with create_engine(sqlite_url).connect() as conn:
        stored = conn.execute(select(digests.c.message_id)).scalars().all()
    assert len(stored) == 2 and sorted(m["Message-ID"] for m in handler.messages) == sorted(stored)
    assert "ada: nothing new" in again.output


def test_permanent_refusal_marks_failed_and_spares_others(
        tmp_path: Path, seeds_dir: Path, sqlite_url: str) -> None:
    handler = Handler(refuse={"ada@example.org": "550 5.1.1 No such user"})
    with smtp_server(handler) as (handler, port):
        config = make_config(tmp_path, sqlite_url, {
            "ada": SUB, "bob": SUB.replace("ada@", "bob@").replace("Ada Lovelace", "Bob")},
            smtp_port=port)
        add_seed_day(tmp_path, seeds_dir, "2026-03-14")
        result = run_cli(config, "run", "--now", "2026-03-14T20:00:00+00:00")
    assert result.exit_code == 3
    assert "FAILED ada@example.org refused: 550 5.1.1 No such user" in result.output \
        or ("FAILED" in result.output and "550 5.1.1 No such user" in result.output)
    assert [m["To"] for m in handler.messages] == ["Bob <bob@example.org>"]
    assert handler.connections == 1  # one SMTP session for the whole run, refusal included
    status = run_cli(config, "status")
    assert "ada: last digest sent never; 0 pending, 1 failed" in status.output
    assert "550 5.1.1 No such user" in status.output


def test_retry_puts_failed_back_and_next_run_sends(tmp_path: Path, seeds_dir: Path,
                                                   sqlite_url: str) -> None:
    handler = Handler(refuse={"ada@example.org": "550 5.1.1 No such user"})
    with smtp_server(handler) as (handler, port):
        bob = SUB.replace("Ada Lovelace", "Bob").replace("ada@", "bob@")
        config = make_config(tmp_path, sqlite_url, {"ada": SUB, "bob": bob}, smtp_port=port)
        add_seed_day(tmp_path, seeds_dir, "2026-03-14")
        assert run_cli(config, "run", "--now", "2026-03-14T20:00:00+00:00").exit_code == 3
        handler.refuse.clear()  # the mailbox was fixed
        assert run_cli(config, "run", "--now", "2026-03-14T20:05:00+00:00").exit_code == 0
        assert len(handler.messages) == 1  # bob's; ada's failed stays failed until a retry
        retried = run_cli(config, "retry", "ada", "--now", "2026-03-14T20:06:00+00:00")
        assert "1 failed delivery of ada back to pending" in retried.output
        again = run_cli(config, "run", "--now", "2026-03-14T20:07:00+00:00")
        assert again.exit_code == 0
    assert [m["To"] for m in handler.messages][1:] == ["Ada Lovelace <ada@example.org>"]
    # The summary says whose earlier digest went out, under its own subscriber.
    digests = again.output.split("Digests:\n", 1)[1].splitlines()
    assert digests[:3] == ["  ada: nothing new",
                           "    earlier digest: email -> Ada Lovelace <ada@example.org>",
                           "  bob: nothing new"]
    assert run_cli(config, "retry", "nobody").exit_code == 2


def test_a_dry_run_says_whom_it_would_mail_via_which_relay_and_connects_to_none(
        tmp_path: Path, seeds_dir: Path, sqlite_url: str) -> None:
    with smtp_server() as (handler, port):
        config = make_config(tmp_path, sqlite_url, {"ada": SUB}, smtp_port=port)
        add_seed_day(tmp_path, seeds_dir, "2026-03-14")
        result = run_cli(config, "run", "--dry-run", "--now", "2026-03-14T20:00:00+00:00")
        assert result.exit_code == 0, result.output
    assert f"would send to Ada Lovelace <ada@example.org> via 127.0.0.1:{port}" in result.output
    assert handler.connections == 0 and handler.messages == []


def test_run_due_names_the_digests_it_leaves_for_their_retry_time(
        tmp_path: Path, seeds_dir: Path, sqlite_url: str) -> None:
    """`run --due` keeps a held digest's back-off: before its retry time it is not tried, and
    the run said "nothing new" and nothing of the email still pending (`run` had said NOT
    SENT); it now says it leaves it, until when and why."""
    port = free_port()  # nothing listens: connection refused
    config = make_config(tmp_path, sqlite_url, {"ada": SUB}, smtp_port=port)
    add_seed_day(tmp_path, seeds_dir, "2026-03-14")
    down = run_cli(config, "run", "--now", "2026-03-14T20:00:00+00:00")
    assert down.exit_code == 3, down.output
    due = run_cli(config, "run", "--due", "--now", "2026-03-14T20:01:00+00:00")
    assert due.exit_code == 0, due.output
    assert ("(1 earlier digest pending, not tried before its retry time: the first, ada's "
            f"email, after 2026-03-14 20:02 UTC: SMTP 127.0.0.1:{port} cannot be reached: "
            in due.output), due.output
    later = run_cli(config, "run", "--due", "--now", "2026-03-14T20:03:00+00:00")
    assert "earlier digest pending" not in later.output, later.output  # tried: said as such
