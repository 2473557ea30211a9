"""What a source takes from its responses, unit by unit, against a real server on 127.0.0.1:
listings of several pages read with conditional requests, options that filter a response,
valid but extreme JSON, redirect loops, error pages, and `fetch --dry-run`.

The scenarios come from an audit; each one lost papers or crashed before it was fixed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import (
    add_seed_day,
    hf_api_config,
    make_config,
    one_source_config,
    run_cli,
)
from tests.memory import DictMemory
from worker.ingest import KEPT_FAILED
from worker.sources import Dump, DumpFailure, SourceWarning, Unchanged, hf_api

from .httpfixture import ATOM, HTML, JSON, RSS, FixtureServer, Reply, shared_fixture
from .test_fetch_http import NOW, clock, collect, listing, make_fetcher, only, server

__all__ = ["clock", "server"]  # fixtures, shared with test_fetch_http
DAY = "?date=2026-06-12&limit=10"


def hf_items() -> list[dict]:  # type: ignore[type-arg]
    return json.loads(shared_fixture("hf_api", "daily_papers_2026-06-12.json"))


def serve_hf_pages(server: FixtureServer, items: list) -> None:  # type: ignore[type-arg]
    """`items` in pages of 10, each page with an ETag of its own content."""
    for page in range(len(items) // 10 + 1):
        chunk = items[page * 10:(page + 1) * 10]
        server.route(f"/api/daily_papers{DAY}" + (f"&p={page}" if page else ""),
                     Reply(200, json.dumps(chunk).encode(), JSON, etag=f'"p{page}-{len(chunk)}"'))


# -- paging and conditional requests ---------------------------------------------------------

def test_papers_appended_on_a_later_page_arrive(server, clock):
    """Page 0 unchanged (a 304 for it) says nothing of page 1 when page 0 was full."""
    items, store = hf_items(), DictMemory()
    serve_hf_pages(server, items[:12])
    with make_fetcher(clock, store) as fetcher:
        first = only(collect("hf_api", server, fetcher, date="2026-06-12", page_size=10), Dump)
        serve_hf_pages(server, items[:15])
        second = only(collect("hf_api", server, fetcher, date="2026-06-12", page_size=10), Dump)
    assert len(first.records) == 12 and len(second.records) == 15
    assert {r.arxiv_id for r in second.records} >= {i["paper"]["id"] for i in items[12:15]}


def test_a_single_page_day_still_costs_one_304(server, clock):
    items, store = hf_items(), DictMemory()
    serve_hf_pages(server, items[:7])
    with make_fetcher(clock, store) as fetcher:
        only(collect("hf_api", server, fetcher, date="2026-06-12", page_size=10), Dump)
        again = only(collect("hf_api", server, fetcher, date="2026-06-12", page_size=10),
                     Unchanged)
    assert "HTTP 304" in again.reason and len(server.seen) == 2


def test_max_pages_cutting_a_listing_warns_and_hides_nothing_later(server, clock):
    items, store = hf_items(), DictMemory()
    serve_hf_pages(server, items[:25])
    with make_fetcher(clock, store) as fetcher:
        warning, dump = collect("hf_api", server, fetcher, date="2026-06-12", page_size=10,
                                max_pages=2)
        assert isinstance(warning, SourceWarning) and isinstance(dump, Dump)
        assert warning.source == "test-hf_api" and f"{server.url}/api/daily_papers" in str(warning)
        assert "max_pages = 2" in warning.message and len(dump.records) == 20
        assert store.data == {}  # page 0's validators would hide pages 2 and on next time
        raised = collect("hf_api", server, fetcher, date="2026-06-12", page_size=10,
                         max_pages=3)
    assert len(only(raised, Dump).records) == 25


def test_a_listing_cut_at_its_first_page_keeps_no_validators(server, clock):
    """max_pages = 1 reads one response, but not the whole listing: its validators would
    make the next read a 304 and hide the pages after it for good."""
    items, store = hf_items(), DictMemory()
    serve_hf_pages(server, items[:25])
    with make_fetcher(clock, store) as fetcher:
        warning, dump = collect("hf_api", server, fetcher, date="2026-06-12", page_size=10,
                                max_pages=1)
        assert isinstance(warning, SourceWarning) and len(dump.records) == 10
        assert store.data == {}
        raised = collect("hf_api", server, fetcher, date="2026-06-12", page_size=10,
                         max_pages=3)
    assert len(only(raised, Dump).records) == 25


def test_max_pages_cutting_an_arxiv_listing_warns(server, clock):
    server.route("/list/cs.CV/new?skip=0&show=2", Reply(200, listing([1, 2], 3), HTML))
    with make_fetcher(clock) as fetcher:
        warning, dump = collect("arxiv_listing", server, fetcher, categories=["cs.CV"],
                                page_size=2, max_pages=1)
    assert isinstance(warning, SourceWarning) and "/list/cs.CV/new?skip=0&show=2" in str(warning)
    assert [r.arxiv_id for r in dump.records] == ["2609.00001", "2609.00002"]


# -- options that filter what is taken -------------------------------------------------------

def rss_with_cross() -> bytes:
    items = "".join(
        f"<item><title>Paper {n}</title><link>https://arxiv.org/abs/2609.0000{n}</link>"
        f"<description>arXiv:2609.0000{n}v1 Announce Type: {kind} \nAbstract: A.</description>"
        f"<arxiv:announce_type>{kind}</arxiv:announce_type></item>"
        for n, kind in ((1, "new"), (2, "cross")))
    return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
            'xmlns:arxiv="http://arxiv.org/schemas/atom"><channel><title>cs.CV</title>'
            f"{items}</channel></rss>").encode()


def rss_source(name: str, url: str, cross_lists: bool) -> str:
    return (f'[[sources]]\nname = "{name}"\nkind = "arxiv_rss"\nbase_url = "{url}"\n'
            f'categories = ["cs.CV"]\ncross_lists = {str(cross_lists).lower()}\n'
            "min_interval = 0\n")


@pytest.mark.parametrize("etag", ['"r1"', None], ids=["etag", "no-validators"])
def test_changing_a_filter_option_reads_the_same_feed_again(tmp_path: Path, sqlite_url: str,
                                                            etag: str | None) -> None:
    with FixtureServer() as server:
        server.route("/rss/cs.CV", Reply(200, rss_with_cross(), RSS, etag=etag))
        config = make_config(tmp_path, sqlite_url, {})
        worker = config / "worker.toml"
        base = worker.read_text().split("[[sources]]")[0]
        worker.write_text(base + rss_source("cv", server.url, cross_lists=False))
        first = run_cli(config, "fetch", "--now", NOW.isoformat())
        assert "cv: 1 dump read; 1 paper listed, 1 new" in first.output, first.output
        worker.write_text(base + rss_source("cv", server.url, cross_lists=True))
        second = run_cli(config, "fetch", "--now", NOW.isoformat())
        assert "cv: 1 dump read; 2 papers listed, 1 new" in second.output, second.output
        third = run_cli(config, "fetch", "--now", NOW.isoformat())
        assert "cv: 0 dumps read, 1 unchanged" in third.output, third.output


def test_two_sources_with_different_filters_on_one_url(tmp_path: Path, sqlite_url: str) -> None:
    with FixtureServer() as server:
        server.route("/rss/cs.CV", Reply(200, rss_with_cross(), RSS, etag='"r1"'))
        config = make_config(tmp_path, sqlite_url, {})
        worker = config / "worker.toml"
        worker.write_text(worker.read_text().split("[[sources]]")[0]
                          + rss_source("new-only", server.url, cross_lists=False)
                          + rss_source("with-cross", server.url, cross_lists=True))
        result = run_cli(config, "fetch", "--now", NOW.isoformat())
    assert "new-only: 1 dump read; 1 paper listed, 1 new" in result.output, result.output
    assert "with-cross: 1 dump read; 2 papers listed, 1 new" in result.output, result.output


# -- valid but extreme JSON ------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    b'[{"paper":{"id":"2606.00467","title":"T","summary":"S","upvotes":1e999}}]',
    b"[" * 100_000 + b"]" * 100_000,
], ids=["upvotes-1e999", "nested-100000"])
def test_extreme_json_is_a_parse_failure_and_the_next_day_is_read(server, clock, body):
    server.route("/api/daily_papers?date=2026-09-27&limit=100", Reply(200, body, JSON))
    good = [{"paper": {"id": "2609.00001", "title": "T", "summary": "S",
                       "submittedOnDailyAt": "2026-09-28T10:00:00.000Z"}}]
    server.route("/api/daily_papers?date=2026-09-28&limit=100",
                 Reply(200, json.dumps(good).encode(), JSON))
    with make_fetcher(clock) as fetcher:
        failure, dump = collect("hf_api", server, fetcher, date="last 2 days")
    assert isinstance(failure, DumpFailure), failure
    assert "date=2026-09-27" in failure.locator and failure.raw == body
    assert "Error" not in failure.reason  # a reason, not an exception's name
    assert isinstance(dump, Dump) and [r.arxiv_id for r in dump.records] == ["2609.00001"]


def test_an_entry_a_dump_would_refuse_is_left_out_with_a_warning(server, clock):
    """A NUL byte or a 100,000-character title from an API: that entry is left out and said
    so; its neighbours are recorded."""
    def item(n: int, title: str, summary: str = "S") -> dict:  # type: ignore[type-arg]
        return {"paper": {"id": f"2609.0000{n}", "title": title, "summary": summary,
                          "submittedOnDailyAt": "2026-09-28T10:00:00.000Z"}}

    body = [item(1, "Good one"), item(2, "Bad\x00title"), item(3, "T" * 100_000),
            item(4, "Good two", "with a NUL \x00 inside")]
    server.route("/api/daily_papers?date=2026-09-28&limit=100",
                 Reply(200, json.dumps(body).encode(), JSON))
    with make_fetcher(clock) as fetcher:
        found = collect("hf_api", server, fetcher, date="2026-09-28")
    warnings = [str(w) for w in found if isinstance(w, SourceWarning)]
    assert [w.split(": ", 1)[1] for w in warnings] == [
        "entry 2 left out: a NUL byte in its title or abstract (binary data)",
        "entry 3 left out: a title of 100000 characters (at most 600)",
        "entry 4 left out: a NUL byte in its title or abstract (binary data)"]
    assert all("date=2026-09-28" in w for w in warnings)
    (dump,) = [item for item in found if isinstance(item, Dump)]
    assert [r.title for r in dump.records] == ["Good one"]


def test_a_response_of_refused_entries_only_is_a_failure_not_an_empty_day(server, clock):
    bad = [{"paper": {"id": "2609.00002", "title": "Bad\x00title", "summary": "S",
                      "submittedOnDailyAt": "2026-09-28T10:00:00.000Z"}}]
    server.route("/api/daily_papers?date=2026-09-28&limit=100",
                 Reply(200, json.dumps(bad).encode(), JSON))
    with make_fetcher(clock) as fetcher:
        failure = only(collect("hf_api", server, fetcher, date="2026-09-28"), DumpFailure)
    assert "all 1 entries left out, the first for a NUL byte" in failure.reason


def test_a_response_that_fails_to_parse_keeps_no_validators(server, clock):
    """A day that could not be read is asked for whole next time: with its ETag kept, the
    next read was a 304, "not modified", and the day was never read nor its failure told."""
    store = DictMemory()
    server.route("/api/daily_papers?date=2026-09-28&limit=100",
                 Reply(200, b"<html>502 Bad Gateway</html>", JSON, etag='"broken"'))
    with make_fetcher(clock, store) as fetcher:
        only(collect("hf_api", server, fetcher, date="2026-09-28"), DumpFailure)
        assert store.data == {}
        again = collect("hf_api", server, fetcher, date="2026-09-28")
    only(again, DumpFailure)


def test_an_answer_with_another_days_list_records_nothing_for_the_day_asked(server, clock):
    """The API may answer a day without papers with another day's list: those papers are
    not the day's."""
    other = [{"paper": {"id": "2609.00001", "title": "T", "summary": "S",
                        "submittedOnDailyAt": "2026-09-25T10:00:00.000Z"}}]
    server.route("/api/daily_papers?date=2026-09-28&limit=100",
                 Reply(200, json.dumps(other).encode(), JSON))
    with make_fetcher(clock) as fetcher:
        quiet = only(collect("hf_api", server, fetcher, date="2026-09-28"), Unchanged)
    assert "no papers listed for 2026-09-28" in quiet.reason


