"""A deployment followed over days against a real server on 127.0.0.1: sources that fail for
a few runs and recover, a worker down for a week, a cron run once a day. No paper a source
listed while it could not be read is lost.

The scenarios come from an audit of the live sources; each one lost papers before its fix.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.integration import faultkit as fk
from tests.integration.helpers import hf_api_config, one_source_config, run_cli
from worker.store.identity import find_paper
from worker.store.opening import open_engine

from .httpfixture import ATOM, JSON, RSS, TEXT, FixtureServer, Reply, shared_fixture
from .test_faults_smtp import counting_silent_server
from .test_fetch_http import rss_feed

DAYS = [f"2026-06-{d:02d}" for d in range(1, 8)]
DOWN = Reply(503, b"down for maintenance", TEXT, {"Retry-After": "0"})


def hf_days() -> dict[str, list[dict]]:  # type: ignore[type-arg]
    """The fixture's 30 papers spread over DAYS, each listed on its own day."""
    items = json.loads(shared_fixture("hf_api", "daily_papers_2026-06-12.json"))
    by_day: dict[str, list[dict]] = {day: [] for day in DAYS}  # type: ignore[type-arg]
    for index, item in enumerate(items):
        day = DAYS[index % len(DAYS)]
        item["paper"]["submittedOnDailyAt"] = f"{day}T00:00:00.000Z"
        by_day[day].append(item)
    return by_day



def serve_days(server: FixtureServer, by_day: dict[str, list[dict]],  # type: ignore[type-arg]
               today: str, shown_today: int) -> None:
    """Every day up to `today` in full, `today` with its first `shown_today` papers (HF adds
    a day's papers through the day), the days after it empty."""
    for day, items in by_day.items():
        shown = items if day < today else items[:shown_today] if day == today else []
        server.route(f"/api/daily_papers?date={day}&limit=100",
                     Reply(200, json.dumps(shown).encode(), JSON))


def missing(sqlite_url: str, papers: list[dict]) -> list[str]:  # type: ignore[type-arg]
    engine = open_engine(sqlite_url)
    try:
        return [p["paper"]["id"] for p in papers if find_paper(engine, p["paper"]["id"]) is None]
    finally:
        engine.dispose()


def test_a_daily_cron_on_today_reads_the_rest_of_each_day_and_the_days_of_an_outage(
        tmp_path: Path, sqlite_url: str) -> None:
    """`date = "today"` (the default) from a cron at 08:00: each run read the start of its own
    day only, and a day the source failed was never read: most papers were never recorded. Each
    run now reads the days since the source was last read without failure."""
    by_day = hf_days()
    with FixtureServer() as server:
        config = hf_api_config(tmp_path, sqlite_url, server.url, "today")
        for index, day in enumerate(DAYS):
            serve_days(server, by_day, day, shown_today=1)
            if index in (2, 3, 4):  # down for three runs
                for other in DAYS:
                    server.route(f"/api/daily_papers?date={other}&limit=100", DOWN)
            result = run_cli(config, "fetch", "--now", f"{day}T08:00:00+00:00")
            assert result.exit_code == (3 if index in (2, 3, 4) else 0), result.output
    last = by_day[DAYS[-1]]
    listed = [p for day in DAYS[:-1] for p in by_day[day]] + last[:1]
    assert missing(sqlite_url, listed) == []


def test_a_month_down_catches_up_31_days_and_says_which_were_not_read(
        tmp_path: Path, sqlite_url: str) -> None:
    with FixtureServer() as server:
        server.route("/api/daily_papers", Reply(200, b"[]", JSON))
        config = hf_api_config(tmp_path, sqlite_url, server.url, "today")
        first = run_cli(config, "fetch", "--now", "2026-06-01T08:00:00+00:00")
        assert first.exit_code == 0, first.output
        later = run_cli(config, "fetch", "--now", "2026-07-15T08:00:00+00:00")
    asked = [s.path for s in server.seen[1:]]
    assert len(asked) == 31 and "date=2026-06-15&" in asked[0], asked
    assert ("the days 2026-06-01 to 2026-06-14 are not read (at most 31 days are caught up"
            in later.output), later.output


def atom_page(numbers: list[int], total: int, published: dict[int, str] | None = None
              ) -> bytes:
    """An export API answer (the 2026 backend's shape) listing 2609.000NN, newest first;
    paper n submitted on 2026-09-0n unless `published` says when."""
    when = published or {}
    entries = "".join(
        f"<entry><id>http://arxiv.org/abs/2609.{n:05d}v1</id><title>Paper {n}</title>"
        f"<summary>Abstract {n}.</summary>"
        f"<published>{when.get(n, f'2026-09-{min(n, 28):02d}T10:00:00Z')}</published>"
        f"<author><name>A Author</name></author></entry>" for n in numbers)
    return ('<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
            'xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">'
            f"<title>arXiv Query</title><opensearch:totalResults>{total}"
            f"</opensearch:totalResults>{entries}</feed>").encode()


def serve_search(server: FixtureServer, newest: int, size: int) -> None:
    """A search whose results are papers 1 to `newest`, newest first, `size` a page."""
    serve_results(server, list(range(newest, 0, -1)), size)


