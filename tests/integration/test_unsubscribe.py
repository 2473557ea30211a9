"""One-click unsubscribe end to end: a real SMTP server receives digests whose List-Unsubscribe
names serve's own link; serve's HTTP port (a real server on loopback) takes the mail client's
one-click POST; the next runs leave the reader out until `resubscribe`. SQLite, and PostgreSQL
when configured."""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest

from tests.integration.helpers import add_seed_day, make_config, run_cli
from tests.integration.smtpserver import Handler, smtp_server
from worker.feedback import Desk, Links
from worker.statusserver import StatusServer
from worker.store.metrics import figures
from worker.store.opening import open_engine
from worker.store.subscriptions import unsubscribed

SECRET = "feedback-secret-for-tests"
ENV = {"PAPER_DIGEST_FEEDBACK_SECRET": SECRET}
NOW = datetime(2026, 3, 13, 9, tzinfo=UTC)
SUB = """
name = "{name}"
email = "{name}@example.org"
deliver = ["email"]
min_score = 0.0
[interests]
keywords = ["model", "language", "vision"]
"""
# The links say https, as a published one does (and RFC 8058 asks); the tests send them to
# the loopback server, which answers any path ending in /unsubscribe.
PUBLIC = "https://papers.example.org/digest"


@pytest.fixture
def served(database_url: str) -> Iterator[tuple[object, str]]:
    engine = open_engine(database_url)
    server = StatusServer("127.0.0.1", 0, lambda: (True, "ok"), lambda: "",
                          Desk(engine, SECRET, lambda: NOW, subscribed=lambda sid: True))
    server.start()
    yield engine, f"http://127.0.0.1:{server.port}/digest"
    server.stop()
    engine.dispose()


@pytest.fixture
def smtp() -> Iterator[tuple[Handler, int]]:
    with smtp_server() as running:
        yield running


def _config(tmp_path: Path, database_url: str, port: int, feedback: str = "") -> Path:
    return make_config(tmp_path, database_url, {n: SUB.format(name=n) for n in ("ada", "bob")},
                       smtp_port=port,
                       extra=f'[feedback]\nurl = "{PUBLIC}"\n{feedback}')


def _sent_to(handler: Handler) -> list[str]:
    return sorted(m["To"].addresses[0].addr_spec for m in handler.messages)


