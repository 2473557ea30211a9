"""dump_url: the seed-format parser (the lead's) wrapped into records, and its year source."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from worker.errors import ParseError
from worker.sources import dump_url
from worker.sources.http import FetchResult

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
NOW = datetime(2025, 3, 20, 12, tzinfo=UTC)
DUMP = ("new\n\nSubscribe\n\nMar 13\n\nMVD$^2$: Efficient\nMultiview Reconstruction\n\n"
        "We reconstruct.\n\nSOTOPIA-$\\pi$: Ünïcode title\n\nAn abstract.\n").encode()


def test_records_without_ids_carry_the_listing_date():
    records, listing = dump_url.parse(DUMP, "https://example.org/d.txt", NOW)
    assert listing == date(2025, 3, 13)
    assert [r.title for r in records] == ["MVD$^2$: Efficient Multiview Reconstruction",
                                          "SOTOPIA-$\\pi$: Ünïcode title"]
    assert all(r.arxiv_id is None and r.listing_date == listing for r in records)


def test_malformed_dump_is_a_parse_error_naming_the_url():
    with pytest.raises(ParseError) as err:
        dump_url.parse(b"Mar 13\n\nA title without abstract\n", "https://example.org/d.txt", NOW)
    assert "https://example.org/d.txt" in str(err.value)


def _result(last_modified: str | None) -> FetchResult:
    headers = {"last-modified": last_modified} if last_modified else {}
    return FetchResult("u", "u", 200, headers, b"")


def test_year_comes_from_last_modified_when_sane():
    old = dump_url.written_at(_result("Wed, 13 Mar 2024 08:00:00 GMT"), NOW)
    assert old == datetime(2024, 3, 13, 8, tzinfo=UTC)
    assert dump_url.written_at(_result("Wed, 13 Mar 2030 08:00:00 GMT"), NOW) == NOW
    assert dump_url.written_at(_result("garbage"), NOW) == NOW
    assert dump_url.written_at(_result(None), NOW) == NOW


def test_seeds_parse_when_present():
    seeds = sorted((SHARED / "seeds").glob("*.txt"))
    if not seeds:
        pytest.skip("no seeds in ../shared/seeds")
    total = sum(len(dump_url.parse(p.read_bytes(), str(p), NOW)[0]) for p in seeds)
    assert total == 444  # DESIGN.md: 444 entries in the five seeds


@pytest.mark.parametrize("header", ["Thu, 01 Jan 1970 00:00:00 GMT",
                                    "Mon, 99999999999999999999 Mar 2025 00:00:00 GMT"])
def test_a_last_modified_that_says_nothing_is_not_when_the_dump_was_written(header):
    # An epoch Last-Modified made the dump's `Mar 13` a day of 1970, shown and kept as when
    # its papers were listed; a day of 20 digits was an OverflowError that failed the dump.
    written = dump_url.written_at(_result(header), NOW)
    assert written == NOW
    _, listing = dump_url.parse(b"Mar 13\n\nA title\n\nIts abstract.\n", "u", written)
    assert listing is not None and listing.year == NOW.year
