"""Golden files for the three templates, from one fixed digest (our own sample papers).

Regenerate after an intended template change with: UPDATE_GOLDEN=1 make test
"""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime
from email.policy import SMTP
from pathlib import Path

import pytest

from worker.digest_mail import build_message
from worker.records import Links
from worker.render import digest_context, render
from worker.store.models import Digest, DigestItem, StoredPaper

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CREATED = datetime(2026, 11, 20, 7, 30, tzinfo=UTC)


def _paper(n: int, title: str, abstract: str, **kw) -> StoredPaper:  # type: ignore[no-untyped-def]
    return StoredPaper(id=n, title=title, abstract=abstract, arxiv_id=kw.get("arxiv_id"),
                       version=None, authors=kw.get("authors", ()),
                       links=kw.get("links", Links()), published=None, upvotes=None,
                       first_seen_at=CREATED, first_seen_seq=1,
                       listing_date=date(2026, 11, 20))


def sample_digest() -> Digest:
    long_abstract = ("Multimodal models often describe objects that are not in the image. "
                     "We trace these hallucinations to a language prior that overrides "
                     "visual evidence during decoding, and propose Contrastive Glimpse "
                     "Decoding, which compares next-token distributions with and without "
                     "the image. Across four benchmarks, hallucinated objects drop by 31% "
                     "while caption quality holds. Code: https://github.com/example/cgd.")
    papers = [
        _paper(1, "Glimpse Decoding: Curbing Object Hallucination in Vision-Language Models",
               long_abstract, arxiv_id="2611.01234",
               authors=("Mira Okafor", "Jun Tanaka", "Lena Fischer", "Omar Haddad",
                        "Priya Raman"),
               links=Links.for_arxiv("2611.01234", code="https://github.com/example/cgd")),
        _paper(2, "A <Tricky> Title with $\\alpha$-Scaling & \"Quotes\"",
               "Short abstract mentioning hallucination and [brackets] *stars* _under_."),
    ]
    reasons = [
        [{"kind": "keyword", "text": "title mentions “hallucination”", "field": "title",
          "terms": ["Hallucination", "hallucinations"], "weight": 0.6},
         {"kind": "query", "text": "matches hallucination OR “language prior”",
          "field": "abstract", "terms": ["language prior"], "weight": 0.3}],
        [{"kind": "keyword", "text": "abstract mentions “hallucination”", "field": "abstract",
          "terms": ["hallucination"], "weight": 0.3}],
    ]
    items = tuple(DigestItem.from_reasons(i + 1, score, reasons[i], papers[i])
                  for i, score in enumerate((0.87, 0.41)))
    return Digest(7, "ada", CREATED, "<digest.abc123.ada@example.org>", 2, 3, 0, 5, items)


def _context():  # type: ignore[no-untyped-def]
    return digest_context(sample_digest(), name="Ada Lovelace", email="ada@example.org",
                          profile_file="config/subscribers/ada.toml",
                          timezone="Europe/Berlin")


def _check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_bytes(text.encode("utf-8"))
    assert path.exists(), f"{path} missing: run with UPDATE_GOLDEN=1 once"
    assert text == path.read_bytes().decode("utf-8")  # byte for byte: CRLF in mail matters


@pytest.mark.parametrize("fmt", ["md", "txt", "html"])
def test_template_golden(fmt: str) -> None:
    _check(f"digest.{fmt}", render(_context(), fmt))


def test_email_golden() -> None:
    message = build_message(_context(), sender="Paper Digest <digest@example.org>")
    raw = message.as_bytes(policy=SMTP).decode()
    # The MIME boundary is random: normalize it, keep everything else byte for byte.
    boundary = message.get_boundary()
    assert boundary
    _check("digest.eml", re.sub(re.escape(boundary), "BOUNDARY", raw))
