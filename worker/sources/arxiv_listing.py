"""`arxiv_listing`: the `/list/<category>/new` HTML page of arXiv.

The page says which day it lists ("Showing new listings for Monday, 28 September 2026"),
how many entries it has in all ("Total of 31 entries"), and splits them in sections whose
heading counts them: "New submissions (showing 10 of 10 entries)", "Cross submissions
(...)", "Replacement submissions (showing first 25 of 77 entries)". Each entry is a
`<dt>` (id, links) and a `<dd>` (title, authors, abstract). We check every section's count
against the entries found (a short page is a ParseError, not a quiet loss), and what the
page's text announces against what was read, so a page whose headings or entries moved to
other markup is a ParseError too, not "no papers listed"; we follow `skip`/`show` paging
when the page holds fewer entries than the total.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from worker.errors import ParseError
from worker.records import Links, PaperRecord, clean_text, split_arxiv_id
from worker.sources.arxiv_rss import REVISIONS, check_categories, with_gap_warning
from worker.sources.base import SourceContext
from worker.sources.http import FetchResult
from worker.sources.remote import (
    HttpOptions,
    HttpSource,
    Item,
    Params,
    check_choice,
    decode_text,
)

# Counts are ASCII digits, at most 9 of them: a longer one is no count arXiv writes (and
# int() refuses one of more than 4,300 digits with a ValueError, no ParseError).
_SHOWING = re.compile(
    r"\(showing\s+(?:first\s+)?([0-9]{1,9})\s+of\s+([0-9]{1,9})\s+entries\s*\)", re.I)
_LISTING_DAY = re.compile(r"new listings for\s+\w+,\s+(\d{1,2}\s+\w+\s+\d{4})", re.I)
_TOTAL = re.compile(r"Total of\s+([0-9]{1,9})\s+entries", re.I)
_ABS_LINK = re.compile(r"/abs/")
_VERSIONED = re.compile(r"/(?:html|abs|pdf)/([^\s?#]+v\d+)")
MAX_PAGE_SIZE = 2000  # arXiv's largest `show`


@dataclass(frozen=True, kw_only=True)
class ArxivListingOptions(HttpOptions):
    categories: list[str]
    base_url: str = "https://arxiv.org"
    revisions: str = "ignore"
    cross_lists: bool = True
    page_size: int = MAX_PAGE_SIZE
    max_pages: int = 5


@dataclass(frozen=True)
class Section:
    kind: str  # new, cross or replace
    heading: str
    shown: int  # entries this page says it shows
    declared: int  # entries the section has over all pages
    records: tuple[PaperRecord, ...]


@dataclass(frozen=True)
class ListingPage:
    listing_date: date | None
    total: int | None  # "Total of N entries", when stated
    sections: tuple[Section, ...]

    @property
    def shown(self) -> int:
        return sum(len(s.records) for s in self.sections)


def _section_kind(heading: str) -> str:
    low = heading.lower()
    return "replace" if "replace" in low else "cross" if "cross" in low else "new"


def _listing_date(soup: Any) -> date | None:
    for heading in soup.find_all("h3"):
        match = _LISTING_DAY.search(heading.get_text(" "))
        if match:
            try:
                return datetime.strptime(match.group(1), "%d %B %Y").date()
            except ValueError:
                return None
    return None


def _field(dd: Any, tag: str, css_class: str) -> str:
    # find() rather than CSS select(): a third of the parse time went to soupsieve
    node = dd.find(tag, class_=css_class)
    if node is None:
        return ""
    for label in node.find_all("span", class_="descriptor"):
        label.decompose()  # "Title:", "Authors:"
    return clean_text(node.get_text(" "))


def _entry(dt: Any, where: str, day: date | None) -> PaperRecord:
    link = dt.find("a", title="Abstract") or dt.find("a", href=_ABS_LINK)
    found = split_arxiv_id(link.get("href", "") if link else dt.get_text(" "))
    dd = dt.find_next_sibling("dd")
    if found is None or dd is None:
        raise ParseError(where, f"entry {clean_text(dt.get_text(' '))[:60]!r}: no arXiv id "
                         "or no <dd> with its details")
    arxiv_id, version = found
    for href in (a.get("href", "") for a in dt.find_all("a")):
        versioned = _VERSIONED.search(href)
        again = split_arxiv_id(versioned.group(1)) if versioned else None
        if version is None and again and again[0] == arxiv_id:
            version = again[1]
    title = _field(dd, "div", "list-title")
    if not title:
        raise ParseError(where, f"entry {arxiv_id}: no title")
    names = dd.find("div", class_="list-authors")
    authors = tuple(clean_text(a.get_text(" ")) for a in names.find_all("a")) if names else ()
    return PaperRecord(title=title, abstract=_field(dd, "p", "mathjax"), arxiv_id=arxiv_id,
                       version=version, authors=authors, links=Links.for_arxiv(arxiv_id),
                       listing_date=day)


def _sections(soup: Any, where: str, day: date | None) -> list[Section]:
    sections: list[Section] = []
    heading, counts = "", (0, 0)
    records: list[PaperRecord] = []
    for node in soup.find_all(["h3", "dt"]):
        if node.name == "h3":
            match = _SHOWING.search(node.get_text(" "))
            if match:
                if heading:
                    sections.append(Section(_section_kind(heading), heading, *counts,
                                            tuple(records)))
                heading = clean_text(node.get_text(" "))
                counts, records = (int(match.group(1)), int(match.group(2))), []
        elif heading:
            records.append(_entry(node, where, day))
    if heading:
        sections.append(Section(_section_kind(heading), heading, *counts, tuple(records)))
    return sections


def parse_page(data: bytes, where: str, *, strict: bool = True,
               charset: str | None = None) -> ListingPage:
    """One listing page. `strict`: a section holding fewer entries than it says is an error."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(decode_text(data, where, charset), "lxml")
    day = _listing_date(soup)
    sections = _sections(soup, where, day)
    paging = soup.find("div", class_="paging") or soup
    total_match = _TOTAL.search(paging.get_text(" "))
    total = int(total_match.group(1)) if total_match else None
    if not sections and day is None:
        text = soup.get_text(" ").lower()
        if "no updates" in text or "no new" in text:
            return ListingPage(None, 0, ())
        raise ParseError(where, "no 'Showing new listings' heading and no sections: "
                         "not an arXiv /list/<category>/new page")
    for section in sections if strict else ():
        if len(section.records) != section.shown:
            raise ParseError(where, f"{section.heading!r}: the page says {section.shown} "
                             f"entries but holds {len(section.records)} (truncated page?)")
    if strict:
        _check_all_read(soup, total, sum(len(s.records) for s in sections), where)
    return ListingPage(day, total, tuple(sections))


