"""The HTML email as mail clients other than a browser show it: Gmail drops the <body>
element's styles (it replaces <body> with a <div> of its own), Outlook for Windows (Word's
renderer) ignores `max-width`, and every inbox shows a line of preview text under the subject
(the preheader). The checks read the rendered HTML; tests/integration/test_browser.py renders
it in Chromium."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from tests.unit.test_render_golden import _context
from worker.render import render

# What a reader would miss if the wrapper lost it: the page's colours and type.
BASE = ("background", "color", "font-family", "font-size", "line-height")


class Elements(HTMLParser):
    """Start tags inside <body>, in order, with their inline style as a dict."""

    def __init__(self) -> None:
        super().__init__()
        self.in_body = False
        self.found: list[tuple[str, dict[str, str], dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.in_body = True
        elif self.in_body:
            given = dict(attrs)
            style = dict(
                (name.strip(), value.strip()) for name, _, value in
                (part.partition(":") for part in (given.get("style") or "").split(";"))
                if name.strip())
            self.found.append((tag, style, given))


def _elements(page: str) -> list[tuple[str, dict[str, str], dict[str, str | None]]]:
    parser = Elements()
    parser.feed(page)
    return parser.found


def test_the_page_styles_survive_gmail_dropping_the_body_element() -> None:
    """Gmail keeps none of <body>'s style: the first visible element inside it carries the
    background, text colour and type the body sets, or the digest shows in Gmail's default
    13 px Arial, lines packed tight, the cards white on white."""
    page = render(_context(), "html")
    body = re.search(r'<body[^>]*style="([^"]*)"', page)
    assert body
    visible = [(tag, style) for tag, style, _ in _elements(page)
               if style.get("display") != "none"]
    tag, style = visible[0]
    assert tag in ("div", "table"), tag
    for name in BASE:
        assert name in style, (name, style)
        assert f"{name}:{style[name]}" in body.group(1).replace(": ", ":"), name


def test_outlook_gets_a_640_px_column_from_a_table_it_alone_reads() -> None:
    """Outlook for Windows ignores max-width: without a table of fixed width the column is as
    wide as the reading pane, lines of 200 characters. The table is in conditional comments
    that only Outlook reads; every other client sees the max-width div."""
    page = render(_context(), "html")
    opened = re.search(r'<!--\[if mso\]><table role="presentation"[^>]*\bwidth="640"[^>]*>'
                       r'<tr><td[^>]*><!\[endif\]-->\s*<div style="max-width:640px;', page)
    assert opened, "no Outlook-only table around the 640 px column"
    closed = page.index("<!--[if mso]></td></tr></table><![endif]-->", opened.end())
    assert page.rindex("</footer>") < closed  # the whole column, footer included


class Texts(HTMLParser):
    """The text inside <body>, each piece with the inline styles of the elements around it."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.in_body = False
        self.texts: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.in_body = self.in_body or tag == "body"
        if tag not in ("br", "meta"):
            self.stack.append(dict(attrs).get("style") or "")

    def handle_endtag(self, tag: str) -> None:
        if self.stack and tag not in ("br", "meta"):
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        data = " ".join(re.sub("[\u034f\u200c\xa0]", " ", data).split())  # less the spacer
        if self.in_body and data:
            self.texts.append((data, ";".join(self.stack)))


def _first_text(page: str) -> tuple[str, str]:
    parser = Texts()
    parser.feed(page)
    return parser.texts[0]


def test_the_inbox_preview_names_the_first_papers_not_the_subject_again() -> None:
    """An inbox shows the first text of the body under the subject. Without a preheader it
    was "Paper digest for Ada Lovelace Friday, 20 November 2026 · 2 new papers...": the
    subject again. The preheader is hidden in the message itself."""
    ctx = _context()
    page = render(ctx, "html")
    text, styles = _first_text(page)
    assert "display:none" in styles.replace(" ", "")
    assert text.startswith(ctx.items[0].title), text
    assert ctx.items[1].title in text  # `A <Tricky> Title...`: escaped, read back as itself
    assert "Paper digest for" not in text


def test_an_empty_digest_previews_what_it_says() -> None:
    ctx = _context()
    empty = type(ctx)(**{**ctx.__dict__, "items": (), "groups": (), "below_threshold": 0})
    text, styles = _first_text(render(empty, "html"))
    assert "display:none" in styles.replace(" ", "")
    assert text == "Nothing new matched your interests since the last digest."


def test_a_row_of_links_without_a_listing_date_ends_in_its_last_link() -> None:
    """Each link was written with a " · " after it, for the date to follow: a paper with
    links and no listing date ended its row "Abstract · PDF · Code · "."""
    from dataclasses import replace

    from tests.unit.test_render_golden import sample_digest
    from worker.render import digest_context

    digest = sample_digest()
    items = tuple(replace(item, paper=replace(item.paper, listing_date=None))
                  for item in digest.items)
    page = render(digest_context(replace(digest, items=items), name="Ada", email=None,
                                 profile_file=None), "html")
    rows = re.findall(r'<p class="pd-muted" style="margin:0;font-size:13px;[^"]*">(.*?)</p>',
                      page, flags=re.S)
    assert rows and "Code</a>" in rows[0]
    for row in rows:
        assert not re.search(r"&middot;\s*$", row), row
