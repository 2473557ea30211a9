"""Every HTTP kind against a real server on 127.0.0.1 serving the shared fixtures.

Each scenario ends with the right records, or none and a reason (Unchanged), or a
DumpFailure naming the URL. Sleeping goes through a fake clock, so nothing really waits
except the timeout scenario (a few tenths of a second).
"""

from __future__ import annotations

import gzip
import json
import time
from datetime import UTC, date, datetime
from typing import Any

import pytest

from tests.clock import FakeClock
from tests.memory import DictMemory
from worker.sources import Dump, DumpFailure, SourceContext, Unchanged, source_class
from worker.sources.http import Fetcher, FetchSettings

from .httpfixture import (
    ATOM,
    HTML,
    JSON,
    RSS,
    TEXT,
    FixtureServer,
    Reply,
    shared_fixture,
)
from .smtpserver import free_port

NOW = datetime(2026, 9, 28, 12, tzinfo=UTC)


@pytest.fixture
def server():
    with FixtureServer() as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


def make_fetcher(clock: FakeClock, memory: DictMemory | None = None,
                 **settings: Any) -> Fetcher:
    return Fetcher(contact="ops@example.org", memory=memory,
                   settings=FetchSettings(**settings), sleep=clock.sleep, random=lambda: 0.5,
                   clock=clock.monotonic, wall_clock=clock.wall)


def collect(kind: str, server: FixtureServer, fetcher: Fetcher, *, known: set[str] = frozenset(),
            **options: Any) -> list[Dump | DumpFailure | Unchanged]:
    cls = source_class(kind)
    if kind != "dump_url":
        options.setdefault("base_url", server.url)
    opts = cls.Options(**options)
    assert cls.check_options(opts) == []
    ctx = SourceContext(now=NOW, is_known=lambda h: h in known, http=fetcher)
    return list(cls(f"test-{kind}", opts).collect(ctx))


def only(items: list, cls: type) -> Any:
    assert len(items) == 1 and isinstance(items[0], cls), items
    return items[0]


def hf_api_body() -> bytes:
    return shared_fixture("hf_api", "daily_papers_2026-06-12.json")


# -- 200 -------------------------------------------------------------------------------------

def test_200_hf_api_day(server, clock):
    server.route("/api/daily_papers", Reply(200, hf_api_body(), JSON))
    with make_fetcher(clock) as fetcher:
        dump = only(collect("hf_api", server, fetcher, date="2026-06-12"), Dump)
    assert len(dump.records) == 30 and dump.listing_date == date(2026, 6, 12)
    assert dump.records[0].arxiv_id == "2606.00467"
    assert dump.locator.startswith(server.url) and "date=2026-06-12" in dump.locator
    [request] = server.seen
    assert "date=2026-06-12" in request.path and "limit=100" in request.path
    assert request.headers["user-agent"].endswith("(+ops@example.org)")
    assert request.headers["accept"] == "application/json"


def test_200_every_arxiv_api_fixture(server, clock):
    name = "arxivpy_api_id_astro-ph_0601001_oldstyle.xml"
    server.route("/api/query", Reply(200, shared_fixture("arxiv", name), ATOM))
    with make_fetcher(clock) as fetcher:
        dump = only(collect("arxiv_api", server, fetcher, query="id:astro-ph/0601001"), Dump)
    [record] = dump.records
    assert (record.arxiv_id, record.version) == ("astro-ph/0601001", 1)
    assert "search_query=id%3Aastro-ph%2F0601001" in server.seen[0].path


def test_200_hf_papers_page(server, clock):
    page = shared_fixture("hf", "papers_2026-09-28_excerpt.html")
    server.route("/papers/date/2026-09-28", Reply(200, page, HTML))
    with make_fetcher(clock) as fetcher:
        dump = only(collect("hf_papers", server, fetcher, date="today"), Dump)
    assert [r.arxiv_id for r in dump.records] == ["2609.31620"]
    assert dump.listing_date == date(2026, 9, 28)


# -- 304 with ETag ---------------------------------------------------------------------------

