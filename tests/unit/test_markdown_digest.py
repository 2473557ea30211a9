"""The Markdown digest parses cleanly: headings, links, and no stray escapes in the text."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from tests.unit.test_render_golden import sample_digest
from worker.mathtext import display_text
from worker.mdtext import highlight_md, md_code, md_escape
from worker.plaintext import clean_line
from worker.render import digest_context, render
from worker.settings import EmailSettings


def _tokens(text: str):  # type: ignore[no-untyped-def]
    # CommonMark, as GitHub and Obsidian read it; dollar math is Obsidian's (and GitHub's)
    # extension, which is why `$` is escaped in our output.
    return MarkdownIt("commonmark").parse(text)


def _inline_text(token) -> str:  # type: ignore[no-untyped-def]
    return "".join(child.content for child in token.children or []
                   if child.type in ("text", "code_inline"))


def _render(digest, profile_file: str = "config/subscribers/ada.toml",  # type: ignore[no-untyped-def]
            **kw):
    ctx = digest_context(digest, name="Ada Lovelace", email=None, profile_file=profile_file,
                         **kw)
    return render(ctx, "md")


def _code_spans(text: str) -> list[str]:
    return [child.content for t in _tokens(text) if t.type == "inline"
            for child in t.children or [] if child.type == "code_inline"]


def test_headings_links_and_exact_titles() -> None:
    digest = sample_digest()
    tokens = _tokens(_render(digest))
    headings = [(tokens[i].tag, _inline_text(tokens[i + 1])) for i, t in enumerate(tokens)
                if t.type == "heading_open"]
    assert headings[0] == ("h1", "Paper digest for Ada Lovelace")
    # Each paper is an h2 whose rendered text is its title exactly (LaTeX written out:
    # worker.mathtext.display_text): the escapes we add
    # for `<`, `$`, `\\`, `*` or `[` never show.
    assert [text for tag, text in headings[1:]] == [
        f"{i.rank}. {display_text(i.paper.title)}" for i in digest.items]
    links = [child.attrs["href"] for t in tokens if t.type == "inline"
             for child in t.children or [] if child.type == "link_open"]
    assert "https://arxiv.org/abs/2611.01234" in links
    assert "https://github.com/example/cgd" in links
    assert not any(t.type in ("html_block", "html_inline") for t in tokens
                   for t in [t, *(t.children or [])])


def test_abstract_text_survives_escaping() -> None:
    digest = sample_digest()
    tokens = _tokens(_render(digest))
    quotes = ["".join(_inline_text(t) for t in tokens[i:] if t.type == "inline")
              for i, t in enumerate(tokens) if t.type == "blockquote_open"]
    assert any("[brackets] *stars* _under_." in q for q in quotes)


def test_quiet_day_says_so() -> None:
    text = _render(replace(sample_digest(), items=(), item_count=0, below_threshold=0))
    assert "no new papers for your interests today" in text
    assert "Nothing new matched your interests since the last digest." in text


@pytest.mark.parametrize("name", ["h_user", "a*b[c]$d\\e<f>", "one`tick", "`edge``", "x ``` y"])
def test_code_spans_show_names_as_they_are(name: str) -> None:
    """A code span shows its text as it is: an escape would show its backslash
    (`h\\_user`), and a backtick in the text must not close the span early."""
    digest = replace(sample_digest(), subscriber_id=name)
    text = _render(digest, profile_file=f"cfg/subscribers/{name}.toml")
    assert _code_spans(text)[-2:] == [name, f"cfg/subscribers/{name}.toml"]
    assert _code_spans(md_code(name)) == [name]


@pytest.mark.parametrize("profile_file", ["config/subscribers/alan.toml", None])
def test_footer_lines_stay_apart(profile_file: str | None) -> None:
    """The unsubscribe link and whom to ask are paragraphs of their own, not run into the
    sentence before them (`...alan.toml`.[Unsubscribe](...)`)."""
    mailing = EmailSettings(unsubscribe=("mailto:list@example.org?subject=unsubscribe",),
                            help="Ana, list@example.org")
    text = _render(sample_digest(), profile_file=profile_file, mailing=mailing)
    tokens = _tokens(text)
    after = next(i for i, t in enumerate(tokens) if t.type == "hr")
    footer = ["".join(c.content for c in t.children or []) for t in tokens[after:]
              if t.type == "inline"]
    edit = " To change your interests or stop it, edit config/subscribers/alan.toml."
    assert footer == [
        "You get this digest because you are subscribed to paper-digest as ada."
        + (edit if profile_file else ""),
        "Unsubscribe.", "Questions: Ana, list@example.org."]


SOURCE_TEXTS = ["+ plus hallucination", "- minus", "* star", "1. one hallucination", "1) one",
                "2026. A year", "-", "= equals", "--- dashes", "Q&amp;A, &copy; and &lt;b&gt;",
                "&#38; &#x26; &amp hallucination & more"]


def _quotes(tokens) -> list[list[str]]:  # type: ignore[no-untyped-def]
    """Each blockquote's blocks, as token types, and its text."""
    found = []
    for i, token in enumerate(tokens):
        if token.type == "blockquote_open":
            end = next(j for j in range(i, len(tokens)) if tokens[j].type == "blockquote_close")
            found.append([t.type for t in tokens[i + 1:end]]
                         + ["".join(_inline_text(t) for t in tokens[i + 1:end]
                                    if t.type == "inline")])
    return found


@pytest.mark.parametrize("source", SOURCE_TEXTS)
def test_text_renders_as_itself(source: str) -> None:
    """A line starting like a list item (or a rule) stays text in its blockquote, and what
    reads as a character reference (`&copy;`) shows as written, not as the character."""
    first, second = sample_digest().items
    items = (replace(first, paper=replace(first.paper, title=source)),
             replace(second, paper=replace(second.paper, abstract=source)))
    tokens = _tokens(_render(replace(sample_digest(), items=items)))
    titles = [_inline_text(tokens[i + 1]) for i, t in enumerate(tokens)
              if t.type == "heading_open" and t.tag == "h2"]
    assert titles[0] == f"1. {source}"
    blocks = ["paragraph_open", "inline", "paragraph_close"]
    assert _quotes(tokens)[1] == [*blocks, source]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([*"ab1 9.)-+*=#>&;<`_[]()!\\$|~", "&amp;", "&copy;", "&#38;",
                                 "hallucination", "1. ", "- "]), max_size=12).map("".join))
