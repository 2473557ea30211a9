"""`arxiv_api`: the arXiv export API (`/api/query`), an Atom feed for a search query.

Both backends are read: the legacy one (per-element xmlns, hard-wrapped titles and
summaries, `-04:00` offsets, ids without a version) and the 2026 one (compact namespaces,
https links). Ids come new-style (`2104.12255v1`) or old-style (`astro-ph/0601001v1`); the
version is split off and kept. A bad query is answered with HTTP 400 and a single entry
titled `Error` whose id is under `/api/errors`: that is a SourceError, not a paper.
An empty result (`totalResults` 0) is normal. Sorted by date, newest first, a source that
read before pages back (`start`) while a full page's oldest paper is one it never listed,
up to `max_pages`: papers that came out since the last read are not lost behind the first
page. Nor are papers arXiv announces days after they were submitted (held for moderation,
say): they sort by their submission among papers listed before, so when something new was
announced, the source also pages back while a full page's oldest paper was submitted within
`lookback` before its last read.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from worker.config_types import parse_duration
from worker.errors import ParseError, SourceError
from worker.records import Links, PaperRecord, clean_text, split_arxiv_id
from worker.sources.base import SourceContext
from worker.sources.dates import parse_moment
from worker.sources.http import FetchResult
from worker.sources.remote import HttpOptions, HttpSource, Item, Params, check_choice

NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "arxiv": "http://arxiv.org/schemas/atom",
    "opensearch": "http://a9.com/-/spec/opensearch/1.1/",
}
SORTS = ("submittedDate", "lastUpdatedDate", "relevance")
ORDERS = ("descending", "ascending")
MAX_RESULTS = 2000  # the API's per-request ceiling


@dataclass(frozen=True, kw_only=True)
class ArxivApiOptions(HttpOptions):
    query: str
    base_url: str = "https://export.arxiv.org"
    max_results: int = 100
    sort: str = "submittedDate"
    order: str = "descending"
    max_pages: int = 10  # newest first: pages back to what this source listed before
    # ... and, after an announcement, to papers submitted this long before the last read
    lookback: str = "3d"


@dataclass(frozen=True)
class AtomFeed:
    total: int | None  # opensearch:totalResults
    records: tuple[PaperRecord, ...]


def xml_root(data: bytes, where: str) -> ET.Element:
    """Parsed XML; ParseError with the line for malformed, truncated or mis-encoded input."""
    if not data.strip():
        raise ParseError(where, "empty response body")
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        # str(exc) already says "line L, column C"
        raise ParseError(where, f"not well-formed XML: {exc}", exc.position[0]) from None
    except (LookupError, ValueError) as exc:  # expat hands the declared encoding to Python
        # (`encoding="utf-32"`, "WTF-8", "undefined"), whose codecs refuse it their own way
        raise ParseError(where, f"XML in an encoding that cannot be read: {exc}", 1) from None


def _text(entry: ET.Element, path: str) -> str:
    node = entry.find(path, NS)
    return clean_text(node.text or "") if node is not None else ""


def _id_and_version(entry: ET.Element, where: str) -> tuple[str, int | None]:
    raw = _text(entry, "atom:id")
    found = split_arxiv_id(raw)
    if found is None:
        raise ParseError(where, f"entry id {raw!r} is not an arXiv id")
    arxiv_id, version = found
    if version is None:  # the legacy backend leaves it off the id, not off the links
        for link in entry.findall("atom:link", NS):
            again = split_arxiv_id(link.get("href", ""))
            if again and again[0] == arxiv_id and again[1] is not None:
                return arxiv_id, again[1]
    return arxiv_id, version


def _record(entry: ET.Element, where: str) -> PaperRecord:
    arxiv_id, version = _id_and_version(entry, where)
    title = _text(entry, "atom:title")
    if not title:
        raise ParseError(where, f"entry {arxiv_id} has no title")
    authors = tuple(clean_text(a.text or "") for a in entry.findall("atom:author/atom:name", NS))
    return PaperRecord(
        title=title, abstract=_text(entry, "atom:summary"), arxiv_id=arxiv_id, version=version,
        authors=tuple(a for a in authors if a), links=Links.for_arxiv(arxiv_id),
        published=parse_moment(_text(entry, "atom:published"), where),
    )


def _api_error(entry: ET.Element) -> str | None:
    """The message of an error entry, or None for a paper (which may be titled "Error")."""
    if "/api/errors" in _text(entry, "atom:id"):
        return _text(entry, "atom:summary") or _text(entry, "atom:title") or "unknown error"
    return None


def parse_feed(data: bytes, where: str, *, source: str = "arxiv_api",
               status: int | None = None) -> AtomFeed:
    """One API response; SourceError for the API's error entry, ParseError for bad XML."""
    root = xml_root(data, where)
    if root.tag != f"{{{NS['atom']}}}feed":
        raise ParseError(where, f"not an Atom feed (root element {root.tag!r})")
    entries = root.findall("atom:entry", NS)
    for entry in entries:
        if (message := _api_error(entry)) is not None:
            raise SourceError(source, where, f"arXiv API error: {message}", status)
    total_text = _text(root, "opensearch:totalResults")
    # (str.isdigit() takes "²", which int() refuses, and int() refuses 4,301 digits or more)
    total = int(total_text) if total_text.isascii() and total_text.isdigit() \
        and len(total_text) <= 18 else None
    return AtomFeed(total, tuple(_record(e, where) for e in entries))


