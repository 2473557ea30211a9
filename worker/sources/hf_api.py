"""`hf_api`: Hugging Face daily papers from the JSON API, `/api/daily_papers?date=`.

Each item is `{"paper": {...}, "publishedAt": ..., "title": ..., ...}`. We read the nested
`paper`: `id` (the arXiv id, no version), `title`, `summary`, `authors[].name`,
`submittedOnDailyAt` (the day it was listed), `publishedAt` (arXiv's date), `upvotes`,
`githubRepo`, `projectPage`. The top-level `publishedAt` is NOT used: it is shifted to US
Eastern time but still labelled `Z`. The HF papers page carries the same items in its
hydration JSON, so `hf_papers` reuses `record_from_item`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from worker.errors import ParseError
from worker.records import Links, PaperRecord, clean_text, split_arxiv_id
from worker.sources.base import SourceContext
from worker.sources.dates import check_date_spec, parse_moment
from worker.sources.http import FetchResult
from worker.sources.remote import (
    HttpOptions,
    HttpSource,
    Item,
    Params,
    decode_text,
    read_days,
)

API_PAGE_LIMIT = 100  # the API's maximum `limit` (its OpenAPI schema)
MAX_INTEGER = 2**31 - 1  # the largest value of an INTEGER column in PostgreSQL


@dataclass(frozen=True, kw_only=True)
class HfApiOptions(HttpOptions):
    base_url: str = "https://huggingface.co"
    date: str = "today"
    page_size: int = API_PAGE_LIMIT
    max_pages: int = 10


def _text(value: Any) -> str:
    return clean_text(value) if isinstance(value, str) else ""


def _authors(paper: dict[str, Any]) -> tuple[str, ...]:
    listed = paper.get("authors")
    if not isinstance(listed, list):  # (a number or true was a TypeError: not iterable)
        return ()
    names = (a.get("name") for a in listed if isinstance(a, dict))
    return tuple(clean_text(n) for n in names if isinstance(n, str) and n.strip())


def _link(value: Any) -> str | None:
    """A link the item gives, when it is a string (a number there was an AttributeError)."""
    return value if isinstance(value, str) and value else None


def _upvotes(value: Any, where: str, at: str) -> int | None:
    if not isinstance(value, int | float):
        return None
    if not math.isfinite(value):  # JSON allows 1e999, which Python reads as infinity
        raise ParseError(where, f"{at}: upvotes is not a finite number: {value!r}")
    if not -MAX_INTEGER <= value <= MAX_INTEGER:  # what a database integer column holds
        raise ParseError(where, f"{at}: upvotes out of range: {value!r}")
    return int(value)


def record_from_item(item: Any, where: str, index: int) -> PaperRecord | None:
    """One daily-papers item as a record; None for a withdrawn paper."""
    at = f"item {index}"
    paper = item.get("paper") if isinstance(item, dict) else None
    if not isinstance(paper, dict):
        raise ParseError(where, f"{at}: no `paper` object")
    if paper.get("withdrawnAt"):
        return None
    raw_id = str(paper.get("id") or "")
    title = _text(paper.get("title")) or _text(item.get("title"))
    if not title:
        raise ParseError(where, f"{at} ({raw_id or 'no id'}): no title")
    found = split_arxiv_id(raw_id) if raw_id else None
    arxiv_id, version = found if found else (None, None)
    code, project = _link(paper.get("githubRepo")), _link(paper.get("projectPage"))
    links = (Links.for_arxiv(arxiv_id, code=code, project=project) if arxiv_id
             else Links(abstract=f"https://huggingface.co/papers/{raw_id}" if raw_id else None,
                        code=code, project=project))
    listed = parse_moment(paper.get("submittedOnDailyAt"), where, f"{at}: submittedOnDailyAt")
    return PaperRecord(
        title=title,
        abstract=_text(paper.get("summary")) or _text(item.get("summary")),
        arxiv_id=arxiv_id, version=version, authors=_authors(paper), links=links,
        listing_date=listed.date() if listed else None,
        published=parse_moment(paper.get("publishedAt"), where, f"{at}: paper.publishedAt"),
        upvotes=_upvotes(paper.get("upvotes"), where, at),
    )


def records_from_items(items: Any, where: str) -> list[PaperRecord]:
    if not isinstance(items, list):
        raise ParseError(where, f"expected a list of papers, got {type(items).__name__}")
    records = (record_from_item(item, where, i) for i, item in enumerate(items, start=1))
    return [r for r in records if r is not None]


def load_json(data: bytes, where: str) -> Any:
    text = decode_text(data, where)  # JSON is UTF-8 (RFC 8259); anything else is an error
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(where, f"not valid JSON: {exc.msg} (column {exc.colno})",
                         exc.lineno) from None
    except RecursionError:  # valid JSON, but deeper than Python's parser goes
        raise ParseError(where, "JSON nested too deeply to read") from None


def parse(data: bytes, where: str) -> list[PaperRecord]:
    """The records of one `/api/daily_papers` response body."""
    payload = load_json(data, where)
    if isinstance(payload, dict) and "error" in payload:
        raise ParseError(where, f"API error: {payload['error']}")
    return records_from_items(payload, where)


class HfApiSource(HttpSource):
    kind = "hf_api"
    Options = HfApiOptions
    options: HfApiOptions
    families = ("json",)
    accept = "application/json"

    @classmethod
    def check_options(cls, options: HfApiOptions) -> list[tuple[str, str]]:
        problems = super().check_options(options)
        if message := check_date_spec(options.date):
            problems.append(("date", message))
        if not 1 <= options.page_size <= API_PAGE_LIMIT:
            problems.append(("page_size", f"expected 1 to {API_PAGE_LIMIT}"))
        if options.max_pages < 1:
            problems.append(("max_pages", "expected 1 or more"))
        return problems

    def collect(self, ctx: SourceContext) -> Iterator[Item]:
        yield from read_days(self.name, self.options.date, ctx, self.url("/api/daily_papers"),
                             lambda day: self._day(ctx, day))

    def _day(self, ctx: SourceContext, day: date) -> Iterator[Item]:
        size = self.options.page_size

        def following(result: FetchResult, params: Params) -> Params | None:
            return {**params, "p": params.get("p", 0) + 1} if _full_page(result, size) else None

        yield from self.fetch_pages(ctx, self.url("/api/daily_papers"),
                                    {"date": day.isoformat(), "limit": size}, following,
                                    self.options.max_pages, lambda rs: self._parse_day(rs, day))

    def _parse_day(self, results: Sequence[FetchResult], day: date
                   ) -> tuple[list[PaperRecord], date | None]:
        records: dict[str, PaperRecord] = {}
        for result in results:
            for record in parse(result.body, result.url):
                records.setdefault(record.key, record)  # pages may overlap if the list moves
        # The API may answer a day without papers with another day's list: keep only `day`.
        return [r for r in records.values() if r.listing_date in (day, None)], day


def _full_page(result: FetchResult, page_size: int) -> bool:
    """Whether another page may follow (a cheap count; the real parse comes later)."""
    try:
        items = load_json(result.body, result.url)
    except ParseError:
        return False  # finish() will report the body
    return isinstance(items, list) and len(items) >= page_size
