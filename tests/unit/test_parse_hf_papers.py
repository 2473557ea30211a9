"""hf_papers parser: the hydration JSON of the real page excerpt, and the card fallback."""

from __future__ import annotations

import html
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from worker.errors import ParseError
from worker.sources import hf_papers

SHARED = Path(__file__).resolve().parents[2].parent / "shared"


def fixture(name: str) -> bytes:
    path = SHARED / "fixtures" / "hf" / name
    if not path.exists():
        pytest.skip(f"fixture {path} absent")
    return path.read_bytes()


def test_real_page_excerpt():
    page = hf_papers.parse_page(fixture("papers_2026-09-28_excerpt.html"), "papers.html")
    assert page.day == date(2026, 9, 28)
    assert not page.from_cards
    [record] = page.records
    assert record.arxiv_id == "2609.31620"
    assert record.title.startswith("FuseReg: Regularizing Layer Fusion Mitigates")
    assert record.abstract.startswith("Representation autoencoders (RAEs) reuse features")
    assert len(record.authors) == 16
    assert record.authors[0] == "Hongyang Du" and record.authors[-1] == "Yue Wang"
    assert record.upvotes == 110
    assert record.links.code == "https://github.com/Hongyang-Du/FuseReg"
    assert record.links.project == "https://hongyang-du.github.io/FuseReg/"
    assert record.links.abstract == "https://arxiv.org/abs/2609.31620"
    assert record.listing_date == date(2026, 9, 28)
    # paper.publishedAt, not the item's top-level publishedAt (2026-09-24T20:00Z)
    assert record.published == datetime(2026, 9, 25, tzinfo=UTC)


def _page(props: dict | None, body: str = "") -> bytes:
    div = ""
    if props is not None:
        attr = html.escape(json.dumps(props), quote=True)
        div = f'<div class="SVELTE_HYDRATER contents" data-target="DailyPapers" ' \
              f'data-props="{attr}"></div>'
    return f"<!DOCTYPE html><html><body><main>{div}{body}</main></body></html>".encode()


def _item(arxiv_id: str, title: str) -> dict:
    return {"paper": {"id": arxiv_id, "title": title, "summary": "S.", "authors": [],
                      "submittedOnDailyAt": "2025-03-05T00:00:00.000Z", "upvotes": 1}}


def test_synthetic_props_with_unicode_and_latex_title():
    props = {"dateString": "2025-03-05",
             "dailyPapers": [_item("2503.02130", "SOTOPIA-$\\pi$: Ünïcode «quotes» & more")]}
    page = hf_papers.parse_page(_page(props), "x")
    assert page.day == date(2025, 3, 5)
    [record] = page.records
    assert record.arxiv_id == "2503.02130"
    assert record.title == "SOTOPIA-$\\pi$: Ünïcode «quotes» & more"


def test_empty_day_has_a_date_and_no_papers():
    page = hf_papers.parse_page(_page({"dateString": "2025-03-08", "dailyPapers": []}), "x")
    assert page.day == date(2025, 3, 8) and page.records == ()


CARDS = """
<section><article class="card"><div><h3><a href="/papers/2503.02130" class="line-clamp-3">
  MVD$^2$: Efficient   Multiview
  3D Reconstruction</a></h3></div></article>
<article><h3><a href="/papers/2503.00001">Second paper</a></h3></article>
<article><h3><a href="/papers/2503.00001">Second paper</a></h3></article>
<article><h3><a href="/models/not-a-paper">A model</a></h3></article></section>
"""


def test_falls_back_to_cards_without_hydration_json():
    page = hf_papers.parse_page(_page(None, CARDS), "x")
    assert page.from_cards and page.day is None
    assert [(r.arxiv_id, r.title) for r in page.records] == [
        ("2503.02130", "MVD$^2$: Efficient Multiview 3D Reconstruction"),
        ("2503.00001", "Second paper"),
    ]
    assert all(r.abstract == "" for r in page.records)


def test_hydration_json_without_its_list_falls_back_to_cards():
    page = hf_papers.parse_page(_page({"dateString": "2025-03-05", "papers": []}, CARDS), "x")
    assert page.from_cards and page.day == date(2025, 3, 5)
    assert [r.arxiv_id for r in page.records] == ["2503.02130", "2503.00001"]


def test_latin1_page_decodes_with_its_declared_charset():
    props = {"dateString": "2025-03-05", "dailyPapers": [_item("2503.02130", "Café")]}
    body = _page(props).decode().encode("latin-1")
    assert hf_papers.parse_page(body, "x", charset="iso-8859-1").records[0].title == "Café"


@pytest.mark.parametrize(("body", "message"), [
    (b"<html><body><h1>Sign in</h1></body></html>", "no div[data-target"),
    (b'<div data-target="DailyPapers" data-props="{not json"></div>', "not valid JSON"),
    (b'<div data-target="DailyPapers" data-props="[1]"></div>', "not a JSON object"),
    (b'<div data-target="DailyPapers" data-props="{&quot;dateString&quot;:&quot;x&quot;}">',
     "dateString is not a date"),
    ("<p>caf\u00e9</p>".encode("latin-1"), "not utf-8"),
    (_page({"dateString": "2025-03-05", "papers": [_item("2503.02130", "T")]}),
     "no 'dailyPapers' list (its keys: dateString, papers) and the page has no paper cards"),
])
def test_errors(body, message):
    with pytest.raises(ParseError) as err:
        hf_papers.parse_page(body, "https://huggingface.co/papers/date/2025-03-05")
    assert message in str(err.value)
    assert "papers/date/2025-03-05" in str(err.value)
