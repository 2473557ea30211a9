"""What the HTTP source kinds share: their common options and the fetch -> parse -> Dump flow.

A unit of input (one day of HF papers, one arXiv category's feed) becomes exactly one of:
`Unchanged` (HTTP 304, or the same bytes were already ingested), `DumpFailure` (the fetch
failed, the content type is wrong, or the body does not parse; the raw body is kept and
nothing is recorded as seen), or `Dump`. Validators are stored only after the pipeline has
taken the Dump (when it asks the source for the next item), so a crash never loses papers,
and only for a unit one response held whole (see `HttpSource.fetch_pages`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date
from functools import cached_property
from typing import Any, ClassVar

from worker.errors import ParseError, SourceError
from worker.records import PaperRecord
from worker.sources.base import (
    Dump,
    DumpFailure,
    Source,
    SourceContext,
    SourceWarning,
    Unchanged,
    content_hash,
    untrusted,
)
from worker.sources.dates import days_to_read, resolve_dates
from worker.sources.dumps import MAX_TITLE_CHARS
from worker.sources.http import TOO_MANY_REDIRECTS, Fetcher, FetchResult

Parsed = tuple[Sequence[PaperRecord], date | None]
Item = Dump | DumpFailure | Unchanged | SourceWarning
Params = Mapping[str, Any]

_FAMILY_NAMES = {"json": "JSON", "xml": "XML", "html": "HTML", "text": "plain text"}
# How to talk to the server, not what is taken from its answers: left out of `scope`.
TRANSPORT_OPTIONS = frozenset({"min_interval", "timeout"})


@dataclasses.dataclass(frozen=True, kw_only=True)
class HttpOptions:
    """Keys every HTTP kind accepts. Kinds override `base_url` with their real host."""

    base_url: str = ""
    min_interval: float | None = None  # seconds between requests to one host; None: 3 s arXiv
    timeout: float = 30.0  # read timeout per request, seconds


def check_http_options(options: Any) -> list[tuple[str, str]]:
    problems = []
    if not options.base_url.startswith(("http://", "https://")):
        problems.append(("base_url", "expected an http:// or https:// URL"))
    if options.min_interval is not None and options.min_interval < 0:
        problems.append(("min_interval", "expected 0 or more seconds"))
    if options.timeout <= 0:
        problems.append(("timeout", "expected a number of seconds above 0"))
    return problems


def check_choice(key: str, value: str, choices: Sequence[str]) -> list[tuple[str, str]]:
    if value in choices:
        return []
    return [(key, f"unknown value {value!r}; supported: {', '.join(choices)}")]


def media_family(media_type: str) -> str | None:
    """json / xml / html / text for a Content-Type, None when it says nothing useful."""
    if media_type in ("", "application/octet-stream", "binary/octet-stream"):
        return None
    if media_type in ("text/html", "application/xhtml+xml"):
        return "html"
    if media_type == "application/json" or media_type.endswith("+json"):
        return "json"
    if media_type.endswith(("/xml", "+xml")):
        return "xml"
    if media_type.startswith("text/"):
        return "text"
    return media_type


def decode_text(data: bytes, where: str, charset: str | None = None) -> str:
    """Bytes to text in the declared charset (UTF-8 by default); ParseError when they lie."""
    encoding = charset or "utf-8"
    try:
        return data.decode(encoding)
    except LookupError:
        raise ParseError(where, f"unknown charset {encoding!r} in Content-Type") from None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ParseError(where, f"not {encoding}: byte 0x{data[exc.start]:02x} at offset "
                         f"{exc.start}", line) from None
    except UnicodeError as exc:  # a codec that decodes nothing (`undefined`) or not this way
        raise ParseError(where, f"charset {encoding!r} in Content-Type cannot be read: "
                         f"{exc}") from None


def failure_from(source: str, exc: SourceError) -> DumpFailure:
    detail = f"HTTP {exc.status}: {exc.reason}" if exc.status else exc.reason
    return DumpFailure(source, exc.url, detail)


def read_days(source: str, spec: str, ctx: SourceContext, locator: str,
              read_day: Callable[[date], Iterator[Item]]) -> Iterator[Item]:
    """A dated source's days read with `read_day`: those its `date` (`spec`) names now, and
    those it named since the source was last read without failure (days_to_read; the days
    left out are a warning at `locator`). Once a day caught up on, one the spec no longer
    names, could not be fetched, the other such days are not asked in this pass: a server
    down for a month is asked once for them, not 31 times over (each with its retries). The
    source fails, so the next pass asks for them again; nothing is lost."""
    days, left_out = days_to_read(spec, ctx.now, ctx.last_read)
    if left_out:
        yield SourceWarning(source, locator, left_out)
    own = resolve_dates(spec, ctx.now)
    failed: Item | None = None
    for day in days:
        if failed is not None and day not in own:
            continue
        for item in read_day(day):
            if (day not in own and isinstance(item, DumpFailure)
                    and item.content_hash is None):  # fetched nothing, parsed nothing
                failed = item
            yield item
    skipped = [d for d in days if d not in own][1:] if failed is not None else []
    if failed is not None and skipped:
        yield SourceWarning(source, failed.locator, f"not asked for {skipped[0].isoformat()} "
                            f"to {skipped[-1].isoformat()}: an earlier day failed; the next "
                            "pass asks again")


class HttpSource(Source):
    """Base of the HTTP kinds: fetch with the shared Fetcher, then one `finish()`."""

    families: ClassVar[tuple[str, ...]] = ()  # acceptable content types; empty: any
    accept: ClassVar[str | None] = None  # Accept header

    @classmethod
    def check_options(cls, options: Any) -> list[tuple[str, str]]:
        return check_http_options(options)

    @cached_property
    def scope(self) -> str:
        """Who reads a response, and how: a stable hash of the source's name, kind and every
        option that may change what is taken from a body (filters such as `cross_lists`).

        It keys the stored validators and the content hash of what was read, so after a
        filter is changed, or for another source with its own filters on the same URL, the
        body is read again rather than called unchanged. Any option counts unless it only
        says how to talk to the server: one that might filter is never forgotten, and a
        needless re-read costs one request and records no paper twice."""
        taken = {f.name: getattr(self.options, f.name) for f in dataclasses.fields(self.options)
                 if f.name not in TRANSPORT_OPTIONS}
        text = json.dumps([self.name, self.kind, taken], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def url(self, path: str) -> str:
        return self.options.base_url.rstrip("/") + path

    def fetcher(self, ctx: SourceContext) -> Fetcher:
        if ctx.http is None:
            raise TypeError(f"{self.describe()}: SourceContext.http must be a Fetcher")
        fetcher: Fetcher = ctx.http
        return fetcher

    def get(self, ctx: SourceContext, url: str, **kwargs: Any) -> FetchResult:
        return self.fetcher(ctx).fetch(url, source=self.name, accept=self.accept,
                                       min_interval=self.options.min_interval,
                                       timeout=self.options.timeout, scope=self.scope, **kwargs)

    def get_until(self, ctx: SourceContext, url: str, stop_at: Callable[[str], bool]
                  ) -> FetchResult:
        """GET `url`, following redirects one by one until one whose target `stop_at` takes
        as an answer (returned as it is, `redirected`), for kinds where some redirects mean
        something. A longer chain than the fetcher follows, a loop included, is the same
        SourceError as when httpx follows them for the other kinds. Each hop's connection
        is judged as a redirect from `url` (Fetcher.fetch's `redirected_from`), as it is when
        httpx follows them."""
        result = self.get(ctx, url, follow_redirects=False)
        hops = 0
        while result.redirected and not stop_at(result.final_url):
            hops += 1
            if hops > self.fetcher(ctx).settings.max_redirects:
                raise SourceError(self.name, url, TOO_MANY_REDIRECTS)
            result = self.get(ctx, result.final_url, follow_redirects=False,
                              redirected_from=url)
        return result

    def fetch_one(self, ctx: SourceContext, url: str, parse: Callable[[FetchResult], Parsed],
                  **kwargs: Any) -> Iterator[Item]:
        """One request, one unit: the common case."""
        try:
            result = self.get(ctx, url, **kwargs)
        except SourceError as exc:
            yield failure_from(self.name, exc)
            return
        yield from self.finish(ctx, [result], lambda results: parse(results[0]))

    def fetch_pages(self, ctx: SourceContext, url: str, params: Params,
                    following: Callable[[FetchResult, Params], Params | None], max_pages: int,
                    parse: Callable[[Sequence[FetchResult]], Parsed], **kwargs: Any
                    ) -> Iterator[Item]:
        """One unit listed over pages: `params` asks for the first, `following` gives the
        query of the next page from the last one read (None: that was the last page).

        Only the first page is conditional, and its 304 ends the unit; `finish()` keeps its
        validators only when it was the whole listing, so a 304 never hides a later page.
        When `max_pages` stops the paging early, the operator is told (the papers on later
        pages are not read) and the unit is read whole again next time."""
        results: list[FetchResult] = []
        try:
            next_params: Params | None = params
            while next_params is not None and len(results) < max_pages:
                result = self.get(ctx, url, params=next_params, conditional=not results,
                                  **kwargs)
                results.append(result)
                next_params = None if result.not_modified else following(result, next_params)
        except SourceError as exc:
            yield failure_from(self.name, exc)
            return
        cut = next_params is not None
        if cut:
            # (a listing that is an exact multiple of the page size looks the same: "may")
            yield SourceWarning(self.name, results[0].url, f"stopped at max_pages = {max_pages}"
                                " with a full last page: the listing may have more, not read "
                                "(raise max_pages)")
        yield from self.finish(ctx, results, parse, whole=not cut)

    def finish(self, ctx: SourceContext, results: Sequence[FetchResult],
               parse: Callable[[Sequence[FetchResult]], Parsed], *, whole: bool = True
               ) -> Iterator[Item]:
        """Turn the responses of one unit (several pages at most) into one item. `whole`:
        no page was left unread."""
        first = results[0]
        if first.not_modified:
            yield Unchanged(self.name, first.url, "not modified since the last fetch (HTTP 304)")
            return
        raw = b"".join(r.body for r in results)
        digest = unit_hash(self.scope, results)
        if ctx.is_known(digest):
            yield Unchanged(self.name, first.url, "already read (same content)")
            self._remember(ctx, results, whole)
            return
        try:
            self._check_types(results)
            records, listing_date = _parse_untrusted(parse, results)
        except ParseError as exc:
            yield DumpFailure(self.name, first.url, _with_status(exc.detail, results),
                              content_hash=digest, raw=raw)
            return
        except SourceError as exc:  # an API that answers with an error document
            yield DumpFailure(self.name, first.url, failure_from(self.name, exc).reason,
                              content_hash=digest, raw=raw)
            return
        records, refused = _sound(records)
        if refused and not records:  # nothing readable in it: a failure, not an empty day
            yield DumpFailure(self.name, first.url, f"all {len(refused)} entries left out, "
                              f"the first for {refused[0][1]}", content_hash=digest, raw=raw)
            return
        for index, why in refused:
            yield SourceWarning(self.name, first.url, f"entry {index + 1} left out: {why}")
        if records:
            yield Dump(self.name, first.url, digest, ctx.now, tuple(records), listing_date)
        else:  # weekends, holidays, an empty search: normal, and nothing to record
            when = f" for {listing_date.isoformat()}" if listing_date else ""
            yield Unchanged(self.name, first.url, f"no papers listed{when}")
        # Resumed only when the pipeline asks for the next item, i.e. after it took the Dump.
        self._remember(ctx, results, whole)

    def _check_types(self, results: Sequence[FetchResult]) -> None:
        for result in results:
            family = media_family(result.media_type)
            if self.families and family is not None and family not in self.families:
                wanted = " or ".join(_FAMILY_NAMES[f] for f in self.families)
                raise ParseError(result.url, f"expected {wanted}, got Content-Type "
                                 f"{result.media_type!r} (an error or login page?)")

    def _remember(self, ctx: SourceContext, results: Sequence[FetchResult], whole: bool
                  ) -> None:
        """Keep the validators of a unit one response held whole. A first page's 304 says
        nothing of the pages after it: a listing of several pages is asked for again in full
        (its content hash still tells when nothing changed)."""
        if whole and len(results) == 1:
            self.fetcher(ctx).remember(results[0])


def _sound(records: Sequence[PaperRecord]) -> tuple[list[PaperRecord], list[tuple[int, str]]]:
    """(the records a digest can show, (index, why) of those it cannot): the limits a text
    dump is held to, for what an API or page gives. One such entry is left out with a
    warning; its neighbours are recorded (it would be as broken when read again)."""
    kept, refused = [], []
    for index, record in enumerate(records):
        if "\x00" in record.title or "\x00" in record.abstract:
            refused.append((index, "a NUL byte in its title or abstract (binary data)"))
        elif len(record.title) > MAX_TITLE_CHARS:
            refused.append((index, f"a title of {len(record.title)} characters (at most "
                            f"{MAX_TITLE_CHARS})"))
        elif not record.arxiv_id and not record.title_key:
            # known by its title alone, which has no letters or digits: its key `title:` is
            # every such paper's, and they were merged into one
            refused.append((index, f"a title with no letters or digits ({record.title!r}) "
                            "and no arXiv id"))
        else:
            kept.append(record)
    return kept, refused


def _with_status(reason: str, results: Sequence[FetchResult]) -> str:
    """A reason with the HTTP status of an error response the kind reads itself (arXiv's API
    explains a 400 in Atom): when that body is not what was expected either (an HTML error
    page), the status is what says what went wrong."""
    status = next((r.status for r in results if r.status >= 400), None)
    return f"HTTP {status}: {reason}" if status else reason


def _parse_untrusted(parse: Callable[[Sequence[FetchResult]], Parsed],
                     results: Sequence[FetchResult]) -> Parsed:
    """`parse`, with whatever the bytes make it raise a ParseError of the unit (untrusted)."""
    with untrusted(results[0].url):
        return parse(results)


def unit_hash(scope: str, results: Sequence[FetchResult]) -> str:
    """The content hash of a unit as this source reads it: the same bytes read with other
    options are another unit. Page bodies are hashed one by one, so moving an entry between
    pages changes the hash."""
    outer = hashlib.sha256(f"{scope}\n".encode())
    for result in results:
        outer.update(content_hash(result.body).encode())
    return outer.hexdigest()