def test_the_mail_clients_one_click_post_unsubscribes_until_resubscribe(
        tmp_path: Path, seeds_dir: Path, database_url: str, served: tuple[object, str],
        smtp: tuple[Handler, int]) -> None:
    engine, local = served
    handler, port = smtp
    config = _config(tmp_path, database_url, port)
    add_seed_day(tmp_path, seeds_dir, "2026-03-12")
    first = run_cli(config, "run", "--now", "2026-03-12T20:00:00+00:00", env=ENV)
    assert first.exit_code == 0, first.output
    assert _sent_to(handler) == ["ada@example.org", "bob@example.org"]
    mail = next(m for m in handler.messages if "ada@" in str(m["To"]))
    # serve's own link first, one-click (RFC 8058), and the footer's Unsubscribe link is it
    [link] = re.findall(r"<([^>]+)>", str(mail["List-Unsubscribe"]))
    assert link.startswith(f"{PUBLIC}/unsubscribe?s=ada&t=")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    page = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert f"Unsubscribe: {link}" in text and f'href="{html.escape(link)}"' in page
    here = link.replace(PUBLIC, local)

    with httpx.Client(timeout=5) as client:
        # A mail scanner opening the link changes nothing; the page asks.
        asked = client.get(here)
        assert asked.status_code == 200 and ">Unsubscribe</button>" in asked.text
        assert unsubscribed(engine) == {}  # type: ignore[arg-type]
        # Changed by hand, or another subscriber's name under ada's token: nothing changes.
        for forged in (here.replace("s=ada", "s=bob"), re.sub(r"&t=\w+", "&t=" + "0" * 32, here),
                       here + "&v=resubscribe"):
            answer = client.post(forged, data={"List-Unsubscribe": "One-Click"})
            assert answer.status_code == 403 and "Nothing was changed" in answer.text
        # The mail client's one click.
        done = client.post(here, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200 and "You are unsubscribed" in done.text
        assert list(unsubscribed(engine)) == ["ada"]  # type: ignore[arg-type]
        assert client.post(here).status_code == 200  # again: still 200, the first moment kept
        assert unsubscribed(engine)["ada"] == NOW  # type: ignore[arg-type,index]
        assert figures(engine).unsubscribed == {"ada"}  # type: ignore[arg-type]

    handler.messages.clear()
    add_seed_day(tmp_path, seeds_dir, "2026-03-13")
    second = run_cli(config, "run", "--now", "2026-03-13T20:00:00+00:00", env=ENV)
    assert second.exit_code == 0, second.output
    assert _sent_to(handler) == ["bob@example.org"]
    resubscribe = f"paper-digest --config {config} resubscribe ada"
    assert (f"ada: unsubscribed 2026-03-13 09:00 UTC with the link in a digest, gets none "
            f"(`{resubscribe}` to send them again)") in second.output
    status = run_cli(config, "status", env=ENV)
    assert "ada (unsubscribed 2026-03-13 09:00 UTC): last digest sent" in status.output
    rows = json.loads(run_cli(config, "subscribers", "--json", env=ENV).output)
    assert {r["id"]: r["state"] for r in rows} == {"ada": "unsubscribed", "bob": "ok"}
    preview = run_cli(config, "preview", "ada", env=ENV)
    assert preview.exit_code == 0, preview.output
    assert (f"note: ada unsubscribed on 2026-03-13 with the link in a digest: it gets no "
            f"digests until `{resubscribe}`") in preview.stderr

    again = run_cli(config, "resubscribe", "ada", env=ENV)
    assert again.exit_code == 0 and "ada gets digests again" in again.output, again.output
    assert "had not unsubscribed" in run_cli(config, "resubscribe", "ada", env=ENV).output
    handler.messages.clear()
    third = run_cli(config, "run", "--now", "2026-03-13T21:00:00+00:00", env=ENV)
    assert third.exit_code == 0, third.output
    assert _sent_to(handler) == ["ada@example.org"]  # what came meanwhile


def test_the_thank_you_pages_button_takes_it_back(
        database_url: str, served: tuple[object, str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="paper_digest.http")
    engine, local = served
    with engine.begin() as conn:  # type: ignore[attr-defined]
        conn.exec_driver_sql(
            "INSERT INTO subscribers (id, email, name, cursor_seq, first_seen_at, fingerprint, "
            "updated_at) VALUES ('ada', 'ada@example.org', 'Ada', 0, '2026-03-01', '', "
            "'2026-03-01')")
    link = Links(local, SECRET).unsubscribe_link("ada")
    with httpx.Client(timeout=5) as client:
        thanked = client.post(link).text
        [action] = re.findall(r'<form method="post" action="([^"]+)"', thanked)
        undo = link.split("?")[0] + html.unescape(action)
        assert "v=resubscribe" in undo and "Subscribe again?" in client.get(undo).text
        assert unsubscribed(engine)  # type: ignore[arg-type]
        back = client.post(undo)
        assert back.status_code == 200 and "gets digests again" in back.text
        assert unsubscribed(engine) == {}  # type: ignore[arg-type]
        events = [(r.getMessage(), getattr(r, "event", None)) for r in caplog.records
                  if r.name == "paper_digest.http"]
        assert events == [("unsubscribe: s=ada", "subscriber.unsubscribed"),
                          ("unsubscribe: s=ada&v=resubscribe", "subscriber.resubscribed")]
        # A mark link's signature is no unsubscribe link's (nor the other way round).
        mark = Links(local, SECRET).link("ada", 1, "like", NOW.date())
        token = re.search(r"&t=(\w+)", mark).group(1)  # type: ignore[union-attr]
        assert client.post(f"{local}/unsubscribe?s=ada&t={token}").status_code == 403
        assert client.post(link.replace("/unsubscribe?", "/mark?") + "&p=0&v=unsubscribe"
                           ).status_code == 403
        assert unsubscribed(engine) == {}  # type: ignore[arg-type]


def test_unsubscribe_false_leaves_the_link_out_and_the_operators_own_stay(
        tmp_path: Path, seeds_dir: Path, database_url: str, smtp: tuple[Handler, int]) -> None:
    handler, port = smtp
    config = _config(tmp_path, database_url, port, feedback="unsubscribe = false\n"
                     '[email]\nunsubscribe = ["mailto:admin@example.org?subject=stop"]\n')
    add_seed_day(tmp_path, seeds_dir, "2026-03-12")
    result = run_cli(config, "run", "--now", "2026-03-12T20:00:00+00:00", env=ENV)
    assert result.exit_code == 0, result.output
    for mail in handler.messages:
        assert mail["List-Unsubscribe"] == "<mailto:admin@example.org?subject=stop>"
        assert mail["List-Unsubscribe-Post"] is None


def test_no_token_reaches_the_log_at_debug_either(
        database_url: str, served: tuple[object, str], caplog: pytest.LogCaptureFixture) -> None:
    """`serve -vv` logged each request line, the signed token with it: an unsubscribe token
    never expires, and lets whoever reads the log unsubscribe (or resubscribe) the reader."""
    caplog.set_level(logging.DEBUG, logger="paper_digest.http")
    _, local = served
    link = Links(local, SECRET).unsubscribe_link("ada")
    mark = Links(local, SECRET).link("ada", 1, "like", NOW.date())
    tokens = [re.search(r"[?&]t=(\w+)", url).group(1) for url in (link, mark)]  # type: ignore[union-attr]
    with httpx.Client(timeout=5) as client:
        client.get(link)
        client.head(mark)
    lines = [r.getMessage() for r in caplog.records if r.name == "paper_digest.http"]
    assert any("/unsubscribe?s=ada&t=" in line for line in lines), lines
    assert not [line for line in lines if any(t in line for t in tokens)], lines


def test_a_reader_who_unsubscribes_while_a_pass_delivers_gets_nothing_it_had_not_claimed(
        tmp_path: Path, seeds_dir: Path, database_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass sends its subscribers' digests a batch at a time (CLAIM_BATCH subscribers, a
    few seconds each at institute scale: a minute or more in all). bob unsubscribes while
    ada's digest goes out: his was not claimed yet, and is not sent, as README says of
    digests pending when a reader unsubscribes."""
    from worker.app import run_pass
    from worker.delivery.markdown import MarkdownChannel
    from worker.settings import load_config
    from worker.store.subscriptions import set_unsubscribed

    monkeypatch.setattr("worker.sending.CLAIM_BATCH", 1)  # as past 500 subscribers
    config_dir = make_config(tmp_path, database_url, {
        n: SUB.format(name=n).replace('["email"]', '["markdown"]') for n in ("ada", "bob")})
    add_seed_day(tmp_path, seeds_dir, "2026-03-12")
    config = load_config(config_dir, {})
    engine = open_engine(database_url)

    class Clicked(MarkdownChannel):
        def send(self, rendered):  # type: ignore[no-untyped-def]
            if rendered.subscriber_id == "ada":  # bob clicks meanwhile
                set_unsubscribed(engine, "bob", NOW)
            return super().send(rendered)

    report = run_pass(config, engine, NOW, channel_factory=lambda name: Clicked(
        config.settings.output_dir))
    assert [(d.subscriber_id, d.status) for d in report.deliveries] == [("ada", "sent")]
    assert not list((tmp_path / "out").glob("bob/*.md"))
    status = run_cli(config_dir, "status").output
    assert "bob (unsubscribed 2026-03-13 09:00 UTC): last digest sent never; 1 pending" in status
    engine.dispose()


def test_serve_names_the_unsubscribe_path_it_answers_when_it_starts(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Its start line named only .../mark, and an operator publishing what it said to the
    reverse proxy left every List-Unsubscribe link unanswered."""
    from worker.reload import ConfigWatcher
    from worker.scheduler import Server
    from worker.settings import load_config

    ours = logging.getLogger("paper_digest")  # as serve sets it up: its own handler alone
    monkeypatch.setattr(ours, "handlers", [caplog.handler])
    monkeypatch.setattr(ours, "level", logging.INFO)
    monkeypatch.setattr(ours, "propagate", False)
    config = _config(tmp_path, database_url, 25)
    engine = open_engine(database_url)
    server = Server(ConfigWatcher(config, ENV, load_config(config, ENV)), engine,
                    clock=lambda: NOW)
    server._start_http("127.0.0.1", 0)
    server.http.stop()
    engine.dispose()
    [line] = [r.getMessage() for r in caplog.records if getattr(r, "event", "") == "http.start"]
    assert line.endswith("(/healthz, /metrics, feedback links at .../mark and .../unsubscribe)")


def test_a_reader_the_database_does_not_know_yet_is_unsubscribed_all_the_same(
        tmp_path: Path, seeds_dir: Path, database_url: str) -> None:
    """The database was restored from a backup made before ada's first digest: her link
    said "You are unsubscribed" and recorded nothing (no row to mark), and the next run
    mailed her again, from a new cursor."""
    from sqlalchemy import text

    config = make_config(tmp_path, database_url, {
        n: SUB.format(name=n).replace('["email"]', '["markdown"]') for n in ("ada", "bob")})
    add_seed_day(tmp_path, seeds_dir, "2026-03-12")
    assert run_cli(config, "run", "--now", "2026-03-12T20:00:00+00:00").exit_code == 0
    engine = open_engine(database_url)
    with engine.begin() as conn:  # as the backup had it: bob alone
        for statement in (
                "DELETE FROM deliveries WHERE digest_id IN "
                "(SELECT id FROM digests WHERE subscriber_id = 'ada')",
                "DELETE FROM digest_items WHERE subscriber_id = 'ada'",
                "DELETE FROM slot_claims WHERE subscriber_id = 'ada'",
                "DELETE FROM digests WHERE subscriber_id = 'ada'",
                "DELETE FROM subscribers WHERE id = 'ada'"):
            conn.execute(text(statement))
    desk = Desk(engine, SECRET, lambda: NOW, subscribed=lambda sid: True)
    link = Links(PUBLIC, SECRET).unsubscribe_link("ada")
    params = dict(part.split("=") for part in link.split("?")[1].split("&"))
    page = desk.unsubscribe("POST", params)
    assert page.status == 200 and "You are unsubscribed" in page.body
    assert unsubscribed(engine) == {"ada": NOW}
    add_seed_day(tmp_path, seeds_dir, "2026-03-13")
    later = run_cli(config, "run", "--now", "2026-03-13T20:00:00+00:00")
    assert later.exit_code == 0 and "ada: unsubscribed 2026-03-13 09:00 UTC" in later.output
    assert not list((tmp_path / "out").glob("ada/2026-03-13-*.md"))
    again = run_cli(config, "resubscribe", "ada")
    assert "ada gets digests again" in again.output
    engine.dispose()


def test_only_the_reader_who_just_unsubscribed_can_take_it_back(database_url: str) -> None:
    """Anyone holding a copy of one of ada's digests (forwarded, archived) could subscribe
    her again after she left: posting her link showed the thank-you page's "Subscribe again"
    button whether or not that post had unsubscribed her, and its signed link (the same for
    good) kept working for every later unsubscription too."""
    engine = open_engine(database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO subscribers (id, email, name, cursor_seq, first_seen_at, fingerprint, "
            "updated_at) VALUES ('ada', 'ada@example.org', 'Ada', 0, '2026-03-01', '', "
            "'2026-03-01')")
    clock = [NOW]
    desk = Desk(engine, SECRET, lambda: clock[0], subscribed=lambda sid: True)
    link = Links(PUBLIC, SECRET).unsubscribe_link("ada")

    def post(url: str, method: str = "POST"):  # type: ignore[no-untyped-def]
        return desk.unsubscribe(method, dict(parse_qsl(url.partition("?")[2])))

    def undo_of(page) -> str | None:  # type: ignore[no-untyped-def]
        found = re.findall(r'<form method="post" action="([^"]+)"', page.body)
        return html.unescape(found[0]) if found else None

    # Someone else, with a forwarded digest, unsubscribes ada and takes it back at once.
    kept = undo_of(post(link))
    assert kept is not None and post(kept).status == 200 and unsubscribed(engine) == {}
    # ada herself leaves, a day later.
    clock[0] = NOW + timedelta(days=1)
    hers = post(link)
    assert "You are unsubscribed" in hers.body and list(unsubscribed(engine)) == ["ada"]
    # The button kept from before undoes nothing now, and posting her link again offers none.
    assert post(kept).status == 410 and list(unsubscribed(engine)) == ["ada"]
    again = post(link)
    assert again.status == 200 and "already" in again.body and undo_of(again) is None
    # Her own button still works.
    assert post(undo_of(hers)).status == 200 and unsubscribed(engine) == {}  # type: ignore[arg-type]
    engine.dispose()
