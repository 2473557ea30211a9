"""A site that changes its page layout fails the source loudly, against a real server on
127.0.0.1 serving the real captured pages edited at runtime.

An audit found that a renamed heading (arXiv) or JSON key (Hugging Face) made the source
report "no papers listed" and stay healthy, day after day. A page that evidently lists papers
(it says how many, or shows paper cards) but of which none or fewer can be read is a
ParseError naming the URL; a page listing nothing, and saying so, is still an empty day.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.integration.helpers import one_source_config, run_cli
from worker.sources import Dump, DumpFailure, Unchanged

from .httpfixture import HTML, FixtureServer, Reply, shared_fixture
from .test_fetch_http import NOW, clock, collect, make_fetcher, only, server

__all__ = ["clock", "server"]  # fixtures, shared with test_fetch_http
LISTING = "/list/cs.IT/new"
PAPERS = "/papers/date/2026-09-28"


def arxiv_page() -> str:
    """The real cs.IT excerpt made whole: it keeps 3 of the 10 new submissions and none of
    the 31 entries' other sections, so its counts are set to the 3 it holds."""
    page = shared_fixture("arxiv", "arxiv_list_cs.IT_new_2026-09-28_excerpt.html").decode()
    page = page.replace("Total of 31 entries", "Total of 3 entries")
    return page.replace("(showing 10 of 10 entries)", "(showing 3 of 3 entries)")


def hf_page() -> str:
    return shared_fixture("hf", "papers_2026-09-28_excerpt.html").decode()


def edit(text: str, old: str, new: str, count: int = 1) -> bytes:
    assert text.count(old) == count, f"the fixture no longer holds {old!r}"
    return text.replace(old, new).encode()


CARD = ('<section><article class="relative flex flex-col"><h3><a href="/papers/2609.31620" '
        'class="line-clamp-3">FuseReg: Regularizing Layer Fusion</a></h3></article></section>')


# -- arxiv_listing ---------------------------------------------------------------------------

def test_the_whole_arxiv_page_is_read(server, clock):
    server.route(LISTING, Reply(200, arxiv_page().encode(), HTML))
    with make_fetcher(clock) as fetcher:
        dump = only(collect("arxiv_listing", server, fetcher, categories=["cs.IT"]), Dump)
    assert [r.arxiv_id for r in dump.records] == ["2609.30653", "2609.30690", "2609.31090"]


@pytest.mark.parametrize(("old", "new"), [
    ("<h3>New submissions (showing 3 of 3 entries)</h3>",
     "<h2>New submissions (showing 3 of 3 entries)</h2>"),
    ("<h3>New submissions (showing 3 of 3 entries)</h3>",
     "<div class='list-heading'>New submissions: 3 entries</div>"),
], ids=["h2-heading", "heading-reworded"])
def test_an_arxiv_section_heading_that_changed_fails_the_source(server, clock, old, new):
    body = edit(arxiv_page(), old, new)
    server.route(LISTING, Reply(200, body, HTML))
    with make_fetcher(clock) as fetcher:
        failure = only(collect("arxiv_listing", server, fetcher, categories=["cs.IT"]),
                       DumpFailure)
    assert failure.locator.endswith(LISTING + "?skip=0&show=2000"), failure.locator
    assert "announces 3 entries but none could be read" in failure.reason, failure.reason
    assert "layout" in failure.reason and failure.raw == body


def test_an_arxiv_section_read_in_part_fails_the_source(server, clock):
    """The first section's heading changed, the next one's did not: its papers were dropped
    while the rest of the page added up."""
    page = arxiv_page().replace("(showing 3 of 3 entries)", "(showing 2 of 2 entries)")
    page = page.replace("<dt>\n      <a name='item5'>",
                        "<h3>Cross submissions (showing 1 of 1 entries)</h3>\n"
                        "<dt>\n      <a name='item5'>")
    body = edit(page, "<h3>New submissions", "<h2>New submissions")
    server.route(LISTING, Reply(200, body, HTML))
    with make_fetcher(clock) as fetcher:
        failure = only(collect("arxiv_listing", server, fetcher, categories=["cs.IT"]),
                       DumpFailure)
    assert "announces 3 entries but only 1 could be read" in failure.reason, failure.reason
    assert failure.raw == body


