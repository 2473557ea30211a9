"""`arxiv_rss`: the rss.arxiv.org RSS 2.0 feed of one or more categories.

Per arXiv's spec (fixtures/arxiv/arxiv_docs_rss_specifications.md) each item has `title`,
`link` (abstract page), a `description` of the form
`arXiv:<id>v<N> Announce Type: <type> \\nAbstract: <abstract>`, a `guid`
`oai:arXiv.org:<id>v<N>`, `dc:creator` (authors, comma-separated), `pubDate` (the
announcement day) and `arxiv:announce_type`: `new`, `cross`, `replace` or `replace-cross`.
New and cross listings are kept; replacements follow `revisions`: "ignore" (default: left
out) or "include" (read: a paper first met as a replacement is new; a known one takes the new
version number, and is not new again). The feed is empty on weekends and holidays.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime

from worker.errors import ParseError
from worker.records import Links, PaperRecord, clean_text, split_arxiv_id
from worker.sources.arxiv_api import xml_root
from worker.sources.base import Dump, SourceContext, SourceWarning
from worker.sources.http import FetchResult
from worker.sources.remote import HttpOptions, HttpSource, Item, check_choice

NS = {"arxiv": "http://arxiv.org/schemas/atom", "dc": "http://purl.org/dc/elements/1.1/"}
REVISIONS = ("ignore", "include")
CATEGORY = re.compile(r"^[a-z][a-z\-]*(\.[A-Za-z\-]+)?$")
_DESCRIPTION = re.compile(
    r"^\s*arXiv:(?P<id>\S+)\s+Announce Type:\s*(?P<type>[\w\-]+)\s*(?:Abstract:\s*)?(?P<abs>.*)$",
    re.DOTALL)


@dataclass(frozen=True, kw_only=True)
class ArxivRssOptions(HttpOptions):
    categories: list[str]
    base_url: str = "https://rss.arxiv.org"
    revisions: str = "ignore"
    cross_lists: bool = True


@dataclass(frozen=True)
class RssItem:
    record: PaperRecord
    announce_type: str  # new, cross, replace, replace-cross


@dataclass(frozen=True)
class RssFeed:
    listing_date: date | None  # the channel's pubDate: the announcement day
    items: tuple[RssItem, ...] = field(default=())


def check_categories(categories: list[str]) -> list[tuple[str, str]]:
    if not categories:
        return [("categories", 'expected at least one category, e.g. ["cs.CV"]')]
    bad = [c for c in categories if not CATEGORY.match(c)]
    if bad:
        return [("categories", f"not arXiv categories: {', '.join(map(repr, bad))} "
                 '(expected e.g. "cs.CV", "math.OC", "hep-th")')]
    return []


def keep(announce_type: str, revisions: str, cross_lists: bool) -> bool:
    """Whether an item of this announce type is taken in under the given policy."""
    if announce_type.startswith("replace"):
        return revisions == "include"
    if announce_type == "cross":
        return cross_lists
    return True  # new, and types arXiv may add later: the store deduplicates by id anyway


def _date(value: str, where: str) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        raise ParseError(where, f"pubDate is not an RFC 822 date: {value!r}") from None


def _child(item: ET.Element, path: str) -> str:
    node = item.find(path, NS)
    return (node.text or "").strip() if node is not None else ""


def _item(item: ET.Element, where: str, index: int) -> RssItem:
    description = _child(item, "description")
    match = _DESCRIPTION.match(description)
    found = None
    for raw in (match.group("id") if match else "", _child(item, "guid"), _child(item, "link")):
        found = found or (split_arxiv_id(raw) if raw else None)
    title = clean_text(_child(item, "title"))
    if found is None or not title:
        raise ParseError(where, f"item {index}: no arXiv id or no title")
    arxiv_id, version = found
    announce = (_child(item, "arxiv:announce_type")
                or (match.group("type") if match else "new")).lower()
    creators = _child(item, "dc:creator")
    published = _date(_child(item, "pubDate"), where)
    record = PaperRecord(
        title=title, abstract=clean_text(match.group("abs") if match else description),
        arxiv_id=arxiv_id, version=version,
        authors=tuple(a for a in (clean_text(n) for n in creators.split(",")) if a),
        links=Links.for_arxiv(arxiv_id),
        listing_date=published.date() if published else None,
    )
    return RssItem(record, announce)


def missed_announcements(last_read: datetime | None, listing: date | None) -> list[date]:
    """The weekdays after `last_read` (UTC) and before the `listing` day now read: arXiv's
    announcements that a feed holding only the latest one no longer lists (holidays, when
    there was none, included)."""
    if last_read is None or listing is None:
        return []
    read = (last_read.astimezone(UTC) if last_read.tzinfo else last_read).date()
    between = (read + timedelta(days=n) for n in range(1, (listing - read).days))
    return [day for day in between if day.weekday() < 5]


def with_gap_warning(source: str, items: Iterator[Item], last_read: datetime | None
                     ) -> Iterator[Item]:
    """`items`, with a warning before a listing read after announcements it no longer holds:
    the worker was down or the source failed over them, and their papers are not in it."""
    for item in items:
        missed = missed_announcements(last_read, item.listing_date) \
            if isinstance(item, Dump) else []
        if missed and last_read is not None:
            yield SourceWarning(source, item.locator, (
                f"last read without failure at {last_read:%Y-%m-%d %H:%M}: the announcements "
                f"of {', '.join(d.isoformat() for d in missed)} were never read, and this "
                "page lists only the latest: their papers are missed (an arxiv_api search "
                "of the category, newest first, reads them)"))
        yield item


def parse_feed(data: bytes, where: str) -> RssFeed:
    root = xml_root(data, where)
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        raise ParseError(where, f"not an RSS 2.0 feed (root element {root.tag!r})")
    published = _date(_child(channel, "pubDate"), where)
    items = tuple(_item(item, where, i) for i, item in enumerate(channel.iter("item"), 1))
    return RssFeed(published.date() if published else None, items)


def parse(data: bytes, where: str, revisions: str = "ignore",
          cross_lists: bool = True) -> list[PaperRecord]:
    feed = parse_feed(data, where)
    return [i.record for i in feed.items if keep(i.announce_type, revisions, cross_lists)]


class ArxivRssSource(HttpSource):
    kind = "arxiv_rss"
    Options = ArxivRssOptions
    options: ArxivRssOptions
    families = ("xml",)
    accept = "application/rss+xml, application/xml;q=0.9"

    @classmethod
    def check_options(cls, options: ArxivRssOptions) -> list[tuple[str, str]]:
        problems = super().check_options(options)
        problems += check_categories(options.categories)
        problems += check_choice("revisions", options.revisions, REVISIONS)
        return problems

    def collect(self, ctx: SourceContext) -> Iterator[Item]:
        for category in self.options.categories:
            yield from with_gap_warning(self.name, self.fetch_one(
                ctx, self.url(f"/rss/{category}"), self._parse), ctx.last_read)

    def _parse(self, result: FetchResult) -> tuple[list[PaperRecord], date | None]:
        feed = parse_feed(result.body, result.url)
        kept = [i.record for i in feed.items
                if keep(i.announce_type, self.options.revisions, self.options.cross_lists)]
        return kept, feed.listing_date