def test_any_text_renders_as_itself(source: str) -> None:
    """md and hl_md: the text a renderer shows is the text escaped, at a line's start too."""
    shown = clean_line(source)
    for escaped in (md_escape(source), highlight_md(source, ["hallucination"])):
        tokens = _tokens("> " + escaped)
        blocks = ["paragraph_open", "inline", "paragraph_close"] if shown else []
        assert [t.type for t in tokens[1:-1]] == blocks, escaped
        assert "".join(_inline_text(t) for t in tokens if t.type == "inline") == shown


# A term of several words is highlighted from its first word to its last, with whatever
# stands between them: a `<`, `*` or `[` there is the dump's text, escaped like the rest.
STRADDLING = ["Vision <Language onmouseover=alert(1) models", "Vision*Language* models",
              "Vision_[Language](https://x.example) models", "Vision`Language` $x$ models"]


@pytest.mark.parametrize("source", STRADDLING)
def test_a_highlighted_term_renders_as_itself(source: str) -> None:
    """hl_md escapes the text it marks as md does the rest: nothing in it becomes markup."""
    escaped = highlight_md(source, ["vision language"])
    tokens = MarkdownIt("commonmark", {"html": True}).parse("> " + escaped)  # raw HTML on
    [strong] = [c for t in tokens if t.type == "inline" for c in t.children or []
                if c.type == "strong_open"]
    assert strong.markup == "**"
    inline = [c for t in tokens if t.type == "inline" for c in t.children or []]
    assert [c.type for c in inline if c.type not in ("text", "strong_open", "strong_close",
                                                     "softbreak")] == []
    assert "".join(c.content for c in inline) == source


@pytest.mark.parametrize("source", STRADDLING)
def test_a_highlighted_term_is_escaped_in_html(source: str) -> None:
    """hl_html: the one tag in a highlighted title is our <mark>; the text shows as written."""
    from html.parser import HTMLParser

    from worker.templating import highlight_html

    class Parsed(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tags: list[str] = []
            self.text: list[str] = []

        def handle_starttag(self, tag: str, attrs: object) -> None:
            self.tags.append(tag)

        def handle_data(self, data: str) -> None:
            self.text.append(data)

    parsed = Parsed()
    parsed.feed(str(highlight_html(source, ["vision language"])))
    parsed.close()
    assert parsed.tags == ["mark"] and "".join(parsed.text) == source


def test_a_link_with_parentheses_stays_one_link() -> None:
    """A paper's links are whatever its source gave (a project page its author typed): a `)`
    in one must not end the Markdown link early and let the rest make a link or an image."""
    from worker.records import Links

    first, second = sample_digest().items
    odd = "https://example.org/p_(x))![pixel](https://tracker.example/p.png"
    items = (replace(first, paper=replace(first.paper, links=Links(project=odd))), second)
    tokens = _tokens(_render(replace(sample_digest(), items=items)))
    children = [c for t in tokens if t.type == "inline" for c in t.children or []]
    assert not any(c.type == "image" for c in children)
    hrefs = [c.attrs["href"] for c in children if c.type == "link_open"]
    assert "https://tracker.example/p.png" not in hrefs
    assert any(href.startswith("https://example.org/p_") and "tracker" in href
               for href in hrefs)
