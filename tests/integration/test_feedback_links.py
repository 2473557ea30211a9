"""Feedback links end to end: a run writes digests whose items carry signed links; serve's HTTP
port (a real server on loopback) shows a button for a link and records the mark only when it
is pressed; a link that was changed marks nothing. SQLite, and PostgreSQL when configured."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.integration.helpers import add_seed_day, make_config, run_cli
from worker.feedback import Desk
from worker.statusserver import StatusServer
from worker.store.db import open_engine
from worker.store.marks import marks_for

SECRET = "feedback-secret-for-tests"
ENV = {"PAPER_DIGEST_FEEDBACK_SECRET": SECRET}
NOW = datetime(2026, 3, 13, 9, tzinfo=UTC)
ADA = """
name = "Ada"
deliver = ["markdown"]
[interests]
keywords = ["benchmark"]
"""


@pytest.fixture
def served(database_url: str) -> Iterator[tuple[object, int]]:
    engine = open_engine(database_url)
    server = StatusServer("127.0.0.1", 0, lambda: (True, "ok"), lambda: "",
                          Desk(engine, SECRET, lambda: NOW))
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
    from worker.feedback import Links

    _, port = served
    link = Links(f"http://127.0.0.1:{port}", SECRET).link("ada", 123456, "like")
    answer = httpx.post(link, timeout=5)
    assert answer.status_code == 404 and "no longer in the database" in answer.text


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
    from worker.feedback import Links
    from worker.records import PaperRecord
    from worker.sources.base import Dump, content_hash
    from worker.store import papers

    if browser.chromium() is None:
        pytest.skip("Chromium is not installed and could not be (make test tries apt-get "
                    "install chromium; it needs root and Debian's package lists)")
    engine = open_engine(sqlite_url)
    records = (PaperRecord(title="Charts & <Tables> Read Aloud", abstract="About charts."),)
    papers.ingest_dump(engine, Dump("test", "d", content_hash(b"one"), NOW, records, None), NOW)
    paper = papers.find_paper(engine, "Charts & <Tables> Read Aloud")
    assert paper is not None
    server = StatusServer("127.0.0.1", 0, lambda: (True, "ok"), lambda: "",
                          Desk(engine, SECRET, lambda: NOW))
    server.start()
    try:
        link = Links(f"http://127.0.0.1:{server.port}/digest", SECRET).link("ada", paper.id,
                                                                           "unlike")
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