def test_two_papers_with_one_title_and_two_ids_are_both_read(server, clock):
    """Pages of a listing are merged by paper identity (they may overlap): two arXiv ids are
    two papers, whatever their titles."""
    same = [{"paper": {"id": f"2609.0000{n}", "title": "On Grounding", "summary": f"S{n}",
                       "submittedOnDailyAt": "2026-09-28T10:00:00.000Z"}} for n in (1, 2)]
    server.route("/api/daily_papers?date=2026-09-28&limit=100",
                 Reply(200, json.dumps(same).encode(), JSON))
    with make_fetcher(clock) as fetcher:
        dump = only(collect("hf_api", server, fetcher, date="2026-09-28"), Dump)
    assert [r.arxiv_id for r in dump.records] == ["2609.00001", "2609.00002"]


# -- redirects, error pages ------------------------------------------------------------------

def test_a_redirect_loop_is_the_same_error_for_every_kind(server, clock):
    server.route("/papers/date/2026-09-28",
                 Reply(302, headers={"Location": "/papers/date/2026-09-28"}))
    server.route("/dumps/loop.txt", Reply(302, headers={"Location": "/dumps/loop.txt"}))
    with make_fetcher(clock) as fetcher:
        papers = only(collect("hf_papers", server, fetcher, date="today"), DumpFailure)
        dump = only(collect("dump_url", server, fetcher, url=f"{server.url}/dumps/loop.txt"),
                    DumpFailure)
    assert papers.reason == dump.reason == "too many redirects", (papers, dump)
    assert papers.locator.endswith("/papers/date/2026-09-28")