@pytest.mark.parametrize("total", ["", "Total of 0 entries"], ids=["no-total", "total-0"])
def test_an_arxiv_page_listing_nothing_is_still_an_empty_day(server, clock, total):
    page = re.sub(r"<dl id='articles'>.*</dl>", "", arxiv_page(), flags=re.S)
    body = edit(page, "Total of 3 entries", total)
    server.route(LISTING, Reply(200, body, HTML))
    with make_fetcher(clock) as fetcher:
        unchanged = only(collect("arxiv_listing", server, fetcher, categories=["cs.IT"]),
                         Unchanged)
    assert unchanged.reason == "no papers listed for 2026-09-28"


# -- hf_papers -------------------------------------------------------------------------------

def test_a_renamed_hf_papers_key_fails_the_source(server, clock):
    body = edit(hf_page(), "&quot;dailyPapers&quot;:", "&quot;papers&quot;:")
    server.route(PAPERS, Reply(200, body, HTML))
    with make_fetcher(clock) as fetcher:
        failure = only(collect("hf_papers", server, fetcher, date="today"), DumpFailure)
    assert failure.locator.endswith(PAPERS) and failure.raw == body
    assert "no 'dailyPapers' list" in failure.reason and "no paper cards" in failure.reason
    assert "layout" in failure.reason, failure.reason


def test_a_renamed_hf_papers_key_falls_back_to_the_cards(server, clock):
    page = hf_page().replace("&quot;dailyPapers&quot;:", "&quot;papers&quot;:")
    body = edit(page, "</main>", CARD + "</main>")
    server.route(PAPERS, Reply(200, body, HTML))
    with make_fetcher(clock) as fetcher:
        dump = only(collect("hf_papers", server, fetcher, date="today"), Dump)
    [record] = dump.records
    assert (record.arxiv_id, record.title) == ("2609.31620", "FuseReg: Regularizing Layer Fusion")
    assert record.listing_date == dump.listing_date == NOW.date()


def test_an_hf_day_listing_nothing_is_still_an_empty_day(server, clock):
    body = re.sub(r"&quot;dailyPapers&quot;:\[.*\]\}\"", '&quot;dailyPapers&quot;:[]}"',
                  hf_page(), flags=re.S).encode()
    assert b'&quot;dailyPapers&quot;:[]}"' in body
    server.route(PAPERS, Reply(200, body, HTML))
    with make_fetcher(clock) as fetcher:
        unchanged = only(collect("hf_papers", server, fetcher, date="today"), Unchanged)
    assert unchanged.reason == "no papers listed for 2026-09-28"


# -- what the operator sees ------------------------------------------------------------------

def test_a_changed_layout_is_a_failed_source_in_status(tmp_path: Path, sqlite_url: str) -> None:
    body = edit(arxiv_page(), "<h3>New submissions (showing 3 of 3 entries)</h3>",
                "<h2>New submissions (showing 3 of 3 entries)</h2>")
    with FixtureServer() as server:
        server.route(LISTING, Reply(200, body, HTML))
        config = one_source_config(tmp_path, sqlite_url, f'name = "it"\n'
                                   f'kind = "arxiv_listing"\ncategories = ["cs.IT"]\n'
                                   f'base_url = "{server.url}"\nmin_interval = 0\n')
        fetched = run_cli(config, "fetch", "--now", NOW.isoformat())
    assert "FAILED" in fetched.output and "none could be read" in fetched.output, fetched.output
    assert "no papers listed" not in fetched.output
    assert len(list((tmp_path / "out" / "failed" / "it").iterdir())) == 1
    status = json.loads(run_cli(config, "status", "--json").output)
    [source] = [s for s in status["sources"] if s["name"] == "it"]
    assert source["last_success"] is None and "none could be read" in source["error"], source
