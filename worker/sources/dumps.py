"""The plain-text dump format (the seed format) and its parser.

A dump is blocks separated by blank lines: a header (`new`, a subscribe banner, `Subscribe`,
`byAK and the research community`, a date such as `Mar 13`), then title, abstract, title,
abstract... The header may be partial or missing; CRLF, a BOM and trailing blank lines are
tolerated. Anything else that is off (an odd number of blocks, binary data, bytes that are not
UTF-8, an empty file) is a ParseError naming the place and the reason, and nothing of the dump
is used.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from worker.errors import ParseError
from worker.records import normalize_title

_MONTHS = {m: i for i, m in enumerate(
    "jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)}
_DATE_BLOCK = re.compile(r"^([A-Za-z]{3})[a-z]*\.? +(\d{1,2})$")
_BANNER_WORDS = ("new", "subscribe", "byak and the research community")
# A title longer than this is almost surely an abstract that slid into the title slot.
MAX_TITLE_CHARS = 600


@dataclass(frozen=True)
class DumpEntry:
    title: str
    abstract: str
    line: int  # 1-based line of the title in the file
    position: int  # 0-based rank in the listing


@dataclass(frozen=True)
class ParsedDump:
    listing_date: date | None
    header_date: str | None  # as written, e.g. "Mar 13"
    entries: tuple[DumpEntry, ...]


def decode_dump(data: bytes, where: str) -> str:
    """Bytes to text with LF line ends; ParseError for empty, binary or non-UTF-8 input."""
    if not data.strip():
        raise ParseError(where, "empty file (no header and no papers)")
    for bom, encoding in _WIDE_BOMS:  # (before the NUL check: this text is full of them)
        if data.startswith(bom):
            raise ParseError(where, f"{encoding} text (it begins with the {encoding} byte "
                             "order mark), not UTF-8: save the file as UTF-8", 1)
    if b"\x00" in data:
        raise ParseError(where, "binary data (NUL bytes): not a text dump")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ParseError(where, f"not UTF-8: byte 0x{data[exc.start]:02x} at offset "
                         f"{exc.start}; save the file as UTF-8", line) from None
    if _MARKUP.match(text):
        raise ParseError(where, "a web page or feed (HTML/XML), not a text dump: save the "
                         "page's text, or read the live page with an hf_papers or arxiv_* "
                         "source", 1)
    return text.replace("\r\n", "\n").replace("\r", "\n")


# Text in UTF-16 or UTF-32 (Windows' "Unicode", PowerShell 5's `>`) starts with its byte order
# mark; it was said to be "binary data (NUL bytes)". UTF-32 LE's mark starts with UTF-16 LE's.
_WIDE_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
              (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))
# What a page saved instead of its text starts with (a paper's title never does).
_MARKUP = re.compile(r"\s*<(?:!doctype\s|html[\s>]|\?xml\s|rss[\s>]|feed[\s>])", re.IGNORECASE)


def _blocks(text: str) -> list[tuple[int, str]]:
    """(line number of its first line, text) for every block; a hard-wrapped block is joined."""
    blocks: list[tuple[int, str]] = []
    current: list[str] = []
    first_line = 0
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            if not current:
                first_line = number
            current.append(line.strip())
        elif current:
            blocks.append((first_line, " ".join(current)))
            current = []
    if current:
        blocks.append((first_line, " ".join(current)))
    return blocks


def _is_banner(block: str) -> bool:
    low = block.casefold()
    return low in _BANNER_WORDS or (low.startswith("get trending papers") and len(low) < 80)


def _split_header(blocks: list[tuple[int, str]]) -> tuple[str | None, list[tuple[int, str]]]:
    """Drop leading header blocks; return the header date text (if any) and the rest."""
    header_date = None
    index = 0
    while index < len(blocks):
        text = blocks[index][1]
        if _is_banner(text):
            index += 1
        elif header_date is None and _DATE_BLOCK.match(text) and _month(text):
            header_date = text
            index += 1
        else:
            break
    return header_date, blocks[index:]


def _month(text: str) -> int | None:
    match = _DATE_BLOCK.match(text)
    return _MONTHS.get(match.group(1).casefold()) if match else None


# No listing page is older than arXiv (August 1991): a dump "written" before it has a time
# that says nothing (a file's mtime of 0, a server's epoch Last-Modified), which made its
# `Mar 13` a day of 1970, shown and kept as when its papers were listed.
EARLIEST_WRITTEN = datetime(1991, 8, 14, tzinfo=UTC)


def written_time(claimed: datetime | None, now: datetime) -> datetime:
    """When a dump was written, from what its file or server claims: never after `now`, and
    `now` when the claim is missing or before any listing page existed."""
    if claimed is None or claimed.tzinfo is None or now.tzinfo is None:
        return now
    return now if claimed < EARLIEST_WRITTEN else min(claimed, now)


def infer_listing_date(header: str, reference: datetime) -> date:
    """The year a `Mar 13` header means: the latest one not after the reference date.

    One day of slack allows for listing pages dated in a time zone ahead of the writer's.
    """
    match = _DATE_BLOCK.match(header)
    month = _month(header)
    if not match or month is None:
        raise ValueError(f"not a listing date: {header!r}")
    day = int(match.group(2))
    limit = reference.date() + timedelta(days=1)
    for year in range(limit.year, limit.year - 9, -1):
        try:
            candidate = date(year, month, day)
        except ValueError:  # Feb 29 outside a leap year, or Apr 31
            continue
        if candidate <= limit:
            return candidate
    raise ValueError(f"no valid date for {header!r}")


def _odd_block_error(where: str, body: list[tuple[int, str]]) -> ParseError:
    # Point at the first pair whose "title" reads like an abstract: that is where it slipped.
    for index in range(0, len(body) - 1, 2):
        line, title = body[index]
        if len(title) > MAX_TITLE_CHARS or title.count(". ") >= 2:
            return ParseError(where, f"{len(body)} title/abstract blocks (odd): the block here "
                              "looks like an abstract with no title before it", line)
    line, _ = body[-1]
    return ParseError(where, f"{len(body)} title/abstract blocks (odd): the last title has "
                      "no abstract, or a blank line splits an abstract", line)


def parse_dump(data: bytes, where: str, reference: datetime) -> ParsedDump:
    """Parse one dump. `where` names it in errors; `reference` is when it was written/fetched."""
    text = decode_dump(data, where)
    header_date, body = _split_header(_blocks(text))
    if not body:
        raise ParseError(where, "no papers after the header")
    if len(body) % 2:
        raise _odd_block_error(where, body)
    entries = []
    for position, index in enumerate(range(0, len(body), 2)):
        line, title = body[index]
        if len(title) > MAX_TITLE_CHARS:
            raise ParseError(where, f"title of {len(title)} characters: blocks are out of step "
                             "(is a title or an abstract missing above?)", line)
        if not normalize_title(title):
            raise ParseError(where, f"title {title!r} has no letters or digits (a line of "
                             "symbols or invisible characters where a title should be)", line)
        entries.append(DumpEntry(title, body[index + 1][1], line, position))
    try:
        listing = infer_listing_date(header_date, reference) if header_date else None
    except ValueError:  # `Feb 30`, `Mar 0`: shaped like a date, but no such day
        raise ParseError(where, f"header date {header_date!r} is not a day of the year; "
                         "fix or remove it") from None
    return ParsedDump(listing, header_date, tuple(entries))