def test_an_arxiv_api_error_page_names_the_status(server, clock):
    server.route("/api/query", Reply(400, b"<html><h1>Bad Request</h1></html>", HTML))
    with make_fetcher(clock) as fetcher:
        failure = only(collect("arxiv_api", server, fetcher, query="id:abc"), DumpFailure)
    assert failure.reason.startswith("HTTP 400: expected XML, got Content-Type 'text/html'")


def _api_config(root: Path, database_url: str, base_url: str) -> Path:
    """One arxiv_api source, `api`, at `base_url`."""
    return one_source_config(root, database_url, f'name = "api"\nkind = "arxiv_api"\n'
                             f'query = "x"\nbase_url = "{base_url}"\nmin_interval = 0\n')


def test_dry_runs_write_nothing(tmp_path: Path, sqlite_url: str) -> None:
    with FixtureServer() as server:
        server.route("/api/query", Reply(200, b"not xml", ATOM))
        config = _api_config(tmp_path, sqlite_url, server.url)
        dry = run_cli(config, "fetch", "--dry-run", "--now", NOW.isoformat())
        assert "FAILED" in dry.output and "not well-formed XML" in dry.output, dry.output
        assert "kept the unreadable response" not in dry.output
        dry_run = run_cli(config, "run", "--dry-run", "--now", NOW.isoformat())
        assert "not well-formed XML" in dry_run.output, dry_run.output
        assert not (tmp_path / "out").exists()
        real = run_cli(config, "fetch", "--now", NOW.isoformat())
    assert "kept the unreadable response" in real.output
    assert len(list((tmp_path / "out" / "failed" / "api").iterdir())) == 1


