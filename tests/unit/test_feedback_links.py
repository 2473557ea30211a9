"""`[feedback]`: signed "more like this" / "fewer like this" links under every digest item, in
every format, and none of it when not configured (the server side is in
tests/integration/test_feedback_links.py)."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from unittest.mock import patch
from urllib.parse import parse_qs, urlsplit

import pytest
from markdown_it import MarkdownIt

from tests.unit.test_render_golden import sample_digest
from worker.feedback import MAX_AGE, Links, token
from worker.render import digest_context, render
from worker.settings import load_settings

SECRET = "s3cret-s3cret-s3cret"
LINKS = Links("https://lab.example.org/digest/", SECRET)


def _context(links: Links | None):  # type: ignore[no-untyped-def]
    digest = sample_digest()
    digest = type(digest)(**{**digest.__dict__, "subscriber_id": "ada lovelace&co"})
    return digest, digest_context(digest, name="Ada", email="ada@example.org",
                                  profile_file=None, feedback=links)


def test_a_token_signs_subscriber_paper_and_verdict() -> None:
    one = token(SECRET, "ada", 7, "like")
    assert one == token(SECRET, "ada", 7, "like")
    assert re.fullmatch(r"[0-9a-f]{32}", one)  # 128 bits
    others = {token(SECRET, "bob", 7, "like"), token(SECRET, "ada", 8, "like"),
              token(SECRET, "ada", 7, "unlike"), token(SECRET + "x", "ada", 7, "like"),
              token(SECRET, "ada\x007", 7, "like")}
    assert one not in others and len(others) == 5


def test_a_link_names_what_it_marks_and_survives_odd_subscriber_ids() -> None:
    url = LINKS.link("ada lovelace&co", 42, "unlike", date(2026, 3, 13))
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "lab.example.org",
                                                        "/digest/mark")
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query == {"s": "ada lovelace&co", "p": "42", "v": "unlike", "d": "20260313",
                     "t": token(SECRET, "ada lovelace&co", 42, "unlike", "20260313")}
    assert token(SECRET, "ada", 42, "unlike", "20260313") not in {
        token(SECRET, "ada", 42, "unlike"), token(SECRET, "ada", 42, "unlike", "20260314")}


def test_a_link_signs_its_readers_generation_and_generation_0_is_as_before() -> None:
    """A subscriber id's later readers (worker.readers) sign their generation: the same link
    of an earlier reader is another link. Generation 0 (every subscriber before there were
    generations) makes the links it always made, so those already sent keep working."""
    day = date(2026, 3, 13)
    first, later = LINKS.link("ada", 42, "like", day), LINKS.link("ada", 42, "like", day, 2)
    assert first == LINKS.link("ada", 42, "like", day, 0) and "&g=" not in first
    assert later == first.replace(token(SECRET, "ada", 42, "like", "20260313"),
                                  token(SECRET, "ada", 42, "like", "20260313", 2)) + "&g=2"
    assert token(SECRET, "ada", 42, "like", "20260313", 2) not in {
        token(SECRET, "ada", 42, "like", "20260313"),
        token(SECRET, "ada", 42, "like", "20260313", 1)}
    assert LINKS.unsubscribe_link("ada", 2).endswith("&g=2")
    assert LINKS.unsubscribe_link("ada", 0) == LINKS.unsubscribe_link("ada")
    assert _answer(later, day) == 404  # (genuine, of the reader now: the paper is not stored)
    for edited in (later.replace("&g=2", "&g=3"), later.replace("&g=2", ""),
                   first + "&g=2", later + "0" * 9):
        assert _answer(edited, day) == 403


def _answer(link: str, today: date) -> int:
    """The status the desk answers `link` with (a POST) on `today`; the paper is not stored,
    so a link that gets past its signature, its day and its reader is a 404."""
    from sqlalchemy import create_engine

    from worker.feedback import Desk

    engine = create_engine("sqlite://")
    desk = Desk(engine, SECRET, lambda: datetime.combine(today, time(9), UTC),
                subscribed=lambda sid: True)
    try:
        generation = int(parse_qs(urlsplit(link).query).get("g", ["0"])[0])
        with patch("worker.store.identity.find_paper", return_value=None), \
                patch("worker.store.readers.generation_of", return_value=generation):
            return desk.answer("POST", {k: v[0] for k, v in
                                        parse_qs(urlsplit(link).query).items()}).status
    finally:
        engine.dispose()


def test_a_link_marks_nothing_once_its_digest_is_older_than_max_age() -> None:
    """A digest forwarded, or kept where others read it, let anyone mark papers for its
    reader for good: a link signs its digest's day and is refused MAX_AGE after it."""
    sent = date(2026, 3, 13)
    link = LINKS.link("ada", 42, "like", sent)
    assert _answer(link, sent + MAX_AGE) == 404  # still marks (the paper is gone here)
    assert _answer(link, sent + MAX_AGE + timedelta(days=1)) == 410
    assert _answer(link.replace("d=20260313", "d=20261213"), sent) == 403  # a day changed
    legacy = link.replace("&d=20260313", "").replace(
        token(SECRET, "ada", 42, "like", "20260313"), token(SECRET, "ada", 42, "like"))
    assert _answer(legacy, date(2030, 1, 1)) == 404  # made before links had days: kept


