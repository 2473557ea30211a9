"""`dump_url`: a text dump in the seed format (see worker.sources.dumps) at a URL.

The dump's `Mar 13` header has no year: it is inferred from the response's Last-Modified
when the server gives one (when the dump was written), else from the time of the pass.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin

from worker.errors import ParseError
from worker.records import PaperRecord
from worker.sources.base import SourceContext
from worker.sources.http import FetchResult
from worker.sources.remote import HttpOptions, HttpSource, Item


@dataclass(frozen=True, kw_only=True)
class DumpUrlOptions(HttpOptions):
    url: str  # absolute, or relative to base_url (handy for a mirror of a dump folder)


def parse(data: bytes, where: str, reference: datetime) -> tuple[list[PaperRecord], date | None]:
    """Records of a seed-format dump; ParseError (from parse_dump) when it is malformed.

    `reference` is when the dump was written or fetched: it gives `Mar 13` its year.
    """
    from worker.sources.dumps import parse_dump  # the lead's seed-format parser

    parsed = parse_dump(data, where, reference)
    records = [PaperRecord(title=e.title, abstract=e.abstract, listing_date=parsed.listing_date)
               for e in parsed.entries]
    return records, parsed.listing_date


def written_at(result: FetchResult, now: datetime) -> datetime:
    """When the dump was written: Last-Modified if sane, else `now` (never later than now)."""
    from worker.sources.dumps import written_time

    try:
        modified = parsedate_to_datetime(result.last_modified or "")
    except (TypeError, ValueError, IndexError, OverflowError):  # (a day of 20 digits)
        return now
    return written_time(modified, now)


class DumpUrlSource(HttpSource):
    kind = "dump_url"
    Options = DumpUrlOptions
    options: DumpUrlOptions
    # Servers label text files text/plain, application/octet-stream or nothing at all;
    # an HTML page (a login or error page) is what we refuse.
    families = ("text",)
    accept = "text/plain, */*;q=0.5"

    @classmethod
    def check_options(cls, options: DumpUrlOptions) -> list[tuple[str, str]]:
        problems = [p for p in super().check_options(options) if p[0] != "base_url"]
        if not _absolute(options.url) and not _absolute(options.base_url):
            problems.append(("url", "expected an http:// or https:// URL (or a path "
                             "relative to an http(s) base_url)"))
        return problems

    def target(self) -> str:
        url = self.options.url
        return url if _absolute(url) else urljoin(self.options.base_url, url)

    def collect(self, ctx: SourceContext) -> Iterator[Item]:
        yield from self.fetch_one(
            ctx, self.target(),
            lambda result: parse(as_utf8(result), result.url, written_at(result, ctx.now)))


def as_utf8(result: FetchResult) -> bytes:
    """The body in UTF-8, the encoding of dumps: a server that declares another charset
    (`text/plain; charset=iso-8859-1`) is taken at its word, since whoever reads its URL
    cannot re-save the file."""
    charset = result.charset
    name = codecs_name(charset) if charset else None
    if charset is None or name == "utf-8":
        return result.body
    if name in _DEFAULT_LABELS:  # a server's default label on what may well be UTF-8: if it
        try:  # decodes as such, UTF-8 it is (text with accents in these rarely does)
            result.body.decode("utf-8")
            return result.body
        except UnicodeDecodeError:
            pass
    try:
        return result.body.decode(charset).encode("utf-8")
    except LookupError:
        raise ParseError(result.url, f"unknown charset {charset!r} in its Content-Type") from None
    except UnicodeDecodeError as exc:
        raise ParseError(result.url, f"not {charset} as its Content-Type says: byte "
                         f"0x{result.body[exc.start]:02x} at offset {exc.start}") from None
    except UnicodeEncodeError:  # utf-7 or unicode_escape decoded to a lone surrogate
        raise ParseError(result.url, f"not text in {charset}, as its Content-Type says: it "
                         "decodes to a lone surrogate, which is no character") from None
    except UnicodeError as exc:  # a codec that decodes nothing (`undefined`) or not this way
        raise ParseError(result.url, f"charset {charset!r} in its Content-Type cannot be "
                         f"read: {exc}") from None


# The charsets servers put on text files by default, whatever they hold (Apache's
# AddDefaultCharset): only these are second-guessed.
_DEFAULT_LABELS = frozenset({"iso8859-1", "cp1252", "ascii"})


def codecs_name(charset: str) -> str | None:
    try:
        return codecs.lookup(charset).name
    except LookupError:
        return None


def _absolute(url: str) -> bool:
    return url.startswith(("http://", "https://"))