# -- encodings a body declares -------------------------------------------------------------

def rss_feed(arxiv_id: str, encoding: str = "UTF-8") -> bytes:
    return (f'<?xml version="1.0" encoding="{encoding}"?><rss version="2.0"><channel>'
            f"<item><title>Paper {arxiv_id}</title><link>https://arxiv.org/abs/{arxiv_id}</link>"
            "<description>A.</description></item></channel></rss>").encode()


@pytest.mark.parametrize("encoding", ["WTF-8", "utf-32", "undefined", "rot13"])
def test_xml_in_an_encoding_python_cannot_read_fails_alone(server, clock, encoding):
    """expat hands the encoding an XML declaration names to Python's codecs: one they refuse
    (LookupError, ValueError) was no ParseError, and ended the source: its next category
    was not read."""
    server.route("/rss/cs.CV", Reply(200, rss_feed("2609.00001", encoding), RSS))
    server.route("/rss/cs.CL", Reply(200, rss_feed("2609.00002"), RSS))
    atom = f'<?xml version="1.0" encoding="{encoding}"?><feed/>'.encode()
    server.route("/api/query", Reply(200, atom, ATOM))
    with make_fetcher(clock) as fetcher:
        failure, dump = collect("arxiv_rss", server, fetcher, categories=["cs.CV", "cs.CL"])
        api = only(collect("arxiv_api", server, fetcher, query="cat:cs.CV"), DumpFailure)
    assert isinstance(failure, DumpFailure) and failure.locator.endswith("/rss/cs.CV")
    assert failure.reason.startswith("line 1: XML in an encoding that cannot be read: ")
    assert isinstance(dump, Dump) and [r.arxiv_id for r in dump.records] == ["2609.00002"]
    assert api.reason.startswith("line 1: XML in an encoding that cannot be read: ")


