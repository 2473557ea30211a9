"""arxiv_listing parser: the real /list/cs.IT/new excerpt and synthetic full pages."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from worker.errors import ParseError
from worker.sources import arxiv_listing

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
EXCERPT = "arxiv_list_cs.IT_new_2026-09-28_excerpt.html"


def fixture(name: str) -> bytes:
    path = SHARED / "fixtures" / "arxiv" / name
    if not path.exists():
        pytest.skip(f"fixture {path} absent")
    return path.read_bytes()


def test_excerpt_is_caught_as_short_by_the_count_check():
    # The excerpt keeps 3 of the 10 new submissions its heading announces.
    with pytest.raises(ParseError) as err:
        arxiv_listing.parse_page(fixture(EXCERPT), "https://arxiv.org/list/cs.IT/new")
    assert "says 10 entries but holds 3" in str(err.value)
    assert "list/cs.IT/new" in str(err.value)


def test_excerpt_entries_when_not_strict():
    page = arxiv_listing.parse_page(fixture(EXCERPT), "x", strict=False)
    assert page.listing_date == date(2026, 9, 28)
    assert page.total == 31
    [section] = page.sections
    assert (section.kind, section.shown, section.declared) == ("new", 10, 10)
    records = section.records
    assert [r.arxiv_id for r in records] == ["2609.30653", "2609.30690", "2609.31090"]
    assert [r.version for r in records] == [1, 1, 1]  # from the html/<id>v1 links
    assert records[0].title == ("Fully 3GPP-Compatible Long-Range Sensing for LEO-ISAC: "
                                "A Window-Grid Processing Framework")
    assert records[0].authors == ("Yi Geng", "Xun Fan", "Chenfeng Xu", "Yu Zhao")
    assert records[2].authors[0] == "Andrés Cristi"
    assert records[1].authors[0] == "Faisal Al-Kamali"
    assert records[0].abstract.startswith("This paper addresses the long-range sensing")
    assert "Title:" not in records[0].title
    assert "\n" not in records[2].abstract and "  " not in records[2].abstract
    assert "(J. Am. Stat. Assoc., 1966). We also recover" in records[2].abstract
    assert all(r.listing_date == date(2026, 9, 28) for r in records)
    assert records[0].links.pdf == "https://arxiv.org/pdf/2609.30653"


def entry(n: int, arxiv_id: str, title: str, authors: tuple[str, ...] = ("A. B",)) -> str:
    names = ", ".join(f'<a href="/a/{i}">{a}</a>' for i, a in enumerate(authors))
    return (f"<dt><a name='item{n}'>[{n}]</a><a href =\"/abs/{arxiv_id}\" title=\"Abstract\" "
            f"id=\"{arxiv_id}\">arXiv:{arxiv_id}</a></dt><dd><div class='meta'>"
            f"<div class='list-title mathjax'><span class='descriptor'>Title:</span>\n  {title}\n"
            f"</div><div class='list-authors'>{names}</div>"
            f"<p class='mathjax'>Abstract of {arxiv_id}.</p></div></dd>")


def page(*sections: tuple[str, int, int, list[str]], total: int | None = None) -> bytes:
    body = "".join(f"<dl id='articles'><h3>{name} (showing {shown} of {of} entries)</h3>"
                   f"{''.join(items)}</dl>" for name, shown, of, items in sections)
    paging = f"<div class='paging'>Total of {total} entries</div>" if total is not None else ""
    return (f"<html><body><div id='dlpage'><h1>Computer Vision</h1>"
            f"<h3>Showing new listings for Tuesday, 11 March 2025</h3>{paging}{body}"
            "</div></body></html>").encode()


FULL = page(
    ("New submissions", 2, 2, [entry(1, "2503.00001", "First"),
                               entry(2, "2503.00002", "Ünïcode $\\pi$ title", ("Zoë Ünicode",))]),
    ("Cross submissions", 1, 1, [entry(3, "2503.00003", "Crossed")]),
    ("Replacement submissions", 1, 1, [entry(4, "2401.00004", "Revised")]),
    total=4)


@pytest.mark.parametrize(("revisions", "cross", "ids"), [
    ("ignore", True, ["2503.00001", "2503.00002", "2503.00003"]),
    ("ignore", False, ["2503.00001", "2503.00002"]),
    ("include", True, ["2503.00001", "2503.00002", "2503.00003", "2401.00004"]),
])
def test_sections_and_policy(revisions, cross, ids):
    records = arxiv_listing.parse(FULL, "x", revisions=revisions, cross_lists=cross)
    assert [r.arxiv_id for r in records] == ids


def test_sections_are_split_by_heading():
    parsed = arxiv_listing.parse_page(FULL, "x")
    assert [(s.kind, len(s.records)) for s in parsed.sections] == [
        ("new", 2), ("cross", 1), ("replace", 1)]
    second = parsed.sections[0].records[1]
    assert second.title == "Ünïcode $\\pi$ title" and second.authors == ("Zoë Ünicode",)
    assert second.version is None  # no versioned link: not invented


def test_first_page_of_a_paged_listing():
    paged = page(("New submissions", 2, 3, [entry(1, "2503.00001", "A"),
                                           entry(2, "2503.00002", "B")]), total=3)
    parsed = arxiv_listing.parse_page(paged, "x")
    assert parsed.shown == 2 and parsed.total == 3
    first = page(("Replacement submissions", 1, 77, [entry(1, "2401.00001", "R")]))
    assert b"showing 1 of 77" in first
    heading = first.replace(b"showing 1 of 77", b"showing first 1 of 77")
    assert arxiv_listing.parse_page(heading, "x").sections[0].shown == 1


def test_no_updates_page_is_empty():
    body = b"<html><body><div id='dlpage'><h1>Physics</h1><p>No updates for this time " \
           b"period.</p></div></body></html>"
    assert arxiv_listing.parse(body, "x") == []


def test_an_abstract_quoting_a_count_is_no_announcement():
    """A paper may write "(showing 5 of 5 entries)" in its abstract: that is the paper's text,
    not the page's, and must not fail the day's listing."""
    body = FULL.replace(b"Abstract of 2503.00001.",
                        b"Abstract of 2503.00001 (showing 5 of 5 entries).")
    assert len(arxiv_listing.parse(body, "x", revisions="include")) == 4


@pytest.mark.parametrize(("body", "message"), [
    (b"<html><body><h1>Access denied</h1></body></html>", "not an arXiv /list/"),
    (page(("New submissions", 2, 2, [entry(1, "2503.00001", "A")])), "says 2 entries but holds 1"),
    (page(("New submissions", 1, 1, ["<dt><a href='/abs/2503.00001'>x</a></dt>"])), "no <dd>"),
    (page(("New submissions", 1, 1, [entry(1, "2503.00001", "")])), "no title"),
    ("<h3>Showing new listings for Tuesday, 11 March 2025</h3>caf\u00e9".encode("latin-1"),
     "not utf-8"),
    # a layout change: section headings no longer read, the page still counting its entries
    (page(("New submissions", 1, 1, [entry(1, "2503.00001", "A")]), total=1)
     .replace(b"<h3>New", b"<h4>New"), "announces 1 entry but none could be read"),
    (page(("New submissions", 1, 1, [entry(1, "2503.00001", "A")]))
     .replace(b" (showing 1 of 1 entries)", b""), "holds 1 entry (<dt>) but none could be"),
])
def test_errors(body, message):
    with pytest.raises(ParseError) as err:
        arxiv_listing.parse(body, "https://arxiv.org/list/cs.CV/new")
    assert message in str(err.value) and "list/cs.CV/new" in str(err.value)


def test_a_count_of_thousands_of_digits_is_no_count():
    """int() refuses a number of more than 4,300 digits with a ValueError, which no source
    catches: it ended the source (and the paging look-ahead raised it before the parse)."""
    from worker.sources.http import FetchResult

    huge = "1" + "0" * 5000
    body = page(("New submissions", huge, huge, [entry(1, "2503.00001", "First")]))
    with pytest.raises(ParseError, match="holds 1 entry"):
        arxiv_listing.parse_page(body, "x")
    totalled = page(("New submissions", 1, 1, [entry(1, "2503.00001", "First")]), total=huge)
    assert arxiv_listing.parse_page(totalled, "x").total is None
    result = FetchResult("x", "x", 200, {}, body)
    assert arxiv_listing._following(result, {"skip": 0, "show": 2000}) is None
