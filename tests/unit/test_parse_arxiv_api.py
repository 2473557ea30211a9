"""arxiv_api parser on the recorded export-API responses (new backend) and the legacy example."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from worker.errors import ParseError, SourceError
from worker.sources import arxiv_api

SHARED = Path(__file__).resolve().parents[2].parent / "shared"


def fixture(name: str) -> bytes:
    path = SHARED / "fixtures" / "arxiv" / name
    if not path.exists():
        pytest.skip(f"fixture {path} absent")
    return path.read_bytes()


# file, total, [(id, version, title start, number of authors)]
CASES = [
    ("arxivpy_api_id_2104.12255v1.xml", 1, [("2104.12255", 1, "0", 1)]),
    ("arxivpy_api_id_1605.08386.xml", 1,
     [("1605.08386", 1, "Heat-bath random walks with Markov bases", 2)]),
    ("arxivpy_api_id_astro-ph_0601001_oldstyle.xml", 1,
     [("astro-ph/0601001", 1, "Frequency of Hot Jupiters and Very Hot Jupiters", 4)]),
    ("arxivpy_api_id_quant-ph_0201082v1_oldstyle.xml", 1,
     [("quant-ph/0201082", 1, "Quantum Computers and Quantum Computer Languages", 1)]),
    ("arxivpy_api_idlist_one_missing.xml", 1,
     [("1707.08567", 1, "Proceedings of Workshop AEW10", 34)]),
    ("arxiv_docs_legacy_atom_example.xml", 1000,
     [("hep-ex/0307015", 1, "Multi-Electron Production at High Transverse Momenta in ep", 1)]),
    ("arxivpy_api_empty_result.xml", 0, []),
]


@pytest.mark.parametrize(("name", "total", "expected"), CASES, ids=[c[0] for c in CASES])
def test_fixture(name, total, expected):
    feed = arxiv_api.parse_feed(fixture(name), name)
    assert feed.total == total
    got = [(r.arxiv_id, r.version, r.title, len(r.authors)) for r in feed.records]
    assert [(i, v, a) for i, v, _, a in got] == [(i, v, a) for i, v, _, a in expected]
    for (_, _, title, _), (_, _, start, _) in zip(got, expected, strict=True):
        assert title.startswith(start)


def test_title_zero_is_a_title_and_the_id_a_string():
    [record] = arxiv_api.parse(fixture("arxivpy_api_id_2104.12255v1.xml"), "x")
    assert record.title == "0"
    assert record.arxiv_id == "2104.12255" and record.version == 1
    assert record.published == datetime(2021, 4, 20, 16, 7, 14, tzinfo=UTC)
    assert record.links.pdf == "https://arxiv.org/pdf/2104.12255"


def test_old_style_id_links_authors_and_entities():
    [record] = arxiv_api.parse(fixture("arxivpy_api_id_astro-ph_0601001_oldstyle.xml"), "x")
    assert record.links.abstract == "https://arxiv.org/abs/astro-ph/0601001"
    assert record.authors == ("Andrew Gould", "Susan Dorsher", "B. Scott Gaudi",
                              "Andrzej Udalski")
    assert "Gould & Morgan (2003)" in record.abstract  # &amp; decoded
    assert "V_max<17.5" in record.abstract  # &lt; decoded
    assert not record.abstract.startswith(" ")


def test_unicode_author():
    [record] = arxiv_api.parse(fixture("arxivpy_api_idlist_one_missing.xml"), "x")
    assert "Dirk Wübben" in record.authors
    assert record.authors[-1] == "Hirosuke Yamamoto"


def test_legacy_hard_wraps_collapse_and_version_comes_from_the_link():
    [record] = arxiv_api.parse(fixture("arxiv_docs_legacy_atom_example.xml"), "x")
    assert record.title == ("Multi-Electron Production at High Transverse Momenta in ep "
                            "Collisions at HERA")
    assert "\n" not in record.abstract and "  " not in record.abstract
    assert record.abstract.startswith("Multi-electron production is studied at high electron")
    assert record.authors == ("H1 Collaboration",)
    assert record.version == 1  # the legacy id has none; its alternate link says v1
    assert record.published == datetime(2003, 7, 7, 13, 46, 39,
                                         tzinfo=timezone(timedelta(hours=-4)))


def test_error_entry_is_a_source_error_not_a_paper():
    with pytest.raises(SourceError) as err:
        arxiv_api.parse_feed(fixture("arxivpy_api_error_bad_id.xml"), "https://x/api/query",
                             source="arxiv-cv", status=400)
    assert err.value.status == 400
    assert err.value.source == "arxiv-cv"
    assert "incorrect id format for abc" in str(err.value)
    assert "https://x/api/query" in str(err.value)


def test_a_paper_titled_error_is_still_a_paper():
    body = (b'<feed xmlns="http://www.w3.org/2005/Atom"><entry>'
            b"<id>http://arxiv.org/abs/2401.00001v2</id><title>Error</title>"
            b"<summary>On errors.</summary></entry></feed>")
    [record] = arxiv_api.parse(body, "x")
    assert (record.arxiv_id, record.version, record.title) == ("2401.00001", 2, "Error")


@pytest.mark.parametrize(("body", "message"), [
    (b"", "empty response body"),
    (b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>', "not well-formed XML"),
    (b"<html><body>Rate exceeded.</body></html>", "not an Atom feed"),
    (b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>urn:x</id></entry></feed>',
     "is not an arXiv id"),
    (b'<?xml version="1.0" encoding="utf-8"?><feed><title>caf\xe9</title></feed>',
     "not well-formed XML"),
    # stored in UTC, where it is after 9999: a database error that ended the source
    (b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>2401.00001</id><title>T</title>'
     b"<published>9999-12-31T23:00:00-05:00</published></entry></feed>",
     "'9999-12-31T23:00:00-05:00' is after 9999 or before 0001 in UTC"),
])
def test_malformed(body, message):
    with pytest.raises(ParseError) as err:
        arxiv_api.parse(body, "https://export.arxiv.org/api/query?search_query=cat:cs.CV")
    assert message in str(err.value)
    assert "search_query=cat:cs.CV" in str(err.value)


@pytest.mark.parametrize("total", ["\u00b2", "9" * 5000])
def test_a_total_int_cannot_read_is_no_total(total):
    # str.isdigit() takes "²", which int() refuses; int() refuses 5,000 digits: each was a
    # ValueError, no ParseError, which ended the source.
    body = (f"<feed xmlns='http://www.w3.org/2005/Atom' xmlns:opensearch="
            f"'http://a9.com/-/spec/opensearch/1.1/'><opensearch:totalResults>{total}"
            "</opensearch:totalResults></feed>").encode()
    assert arxiv_api.parse_feed(body, "x").total is None