@pytest.mark.parametrize(("charset", "body", "reason"), [
    ("undefined", b"new\n\nT\n\nA\n", "charset 'undefined' in its Content-Type cannot be read"),
    ("utf-7", b"new\n\nT +2AA-\n\nA\n", "decodes to a lone surrogate"),
    ("unicode_escape", b"new\n\nT \\ud800\n\nA\n", "decodes to a lone surrogate"),
])
def test_a_charset_that_cannot_give_utf8_fails_the_dump_url_alone(server, clock, charset,
                                                                    body, reason):
    server.route("/d.txt", Reply(200, body, f"text/plain; charset={charset}"))
    with make_fetcher(clock) as fetcher:
        failure = only(collect("dump_url", server, fetcher, url=f"{server.url}/d.txt"),
                       DumpFailure)
    assert reason in failure.reason, failure


def test_a_charset_that_decodes_nothing_fails_the_page_alone(server, clock):
    server.route("/papers/date/2026-09-28",
                 Reply(200, b"<html></html>", "text/html; charset=undefined"))
    with make_fetcher(clock) as fetcher:
        failure = only(collect("hf_papers", server, fetcher, date="2026-09-28"), DumpFailure)
    assert failure.reason.startswith("charset 'undefined' in Content-Type cannot be read"), failure


def test_a_lone_surrogate_in_json_is_shown_as_a_replacement_character(tmp_path: Path,
                                                                      sqlite_url: str) -> None:
    """JSON may escape half of a surrogate pair ("\\ud800"): no character, which the database
    refused, failing the whole day's list (its good papers too) with a traceback."""
    items = [{"paper": {"id": "2609.00001", "title": "Broken \\ud83d emoji",
                        "summary": "S \\udfff", "authors": [{"name": "A \\ud800"}],
                        "projectPage": "https://example.org/\\ud800",
                        "submittedOnDailyAt": "2026-09-28T10:00:00.000Z"}},
             {"paper": {"id": "2609.00002", "title": "Good", "summary": "S",
                        "submittedOnDailyAt": "2026-09-28T10:00:00.000Z"}}]
    body = json.dumps(items).replace("\\\\u", "\\u").encode()
    assert b"\\ud83d" in body and json.loads(body)[0]["paper"]["title"] == "Broken \ud83d emoji"
    with FixtureServer() as server:
        server.route("/api/daily_papers?date=2026-09-28&limit=100", Reply(200, body, JSON))
        config = hf_api_config(tmp_path, sqlite_url, server.url, "2026-09-28")
        result = run_cli(config, "fetch", "--now", NOW.isoformat())
    assert "hf: 1 dump read; 2 papers listed, 2 new" in result.output, result.output
    records = hf_api.parse(body, "x")
    assert records[0].title == "Broken \ufffd emoji" and records[0].abstract == "S \ufffd"
    assert records[0].authors == ("A \ufffd",) and records[0].links.project is None


def test_a_lone_surrogate_in_an_error_quoted_from_the_body_fails_that_day_alone(
        tmp_path: Path, sqlite_url: str) -> None:
    """The reason of a failure quotes the body ("API error: ..."): stored and reported, a lone
    surrogate in it failed the source with a traceback, the next day unread."""
    with FixtureServer() as server:
        server.route("/api/daily_papers?date=2026-09-27&limit=100",
                     Reply(200, b'{"error": "bad \\ud800 day"}', JSON))
        good = [{"paper": {"id": "2609.00001", "title": "T", "summary": "S",
                           "submittedOnDailyAt": "2026-09-28T10:00:00.000Z"}}]
        server.route("/api/daily_papers?date=2026-09-28&limit=100",
                     Reply(200, json.dumps(good).encode(), JSON))
        config = hf_api_config(tmp_path, sqlite_url, server.url, "last 2 days")
        result = run_cli(config, "fetch", "--now", NOW.isoformat())
    assert "hf: 1 dump read; 1 paper listed, 1 new" in result.output, result.output
    assert "date=2026-09-27&limit=100: API error: bad \ufffd day" in result.output, result.output