def test_304_with_etag_costs_no_parsing(server, clock):
    server.route("/api/daily_papers", Reply(200, hf_api_body(), JSON, etag='"v1"'))
    store = DictMemory()
    with make_fetcher(clock, store) as fetcher:
        first = only(collect("hf_api", server, fetcher, date="2026-06-12"), Dump)
        second = only(collect("hf_api", server, fetcher, date="2026-06-12"), Unchanged)
    assert len(first.records) == 30
    assert "HTTP 304" in second.reason
    assert server.seen[1].headers["if-none-match"] == '"v1"'
    [(key, validators)] = store.data.items()  # the URL within the source's scope
    assert key.endswith(f" {first.locator}") and validators == ('"v1"', None)


def test_validators_are_kept_only_once_the_dump_was_taken(server, clock):
    server.route("/rss/cs.CV", Reply(200, rss_feed(3), RSS, etag='"r1"'))
    store = DictMemory()
    cls = source_class("arxiv_rss")
    source = cls("rss", cls.Options(categories=["cs.CV"], base_url=server.url))
    with make_fetcher(clock, store) as fetcher:
        items = source.collect(SourceContext(now=NOW, http=fetcher))
        assert isinstance(next(items), Dump)
        assert store.data == {}  # the pipeline has not come back for more: maybe it crashed
        assert list(items) == []
    assert list(store.data.values()) == [('"r1"', None)]


# -- 500 then 200, 429 with Retry-After ------------------------------------------------------

def test_500_then_200(server, clock):
    body = shared_fixture("arxiv", "arxivpy_api_id_1605.08386.xml")
    server.route("/api/query", Reply(500, b"oops", TEXT), Reply(200, body, ATOM))
    with make_fetcher(clock) as fetcher:
        dump = only(collect("arxiv_api", server, fetcher, query="id:1605.08386"), Dump)
    assert [r.arxiv_id for r in dump.records] == ["1605.08386"]
    assert len(server.seen) == 2 and clock.sleeps == [1.5]  # backoff 2 s, equal jitter


def test_429_with_retry_after(server, clock):
    server.route("/rss/cs.CV", Reply(429, b"slow down", TEXT, {"Retry-After": "7"}),
                 Reply(200, rss_feed(2), RSS))
    with make_fetcher(clock) as fetcher:
        dump = only(collect("arxiv_rss", server, fetcher, categories=["cs.CV"]), Dump)
    assert len(dump.records) == 2 and clock.sleeps == [7.0]


def test_persistent_503_is_a_failure_naming_the_url(server, clock):
    server.route("/api/daily_papers", Reply(503, b"down", TEXT))
    with make_fetcher(clock, max_attempts=3) as fetcher:
        failure = only(collect("hf_api", server, fetcher, date="2026-06-12"), DumpFailure)
    assert failure.locator.startswith(f"{server.url}/api/daily_papers?date=2026-06-12")
    assert "HTTP 503" in failure.reason and "gave up after 3 attempts" in failure.reason
    assert failure.locator in str(failure) and len(server.seen) == 3


def test_404_is_not_retried(server, clock):
    with make_fetcher(clock) as fetcher:
        failure = only(collect("arxiv_listing", server, fetcher, categories=["cs.XX"]),
                       DumpFailure)
    assert "HTTP 404" in failure.reason and "/list/cs.XX/new" in failure.locator
    assert len(server.seen) == 1


