"""What spam filters read in the HTML email, held as properties of the rendered part.

Filters (SpamAssassin's HTML rules among them) take text a reader cannot see for a trick:
text whose colour is its background's (or transparent), text in a font a few pixels high;
with a relay that has no reverse DNS they add more for the same. The preheader (the inbox's
preview line) is hidden by display:none and by collapsing its box, never by colour or size.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from tests.unit.test_render_golden import sample_digest
from worker.feedback import Links as FeedbackLinks
from worker.render import DigestContext, digest_context, render

FEEDBACK = FeedbackLinks("https://papers.example.org/digest", "0123456789abcdef0123")


def _contexts() -> list[DigestContext]:
    digest = sample_digest()
    plain = digest_context(digest, name="Ada Lovelace", email="ada@example.org",
                           profile_file="config/subscribers/ada.toml")
    linked = digest_context(digest, name="Zoë Ørsted", email="zoe@example.org",
                            profile_file=None, feedback=FEEDBACK, group_by="interest")
    empty = type(linked)(**{**linked.__dict__, "items": (), "groups": (), "below_threshold": 0})
    return [plain, linked, empty]


CONTEXTS = _contexts()
IDS = ["plain", "feedback-grouped", "empty-feedback"]


def _styles(page: str) -> list[dict[str, str]]:
    """The inline style of every element inside <body>, as property -> value."""
    body = page[page.index("<body"):]
    found = []
    for style in re.findall(r'\sstyle="([^"]*)"', body):
        found.append({name.strip().lower(): value.strip().lower() for name, _, value in
                      (part.partition(":") for part in style.split(";")) if name.strip()})
    return found


@pytest.mark.parametrize("ctx", CONTEXTS, ids=IDS)
def test_no_text_is_hidden_by_colour_or_by_a_tiny_font(ctx: DigestContext) -> None:
    """The preheader was `font-size:1px;line-height:1px;color:transparent`: SpamAssassin read
    it as text in the background's colour (HTML_FONT_LOW_CONTRAST) and a 1 px font
    (HTML_FONT_TINY_NORDNS, NORDNS_LOW_CONTRAST where the relay has no reverse DNS)."""
    page = render(ctx, "html")
    for style in _styles(page):
        assert style.get("color") != "transparent", style
        if "color" in style and "background" in style:
            assert style["color"] != style["background"], style
        size = re.fullmatch(r"(\d+(?:\.\d+)?)px", style.get("font-size", ""))
        assert size is None or float(size.group(1)) >= 8, style


@pytest.mark.parametrize("ctx", CONTEXTS, ids=IDS)
def test_the_preheader_stays_hidden(ctx: DigestContext) -> None:
    page = render(ctx, "html")
    found = re.search(r'<div class="pd-preheader" style="([^"]*)"', page)
    assert found
    style = found.group(1).replace(" ", "")
    for rule in ("display:none", "max-height:0", "overflow:hidden", "mso-hide:all"):
        assert rule in style, rule


# Elements that start a line of their own: text on either side of one is never one word.
_BLOCKS = {"p", "div", "h1", "h2", "h3", "article", "header", "footer", "br", "title", "li",
           "body", "html", "head", "style"}


class _Flow(HTMLParser):
    """The body's text as a reader (or a filter) reads it: inline elements join the text on
    either side, block elements break it; each link's text is marked with \\x01 ... \\x02."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.out.append("\n" if tag in _BLOCKS else "\x01" if tag == "a" else "")

    def handle_endtag(self, tag: str) -> None:
        self.out.append("\n" if tag in _BLOCKS else "\x02" if tag == "a" else "")

    def handle_data(self, data: str) -> None:
        self.out.append(data)


@pytest.mark.parametrize("ctx", CONTEXTS, ids=IDS)
def test_no_link_text_runs_into_the_text_beside_it(ctx: DigestContext) -> None:
    """"More like this" and "Fewer like this" were two links with nothing between them: the
    text of the HTML part read "More like thisFewer like this" (a filter's tokens, a screen
    reader, a client's text-only view), and SpamAssassin counted each as a word broken by a
    tag (its obfuscation ratio)."""
    flow = _Flow()
    flow.feed(render(ctx, "html"))
    text = "".join(flow.out)
    assert "\x01" in text
    for glued in re.finditer(r"\w\x01|\x02\x01|\x02\w", text):
        start = max(glued.start() - 30, 0)
        raise AssertionError(f"link text glued to its neighbour: {text[start:glued.end() + 30]!r}")