def serve_results(server: FixtureServer, numbers: list[int], size: int,
                  published: dict[int, str] | None = None) -> None:
    """A search whose results are `numbers` in that order, `size` a page."""
    for start in range(0, len(numbers) + size, size):
        server.route(f"/api/query?search_query=cat%3Acs.CV&start={start}&max_results={size}"
                     "&sortBy=submittedDate&sortOrder=descending",
                     Reply(200, atom_page(numbers[start:start + size], len(numbers),
                                          published), ATOM))


def search_config(tmp_path: Path, sqlite_url: str, base_url: str, extra: str = "") -> Path:
    return one_source_config(tmp_path, sqlite_url, f'name = "cv"\nkind = "arxiv_api"\n'
                             f'base_url = "{base_url}"\nquery = "cat:cs.CV"\n'
                             f"max_results = 3\nmin_interval = 0\n{extra}")


def test_an_arxiv_search_pages_back_to_what_it_listed_before(tmp_path: Path,
                                                            sqlite_url: str) -> None:
    """An arXiv API search read its newest `max_results` only: after a week's outage (or a
    busy day) the papers behind them were never read. It now pages back, newest first, to
    a paper it listed before; its first read is one page."""
    with FixtureServer() as server:
        config = search_config(tmp_path, sqlite_url, server.url)
        serve_search(server, 5, 3)
        first = run_cli(config, "fetch", "--now", "2026-09-21T08:00:00+00:00")
        assert "cv: 1 dump read; 3 papers listed, 3 new" in first.output, first.output
        serve_search(server, 12, 3)
        week = run_cli(config, "fetch", "--now", "2026-09-28T08:00:00+00:00")
    assert "9 papers listed, 7 new, 2 already known" in week.output, week.output
    assert len(server.seen) == 4  # one page, then three back to 2609.00004, listed before
    assert missing_ids(sqlite_url, range(3, 13)) == []


def test_an_arxiv_search_paged_back_to_max_pages_says_so(tmp_path: Path,
                                                         sqlite_url: str) -> None:
    with FixtureServer() as server:
        config = search_config(tmp_path, sqlite_url, server.url, "max_pages = 3\n")
        serve_search(server, 3, 3)
        assert run_cli(config, "fetch", "--now", "2026-09-21T08:00:00+00:00").exit_code == 0
        serve_search(server, 25, 3)
        cut = run_cli(config, "fetch", "--now", "2026-09-28T08:00:00+00:00")
    assert "cv: 1 dump read; 9 papers listed, 9 new" in cut.output, cut.output
    assert "stopped at max_pages = 3 with a full last page" in cut.output, cut.output


def test_an_arxiv_search_finds_a_paper_announced_days_after_it_was_submitted(
        tmp_path: Path, sqlite_url: str) -> None:
    """A paper arXiv announces days after its submission (held for moderation) sorts by its
    submission among papers the search listed before, behind the first page: paging back
    only to a paper listed before never read it. After an announcement the search now also
    pages back while a page's oldest paper was submitted within `lookback` of the last read;
    with nothing announced since, it reads one page."""
    published = {n: f"2026-09-{13 + n}T10:00:00Z" for n in range(1, 8)}
    published[50] = "2026-09-17T05:00:00Z"  # submitted before paper 4, announced after it
    with FixtureServer() as server:
        config = search_config(tmp_path, sqlite_url, server.url, 'lookback = "2d"\n')
        serve_results(server, [5, 4, 3, 2, 1], 3, published)
        first = run_cli(config, "fetch", "--now", "2026-09-19T08:00:00+00:00")
        assert "cv: 1 dump read; 3 papers listed, 3 new" in first.output, first.output
        serve_results(server, [7, 6, 5, 4, 50, 3, 2, 1], 3, published)
        asked = len(server.seen)
        late = run_cli(config, "fetch", "--now", "2026-09-21T08:00:00+00:00")
        # pages [7, 6, 5] and [4, 50, 3]; 3 was submitted more than 2 days before the last read
        assert len(server.seen) - asked == 2, server.seen[asked:]
        assert "6 papers listed, 3 new, 3 already known" in late.output, late.output
        assert missing_ids(sqlite_url, range(50, 51)) == []
        asked = len(server.seen)
        quiet = run_cli(config, "fetch", "--now", "2026-09-21T20:00:00+00:00")
    assert len(server.seen) - asked == 1, server.seen[asked:]  # nothing announced since
    assert quiet.exit_code == 0, quiet.output


def missing_ids(sqlite_url: str, numbers: range) -> list[str]:
    engine = open_engine(sqlite_url)
    try:
        ids = [f"2609.{n:05d}" for n in numbers]
        return [i for i in ids if find_paper(engine, i) is None]
    finally:
        engine.dispose()