def test_a_server_that_cannot_be_reached_is_not_asked_again_in_the_pass(server, clock):
    """Offline (or the server down): the first request to a host:port that no attempt could
    connect to is tried as often as any; the pass's next requests there fail at once, naming
    why, so a pass does not wait out every URL's retries. Another server is still asked, and
    the next pass (a new Fetcher) tries again."""
    down = f"127.0.0.1:{free_port()}"  # nothing listens there
    server.route("/api/daily_papers", Reply(200, hf_api_body(), JSON))
    with make_fetcher(clock, max_attempts=3) as fetcher:
        days = collect("hf_api", server, fetcher, base_url=f"http://{down}",
                       date="last 3 days")
        first, *rest = [only([item], DumpFailure) for item in days]
        assert "connection failed" in first.reason and "gave up after 3 attempts" in first.reason
        assert fetcher.requests == 3 and len(clock.sleeps) == 2
        assert len(rest) == 2 and all(
            f.reason.startswith(f"not asked: {down} could not be reached earlier in this run "
                                "(connection failed: ") for f in rest), rest
        assert fetcher.requests == 3 and len(clock.sleeps) == 2  # nothing tried, no waiting
        only(collect("hf_api", server, fetcher, date="2026-06-12"), Dump)  # another port
    with make_fetcher(clock, max_attempts=3) as fetcher:  # the next pass
        again = only(collect("hf_api", server, fetcher, base_url=f"http://{down}",
                             date="2026-06-12"), DumpFailure)
        assert "gave up after 3 attempts" in again.reason and fetcher.requests == 3


def test_a_server_that_answers_with_errors_is_still_asked(server, clock):
    """Only a server no attempt could connect to is left alone: one that answers, even 503
    every time, gets each request tried in full."""
    server.route("/api/daily_papers", Reply(503, b"down", TEXT))
    with make_fetcher(clock, max_attempts=2) as fetcher:
        days = collect("hf_api", server, fetcher, date="last 2 days")
    assert all("HTTP 503" in only([d], DumpFailure).reason for d in days) and len(days) == 2
    assert len(server.seen) == 4


# -- timeout, truncated body -----------------------------------------------------------------

def test_a_server_sending_a_byte_at_a_time_is_given_up_at_max_seconds(server, clock):
    """Each byte comes within the read timeout, so only a bound on the whole response ends
    it; not retried (it would be as slow again): the next pass asks again."""
    server.route("/papers/date/2026-09-28", Reply(200, b"x" * 400, HTML, trickle=0.05))
    fetcher = Fetcher(contact="ops@example.org", settings=FetchSettings(max_seconds=0.5),
                      sleep=clock.sleep, random=lambda: 0.5, wall_clock=clock.wall)
    began = time.monotonic()
    with fetcher:
        failure = only(collect("hf_papers", server, fetcher, date="today", timeout=5),
                       DumpFailure)
    assert time.monotonic() - began < 5  # the whole body would take 20 s
    assert "still sending after 0.5 s: too slow" in failure.reason, failure.reason
    assert len(server.seen) == 1


def test_timeout(server, clock):
    server.route("/papers/date/2026-09-28", Reply(200, b"late", HTML, delay=1.0))
    with make_fetcher(clock, max_attempts=2) as fetcher:
        failure = only(collect("hf_papers", server, fetcher, date="today", timeout=0.2),
                       DumpFailure)
    assert "timed out" in failure.reason and failure.locator.endswith("/papers/date/2026-09-28")
    assert len(server.seen) == 2


def test_truncated_body_with_content_length(server, clock):
    server.route("/api/daily_papers", Reply(200, hf_api_body(), JSON, truncate=5000))
    with make_fetcher(clock, max_attempts=2) as fetcher:
        failure = only(collect("hf_api", server, fetcher, date="2026-06-12"), DumpFailure)
    assert "connection failed" in failure.reason and "gave up" in failure.reason
    assert "api/daily_papers?date=2026-06-12" in failure.locator


def test_truncated_body_without_content_length_is_a_parse_failure(server, clock):
    body = hf_api_body()[:5000]
    server.route("/api/daily_papers", Reply(200, body, JSON, length=False))
    with make_fetcher(clock) as fetcher:
        failure = only(collect("hf_api", server, fetcher, date="2026-06-12"), DumpFailure)
    assert "not valid JSON" in failure.reason
    assert failure.raw == body and failure.content_hash  # kept for inspection


