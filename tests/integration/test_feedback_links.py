"""Feedback links end to end: a run writes digests whose items carry signed links; serve's HTTP
port (a real server on loopback) shows a button for a link and records the mark only when it
is pressed; a link that was changed, or whose subscriber has left, marks nothing. SQLite, and
PostgreSQL when configured."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.integration.helpers import add_seed_day, make_config, run_cli
from worker.feedback import Desk, Links
from worker.statusserver import StatusServer
from worker.store.marks import marks_for
from worker.store.opening import open_engine

SECRET = "feedback-secret-for-tests"
ENV = {"PAPER_DIGEST_FEEDBACK_SECRET": SECRET}
NOW = datetime(2026, 3, 13, 9, tzinfo=UTC)
DAY = NOW.date()  # the day of the links the tests make
ADA = """
name = "Ada"
deliver = ["markdown"]
[interests]
keywords = ["benchmark"]
"""
ODD = 'ada "<lab>" & co'  # a subscriber id a page must escape


@pytest.fixture
def subscribers() -> set[str]:
    """Who the desk of `served` takes as subscribed now; a test removes one to unsubscribe it."""
    return {"ada", ODD}


@pytest.fixture
def served(database_url: str, subscribers: set[str]) -> Iterator[tuple[object, int]]:
    engine = open_engine(database_url)
    server = StatusServer("127.0.0.1", 0, lambda: (True, "ok"), lambda: "",
                          Desk(engine, SECRET, lambda: NOW, subscribed=subscribers.__contains__))
    server.start()
    yield engine, server.port
    server.stop()
    engine.dispose()


def _links(root: Path) -> list[tuple[str, str]]:
    """(more, fewer) link of each item of the Markdown digest the run wrote."""
    [digest] = (root / "out").rglob("*.md")
    text = digest.read_text(encoding="utf-8")
    return re.findall(r"\[More like this\]\(<?([^)>]+)>?\) · \[fewer like this\]\(<?([^)>]+)>?\)",
                      text)


def test_a_link_asks_first_and_the_button_records_the_mark(
        tmp_path: Path, seeds_dir: Path, database_url: str,
        served: tuple[object, int]) -> None:
    engine, port = served
    config = make_config(tmp_path, database_url, {"ada": ADA},
                         extra=f'[feedback]\nurl = "http://127.0.0.1:{port}/digest"\n')
    add_seed_day(tmp_path, seeds_dir, "2026-03-12")
    result = run_cli(config, "run", env=ENV)
    assert result.exit_code == 0, result.output
    links = _links(tmp_path)
    assert len(links) >= 2
    (more, fewer), (other, _) = links[0], links[1]
    with httpx.Client(timeout=5) as client:
        page = client.get(more)  # what a mail scanner or a link preview does
        assert page.status_code == 200 and '<form method="post">' in page.text
        assert "Yes, more like this" in page.text
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store"
        assert marks_for(engine, ["ada"])["ada"] == []  # type: ignore[arg-type]

        done = client.post(more)  # the button: the form posts to the link itself
        assert done.status_code == 200 and "marked" in done.text
        [mark] = marks_for(engine, ["ada"])["ada"]  # type: ignore[arg-type]
        assert mark.verdict == "like" and mark.paper.title in page.text.replace("&amp;", "&")

        assert client.post(fewer).status_code == 200  # the later word counts
        [mark] = marks_for(engine, ["ada"])["ada"]  # type: ignore[arg-type]
        assert mark.verdict == "unlike"

        # A link changed by hand marks nothing: another paper, another subscriber, no token.
        changed = [other.replace("v=like", "v=unlike"), more.replace("s=ada", "s=bob"),
                   re.sub(r"&t=[^&]+", "", more), re.sub(r"p=\d+", "p=999999", more),
                   re.sub(r"p=\d+", "p=%C2%B2", more)]  # a digit, but not 0-9
        for link in changed:
            answer = client.post(link)
            assert answer.status_code == 403 and "Nothing was marked" in answer.text
        assert len(marks_for(engine, ["ada"])["ada"]) == 1  # type: ignore[arg-type]
        assert client.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        assert client.post(f"http://127.0.0.1:{port}/healthz").status_code == 404  # only .../mark
        # HEAD, as load balancers check: GET's status and headers, no body (it was a 501)
        head = client.head(f"http://127.0.0.1:{port}/healthz")
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["Content-Length"]) == len(b"ok\n")
        assert client.head(f"http://127.0.0.1:{port}/nowhere").status_code == 404

        # The thank-you page's undo button: the same link with verdict `remove`, signed.
        thanked = client.post(fewer).text
        [action] = re.findall(r'<form method="post" action="([^"]+)"', thanked)
        undo = fewer.split("?")[0] + html.unescape(action)
        assert "v=remove" in undo
        assert "Take the mark off?" in client.get(undo).text
        assert client.post(undo.replace("s=ada", "s=bob")).status_code == 403
        removed = client.post(undo)
        assert removed.status_code == 200 and "removed the mark" in removed.text
        assert marks_for(engine, ["ada"])["ada"] == []  # type: ignore[arg-type]


def test_a_signed_link_to_a_paper_no_longer_stored_is_a_clear_404(
        database_url: str, served: tuple[object, int]) -> None:
    _, port = served
    link = Links(f"http://127.0.0.1:{port}", SECRET).link("ada", 123456, "like", DAY)
    answer = httpx.post(link, timeout=5)
    assert answer.status_code == 404 and "no longer in the database" in answer.text


def test_a_forged_link_of_any_length_is_refused_unread(
        database_url: str, served: tuple[object, int], caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts no link of ours has (5,000 digits, a token that is not ASCII, a subscriber id of
    10,000 characters, a paper id spelled '007') are a 403 like any changed link, not a 503
    with a traceback: nothing in a link is read before its signature matches."""
    engine, port = served
    paper = _stored(engine, "Charts Read Aloud")
    links = Links(f"http://127.0.0.1:{port}/digest", SECRET)
    genuine = links.link("ada", paper, "like", DAY)
    hex32 = "0123456789abcdef" * 2
    forged = [re.sub(r"p=\d+", "p=" + "9" * 5000, genuine),
              re.sub(r"p=\d+&v=like&t=\w+", f"p={'9' * 5000}&v=like&t={hex32}", genuine),
              re.sub(r"t=\w+", "t=" + "é" * 32, genuine),
              genuine.replace("s=ada", "s=" + "a" * 10_000),
              genuine.replace(f"p={paper}", f"p=00{paper}"),
              genuine.replace(f"p={paper}", "p=" + "1" * 20)]
    http_log = logging.getLogger("paper_digest.http")  # caught here, once: the CLI may have
    monkeypatch.setattr(http_log, "propagate", False)  # stopped "paper_digest" propagating
    http_log.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG, logger="paper_digest.http")
    try:
        with httpx.Client(timeout=5) as client:
            for link in forged:
                for method in ("GET", "POST"):
                    answer = client.request(method, link)
                    assert answer.status_code == 403, (method, link[:120], answer.text)
                    assert "Nothing was marked" in answer.text
            assert client.get(genuine).status_code == 200  # and the genuine one still works
    finally:
        http_log.removeHandler(caplog.handler)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert marks_for(engine, ["ada"])["ada"] == []  # type: ignore[arg-type]


