"""The HTML email stays under the size at which Gmail clips it (worker.clipping): past the
papers in full that fit, papers are compact; past what fits compact, left out, the page saying
how many and where they are. The footer always stays. A digest that fits is rendered as it
always was (a golden file, taken before the email had a size budget); the plain-text part
and Markdown keep every paper in full. All through build_email, as delivery sends it."""

from __future__ import annotations

import html as htmllib
import math
import re
from pathlib import Path

import pytest

from tests.unit.big_digests import big_context
from tests.unit.test_render_golden import _check
from worker.clipping import HTML_BUDGET, most_within, shown_as
from worker.digest_mail import build_email
from worker.mime import Mail, quoted_printable
from worker.render import render

SENDER = "Paper Digest <digest@example.org>"


def _parts(mail: Mail) -> tuple[bytes, str, str]:
    """(the HTML part's body as sent, the text part, the HTML part), decoded ones with LF."""
    message = mail.parse()
    boundary = message.get_boundary()
    assert boundary
    html_part = mail.data.split(f"--{boundary}".encode())[2]
    body = html_part.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n")
    text, page = (message.get_body((kind,)) for kind in ("plain", "html"))
    assert text is not None and page is not None
    return body, *(part.get_content().replace("\r\n", "\n") for part in (text, page))


def _cards(page: str) -> list[str]:
    return re.findall(r"<article\b.*?</article>", page, re.S)


def _compact(card: str) -> bool:
    """A compact card: no abstract (every sample abstract starts "We study")."""
    return "We study" not in card


def test_a_20_item_digest_with_feedback_links_is_the_email_it_always_was() -> None:
    body, _, page = _parts(build_email(big_context(20), sender=SENDER))
    assert len(body) < HTML_BUDGET
    _check("digest-20-feedback.html", page)


def test_60_papers_with_feedback_links_fit_and_the_footer_and_unsubscribe_link_stay() -> None:
    """In full they are ~165 KB as sent: Gmail hid everything past ~35 of them, the footer
    and its Unsubscribe link too."""
    ctx = big_context(60)
    assert len(quoted_printable(render(ctx, "html"))) > 1.5 * HTML_BUDGET
    body, _, page = _parts(build_email(ctx, sender=SENDER))
    assert len(body) <= HTML_BUDGET
    unsubscribe = re.search(r'<footer\b.*?<a class="pd-link" href="([^"]+)"[^>]*>Unsubscribe'
                            r"</a>.*?</footer>", page, re.S)
    assert unsubscribe and htmllib.unescape(unsubscribe.group(1)) == ctx.unsubscribe[0]
    assert page.rstrip().endswith("</html>")
    cards = _cards(page)
    assert len(cards) == 60  # every paper shown: compact, not left out
    for item, card in zip(ctx.items, cards, strict=True):
        assert f">{item.rank}.<" in card or f">{item.rank}. " in card
        for link in (item.more_url, item.fewer_url):  # every paper keeps its buttons
            assert link and f'href="{htmllib.escape(link)}"' in card
    assert "60 new papers" in page and "not shown here" not in page


def test_the_papers_before_the_cut_are_in_full_and_after_it_compact() -> None:
    """As many in full as fit: one more in full would be over the budget."""
    ctx = big_context(40)
    body, _, page = _parts(build_email(ctx, sender=SENDER))
    cards = _cards(page)
    full = next(n for n, card in enumerate(cards) if _compact(card))
    assert 0 < full < 40 and len(cards) == 40
    assert not any(_compact(card) for card in cards[:full])
    assert all(_compact(card) for card in cards[full:])
    for item, card in zip(ctx.items[:full], cards, strict=False):
        assert item.authors_short in card and "We study" in card  # (highlighted words)
    for item, card in zip(ctx.items[full:], cards[full:], strict=True):
        assert item.authors[0] not in card and item.why in htmllib.unescape(card)
        assert f"score {item.score:.2f}" in card and item.key in card
    note = page.index("From here on, papers are shown without their abstract")
    assert page.index(cards[full - 1]) < note < page.index(cards[full])
    assert page.count("From here on") == 1
    one_more = render(shown_as(ctx, full + 1, 40), "html")
    assert len(quoted_printable(one_more)) > HTML_BUDGET >= len(body)


