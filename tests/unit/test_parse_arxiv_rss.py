"""arxiv_rss parser: a feed assembled from the spec's own example elements, and synthetic feeds."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from worker.errors import ParseError
from worker.sources import arxiv_rss

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
HEAD = ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:atom="http://www.w3.org/2005/Atom"><channel>')


def spec_feed() -> bytes:
    """The spec's verbatim example elements, read at test time and put in one feed."""
    path = SHARED / "fixtures" / "arxiv" / "arxiv_docs_rss_specifications.md"
    if not path.exists():
        pytest.skip(f"fixture {path} absent")
    text = path.read_text(encoding="utf-8")
    channel_part, item_part = text.split("## RSS Item Elements")
    blocks = [re.findall(r"```\n(.*?)```", part, re.S) for part in (channel_part, item_part)]
    channel = "".join(b for b in blocks[0] if not b.lstrip().startswith("<skipDays"))
    item = "".join(blocks[1]).replace("<category>math.AP</category>  ",
                                      "<category>math.AP</category>")
    return f"{HEAD}{channel}<item>{item}</item></channel></rss>".encode()


def test_spec_example_item_is_a_replace_cross():
    feed = arxiv_rss.parse_feed(spec_feed(), "spec")
    assert feed.listing_date == date(2024, 2, 23)
    [item] = feed.items
    assert item.announce_type == "replace-cross"
    record = item.record
    assert (record.arxiv_id, record.version) == ("2203.01250", 3)
    assert record.title == "Mass concentration in rescaled first order integral functionals"
    assert record.authors == ("Antonin Monteil", "Paul Pegon")
    assert record.abstract.startswith("We consider first order local minimization problems")
    assert not record.abstract.startswith("arXiv:")
    assert record.listing_date == date(2024, 8, 23)
    assert record.links.abstract == "https://arxiv.org/abs/2203.01250"


def test_spec_example_is_dropped_by_default_and_kept_on_include():
    assert arxiv_rss.parse(spec_feed(), "spec") == []
    assert len(arxiv_rss.parse(spec_feed(), "spec", revisions="include")) == 1


def item(arxiv_id: str, kind: str, title: str = "T", creators: str = "A. B") -> str:
    return (f"<item><title>{title}</title><link>https://arxiv.org/abs/{arxiv_id}</link>"
            f"<description>arXiv:{arxiv_id}v1 Announce Type: {kind} \nAbstract: Text of "
            f"{arxiv_id}.</description><guid isPermaLink=\"false\">oai:arXiv.org:{arxiv_id}v1"
            f"</guid><category>cs.CV</category><pubDate>Mon, 10 Mar 2025 00:00:00 -0400</pubDate>"
            f"<arxiv:announce_type>{kind}</arxiv:announce_type><dc:creator>{creators}"
            f"</dc:creator></item>")


def feed(*items: str) -> bytes:
    return (f"{HEAD}<title>cs.CV updates on arXiv.org</title>"
            f"<pubDate>Mon, 10 Mar 2025 00:00:00 -0400</pubDate>{''.join(items)}"
            "</channel></rss>").encode()


MIXED = feed(item("2503.00001", "new"), item("2503.00002", "cross"),
             item("2401.00003", "replace"), item("2312.00004", "replace-cross"))


@pytest.mark.parametrize(("revisions", "cross", "ids"), [
    ("ignore", True, ["2503.00001", "2503.00002"]),
    ("ignore", False, ["2503.00001"]),
    ("include", True, ["2503.00001", "2503.00002", "2401.00003", "2312.00004"]),
])
def test_announce_type_policy(revisions, cross, ids):
    records = arxiv_rss.parse(MIXED, "x", revisions=revisions, cross_lists=cross)
    assert [r.arxiv_id for r in records] == ids


def test_weekend_feed_is_empty_not_an_error():
    parsed = arxiv_rss.parse_feed(feed(), "x")
    assert parsed.items == () and parsed.listing_date == date(2025, 3, 10)


def test_unicode_wrapped_title_and_authors():
    body = feed(item("2503.02130", "new", title="MVD$^2$: Ünïcode\n   wrapped title",
                     creators="Zoë Ünicode, Jean-Luc Picard,  Ada Lovelace"))
    [record] = arxiv_rss.parse(body, "x")
    assert record.arxiv_id == "2503.02130"
    assert record.title == "MVD$^2$: Ünïcode wrapped title"
    assert record.authors == ("Zoë Ünicode", "Jean-Luc Picard", "Ada Lovelace")


def test_old_style_ids():
    [record] = arxiv_rss.parse(feed(item("math/0309136", "new")), "x")
    assert (record.arxiv_id, record.version) == ("math/0309136", 1)


def test_an_old_style_id_with_its_subject_class_is_stored_without_it():
    """`math.GT/0309136` is arXiv's `math/0309136`: the same paper's id, and its links."""
    [record] = arxiv_rss.parse(feed(item("math.GT/0309136", "new")), "x")
    assert (record.arxiv_id, record.version) == ("math/0309136", 1)
    assert record.links.abstract == "https://arxiv.org/abs/math/0309136"


@pytest.mark.parametrize(("body", "message"), [
    (b"", "empty response body"),
    (MIXED[:300], "not well-formed XML"),
    (b'<feed xmlns="http://www.w3.org/2005/Atom"/>', "not an RSS 2.0 feed"),
    (feed("<item><title>x</title><description>no id</description></item>"), "no arXiv id"),
    (feed(item("2503.00001", "new").replace("Mon, 10 Mar 2025", "yesterday")), "pubDate"),
])
def test_malformed(body, message):
    with pytest.raises(ParseError) as err:
        arxiv_rss.parse(body, "https://rss.arxiv.org/rss/cs.CV")
    assert message in str(err.value) and "rss/cs.CV" in str(err.value)