def test_a_gzip_body_cut_short_without_content_length_is_retried_not_read_in_part(server,
                                                                                  clock):
    """A compressed body ends with the stream's own end: one cut short (the connection closed
    early, no Content-Length to tell) was read as a shorter dump, its validators kept, and the
    papers after the cut were never read. It is retried like a short Content-Length."""
    dump = ("new\n\nMar 13\n\n" + "\n\n".join(f"Title {i} of a paper\n\nAbstract {i} "
                                             + "words " * 40 for i in range(40)) + "\n").encode()
    packed = gzip.compress(dump)
    cut = Reply(200, packed, TEXT, {"Content-Encoding": "gzip"}, truncate=len(packed) * 7 // 10,
                length=False, etag='"d1"')
    server.route("/dumps/today.txt", cut, Reply(200, packed, TEXT, {"Content-Encoding": "gzip"},
                                                 length=False, etag='"d1"'))
    with make_fetcher(clock) as fetcher:
        dump_read = only(collect("dump_url", server, fetcher, url=f"{server.url}/dumps/today.txt"),
                         Dump)
    assert len(dump_read.records) == 40 and len(server.seen) == 2
    server.route("/dumps/today.txt", cut)
    with make_fetcher(clock, max_attempts=2) as fetcher:
        failure = only(collect("dump_url", server, fetcher, url=f"{server.url}/dumps/today.txt"),
                       DumpFailure)
    assert "gzip body ended before its end" in failure.reason and "gave up" in failure.reason


# -- wrong content type, non-UTF-8 -----------------------------------------------------------

def test_wrong_content_type(server, clock):
    server.route("/api/daily_papers", Reply(200, b"<html>Sign in</html>", HTML))
    with make_fetcher(clock) as fetcher:
        failure = only(collect("hf_api", server, fetcher, date="2026-06-12"), DumpFailure)
    assert "expected JSON, got Content-Type 'text/html'" in failure.reason
    assert failure.raw == b"<html>Sign in</html>"


def test_non_utf8_json(server, clock):
    body = json.dumps([{"paper": {"id": "2609.00001", "title": "Café"}}],
                      ensure_ascii=False).encode("latin-1")
    server.route("/api/daily_papers", Reply(200, body, "application/json"))
    with make_fetcher(clock) as fetcher:
        failure = only(collect("hf_api", server, fetcher, date="2026-06-12"), DumpFailure)
    assert "not utf-8: byte 0xe9" in failure.reason


def test_non_utf8_dump(server, clock):
    body = "Mar 13\n\nCafé title\n\nAn abstract.\n".encode("latin-1")
    server.route("/dumps/mar13.txt", Reply(200, body, "text/plain"))
    with make_fetcher(clock) as fetcher:
        failure = only(collect("dump_url", server, fetcher, url=f"{server.url}/dumps/mar13.txt"),
                       DumpFailure)
    assert "UTF-8" in failure.reason and failure.locator.endswith("/dumps/mar13.txt")


@pytest.mark.parametrize(("content_type", "said"), [
    ("text/plain; charset=iso-8859-1", None),
    ('text/plain; charset="windows-1252"', None),
    ("text/plain; charset=klingon", "unknown charset 'klingon' in its Content-Type"),
    ("text/plain; charset=us-ascii", "not us-ascii as its Content-Type says: byte 0xe9"),
    ("utf-8 body, text/plain; charset=iso-8859-1", None),  # a server's default label
    ("utf-16-le body, text/plain; charset=utf-16le", None),  # ASCII in it: valid UTF-8 too
])
def test_dump_url_takes_the_charset_its_server_declares(server, clock, content_type, said):
    text = "Mar 13\n\nCafé title\n\nAn abstract.\n"
    encoding = content_type.split(" body, ")[0] if " body, " in content_type else "latin-1"
    if encoding == "utf-16-le":
        text = text.replace("é", "e")  # ASCII only: its UTF-16 bytes are valid UTF-8 as well
    body = text.encode(encoding)
    content_type = content_type.split(" body, ")[-1]
    server.route("/dumps/mar13.txt", Reply(200, body, content_type))
    with make_fetcher(clock) as fetcher:
        found = collect("dump_url", server, fetcher, url=f"{server.url}/dumps/mar13.txt")
    if said is None:
        assert only(found, Dump).records[0].title in ("Café title", "Cafe title")
    else:
        assert said in only(found, DumpFailure).reason