def _check_all_read(soup: Any, total: int | None, read: int, where: str) -> None:
    """A page that says it lists entries must yield them all. When arXiv moves a section
    heading or its entries to other markup, `_sections` finds fewer or none, and the source
    would report "no papers listed" (or a part of them) and stay healthy while papers are lost.

    What the page announces is read from its text, whatever tag holds each count: the sections'
    "(showing N of M entries)" must add up to what was read; "Total of N entries" (over all
    pages, so only a sign that there are some) or `<dt>` entries mean a page read as empty is
    not. A day with nothing listed has none of these and stays an empty day. The papers' own
    text (`<dd>`: titles, abstracts) is not the page's: an abstract may say "(showing 5 of 5
    entries)" too."""
    shown = sum(int(m.group(1)) for piece in soup.find_all(string=_SHOWING)
                if piece.find_parent("dd") is None for m in _SHOWING.finditer(piece))
    if read >= shown and (read or not total):
        entries = 0 if read else len(soup.find_all("dt"))
        if not entries:
            return
        announced = f"holds {_entries(entries)} (<dt>)"
    else:
        announced = f"announces {_entries(shown or total or 0)}"
    got = f"only {read}" if read else "none"
    raise ParseError(where, f"the page {announced} but {got} could be read: has the layout "
                     "changed? (expected <h3> section headings such as 'New submissions "
                     "(showing N of N entries)', each followed by its <dt>/<dd> entries)")


def _entries(count: int) -> str:
    return f"{count} entry" if count == 1 else f"{count} entries"


def wanted(section: Section, revisions: str, cross_lists: bool) -> bool:
    if section.kind == "replace":
        return revisions == "include"
    return cross_lists if section.kind == "cross" else True


def parse(data: bytes, where: str, revisions: str = "ignore", cross_lists: bool = True,
          strict: bool = True) -> list[PaperRecord]:
    page = parse_page(data, where, strict=strict)
    return [r for s in page.sections if wanted(s, revisions, cross_lists) for r in s.records]


class ArxivListingSource(HttpSource):
    kind = "arxiv_listing"
    Options = ArxivListingOptions
    options: ArxivListingOptions
    families = ("html",)
    accept = "text/html"

    @classmethod
    def check_options(cls, options: ArxivListingOptions) -> list[tuple[str, str]]:
        problems = super().check_options(options)
        problems += check_categories(options.categories)
        problems += check_choice("revisions", options.revisions, REVISIONS)
        if not 1 <= options.page_size <= MAX_PAGE_SIZE:
            problems.append(("page_size", f"expected 1 to {MAX_PAGE_SIZE}"))
        if options.max_pages < 1:
            problems.append(("max_pages", "expected 1 or more"))
        return problems

    def collect(self, ctx: SourceContext) -> Iterator[Item]:
        for category in self.options.categories:
            yield from self._category(ctx, category)

    def _category(self, ctx: SourceContext, category: str) -> Iterator[Item]:
        yield from with_gap_warning(self.name, self.fetch_pages(
            ctx, self.url(f"/list/{category}/new"), {"skip": 0, "show": self.options.page_size},
            _following, self.options.max_pages, self._parse), ctx.last_read)

    def _parse(self, results: Sequence[FetchResult]) -> tuple[list[PaperRecord], date | None]:
        records: dict[str, PaperRecord] = {}
        day: date | None = None
        for result in results:
            page = parse_page(result.body, result.url, charset=result.charset)
            day = day or page.listing_date
            for section in page.sections:
                if wanted(section, self.options.revisions, self.options.cross_lists):
                    for record in section.records:
                        records.setdefault(record.key, record)
        return list(records.values()), day


def _following(result: FetchResult, params: Params) -> Params | None:
    """The next page's query, when there is one."""
    shown = _more_pages(result, params["skip"])
    return {**params, "skip": params["skip"] + shown} if shown else None


def _more_pages(result: FetchResult, seen: int) -> int:
    """Entries on this page when another page should follow, else 0.

    A page is one of several when a section shows fewer entries than it has; we stop when
    the stated total is reached or nothing was shown (max_pages bounds the rest).
    """
    if result.not_modified:
        return 0
    text = result.body.decode("utf-8", "replace")  # a cheap look; the real parse comes later
    counts = [(int(m.group(1)), int(m.group(2))) for m in _SHOWING.finditer(text)]
    shown = sum(n for n, _ in counts)
    total = _TOTAL.search(text)
    partial = any(n < of for n, of in counts)
    if not partial or shown == 0 or (total and seen + shown >= int(total.group(1))):
        return 0
    return shown