@pytest.mark.parametrize("fmt", ["html", "txt", "md"])
def test_every_item_gets_both_links_in_every_format(fmt: str) -> None:
    digest, ctx = _context(LINKS)
    text = render(ctx, fmt)
    if fmt == "md":  # the links as a Markdown reader follows them
        found = [html.unescape(u)
                 for u in re.findall(r'href="([^"]+)"', MarkdownIt().render(text))]
    elif fmt == "html":
        found = [html.unescape(u) for u in re.findall(r'href="([^"]+/mark\?[^"]+)"', text)]
    else:
        found = re.findall(r"(https://lab\S+/mark\?\S+)", text)
    marks = [u for u in found if "/mark?" in u]
    expected = [LINKS.link(digest.subscriber_id, item.paper.id, verdict,
                           digest.created_at.date())
                for item in digest.items for verdict in ("like", "unlike")]
    assert sorted(marks) == sorted(expected) and len(expected) >= 4


@pytest.mark.parametrize("fmt", ["html", "txt", "md"])
def test_no_links_when_not_configured(fmt: str) -> None:
    _, ctx = _context(None)
    text = render(ctx, fmt)
    assert "/mark?" not in text and "ore like this" not in text


def test_html_links_are_buttons_a_thumb_can_hit_and_dark_mode_recolours() -> None:
    """On a phone the two links were 13 px words a dot apart, and in dark mode the only
    links the dark stylesheet left blue-on-black (#0969da on #1b1f24, contrast 3:1)."""
    _, ctx = _context(LINKS)
    page = render(ctx, "html")
    anchors = re.findall(r'<a ([^>]*href="[^"]+/mark\?[^"]+"[^>]*)>', page)
    assert len(anchors) == 2 * ctx.count
    style = page[page.index("<style>"):page.index("</style>")]
    for attrs in anchors:
        classes = re.search(r'class="([^"]*)"', attrs)
        assert classes and "pd-link" in classes.group(1).split(), attrs  # recoloured in dark
        assert ".pd-link" in style
        inline = re.search(r'style="([^"]*)"', attrs)
        assert inline, attrs
        assert "display:inline-block" in inline.group(1)  # padding counts on an inline link
        padding = re.search(r"padding:(\d+)px", inline.group(1))
        assert padding and int(padding.group(1)) >= 6, attrs


def _settings(tmp_path: Path, body: str, env: dict[str, str]):  # type: ignore[no-untyped-def]
    (tmp_path / "worker.toml").write_text(body, encoding="utf-8")
    return load_settings(tmp_path, env)


def test_settings_take_the_url_from_the_file_and_the_secret_from_the_environment(
        tmp_path: Path) -> None:
    settings, problems = _settings(tmp_path, '[feedback]\nurl = "https://h.example/d"\n',
                                   {"PAPER_DIGEST_FEEDBACK_SECRET": SECRET})
    assert problems == []
    assert settings.feedback.links() == Links("https://h.example/d", SECRET)
    assert settings.feedback.links() is settings.feedback.links()  # made once, not per digest
    assert SECRET not in repr(settings)
    off, problems = _settings(tmp_path, "", {"PAPER_DIGEST_FEEDBACK_SECRET": SECRET})
    assert problems == [] and off.feedback.links() is None


@pytest.mark.parametrize(("body", "env", "key", "says"), [
    ('[feedback]\nurl = "https://h.example/d"\n', {}, "feedback.url",
     "PAPER_DIGEST_FEEDBACK_SECRET: set it in the environment"),
    ('[feedback]\nurl = "https://h.example/d"\n', {"PAPER_DIGEST_FEEDBACK_SECRET": "short"},
     "feedback.url", "too short"),
    ('[feedback]\nurl = "h.example/d"\n', {"PAPER_DIGEST_FEEDBACK_SECRET": SECRET},
     "feedback.url", "http:// or https:// URL"),
    ('[feedback]\nurl = "https://h.example/d"\nsecret = "in the file"\n',
     {"PAPER_DIGEST_FEEDBACK_SECRET": SECRET}, "feedback.secret", "does not belong in a file"),
])
def test_settings_problems_name_the_key_and_line(tmp_path: Path, body: str, env: dict[str, str],
                                                 key: str, says: str) -> None:
    _, problems = _settings(tmp_path, body, env)
    [problem] = problems
    assert problem.key == key and says in problem.message
    assert problem.line == body[:body.index(key.split(".")[1])].count("\n") + 1
