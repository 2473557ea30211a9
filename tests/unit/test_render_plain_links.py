"""Every link a source gave a paper reaches every form of its digest, plain text included
(real Hugging Face API items from ../shared: code and project pages)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

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
