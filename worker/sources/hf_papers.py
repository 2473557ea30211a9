"""`hf_papers`: the Hugging Face daily papers page, `/papers/date/YYYY-MM-DD`.

The page hydrates from JSON in the `data-props` of `div[data-target="DailyPapers"]`:
`{"dateString": "2026-09-28", "dailyPapers": [<the same items as the JSON API>]}`. When
that is missing, or has no `dailyPapers` list, we fall back to the server-rendered cards
(`article` > `h3` > a link to `/papers/<id>`), which give ids and titles but no abstracts;
a page with neither is a ParseError (its layout changed), never "no papers listed". For a
day without papers HF redirects to another day, or serves a page whose `dateString` is
another day: both mean "nothing listed that day", not an error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from worker.errors import ParseError, SourceError
from worker.records import Links, PaperRecord, clean_text, split_arxiv_id
from worker.sources.base import SourceContext, Unchanged
from worker.sources.dates import check_date_spec
from worker.sources.hf_api import records_from_items
from worker.sources.http import FetchResult
from worker.sources.remote import (
    HttpOptions,
    HttpSource,
    Item,
    decode_text,
    failure_from,
    read_days,
)

_DATE_PATH = re.compile(r"/papers/date/(\d{4}-\d{2}-\d{2})")


@dataclass(frozen=True, kw_only=True)
class HfPapersOptions(HttpOptions):
    base_url: str = "https://huggingface.co"
    date: str = "today"


@dataclass(frozen=True)
class PapersPage:
    day: date | None  # the page's own dateString; None when only cards were found
    records: tuple[PaperRecord, ...]
    from_cards: bool = False


def _hydration_props(text: str, where: str) -> dict[str, Any] | None:
    from bs4 import BeautifulSoup, SoupStrainer

    # Parse only the hydration div: the full page is ~0.5 MB of markup we do not need.
    only = SoupStrainer("div", attrs={"data-target": "DailyPapers"})
    div = BeautifulSoup(text, "lxml", parse_only=only).find("div")
    raw = div.get("data-props") if div is not None else None
    if not isinstance(raw, str):
        return None
    try:
        props = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ParseError(where, f"DailyPapers data-props is not valid JSON: {exc.msg} "
                         f"(character {exc.pos})") from None
    except RecursionError:
        raise ParseError(where, "DailyPapers data-props is JSON nested too deeply to read"
                         ) from None
    if not isinstance(props, dict):
        raise ParseError(where, "DailyPapers data-props is not a JSON object")
    return props


def _page_date(value: Any, where: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise ParseError(where, f"dateString is not a date: {value!r}") from None


def _cards(text: str, where: str) -> list[PaperRecord]:
    from bs4 import BeautifulSoup

    records: dict[str, PaperRecord] = {}
    for link in BeautifulSoup(text, "lxml").select('article h3 a[href*="/papers/"]'):
        found = split_arxiv_id(str(link.get("href", "")).rsplit("/papers/", 1)[-1])
        title = clean_text(link.get_text(" "))
        if found and title:
            arxiv_id, version = found
            records.setdefault(arxiv_id, PaperRecord(
                title=title, abstract="", arxiv_id=arxiv_id, version=version,
                links=Links.for_arxiv(arxiv_id)))
    return list(records.values())


def parse_page(data: bytes, where: str, charset: str | None = None) -> PapersPage:
    """The date and papers of one HF papers page; ParseError if it has neither."""
    text = decode_text(data, where, charset)
    props = _hydration_props(text, where)
    if props is not None:
        day = _page_date(props.get("dateString"), where)
        if "dailyPapers" in props:
            return PapersPage(day, tuple(records_from_items(props["dailyPapers"], where)))
        return _cards_instead(text, where, day, props)
    cards = _cards(text, where)
    if not cards:
        raise ParseError(where, 'no div[data-target="DailyPapers"] and no paper cards: '
                         "not a daily papers page, or its layout changed")
    return PapersPage(None, tuple(cards), from_cards=True)


def _cards_instead(text: str, where: str, day: date | None, props: dict[str, Any]
                   ) -> PapersPage:
    """The cards of a page whose hydration JSON lacks its `dailyPapers` list. Read as no
    list, a renamed key made every day "no papers listed" and the source stayed healthy;
    the cards, when the page has them, are the same papers without abstracts."""
    cards = _cards(text, where)
    if not cards:
        keys = ", ".join(list(props)[:12]) or "none"
        raise ParseError(where, f"DailyPapers data-props has no 'dailyPapers' list (its keys: "
                         f"{keys}) and the page has no paper cards: has the layout changed?")
    return PapersPage(day, tuple(cards), from_cards=True)


def parse(data: bytes, where: str) -> list[PaperRecord]:
    return list(parse_page(data, where).records)


class HfPapersSource(HttpSource):
    kind = "hf_papers"
    Options = HfPapersOptions
    options: HfPapersOptions
    families = ("html",)
    accept = "text/html"

    @classmethod
    def check_options(cls, options: HfPapersOptions) -> list[tuple[str, str]]:
        problems = super().check_options(options)
        if message := check_date_spec(options.date):
            problems.append(("date", message))
        return problems

    def collect(self, ctx: SourceContext) -> Iterator[Item]:
        yield from read_days(self.name, self.options.date, ctx, self.url("/papers/date/"),
                             lambda day: self._day(ctx, day))

    def _day(self, ctx: SourceContext, day: date) -> Iterator[Item]:
        url = self.url(f"/papers/date/{day.isoformat()}")

        def another_day(location: str) -> bool:
            # Elsewhere (e.g. /papers for today) is followed, and its own date trusted.
            target = _DATE_PATH.search(location)
            return target is not None and target.group(1) != day.isoformat()

        try:
            result = self.get_until(ctx, url, another_day)
        except SourceError as exc:
            yield failure_from(self.name, exc)
            return
        if result.redirected:
            yield Unchanged(self.name, url, f"no papers listed for {day.isoformat()} "
                            f"(redirected to {result.final_url})")
            return
        yield from self.finish(ctx, [result], lambda rs: _records_for(rs[0], day))


def _records_for(result: FetchResult, day: date) -> tuple[list[PaperRecord], date]:
    page = parse_page(result.body, result.url, result.charset)
    if page.day is not None and page.day != day:
        return [], day  # HF shows another day's papers: this day has none
    records = [r if r.listing_date else _with_listing(r, day) for r in page.records]
    return records, day


def _with_listing(record: PaperRecord, day: date) -> PaperRecord:
    return replace(record, listing_date=day)