def test_an_id_longer_than_any_arxiv_id_is_a_title_and_the_next_day_is_read(
        tmp_path: Path, database_url: str) -> None:
    """An `id` shaped like an old-style arXiv id with an archive name of 80 letters was taken
    as one: PostgreSQL refused it (`value too long`), the day's list was lost with no URL
    named, and the source ended there, its next day unread, on every run."""
    def item(raw_id: str, title: str, day: str) -> dict:  # type: ignore[type-arg]
        return {"paper": {"id": raw_id, "title": title, "summary": "S",
                          "submittedOnDailyAt": f"{day}T10:00:00.000Z"}}

    with FixtureServer() as server:
        first = [item("a" * 80 + "/0601001", "Long id", "2026-09-27"),
                 item("2609.00001", "Good", "2026-09-27")]
        server.route("/api/daily_papers?date=2026-09-27&limit=100",
                     Reply(200, json.dumps(first).encode(), JSON))
        server.route("/api/daily_papers?date=2026-09-28&limit=100",
                     Reply(200, json.dumps([item("2609.00002", "Next", "2026-09-28")]).encode(),
                           JSON))
        config = hf_api_config(tmp_path, database_url, server.url, "last 2 days")
        result = run_cli(config, "fetch", "--now", NOW.isoformat())
    assert result.exit_code == 0, result.output
    assert "hf: 2 dumps read; 3 papers listed, 3 new" in result.output, result.output


def test_a_parser_bug_on_one_unit_fails_that_unit_alone(tmp_path: Path, sqlite_url: str,
                                                        seeds_dir: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception a parser did not foresee (a bug met by odd bytes) ended the source: the
    other dumps of the folder went unread. It is now that unit's failure, named, its
    traceback logged, and a later run (the bug fixed) reads it."""
    from worker.sources import dump_dir, dumps

    config = make_config(tmp_path, sqlite_url, {})
    add_seed_day(tmp_path, seeds_dir, "2026-03-12")
    add_seed_day(tmp_path, seeds_dir, "2026-03-13")
    first = sorted((tmp_path / "dumps").iterdir())[0]
    real = dumps.parse_dump

    def buggy(data: bytes, where: str, reference: Any) -> Any:
        if where == str(first):
            raise TypeError("'NoneType' object is not subscriptable")
        return real(data, where, reference)

    monkeypatch.setattr(dump_dir, "parse_dump", buggy)
    result = run_cli(config, "fetch")
    assert result.exit_code == 3, result.output
    assert (f"{first}: cannot be read: the parser failed on it (TypeError: 'NoneType' object "
            "is not subscriptable); this is a bug of paper-digest") in result.output
    read = len(list((tmp_path / "dumps").iterdir())) - 1
    assert f"local: {read} dumps read" in result.output, result.output
    monkeypatch.setattr(dump_dir, "parse_dump", real)
    again = run_cli(config, "fetch")
    assert again.exit_code == 0 and "local: 1 dump read" in again.output, again.output


def test_only_the_newest_unreadable_bodies_of_a_source_are_kept(tmp_path: Path,
                                                               sqlite_url: str) -> None:
    """A source answering with another broken body every pass filled OUTPUT_DIR/failed/ a pass
    at a time (up to the response cap each): the newest KEPT_FAILED of each source stay."""
    with FixtureServer() as server:
        server.route("/api/query", *(Reply(200, f"not xml {n}".encode(), ATOM)
                                     for n in range(KEPT_FAILED + 3)))
        config = _api_config(tmp_path, sqlite_url, server.url)
        for _ in range(KEPT_FAILED + 3):
            assert "kept the unreadable response" in run_cli(config, "fetch").output
    kept = {path.read_bytes() for path in (tmp_path / "out" / "failed" / "api").iterdir()}
    assert kept == {f"not xml {n}".encode() for n in range(3, KEPT_FAILED + 3)}