def test_dump_url_200_year_from_last_modified(server, clock):
    body = b"new\n\nMar 13\n\nA title\n\nAn abstract.\n"
    server.route("/dumps/mar13.txt", Reply(200, body, TEXT,
                                           {"Last-Modified": "Thu, 13 Mar 2025 09:00:00 GMT"}))
    with make_fetcher(clock) as fetcher:
        dump = only(collect("dump_url", server, fetcher, url="mar13.txt",
                            base_url=f"{server.url}/dumps/"), Dump)
    assert dump.listing_date == date(2025, 3, 13) and dump.records[0].title == "A title"


# -- days without papers ---------------------------------------------------------------------

def test_redirect_for_a_day_with_no_papers(server, clock):
    server.route("/papers/date/2026-09-27",
                 Reply(302, headers={"Location": "/papers/date/2026-09-26"}))
    with make_fetcher(clock) as fetcher:
        unchanged = only(collect("hf_papers", server, fetcher, date="yesterday"), Unchanged)
    assert "no papers listed for 2026-09-27" in unchanged.reason
    assert "redirected to" in unchanged.reason
    assert [s.path for s in server.seen] == ["/papers/date/2026-09-27"]  # target not fetched


def test_page_of_another_day_means_no_papers(server, clock):
    page = shared_fixture("hf", "papers_2026-09-28_excerpt.html")
    server.route("/papers/date/2026-09-29", Reply(200, page, HTML))
    with make_fetcher(clock) as fetcher:
        unchanged = only(collect("hf_papers", server, fetcher, date="2026-09-29"), Unchanged)
    assert "no papers listed for 2026-09-29" in unchanged.reason


def test_last_3_days_over_a_weekend(server, clock):
    page = shared_fixture("hf", "papers_2026-09-28_excerpt.html")
    friday = Reply(301, headers={"Location": "/papers/date/2026-09-25"})
    server.route("/papers/date/2026-09-26", friday)
    server.route("/papers/date/2026-09-27", friday)
    server.route("/papers/date/2026-09-28", Reply(200, page, HTML))
    with make_fetcher(clock) as fetcher:
        items = collect("hf_papers", server, fetcher, date="last 3 days")
    assert [type(i).__name__ for i in items] == ["Unchanged", "Unchanged", "Dump"]


def test_empty_arxiv_results_and_weekend_feed(server, clock):
    server.route("/api/query", Reply(200, shared_fixture("arxiv", "arxivpy_api_empty_result.xml"),
                                     ATOM))
    server.route("/rss/cs.CV", Reply(200, rss_feed(0), RSS))
    with make_fetcher(clock) as fetcher:
        empty = only(collect("arxiv_api", server, fetcher, query="id:0000.0000"), Unchanged)
        weekend = only(collect("arxiv_rss", server, fetcher, categories=["cs.CV"]), Unchanged)
    assert "no papers listed" in empty.reason and "no papers listed" in weekend.reason


# -- arXiv specifics -------------------------------------------------------------------------

def test_arxiv_api_error_entry(server, clock):
    body = shared_fixture("arxiv", "arxivpy_api_error_bad_id.xml")
    server.route("/api/query", Reply(400, body, ATOM))
    with make_fetcher(clock) as fetcher:
        failure = only(collect("arxiv_api", server, fetcher, query="id:abc"), DumpFailure)
    assert failure.reason == "HTTP 400: arXiv API error: incorrect id format for abc"
    assert "/api/query?" in failure.locator and len(server.seen) == 1


def test_arxiv_min_interval_between_categories(server, clock):
    server.route("/rss/cs.CV", Reply(200, rss_feed(1), RSS))
    server.route("/rss/cs.LG", Reply(200, rss_feed(2), RSS))
    with make_fetcher(clock) as fetcher:
        items = collect("arxiv_rss", server, fetcher, categories=["cs.CV", "cs.LG"],
                        min_interval=3.0)
    assert [len(i.records) for i in items] == [1, 2]
    assert len(clock.sleeps) == 1 and 2.9 < clock.sleeps[0] <= 3.0