def _stored(engine: object, title: str) -> int:
    """A paper in the database (as a fetch would leave it): its id."""
    from worker.records import PaperRecord
    from worker.sources.base import Dump, content_hash
    from worker.store import identity, papers

    records = (PaperRecord(title=title, abstract="About it."),)
    dump = Dump("test", title, content_hash(title.encode()), NOW, records, None)
    papers.ingest_dump(engine, dump, NOW)  # type: ignore[arg-type]
    paper = identity.find_paper(engine, title)  # type: ignore[arg-type]
    assert paper is not None
    return paper.id


def test_a_removed_subscriber_s_signed_link_is_410_and_marks_nothing(
        database_url: str, served: tuple[object, int], subscribers: set[str],
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """Links in digests already sent still verify after the subscriber's file is deleted:
    opening one or pressing its button says so and marks nothing, undo included."""
    engine, port = served
    paper = _stored(engine, "Charts & <Tables> Read Aloud")
    links = Links(f"http://127.0.0.1:{port}/digest", SECRET)
    caplog.set_level(logging.INFO, logger="paper_digest.http")
    http_log = logging.getLogger("paper_digest.http")  # caught here, once: the CLI may have
    monkeypatch.setattr(http_log, "propagate", False)  # stopped "paper_digest" propagating
    http_log.addHandler(caplog.handler)
    try:
        with httpx.Client(timeout=5) as client:
            for sid in ("ada", ODD):  # a mark each while subscribed
                assert client.post(links.link(sid, paper, "like", DAY)).status_code == 200
            before = marks_for(engine, ["ada", ODD])  # type: ignore[arg-type]
            assert [len(m) for m in before.values()] == [1, 1]
            subscribers.clear()  # both files deleted
            caplog.clear()
            for sid in ("ada", ODD):
                for verdict in ("like", "unlike", "remove"):
                    for method in ("GET", "POST"):
                        answer = client.request(method, links.link(sid, paper, verdict, DAY))
                        assert answer.status_code == 410, (sid, verdict, method)
                        assert "You are no longer subscribed" in answer.text
                        assert "Nothing was marked" in answer.text and "<form" not in answer.text
                        assert answer.headers["cache-control"] == "no-store"
            assert html.escape(ODD) in answer.text and "<lab>" not in answer.text
            # The signature is checked first, then the subscriber, then the paper.
            signed = links.link("ada", paper, "like", DAY)
            assert client.post(re.sub(r"&t=[^&]+", "", signed)).status_code == 403
            assert client.post(signed.replace("s=ada", "s=bob")).status_code == 403
            assert client.post(links.link("ada", 999999, "like", DAY)).status_code == 410
    finally:
        http_log.removeHandler(caplog.handler)
    assert marks_for(engine, ["ada", ODD]) == before  # type: ignore[arg-type]
    refused = [r for r in caplog.records if getattr(r, "event", None) == "feedback.unsubscribed"]
    assert len(refused) == 2 * 3 + 1  # every refused POST, no GET
    assert {r.subscriber for r in refused} == {"ada", ODD}  # type: ignore[attr-defined]
    assert all(r.levelno == logging.INFO and SECRET not in r.getMessage()
               and "t=" not in r.getMessage() for r in refused)
    assert not [r for r in caplog.records if r.getMessage().startswith("feedback: ")]


def test_serve_s_desk_asks_the_running_config_as_hot_reload_left_it(
        tmp_path: Path, database_url: str) -> None:
    """serve's own desk: a subscriber file deleted or disabled while it runs refuses that
    subscriber's links from the next reload on; one added is answered, and so is one whose
    file is broken (it is still subscribed, its file is to be fixed)."""
    from worker.reload import ConfigWatcher
    from worker.scheduler import Server
    from worker.settings import load_config

    broken = "[interests\nkeywords = 1\n"
    config = make_config(tmp_path, database_url,
                         {"ada": ADA, "bob": ADA, "dave": ADA, "eve": broken},
                         extra='[feedback]\nurl = "http://127.0.0.1/digest"\n')
    engine = open_engine(database_url)
    server = Server(ConfigWatcher(config, ENV, load_config(config, ENV)), engine,
                    clock=lambda: NOW)
    server._start_http("127.0.0.1", 0)
    try:
        paper = _stored(engine, "Charts Read Aloud")
        links = Links(f"http://127.0.0.1:{server.http.port}/digest", SECRET)

        def link(sid: str, paper: int, verdict: str) -> str:
            return links.link(sid, paper, verdict, DAY)
        with httpx.Client(timeout=5) as client:
            assert client.post(link("bob", paper, "like")).status_code == 200
            assert client.post(link("eve", paper, "like")).status_code == 200  # broken
            assert client.post(link("carol", paper, "like")).status_code == 410
            subscribers = config / "subscribers"
            (subscribers / "bob.toml").unlink()
            (subscribers / "ada.toml").write_text("enabled = false\n" + ADA, encoding="utf-8")
            (subscribers / "carol.toml").write_text(ADA, encoding="utf-8")
            (subscribers / "dave.toml").write_text(broken, encoding="utf-8")  # kept running
            server.reload()
            for sid, status in (("bob", 410), ("ada", 410), ("carol", 200), ("dave", 200),
                                ("eve", 200)):
                assert client.get(link(sid, paper, "unlike")).status_code == status, sid
                assert client.post(link(sid, paper, "unlike")).status_code == status, sid
        marks = marks_for(engine, ["ada", "bob", "carol", "dave", "eve"])
        assert {sid: [m.verdict for m in found] for sid, found in marks.items()} == {
            "ada": [], "bob": ["like"], "carol": ["unlike"], "dave": ["unlike"],
            "eve": ["unlike"]}
    finally:
        server.http.stop()
        engine.dispose()


@pytest.mark.parametrize("with_port", [False, True])
def test_serve_warns_when_nothing_answers_the_links(
        tmp_path: Path, sqlite_url: str, with_port: bool, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """[feedback] url without [serve] http_port: digests carry links nobody answers, and
    serve says so as it starts (event feedback.unanswered); with the port, it does not."""
    from tests.integration.smtpserver import free_port
    from worker.reload import ConfigWatcher
    from worker.scheduler import Server
    from worker.settings import load_config

    serve = (f'[serve]\nhttp_host = "127.0.0.1"\nhttp_port = {free_port()}\n' if with_port
             else "")
    config = make_config(tmp_path, sqlite_url, {"ada": ADA},
                         extra=f'[feedback]\nurl = "http://127.0.0.1/digest"\n{serve}')
    engine = open_engine(sqlite_url)
    server = Server(ConfigWatcher(config, ENV, load_config(config, ENV)), engine,
                    clock=lambda: NOW)
    serve_log = logging.getLogger("paper_digest")  # caught here, once: the CLI may have
    monkeypatch.setattr(serve_log, "propagate", False)  # stopped it propagating
    serve_log.addHandler(caplog.handler)
    caplog.set_level(logging.WARNING, logger="paper_digest")
    try:
        server.start()
    finally:
        serve_log.removeHandler(caplog.handler)
        server.shutdown(grace=5)  # the HTTP port too
        engine.dispose()
    warned = [r for r in caplog.records if getattr(r, "event", None) == "feedback.unanswered"]
    assert len(warned) == (0 if with_port else 1)
    assert all("[serve] http_port" in r.getMessage() for r in warned)


def test_check_says_the_secret_is_missing(tmp_path: Path, sqlite_url: str) -> None:
    config = make_config(tmp_path, sqlite_url, {"ada": ADA},
                         extra='[feedback]\nurl = "https://lab.example.org/digest"\n')
    result = run_cli(config, "check")
    assert result.exit_code != 0
    assert "feedback.url" in result.output and "PAPER_DIGEST_FEEDBACK_SECRET" in result.output
    assert run_cli(config, "check", env=ENV).exit_code == 0


def test_in_a_browser_the_page_marks_only_when_its_button_is_pressed(sqlite_url: str) -> None:
    """The page as a reader's browser shows it (its Content-Security-Policy included): the
    button's form posts to the link itself, and only that records the mark."""
    from tests.integration import browser
    from worker.records import PaperRecord
    from worker.sources.base import Dump, content_hash
    from worker.store import identity, papers

    if browser.chromium() is None:
        pytest.skip("Chromium is not installed and could not be (make test tries apt-get "
                    "install chromium; it needs root and Debian's package lists)")
    engine = open_engine(sqlite_url)
    records = (PaperRecord(title="Charts & <Tables> Read Aloud", abstract="About charts."),)
    papers.ingest_dump(engine, Dump("test", "d", content_hash(b"one"), NOW, records, None), NOW)
    paper = identity.find_paper(engine, "Charts & <Tables> Read Aloud")
    assert paper is not None
    server = StatusServer("127.0.0.1", 0, lambda: (True, "ok"), lambda: "",
                          Desk(engine, SECRET, lambda: NOW, subscribed=lambda sid: True))
    server.start()
    try:
        link = Links(f"http://127.0.0.1:{server.port}/digest", SECRET).link("ada", paper.id,
                                                                           "unlike", DAY)
        with browser.page() as tab:
            tab.open(link, 800)
            shown = tab.evaluate("document.body.innerText")
            assert "Charts & <Tables> Read Aloud" in shown and "Yes, fewer like this" in shown
            assert marks_for(engine, ["ada"])["ada"] == []
            tab.evaluate("document.querySelector('button').click(), true")
            tab.wait_for("Page.loadEventFired")
            done = tab.evaluate("document.body.innerText")
            assert "marked “Charts & <Tables> Read Aloud” (paper:" in done
            assert "as unliked" in done
            [mark] = marks_for(engine, ["ada"])["ada"]
            assert mark.verdict == "unlike" and mark.paper.id == paper.id
            # The thank-you page offers to undo: its button takes the mark off.
            assert tab.evaluate("document.querySelector('button').innerText") == "Undo"
            tab.evaluate("document.querySelector('button').click(), true")
            tab.wait_for("Page.loadEventFired")
            undone = tab.evaluate("document.body.innerText")
        assert "removed the mark from “Charts & <Tables> Read Aloud”" in undone
        assert "it was unliked" in undone
        assert marks_for(engine, ["ada"])["ada"] == []
    finally:
        server.stop()
        engine.dispose()