def test_an_arxiv_feed_read_after_missed_announcements_says_which(tmp_path: Path,
                                                                 sqlite_url: str) -> None:
    """arXiv's RSS feed and /new listing hold only the latest announcement: after a source
    failed, or the worker was down, over some, their papers are gone from it. That passed
    in silence; the run now names the announcements never read, and where to find them."""
    monday = rss_feed(2)
    friday = rss_feed(4).replace(b"Mon, 28 Sep 2026", b"Fri, 02 Oct 2026")
    with FixtureServer() as server:
        server.route("/rss/cs.CV", Reply(200, monday, RSS), Reply(200, monday, RSS),
                     Reply(200, friday, RSS), Reply(200, friday.replace(b"Fri, 02 Oct",
                                                                        b"Mon, 05 Oct"), RSS))
        config = one_source_config(tmp_path, sqlite_url, f'name = "cv"\nkind = "arxiv_rss"\n'
                                   f'base_url = "{server.url}"\ncategories = ["cs.CV"]\n'
                                   "min_interval = 0\n")
        outputs = [run_cli(config, "fetch", "--now", now).output
                   for now in ("2026-09-28T10:00:00+00:00", "2026-09-28T23:00:00+00:00",
                               "2026-10-02T10:00:00+00:00", "2026-10-05T10:00:00+00:00")]
    assert "never read" not in outputs[0] + outputs[1], outputs
    assert ("the announcements of 2026-09-29, 2026-09-30, 2026-10-01 were never read"
            in outputs[2]), outputs[2]
    assert "never read" not in outputs[3], outputs[3]  # a weekend is no announcement


def test_a_failing_server_is_asked_once_for_the_days_caught_up_on(tmp_path: Path,
                                                                  sqlite_url: str) -> None:
    """Catching up must not hammer a server that is down: after a day caught up on failed,
    the other such days wait for the next pass (today is still asked)."""
    with FixtureServer() as server:
        server.route("/api/daily_papers", Reply(200, b"[]", JSON))
        config = hf_api_config(tmp_path, sqlite_url, server.url, "today")
        assert run_cli(config, "fetch", "--now", "2026-06-01T08:00:00+00:00").exit_code == 0
        server.route("/api/daily_papers", DOWN)
        down = run_cli(config, "fetch", "--now", "2026-06-20T08:00:00+00:00")
        asked = [s.path for s in server.seen[1:]]
        assert down.exit_code == 3 and len(asked) == 8, asked  # 2 URLs, 4 attempts each
        assert {"date=2026-06-01&" in p or "date=2026-06-20&" in p for p in asked} == {True}
        assert "not asked for 2026-06-02 to 2026-06-19" in down.output, down.output
        server.route("/api/daily_papers", Reply(200, b"[]", JSON))
        again = run_cli(config, "fetch", "--now", "2026-06-20T09:00:00+00:00")
    assert again.exit_code == 0 and len(server.seen) == 1 + 8 + 20, again.output


def test_a_server_that_asks_for_an_hour_is_not_asked_again_by_the_next_runs(
        tmp_path: Path, database_url: str) -> None:
    """A Retry-After longer than a run waits failed the run, and the next run (serve's next
    fetch, cron's next minute) asked again at once. The time is now kept in the database: no
    run asks before it, each says until when, and so does `status`."""
    with FixtureServer() as server:
        server.route("/api/daily_papers", Reply(429, b"slow down", TEXT, {"Retry-After": "3600"}))
        config = hf_api_config(tmp_path, database_url, server.url, "2026-06-01")
        first = run_cli(config, "fetch")
        assert first.exit_code == 3, first.output
        assert "not asked again before" in first.output
        asked = len(server.seen)
        second = run_cli(config, "fetch")
        third = run_cli(config, "run")
        assert len(server.seen) == asked  # neither asked
        for result in (second, third):
            assert result.exit_code == 3, result.output
            assert f"{server.url.removeprefix('http://')} asked to be left alone until" \
                in result.output
        status = run_cli(config, "status")
        assert "asked to be left alone until" in status.output


@pytest.mark.parametrize("action", [signal.SIGTERM, signal.SIGINT])
def test_a_run_told_to_stop_while_a_source_hangs_does_not_ask_it_again(
        action: signal.Signals, tmp_path: Path, sqlite_url: str) -> None:
    """`docker stop` while a source's server does not answer: the request under way ends at
    its timeout and is not tried again (its retries, 4 attempts with backoff, kept a stopped
    run for minutes: 2 at the default timeout, past docker stop's 10 s). The source fails,
    said so; the run exits 3 and the next run asks again."""
    timeout = 2.0
    with counting_silent_server() as (port, accepted):
        config = one_source_config(tmp_path, sqlite_url, f'name = "lab"\nkind = "dump_url"\n'
                                   f'url = "http://127.0.0.1:{port}/today.txt"\n'
                                   f"timeout = {timeout}\nmin_interval = 0\n")
        outcome, stopped_after = fk.stopped_when_connected(config, ("run",), accepted, action)
        connections = len(accepted)
    assert outcome.code == 3, outcome.stdout + outcome.stderr
    assert "FAILED http://127.0.0.1:" in outcome.stdout and "(tried once)" in outcome.stdout
    assert "stopped (SIGTERM or Ctrl-C) once the sources were read" in outcome.stdout
    assert connections == 1
    assert stopped_after < 2 * timeout, stopped_after