def test_one_failing_category_does_not_stop_the_next(server, clock):
    server.route("/rss/cs.LG", Reply(200, rss_feed(2), RSS))
    with make_fetcher(clock) as fetcher:
        items = collect("arxiv_rss", server, fetcher, categories=["cs.XX", "cs.LG"])
    assert [type(i).__name__ for i in items] == ["DumpFailure", "Dump"]


def test_listing_excerpt_is_reported_as_truncated(server, clock):
    page = shared_fixture("arxiv", "arxiv_list_cs.IT_new_2026-09-28_excerpt.html")
    server.route("/list/cs.IT/new", Reply(200, page, HTML))
    with make_fetcher(clock) as fetcher:
        failure = only(collect("arxiv_listing", server, fetcher, categories=["cs.IT"]),
                       DumpFailure)
    assert "says 10 entries but holds 3" in failure.reason and failure.raw == page


def test_listing_paging(server, clock):
    server.route("/list/cs.CV/new?skip=0&show=2", Reply(200, listing([1, 2], 3), HTML))
    server.route("/list/cs.CV/new?skip=2&show=2", Reply(200, listing([3], 3), HTML))
    with make_fetcher(clock) as fetcher:
        dump = only(collect("arxiv_listing", server, fetcher, categories=["cs.CV"],
                            page_size=2), Dump)
    assert [r.arxiv_id for r in dump.records] == ["2609.00001", "2609.00002", "2609.00003"]
    assert dump.listing_date == date(2026, 9, 28)


def test_hf_api_paging(server, clock):
    items = json.loads(hf_api_body())
    for page in range(4):
        chunk = json.dumps(items[page * 10:(page + 1) * 10]).encode()
        query = "?date=2026-06-12&limit=10" + (f"&p={page}" if page else "")
        server.route(f"/api/daily_papers{query}", Reply(200, chunk, JSON))
    with make_fetcher(clock) as fetcher:
        dump = only(collect("hf_api", server, fetcher, date="2026-06-12", page_size=10), Dump)
    assert len(dump.records) == 30 and len(server.seen) == 4


def test_already_read_content_is_unchanged(server, clock):
    body = shared_fixture("arxiv", "arxivpy_api_id_1605.08386.xml")
    server.route("/api/query", Reply(200, body, ATOM))
    with make_fetcher(clock) as fetcher:
        dump = only(collect("arxiv_api", server, fetcher, query="x"), Dump)
        item = only(collect("arxiv_api", server, fetcher, query="x", known={dump.content_hash}),
                    Unchanged)
    assert item.reason == "already read (same content)"


# -- synthetic bodies ------------------------------------------------------------------------

def rss_feed(count: int) -> bytes:
    items = "".join(
        f"<item><title>Paper {n}</title><link>https://arxiv.org/abs/2609.0000{n}</link>"
        f"<description>arXiv:2609.0000{n}v1 Announce Type: new \nAbstract: A{n}.</description>"
        f"<pubDate>Mon, 28 Sep 2026 00:00:00 -0400</pubDate>"
        f"<arxiv:announce_type>new</arxiv:announce_type><dc:creator>X Y</dc:creator></item>"
        for n in range(1, count + 1))
    return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
            'xmlns:arxiv="http://arxiv.org/schemas/atom" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>cs.CV</title>'
            f"<pubDate>Mon, 28 Sep 2026 00:00:00 -0400</pubDate>{items}</channel></rss>").encode()


def listing(numbers: list[int], total: int) -> bytes:
    entries = "".join(
        f"<dt><a href=\"/abs/2609.0000{n}\" title=\"Abstract\">arXiv:2609.0000{n}</a></dt>"
        f"<dd><div class='list-title mathjax'><span class='descriptor'>Title:</span> P{n}</div>"
        f"<div class='list-authors'><a>X Y</a></div><p class='mathjax'>A{n}.</p></dd>"
        for n in numbers)
    return (f"<div id='dlpage'><h3>Showing new listings for Monday, 28 September 2026</h3>"
            f"<div class='paging'>Total of {total} entries</div><dl id='articles'>"
            f"<h3>New submissions (showing {len(numbers)} of {total} entries)</h3>{entries}"
            "</dl></div>").encode()
