"""`[email]` in worker.toml: List-Id and List-Unsubscribe headers and a footer that says how
to stop the digest and whom to ask; none of it when not configured."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from tests.unit.test_render_golden import sample_digest
from worker.digest_mail import build_email, build_message
from worker.render import digest_context, render
from worker.settings import EmailSettings, load_settings

MAILING = EmailSettings(
    list_id="papers.lab.example.org",
    unsubscribe=("mailto:papers-admin@lab.example.org?subject=unsubscribe%20{subscriber}",
                 "https://lab.example.org/papers/stop?who={subscriber}"),
    help="Ana, papers-admin@lab.example.org")


def _context(mailing: EmailSettings | None):  # type: ignore[no-untyped-def]
    digest = sample_digest()
    digest = type(digest)(**{**digest.__dict__, "subscriber_id": "ada lovelace&co"})
    return digest_context(digest, name="Ada", email="ada@example.org",
                          profile_file="config/subscribers/ada.toml", mailing=mailing)


def test_headers_when_configured() -> None:
    raw = build_email(_context(MAILING), sender="d@example.org").data  # the bytes as sent
    assert b"=?utf-8?" not in raw  # long URIs are folded at the commas, not encoded
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    message = message_from_bytes(raw, policy=default)
    assert message["List-Id"] == "paper-digest <papers.lab.example.org>"
    # The subscriber id is filled in, URL-quoted, so it cannot break the header or the URI.
    assert message["List-Unsubscribe"] == (
        "<mailto:papers-admin@lab.example.org?subject=unsubscribe%20ada%20lovelace%26co>, "
        "<https://lab.example.org/papers/stop?who=ada%20lovelace%26co>")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_mailto_only_has_no_one_click_header() -> None:
    mailing = EmailSettings(unsubscribe=("mailto:admin@example.org",))
    message = build_message(_context(mailing), sender="d@example.org")
    assert message["List-Unsubscribe"] == "<mailto:admin@example.org>"
    assert message["List-Unsubscribe-Post"] is None and message["List-Id"] is None


def test_no_headers_or_footer_lines_by_default() -> None:
    message = build_message(_context(None), sender="d@example.org")
    assert message["List-Id"] is None and message["List-Unsubscribe"] is None
    for fmt in ("md", "txt", "html"):
        text = render(_context(None), fmt)
        assert "Unsubscribe" not in text and "Questions" not in text


def test_footer_in_every_format() -> None:
    ctx = _context(MAILING)
    txt = render(ctx, "txt")
    assert "\nUnsubscribe: mailto:papers-admin@lab.example.org?subject=unsubscribe%20ada" in txt
    assert "\nQuestions: Ana, papers-admin@lab.example.org\n" in txt
    assert all(len(line) <= 72 for line in txt.splitlines() if not line.startswith(
        ("Unsubscribe:", "   ")))
    html = render(ctx, "html")
    assert 'href="mailto:papers-admin@lab.example.org?subject=unsubscribe%20ada%20lovelace%26co"' \
        in html
    assert "Questions: Ana, papers-admin@lab.example.org" in html
    md = render(ctx, "md")
    tokens = MarkdownIt("commonmark").parse(md)
    links = [child.attrs["href"] for token in tokens if token.children
             for child in token.children if child.type == "link_open"]
    assert "mailto:papers-admin@lab.example.org?subject=unsubscribe%20ada%20lovelace%26co" in links
    assert "\nQuestions: Ana, papers-admin@lab.example.org.\n" in md


@pytest.mark.parametrize("table, key", [
    ('list_id = "has space"', "email.list_id"),
    ('unsubscribe = ["javascript:alert(1)"]', "email.unsubscribe"),
    ('unsubscribe = "mailto:x@example.org"', "email.unsubscribe"),
    ('unsubscribe = ["https://example.org/a,b"]', "email.unsubscribe"),
    ('unsubscribe = ["https://example.org/\u00e9"]', "email.unsubscribe"),
    ('unknown = 1', "email.unknown"),
])
def test_bad_email_settings_are_named(tmp_path: Path, table: str, key: str) -> None:
    (tmp_path / "worker.toml").write_text(f"[email]\n{table}\n", encoding="utf-8")
    _, problems = load_settings(tmp_path, {})
    assert any(p.key == key for p in problems), problems
    assert all(p.file == str(tmp_path / "worker.toml") for p in problems)


def test_good_email_settings_load(tmp_path: Path) -> None:
    (tmp_path / "worker.toml").write_text(
        '[email]\nlist_id = "papers.lab.example.org"\nhelp = "Ana"\n'
        'unsubscribe = ["https://lab.example.org/stop?who={subscriber}"]\n', encoding="utf-8")
    settings, problems = load_settings(tmp_path, {})
    assert problems == []
    assert settings.email.unsubscribe_uris("a/b") == ("https://lab.example.org/stop?who=a%2Fb",)