def test_the_text_part_and_markdown_keep_every_paper_in_full() -> None:
    ctx = big_context(60)
    _, text, page = _parts(build_email(ctx, sender=SENDER))
    markdown = render(ctx, "md")
    for item in ctx.items:
        for form in (text, markdown):
            assert item.key in form and item.more_url and item.more_url in form
        assert re.sub(r"\s+", " ", item.abstract_short)[:60] in re.sub(r"\s+", " ", text)
    assert text == render(ctx, "txt").replace("\r\n", "\n")
    assert _compact(_cards(page)[-1])  # while the HTML part's last papers are compact


def _note(page: str, start: str) -> str:
    """The paragraph of `page` that starts with `start`, its entities decoded, its tags kept
    (a path is in <code>) and its white space collapsed."""
    found = re.search(rf"<p [^>]*>({re.escape(start)}.*?)</p>", page, re.S)
    assert found, start
    return htmllib.unescape(re.sub(r"\s+", " ", found.group(1)))


COMPACT = ("From here on, papers are shown without their abstract and authors, to keep this "
           "email under the size at which Gmail cuts emails short.")
PLAIN_TEXT = ("though not every email app can show it: in Gmail on a computer, click More (⋮) "
              "next to Reply, then Show original, and read on below the email's headers.")
MARKDOWN = "<code>{path}</code>, a file on the computer that runs paper-digest."


@pytest.mark.parametrize(("unlinked", "markdown", "said"), [
    # every compact paper links to its page: the reader goes there, whatever else they get
    (0, False, " Each title links to the paper's page, with its abstract and authors."),
    (0, True, " Each title links to the paper's page, with its abstract and authors."),
    # some do not (a text dump's papers have no link): the linked ones, then the whole digest
    (3, True, " A title that is a link leads to the paper's page, with its abstract and "
              "authors. Your Markdown digest has every paper in full: " + MARKDOWN),
    (3, False, " A title that is a link leads to the paper's page, with its abstract and "
               "authors. The plain-text version of this email has every paper in full, "
               + PLAIN_TEXT),
    (1, True, " Your Markdown digest has every paper in full: " + MARKDOWN),
    (1, False, " The plain-text version of this email has every paper in full, " + PLAIN_TEXT),
])
def test_the_note_above_the_compact_papers_says_where_the_reader_can_read_them_in_full(
        unlinked: int, markdown: bool, said: str, tmp_path: Path) -> None:
    """Most mail apps cannot show an email's plain-text part (Gmail only in the email's
    source): a compact paper's own page, which its title links to, is what every reader can
    reach; the plain-text part is named last, with the one way Gmail shows it."""
    ctx = big_context(40, unlinked=unlinked, markdown_dir=tmp_path / "out" if markdown else None)
    mail = build_email(ctx, sender=SENDER)
    body, _, page = _parts(mail)
    assert len(body) <= HTML_BUDGET
    # Gmail's Show original shows the email as sent: its headers, then the plain-text part
    assert mail.data.index(b"Content-Type: text/plain") < mail.data.index(b"text/html")
    path = tmp_path / "out" / "ada" / f"{ctx.file_stem}.md"
    assert _note(page, "From here on") == COMPACT + said.format(path=path)
    cards = _cards(page)
    compact = [(item, card) for item, card in zip(ctx.items, cards, strict=True)
               if _compact(card)]
    assert compact and any(item.url for item, _ in compact) == (unlinked != 1)
    for item, card in compact:  # what the note says of the titles holds
        title = (f'<a href="{htmllib.escape(item.url)}"' if item.url
                 else f"{item.rank}. {htmllib.escape(item.title)}</h2>")
        assert title in card


