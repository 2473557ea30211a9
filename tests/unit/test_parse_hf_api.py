"""hf_api parser on the real /api/daily_papers capture (30 items) and the API's OpenAPI schema."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from worker.errors import ParseError
from worker.sources import hf_api

SHARED = Path(__file__).resolve().parents[2].parent / "shared"


def fixture(name: str) -> bytes:
    path = SHARED / "fixtures" / "hf_api" / name
    if not path.exists():
        pytest.skip(f"fixture {path} absent")
    return path.read_bytes()


@pytest.fixture(scope="module")
def records() -> list:
    return hf_api.parse(fixture("daily_papers_2026-06-12.json"), "daily_papers.json")


def test_all_thirty_items_with_ids_as_strings(records):
    assert len(records) == 30
    assert all(isinstance(r.arxiv_id, str) and r.arxiv_id.startswith("2606.") for r in records)
    assert len({r.key for r in records}) == 30
    assert records[0].arxiv_id == "2606.00467"  # a leading zero after the dot survives
    assert all(r.version is None for r in records)  # paper.id carries no version


def test_listing_date_is_submitted_on_daily_not_top_level_published_at(records):
    assert {r.listing_date for r in records} == {date(2026, 6, 12)}
    first = records[0]
    # paper.publishedAt (arXiv's date), not the mislabelled top-level 2026-05-29T20:00Z
    assert first.published == datetime(2026, 5, 30, tzinfo=UTC)


def test_fields_from_the_nested_paper(records):
    first = records[0]
    assert first.title.startswith("On the Limits of LLM Adaptability")
    assert first.abstract.startswith("Large Language Models (LLMs) are increasingly used")
    assert first.authors == ("Etienne Casanova", "Rafal Kocielnik", "R. Michael Alvarez")
    assert first.upvotes == 0
    assert first.links.abstract == "https://arxiv.org/abs/2606.00467"
    assert first.links.pdf == "https://arxiv.org/pdf/2606.00467"
    by_id = {r.arxiv_id: r for r in records}
    assert by_id["2606.13392"].title == "MiniMax Sparse Attention"
    assert by_id["2606.13392"].upvotes == 103
    assert by_id["2606.13681"].upvotes == 118


def test_code_and_project_links_match_the_raw_items(records):
    items = json.loads(fixture("daily_papers_2026-06-12.json"))
    for item, record in zip(items, records, strict=True):
        assert record.links.code == (item["paper"].get("githubRepo") or None)
        assert record.links.project == (item["paper"].get("projectPage") or None)
        assert len(record.authors) == len(item["paper"]["authors"])
    assert sum(r.links.code is not None for r in records) == 16
    assert sum(r.links.project is not None for r in records) == 13


def test_no_whitespace_runs_left_in_titles_or_abstracts(records):
    for record in records:
        assert record.title == " ".join(record.title.split())
        assert "\n" not in record.abstract


def test_fields_we_read_exist_in_the_openapi_schema():
    spec = json.loads(fixture("hf_openapi_papers_excerpt.json"))
    get = spec["paths"]["/api/daily_papers"]["get"]
    params = {p["name"]: p for p in get["parameters"]}
    assert {"p", "limit", "date"} <= params.keys()
    assert params["limit"]["schema"]["maximum"] == hf_api.API_PAGE_LIMIT
    schema = get["responses"]["200"]["content"]["application/json"]["schema"]
    paper = schema["items"]["properties"]["paper"]["properties"]
    for name in ("id", "title", "summary", "authors", "submittedOnDailyAt", "publishedAt",
                 "upvotes", "githubRepo", "projectPage", "withdrawnAt"):
        assert name in paper, name
    assert set(schema["items"]["properties"]["paper"]["required"]) >= {"id", "title", "summary"}


def _item(**paper) -> dict:
    base = {"id": "2503.02130", "title": "A  title\nwrapped", "summary": "Text.",
            "authors": [{"name": "Zoë Ünicode", "hidden": False}],
            "submittedOnDailyAt": "2025-03-05T00:00:00.000Z", "upvotes": 3}
    return {"paper": {**base, **paper}, "publishedAt": "2025-03-04T19:00:00.000Z"}


def test_synthetic_item_unicode_and_leading_zero():
    [record] = hf_api.parse(json.dumps([_item()]).encode(), "x")
    assert record.arxiv_id == "2503.02130"
    assert record.title == "A title wrapped"
    assert record.authors == ("Zoë Ünicode",)
    assert record.listing_date == date(2025, 3, 5)


def test_withdrawn_papers_are_left_out():
    body = json.dumps([_item(), _item(id="2503.00001", withdrawnAt="2025-03-06T00:00:00Z")])
    assert [r.arxiv_id for r in hf_api.parse(body.encode(), "x")] == ["2503.02130"]


def test_empty_list_is_fine():
    assert hf_api.parse(b"[]", "x") == []


@pytest.mark.parametrize(("body", "message"), [
    (b"", "not valid JSON"),
    (b'[{"paper": {"id": "1"', "not valid JSON"),
    (b"<!DOCTYPE html><html>", "not valid JSON"),
    (b'{"error": "Invalid date"}', "API error: Invalid date"),
    (b'{"items": []}', "expected a list"),
    (b'[{"title": "no paper object"}]', "item 1: no `paper` object"),
    (b'[{"paper": {"id": "2503.02130"}}]', "no title"),
    ('[{"paper": {"id": "1", "title": "caf\u00e9"}}]'.encode("latin-1"), "not utf-8"),
    (json.dumps([_item(submittedOnDailyAt="yesterday")]).encode(), "not an ISO date-time"),
    # more than a database integer holds: stored, it ended the source with an overflow
    (json.dumps([_item(upvotes=10**30)]).encode(), "upvotes out of range: 1" + "0" * 30),
    (json.dumps([_item(upvotes=-1e20)]).encode(), "item 1: upvotes out of range: -1e+20"),
    (json.dumps([_item(upvotes=2**31)]).encode(), "item 1: upvotes out of range: 2147483648"),
    # stored in UTC, where they leave the calendar: a database error that ended the source
    (json.dumps([_item(publishedAt="9999-12-31T23:59:59-12:00")]).encode(),
     "item 1: paper.publishedAt: '9999-12-31T23:59:59-12:00' is after 9999 or before 0001"),
    (json.dumps([_item(publishedAt="0001-01-01T00:00:00+01:00")]).encode(),
     "item 1: paper.publishedAt: '0001-01-01T00:00:00+01:00' is after 9999 or before 0001"),
])
def test_errors_name_the_reason(body, message):
    with pytest.raises(ParseError) as err:
        hf_api.parse(body, "https://huggingface.co/api/daily_papers?date=2025-03-05")
    assert message in str(err.value)
    assert "daily_papers?date=2025-03-05" in str(err.value)


@pytest.mark.parametrize(("key", "value"), [
    ("githubRepo", 123), ("projectPage", ["https://example.org"]), ("githubRepo", True),
    ("authors", 3), ("authors", True), ("authors", 1.5)])
def test_a_field_of_another_type_is_left_out_not_a_crash(key, value):
    """A link or author list of another JSON type was an AttributeError or TypeError, which
    no source catches: the source ended, its later days unread."""
    item = {"paper": {"id": "2609.00001", "title": "T", "summary": "S", key: value}}
    [record] = hf_api.parse(json.dumps([item]).encode(), "x")
    assert record.title == "T" and record.arxiv_id == "2609.00001"
    assert record.links.code is None and record.links.project is None and record.authors == ()
