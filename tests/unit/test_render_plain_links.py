"""Every link a source gave a paper reaches every form of its digest, plain text included
(real Hugging Face API items from ../shared: code and project pages)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from worker.records import Links
from worker.render import digest_context, render
from worker.sources import hf_api
from worker.store.models import Digest, DigestItem, StoredPaper

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
DAY = SHARED / "fixtures" / "hf_api" / "daily_papers_2026-06-12.json"
CREATED = datetime(2026, 6, 12, 8, 0, tzinfo=UTC)


def _digest() -> Digest:
    if not DAY.exists():
        pytest.skip(f"fixture {DAY} absent")
    records = [r for r in hf_api.parse(DAY.read_bytes(), DAY.name) if r.links.project][:4]
    papers = [StoredPaper(id=n, title=r.title, abstract=r.abstract, arxiv_id=r.arxiv_id,
                          version=None, authors=r.authors, links=r.links, published=None,
                          upvotes=None, first_seen_at=CREATED, first_seen_seq=1,
                          listing_date=r.listing_date)
              for n, r in enumerate(records, start=1)]
    reason = {"kind": "keyword", "text": "title mentions “agents”", "field": "title",
              "terms": ["agents"], "weight": 0.5}
    items = tuple(DigestItem.from_reasons(n, 0.5, [reason], p)
                  for n, p in enumerate(papers, start=1))
    return Digest(1, "reader", CREATED, "<digest.1.reader@example.org>", len(items), 0, 0, 1,
                  items)


@pytest.mark.parametrize("fmt", ["txt", "md", "html"])
def test_every_link_is_in_every_form(fmt: str) -> None:
    digest = _digest()
    text = render(digest_context(digest, name="Reader", email=None, profile_file=None), fmt)
    links = [(i.paper.links.pdf, i.paper.links.code, i.paper.links.project)
             for i in digest.items]
    assert len(links) == 4 and any(code for _, code, _ in links)
    for pdf, code, project in links:
        assert pdf in text
        assert code is None or code in text
        assert project in text, f"{fmt}: project page {project} missing"


def test_the_lines_of_an_item_stand_under_its_title_past_rank_nine() -> None:
    """In plain text, a title's continuation lines and the item's other lines start where the
    title's text does: 3 columns after "9. ", 4 after "10. " (real seed papers)."""
    from worker.sources.dumps import parse_dump

    seed = SHARED / "seeds" / "001_beeee295fe70f7ff.txt"
    if not seed.exists():
        pytest.skip(f"{seed} absent")
    entries = parse_dump(seed.read_bytes(), seed.name, CREATED).entries[:12]
    reason = {"kind": "keyword", "text": "title mentions “model”", "field": "title",
              "terms": ["model"], "weight": 0.5}
    items = tuple(DigestItem.from_reasons(n, 0.5, [reason], StoredPaper(
        id=n, title=e.title, abstract=e.abstract, arxiv_id=None, version=None, authors=(),
        links=Links(), published=None, upvotes=None, first_seen_at=CREATED,
        first_seen_seq=1)) for n, e in enumerate(entries, start=1))
    digest = Digest(1, "reader", CREATED, "<digest.1.reader@example.org>", 12, 0, 0, 1, items)
    text = render(digest_context(digest, name="Reader", email=None, profile_file=None), "txt")
    blocks = re.split(r"\n(?=\d+\. )", text.split("\n-- \n")[0])[1:]
    assert len(blocks) == 12
    for rank, block in enumerate(blocks, start=1):
        pad = " " * len(f"{rank}. ")
        body = [line for line in block.splitlines()[1:] if line]
        assert len(body) >= 3, block
        assert all(line.startswith(pad) and line[len(pad)] != " " for line in body), block