@pytest.mark.parametrize("markdown", [False, True])
def test_past_what_fits_compact_the_email_says_how_many_more_and_where(
        markdown: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where all of them are: the Markdown digest, as a path from the root (output_dir is
    relative to where paper-digest runs, which a reader does not know), else the plain-text
    part and how to see it; never a command, which is for whoever runs paper-digest."""
    monkeypatch.chdir(tmp_path)
    ctx = big_context(150, markdown_dir=Path("out") if markdown else None)
    body, text, page = _parts(build_email(ctx, sender=SENDER))
    assert len(body) <= HTML_BUDGET and "</footer>" in page
    shown = len(_cards(page))
    assert 40 < shown < 150 and all(_compact(card) for card in _cards(page))
    where = ("Your Markdown digest lists all 150: " + MARKDOWN.format(
                path=tmp_path / "out" / "ada" / f"{ctx.file_stem}.md") if markdown
             else "The plain-text version of this email lists all 150, " + PLAIN_TEXT)
    assert _note(page, f"{150 - shown} more") == (
        f"{150 - shown} more matching papers ({shown + 1}–150) are not shown here, to keep "
        f"this email under the size at which Gmail cuts emails short. {where}")
    flat = re.sub(r"\s+", " ", page)
    assert "150 new papers" in flat and flat.index("not shown here") < flat.index("<footer")
    assert "preview" not in flat
    assert all(item.key in text for item in ctx.items)


def test_a_template_that_ignores_the_flag_is_kept_under_by_leaving_papers_out(
        tmp_path: Path) -> None:
    """A template of one's own that knows nothing of item.compact renders compact papers in
    full: the email leaves the last papers out instead, and its footer stays."""
    (tmp_path / "digest.html.j2").write_text(
        "<html><body>{% for item in d.items %}<article><h2>{{ item.title }}</h2>"
        "<p>{{ item.abstract }}</p></article>{% endfor %}"
        "<footer>Unsubscribe: {{ d.unsubscribe[0] }}</footer></body></html>\n")
    ctx = big_context(400)
    body, _, page = _parts(build_email(ctx, sender=SENDER, templates_dir=tmp_path))
    assert len(body) <= HTML_BUDGET
    assert 0 < page.count("<article>") < 400 and "<footer>Unsubscribe: https://" in page


def test_grouped_papers_are_cut_in_the_order_shown_and_no_section_is_left_empty() -> None:
    ctx = big_context(150, group_by="interest")
    _, _, page = _parts(build_email(ctx, sender=SENDER))
    shown = len(_cards(page))
    ranks = [int(n) for n in re.findall(r"<h3 [^>]*>(?:<span [^>]*>)?(\d+)\.", page)]
    assert ranks == list(range(1, shown + 1))
    sections = re.findall(r"<h2 class=\"pd-muted\"[^>]*>(.*?)</h2>", page)
    kept = [group.label for group in ctx.groups if group.items[0].rank <= shown]
    assert sections == kept and len(sections) < len(ctx.groups)


@pytest.mark.parametrize("sizes", [
    [1000 + 50 * n for n in range(101)],  # in step with n
    [1000 + n * n for n in range(101)],  # growing faster
    [1000 + (3000 if n > 70 else 0) + n for n in range(101)],  # one big step
    [1000 + 10 * min(n, 30) for n in range(101)],  # flat past 30
])
@pytest.mark.parametrize("budget", [900, 1000, 1500, 3000, 5000, 6000])
def test_the_search_finds_the_largest_count_that_fits_in_few_renderings(
        sizes: list[int], budget: int) -> None:
    tried: list[int] = []

    def rendered(n: int):  # type: ignore[no-untyped-def]
        tried.append(n)
        return None, b"x" * sizes[n]

    fits = [n for n in range(100) if sizes[n] <= budget]
    if sizes[0] > budget or sizes[100] <= budget:
        return  # fit() never asks: the first rendering fits, or nothing does
    found = most_within(rendered(0), 100, sizes[100], rendered, budget)
    assert len(found[1]) == sizes[max(fits)]
    assert len(tried) <= 1 + 3 + math.ceil(math.log2(100)) + 1
