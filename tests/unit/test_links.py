"""Links a source gives for a paper reach a digest only as web addresses: a project page on
Hugging Face is whatever its author typed, and a digest puts it in an href."""

from __future__ import annotations

import json

import pytest

from worker.records import Links
from worker.sources import hf_api


@pytest.mark.parametrize("link", [
    "javascript:alert(document.cookie)",
    "JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "//evil.example.org/x",
    "github.com/owner/repo",  # no scheme: a relative link in a digest
    'https://example.org/" onmouseover="alert(1)',
    "https://example.org/a b",
    "https://example.org/\x00",
    "",
])
def test_anything_but_a_web_address_is_left_out(link: str) -> None:
    links = Links(abstract=link, pdf=link, code=link, project=link)
    assert links == Links()


@pytest.mark.parametrize("link", [
    "https://github.com/owner/repo", "http://example.org/project?a=1&b=2#top",
    "HTTPS://Example.org/Page",
])
def test_web_addresses_are_kept(link: str) -> None:
    assert Links(code=f"  {link}\n").code == link


def test_a_hostile_project_page_from_a_source_is_dropped_and_the_paper_kept() -> None:
    item = {"paper": {"id": "2606.00467", "title": "T", "summary": "S", "authors": [],
                      "submittedOnDailyAt": "2026-06-12T00:00:00.000Z",
                      "projectPage": "javascript:alert(document.cookie)",
                      "githubRepo": "https://github.com/owner/repo"}}
    [record] = hf_api.parse(json.dumps([item]).encode(), "daily_papers.json")
    assert record.links.project is None
    assert record.links.code == "https://github.com/owner/repo"