def parse(data: bytes, where: str) -> list[PaperRecord]:
    return list(parse_feed(data, where).records)


class ArxivApiSource(HttpSource):
    kind = "arxiv_api"
    Options = ArxivApiOptions
    options: ArxivApiOptions
    families = ("xml",)
    accept = "application/atom+xml"

    @classmethod
    def check_options(cls, options: ArxivApiOptions) -> list[tuple[str, str]]:
        problems = super().check_options(options)
        if not options.query.strip():
            problems.append(("query", 'expected a search query such as "cat:cs.CV"'))
        if not 1 <= options.max_results <= MAX_RESULTS:
            problems.append(("max_results", f"expected 1 to {MAX_RESULTS}"))
        problems += check_choice("sort", options.sort, SORTS)
        problems += check_choice("order", options.order, ORDERS)
        if options.max_pages < 1:
            problems.append(("max_pages", "expected 1 or more"))
        try:
            parse_duration(options.lookback)
        except ValueError as exc:
            problems.append(("lookback", str(exc)))
        return problems

    def collect(self, ctx: SourceContext) -> Iterator[Item]:
        params = {"search_query": self.options.query, "start": 0,
                  "max_results": self.options.max_results,
                  "sortBy": self.options.sort, "sortOrder": self.options.order}
        back = _PagingBack(self, ctx)

        def following(result: FetchResult, params: Params) -> Params | None:
            if not back.next_page(result, params["start"]):
                return None
            return {**params, "start": params["start"] + self.options.max_results}

        # A 400 carries the API's explanation in an Atom error entry: read it ourselves.
        yield from self.fetch_pages(ctx, self.url("/api/query"), params, following,
                                    self.options.max_pages, self._parse, ok_statuses=(400,))

    def _parse(self, results: Sequence[FetchResult]) -> tuple[list[PaperRecord], None]:
        records: dict[str, PaperRecord] = {}
        for result in results:
            feed = parse_feed(result.body, result.url, source=self.name, status=result.status)
            if result.status >= 400:
                raise SourceError(self.name, result.url, "error response without an error "
                                  "entry", result.status)
            for record in feed.records:  # pages may overlap when new papers push them down
                records.setdefault(record.key, record)
        return list(records.values()), None


class _PagingBack:
    """Whether a search read newest first goes on to its next page. Not on a source's first
    read, whose start is the newest page. After that, on a full page (more papers came out
    since the last read than `max_results`: a busy category, a week's outage):

    - while its oldest paper is one this source never listed, as papers it never read may
      follow;
    - and, when the first page had a paper never listed (arXiv announced something since),
      while its oldest paper was submitted within `lookback` before the last read: a paper
      announced days after its submission sorts among papers listed before. Without a new
      announcement there is nothing late to find, so a source read every half hour pages
      back once a day at most."""

    def __init__(self, source: ArxivApiSource, ctx: SourceContext):
        self.source, self.ctx = source, ctx
        options = source.options
        self.enabled = (ctx.last_read is not None and options.sort != "relevance"
                        and options.order == "descending")
        self.since = None if ctx.last_read is None else \
            _aware(ctx.last_read) - parse_duration(options.lookback)
        self.announced = False

    def next_page(self, result: FetchResult, start: int) -> bool:
        if not self.enabled or result.status != 200:
            return False
        try:
            feed = parse_feed(result.body, result.url, source=self.source.name)
        except (ParseError, SourceError):
            return False  # finish() reports the body
        ids = [r.arxiv_id for r in feed.records if r.arxiv_id]
        if start == 0:
            self.announced = bool(ids) and len(self.ctx.listed_before(ids)) < len(set(ids))
        if len(feed.records) < self.source.options.max_results or not ids:
            return False
        if feed.total is not None and start + len(feed.records) >= feed.total:
            return False
        if not self.ctx.listed_before([ids[-1]]):
            return True
        oldest = feed.records[-1].published
        return (self.announced and oldest is not None and self.since is not None
                and _aware(oldest) > self.since)


def _aware(moment: datetime) -> datetime:
    """A moment the database may hand back without its zone (SQLite), as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
