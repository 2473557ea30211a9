"""`like`/`unlike` arXiv ids that no source has listed: looked up on arXiv's export API (a real
HTTP server on loopback, answering with a recorded arXiv response) once, kept apart from the
papers sources listed, used as examples, and named in the report when they cannot be."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select

from tests.clock import FakeClock
from tests.integration.helpers import make_config, run_cli
from tests.integration.httpfixture import ATOM, FixtureServer, Reply, shared_fixture
from worker.examples import TITLE_BUDGET, ArxivLookup
from worker.sources.http import Fetcher
from worker.store.opening import open_engine
from worker.store.schema import example_papers, example_titles, papers

# ../shared/fixtures/arxiv: arXiv's answer to id_list=0808.05394,1707.08567; it has the
# second (a workshop's proceedings in information theory), not the first.
ANSWER = "arxivpy_api_idlist_one_missing.xml"
LIKED = "1707.08567"
NO_SUCH = "0808.05394"
PROFILE = f"""
deliver = ["markdown"]
min_score = 0.2
max_items = 10
[interests]
like = ["{LIKED}", "{NO_SUCH}"]
"""
# Written for this test: one paper close to the liked one, one far from it.
DUMP = """Mar 12

Concepts in Information Theory and Communications: Notes from the AEW Workshop Series

The Asia-Europe workshop series on concepts in information theory and communications brings \
together scientists from Asia and Europe. We summarize the talks of the latest workshop, held \
in Germany, on coding, communication and information theory, and the long cooperation between \
the scientists who started the series in Eindhoven.

Kilometre-Scale Weather Forecasting with Spherical Transformers

We train a spherical transformer on reanalysis data to forecast global weather at kilometre \
scale, and compare its temperature and wind errors with an operational forecast.
"""


def _setup(tmp_path: Path, database_url: str, server: FixtureServer,
           profile: str = PROFILE, lookup: str | None = None) -> Path:
    url = server.url if lookup is None else lookup
    config = make_config(tmp_path, database_url, {"reader": profile},
                         extra=f'[matching]\nexample_lookup = "{url}"\n')
    (tmp_path / "dumps" / "2026-03-12_hf.txt").write_text(DUMP, encoding="utf-8")
    return config


def _another_day(tmp_path: Path, config: Path, day: int, words: str, now: str) -> str:
    """A dump of day `day` of March (the same papers, retitled with `words`) read by a pass at
    `now`; the pass's output."""
    (tmp_path / "dumps" / f"2026-03-{day}_hf.txt").write_text(
        DUMP.replace("Mar 12", f"Mar {day}").replace("Notes from", words), encoding="utf-8")
    result = run_cli(config, "run", "--now", now)
    assert result.exit_code == 0, result.output
    return result.output


def _the_digest_uses_the_example(tmp_path: Path) -> None:
    """The paper written like the liked one is in the digest, and says so; the other is not."""
    (digest,) = (tmp_path / "out" / "reader").glob("*.md")
    text = digest.read_text(encoding="utf-8")
    assert "Notes from the AEW Workshop Series" in text
    assert "Proceedings of Workshop AEW10" in text  # the example it resembles
    assert "Weather Forecasting" not in text


def _asked(server: FixtureServer, what: str = "id_list") -> list[str]:
    """What each request to the API asked for: its id list (or its title search)."""
    return [query[what][0] for s in server.seen if s.path.startswith("/api/query")
            and what in (query := parse_qs(urlsplit(s.path).query))]


def test_an_arxiv_id_no_source_listed_is_looked_up_once(tmp_path: Path,
                                                        database_url: str) -> None:
    with FixtureServer() as server:
        server.route("/api/query", Reply(200, shared_fixture("arxiv", ANSWER), ATOM))
        config = _setup(tmp_path, database_url, server)
        result = run_cli(config, "run", "--now", "2026-03-12T20:00:00+00:00")
        assert result.exit_code == 0, result.output
        # One request for both ids; the one arXiv has no paper for is named.
        assert _asked(server) == [f"{NO_SUCH},{LIKED}"]
        assert f'    examples not used (not on arXiv): "{NO_SUCH}"' in result.output.splitlines()
        _the_digest_uses_the_example(tmp_path)  # the liked paper was an example
        # It is kept apart from the papers sources listed: not seen, not new to anyone.
        engine = open_engine(database_url)
        try:
            with engine.connect() as conn:
                assert conn.execute(select(func.count()).select_from(papers)).scalar() == 2
                kept = {r.arxiv_id: r.found for r in conn.execute(select(example_papers))}
            assert kept == {LIKED: True, NO_SUCH: False}
        finally:
            engine.dispose()

        # Asked once: the next day's pass asks again only for the id arXiv had nothing for
        # (it may be announced since), and not within a day of asking.
        _another_day(tmp_path, config, 13, "More notes from", "2026-03-12T22:00:00+00:00")
        assert _asked(server) == [f"{NO_SUCH},{LIKED}"]
        _another_day(tmp_path, config, 14, "Last notes from", "2026-03-14T20:00:00+00:00")
        assert _asked(server) == [f"{NO_SUCH},{LIKED}", NO_SUCH]

        # explain scores with the same example (kept), and looks up as a pass does: it runs
        # now, more than a day after arXiv had nothing for the other id, and months after it
        # gave the liked paper (asked again too: a new version may have a better abstract).
        title = ("Concepts in Information Theory and Communications: More notes from the AEW "
                 "Workshop Series")
        result = run_cli(config, "explain", "reader", title)
        assert result.exit_code == 0, result.output
        assert "Proceedings of Workshop AEW10" in result.output
        assert f'  note: examples not used (not on arXiv): "{NO_SUCH}"' in result.output
        assert _asked(server) == [f"{NO_SUCH},{LIKED}", NO_SUCH, f"{NO_SUCH},{LIKED}"]
        # preview replays with it too, and says which example it could not use.
        shown = run_cli(config, "preview", "reader", "--since", "7d", "--now",
                        "2026-03-14T21:00:00+00:00")
        assert shown.exit_code == 0, shown.output
        assert "Last notes from the AEW Workshop Series" in shown.output
        assert f'; examples not used (not on arXiv): "{NO_SUCH}"' in shown.output
        assert len(_asked(server)) == 3  # answered within the day


def test_an_arxiv_doi_is_its_id_and_another_doi_is_named(tmp_path: Path,
                                                          sqlite_url: str) -> None:
    """arXiv's DOI for a paper (as its abstract page links it) is the paper's id; a journal's
    DOI is neither an id nor a title: named as not usable, and not searched for as a title."""
    other = "doi:10.1109/CVPR.2016.90"
    profile = PROFILE.replace(f'"{LIKED}", "{NO_SUCH}"',
                              f'"https://doi.org/10.48550/arXiv.{LIKED}", "{other}"')
    with FixtureServer() as server:
        server.route("/api/query", Reply(200, shared_fixture("arxiv", ANSWER), ATOM))
        config = _setup(tmp_path, sqlite_url, server, profile)
        result = run_cli(config, "run", "--now", "2026-03-12T20:00:00+00:00")
        assert result.exit_code == 0, result.output
        assert _asked(server) == [LIKED]
        assert _asked(server, "search_query") == []
        assert (f"    examples not used (a DOI that is not arXiv's: give the paper's arXiv id "
                f'or its title): "{other}"') in result.output.splitlines()
        _the_digest_uses_the_example(tmp_path)


def test_a_failed_lookup_is_reported_and_asked_again(tmp_path: Path, sqlite_url: str) -> None:
    """arXiv not answering loses nothing: the run goes on without the example, says why, keeps
    no answer, and the next run asks again. A request is tried twice, not as often as a
    source's: what fails is asked again by the next run anyway."""
    with FixtureServer() as server:
        server.route("/api/query", Reply(503, b"busy", "text/plain"),
                     Reply(503, b"busy", "text/plain"),
                     Reply(200, shared_fixture("arxiv", ANSWER), ATOM))
        config = _setup(tmp_path, sqlite_url, server)
        result = run_cli(config, "run", "--now", "2026-03-12T20:00:00+00:00")
        assert result.exit_code == 0, result.output
        line = next(x for x in result.output.splitlines() if "examples not used" in x)
        assert line.startswith("    examples not used (the lookup failed: ")
        assert "HTTP 503" in line and f"{server.url}/api/query" in line
        assert "gave up after 2 attempts" in line
        # logged too (serve has no report): once for the request, not once an id
        logged = [x for x in result.stderr.splitlines() if "example papers not looked up" in x]
        assert len(logged) == 1 and "HTTP 503" in logged[0], result.stderr
        assert line.endswith(f'; asked again next run): "{LIKED}", "{NO_SUCH}"')  # as listed
        engine = open_engine(sqlite_url)
        try:
            with engine.connect() as conn:
                assert conn.execute(select(func.count()).select_from(example_papers)
                                    ).scalar() == 0
        finally:
            engine.dispose()
        output = _another_day(tmp_path, config, 13, "More notes from",
                              "2026-03-13T20:00:00+00:00")
        assert _asked(server) == [f"{NO_SUCH},{LIKED}"] * 3
        assert f'"{LIKED}"' not in output


def test_a_looked_up_paper_is_asked_again_after_a_month_and_kept_when_that_fails(
        tmp_path: Path, sqlite_url: str) -> None:
    """A paper arXiv gave is asked again after REFRESH (a new version may have a better
    abstract); a refresh that fails loses nothing: the kept paper stays the example."""
    with FixtureServer() as server:
        answer = Reply(200, shared_fixture("arxiv", ANSWER), ATOM)
        server.route("/api/query", answer, answer, Reply(503, b"busy", "text/plain"),
                     Reply(503, b"busy", "text/plain"), answer)
        config = _setup(tmp_path, sqlite_url, server)
        assert run_cli(config, "run", "--now", "2026-03-12T20:00:00+00:00").exit_code == 0
        _another_day(tmp_path, config, 13, "More notes from", "2026-03-20T20:00:00+00:00")
        assert _asked(server) == [f"{NO_SUCH},{LIKED}", NO_SUCH]  # within the month
        output = _another_day(tmp_path, config, 14, "Last notes from",
                              "2026-04-14T20:00:00+00:00")
        assert _asked(server)[2:] == [f"{NO_SUCH},{LIKED}"] * 2  # refreshed: it failed twice
        assert f'"{LIKED}"' not in output  # still the example
        newest = sorted((tmp_path / "out" / "reader").glob("*.md"))[-1].read_text("utf-8")
        assert "Last notes from the AEW Workshop Series" in newest
        assert "Proceedings of Workshop AEW10" in newest  # the example it resembles
        _another_day(tmp_path, config, 15, "Later notes from", "2026-04-15T20:00:00+00:00")
        assert _asked(server)[4:] == [f"{NO_SUCH},{LIKED}"]  # the failure kept nothing
        engine = open_engine(sqlite_url)
        try:
            with engine.connect() as conn:
                when = {r.arxiv_id: r.looked_up_at for r in conn.execute(select(example_papers))}
        finally:
            engine.dispose()
        assert when[LIKED].isoformat().startswith("2026-04-15T20:00")


def test_explain_and_preview_ask_arxiv_once_without_waiting_to_try_again(
        tmp_path: Path, sqlite_url: str) -> None:
    """Someone waits at the terminal: explain and preview try a lookup once (a pass tries
    twice), say it failed, and leave it to the next run."""
    with FixtureServer() as server:
        server.route("/api/query", *[Reply(503, b"busy", "text/plain")] * 6)
        config = _setup(tmp_path, sqlite_url, server)
        assert run_cli(config, "run", "--now", "2026-03-12T20:00:00+00:00").exit_code == 0
        assert len(_asked(server)) == 2  # the pass: two attempts
        title = ("Concepts in Information Theory and Communications: Notes from the AEW Workshop"
                 " Series")
        explained = run_cli(config, "explain", "reader", title)
        assert explained.exit_code == 0, explained.output
        assert "note: examples not used (the lookup failed: " in explained.output
        assert "Service Unavailable (tried once); asked again next run" in explained.output
        assert len(_asked(server)) == 3  # one attempt
        shown = run_cli(config, "preview", "reader", "--since", "7d", "--now",
                        "2026-03-12T21:00:00+00:00")
        assert shown.exit_code == 0, shown.output
        assert "examples not used (the lookup failed: " in shown.output
        assert len(_asked(server)) == 4


def test_lookups_can_be_turned_off(tmp_path: Path, sqlite_url: str) -> None:
    with FixtureServer() as server:
        config = _setup(tmp_path, sqlite_url, server, lookup="")
        result = run_cli(config, "run", "--now", "2026-03-12T20:00:00+00:00")
        assert result.exit_code == 0, result.output
        assert server.seen == []
        assert (f'    examples not used (not listed by any source): "{LIKED}", "{NO_SUCH}"'
                in result.output.splitlines())


def test_a_bad_lookup_url_is_a_configuration_problem(tmp_path: Path, sqlite_url: str) -> None:
    with FixtureServer() as server:
        config = _setup(tmp_path, sqlite_url, server, lookup="export.arxiv.org")
    result = run_cli(config, "check")
    assert result.exit_code != 0
    assert "worker.toml" in result.output and "matching.example_lookup" in result.output
    assert 'expected an http:// or https:// URL, or "" for no lookups' in result.output


def test_marking_or_explaining_a_paper_no_source_listed_says_how_to_like_it(
        tmp_path: Path, sqlite_url: str) -> None:
    with FixtureServer() as server:
        config = _setup(tmp_path, sqlite_url, server)
        result = run_cli(config, "mark", "reader", "arXiv:2401.99999v2", "--unlike")
    assert result.exit_code == 2
    assert ('no source has listed arXiv 2401.99999, so no digest holds it: to use it as an '
            'example all the same, add "2401.99999" to `unlike` in ') in result.output
    assert str(config / "subscribers" / "reader.toml") in result.output
    explained = run_cli(config, "explain", "reader", "https://arxiv.org/abs/2401.99999")
    assert explained.exit_code == 2
    assert 'add "2401.99999" to `like` in ' in explained.output
    titled = run_cli(config, "explain", "reader", "A Paper Nobody Wrote")
    assert "give an arXiv id, an exact title, or a key like paper:123" in titled.output
    assert "add its exact title or arXiv id to `like` in " in titled.output
    keyed = run_cli(config, "mark", "reader", "paper:999")
    assert keyed.exit_code == 2 and "add its exact title" not in keyed.output
    # Already one of the profile's examples (written with its version): nothing to add.
    profile = config / "subscribers" / "reader.toml"
    profile.write_text(profile.read_text(encoding="utf-8").replace(
        "[interests]", '[interests]\nunlike = ["2401.99999v2"]'), encoding="utf-8")
    listed = run_cli(config, "explain", "reader", "2401.99999")
    assert listed.exit_code == 2 and "to use it as an example" not in listed.output
    assert "it is in `unlike` in " in listed.output and "already" in listed.output


def test_check_notes_the_examples_no_stored_paper_matches(tmp_path: Path,
                                                          database_url: str) -> None:
    """`check` reads an existing database (and asks arXiv nothing): the entries no stored or
    looked-up paper matches are notes, not errors."""
    profile = PROFILE.replace(f'"{NO_SUCH}"]', f'"{NO_SUCH}", "A Paper Nobody Wrote"]')
    with FixtureServer() as server:
        # the first run's title search, then its id lookup, fail; the next run's are answered
        server.route("/api/query", Reply(404, b"not here", "text/plain"),
                     Reply(404, b"not here", "text/plain"),
                     Reply(200, shared_fixture("arxiv", "arxivpy_api_empty_result.xml"), ATOM),
                     Reply(200, shared_fixture("arxiv", ANSWER), ATOM))
        config = _setup(tmp_path, database_url, server, profile)
        before = run_cli(config, "check")
        assert before.exit_code == 0, before.output
        assert "note: examples not checked: " in before.output  # no database yet
        assert run_cli(config, "run", "--now", "2026-03-12T20:00:00+00:00").exit_code == 0
        failed = run_cli(config, "check")  # the lookups failed: the next run asks again
        assert failed.exit_code == 0 and failed.output.splitlines()[1:] == [
            'note: reader: examples not used (not listed by any source; the next run looks it '
            f'up on arXiv): "{LIKED}", "{NO_SUCH}", "A Paper Nobody Wrote"']
        _another_day(tmp_path, config, 13, "More notes from", "2026-03-13T20:00:00+00:00")
        after = run_cli(config, "check")
        assert after.output.splitlines()[1:] == [
            'note: reader: examples not used (not on arXiv): "0808.05394"',
            'note: reader: examples not used (no arXiv paper has this exact title): '
            '"A Paper Nobody Wrote"']
        assert len(server.seen) == 4  # check asked nothing


def test_check_says_when_it_cannot_reach_the_database(tmp_path: Path) -> None:
    with FixtureServer() as server:
        config = _setup(tmp_path, "postgresql+psycopg://postgres@127.0.0.1:1/test", server)
        result = run_cli(config, "check")
    assert result.exit_code == 0, result.output  # the files are fine
    note = result.output.splitlines()[1]
    assert note.startswith("note: examples not checked: cannot read postgresql+psycopg://"
                           "postgres@127.0.0.1:1/test: connection failed")


def test_many_ids_are_asked_a_hundred_at_a_time() -> None:
    """arXiv's id_list takes many ids; a request asks for at most 100 (ID_LIST), and what the
    answers leave out is missing."""
    ids = sorted({LIKED, *(f"2401.{n:05d}" for n in range(149))})
    clock = FakeClock()
    with FixtureServer() as server, Fetcher(sleep=clock.sleep, clock=clock.monotonic) as fetcher:
        server.route("/api/query", Reply(200, shared_fixture("arxiv", ANSWER), ATOM))
        answer = ArxivLookup(lambda: fetcher, server.url)(ids)
        asked = [listed.split(",") for listed in _asked(server)]
    assert [len(a) for a in asked] == [100, 50] and [*asked[0], *asked[1]] == ids
    assert [p.arxiv_id for p in answer.found] == [LIKED]
    assert sorted(answer.missing) == [i for i in ids if i != LIKED] and not answer.failed


# The liked paper of ANSWER, by title, as a reader might write it (other case and punctuation).
WRITTEN = "proceedings of workshop AEW10 - concepts in information theory and communications"
# A phrase of that title: arXiv's search finds the paper for it too, but it is not its title.
PART = "Concepts in Information Theory and Communications"


def test_a_title_no_source_listed_is_found_on_arxiv_by_its_exact_title(
        tmp_path: Path, database_url: str) -> None:
    profile = PROFILE.replace(f'like = ["{LIKED}", "{NO_SUCH}"]', f'like = ["{WRITTEN}", "{PART}"]')
    with FixtureServer() as server:
        server.route("/api/query", Reply(200, shared_fixture("arxiv", ANSWER), ATOM))
        config = _setup(tmp_path, database_url, server, profile)
        result = run_cli(config, "run", "--now", "2026-03-12T20:00:00+00:00")
        assert result.exit_code == 0, result.output
        # One search for both titles, each a phrase in arXiv's titles.
        assert _asked(server, "search_query") == [
            'ti:"concepts in information theory and communications" OR '
            'ti:"proceedings of workshop aew10 concepts in information theory and communications"']
        assert _asked(server, "max_results") == ["10"]
        # The paper arXiv gave for the phrase is named: what the reader may have meant.
        assert ("    examples not used (no arXiv paper has this exact title; did you mean "
                "“Proceedings of Workshop AEW10: Concepts in Information Theory and "
                f'Communications” (arXiv {LIKED})?): "{PART}"') in result.output.splitlines()
        _the_digest_uses_the_example(tmp_path)
        engine = open_engine(database_url)
        try:
            with engine.connect() as conn:
                titles = {r.title_key: (r.arxiv_id, r.near_id)
                          for r in conn.execute(select(example_titles))}
                kept = {r.arxiv_id: r.found for r in conn.execute(select(example_papers))}
                listed = conn.execute(select(func.count()).select_from(papers)).scalar()
        finally:
            engine.dispose()
        assert titles == {"concepts in information theory and communications": (None, LIKED),
                          "proceedings of workshop aew10 concepts in information theory and "
                          "communications": (LIKED, None)}
        assert kept == {LIKED: True} and listed == 2  # an example, not a paper seen

        # Within a week nothing is asked again; after it, the title arXiv had no paper for is.
        _another_day(tmp_path, config, 13, "More notes from", "2026-03-18T20:00:00+00:00")
        assert len(server.seen) == 1
        _another_day(tmp_path, config, 14, "Last notes from", "2026-03-20T20:00:00+00:00")
        assert _asked(server, "search_query")[1:] == [
            'ti:"concepts in information theory and communications"']
        assert not _asked(server)  # the found paper is fresh: no id asked
        # explain scores with the example found by title.
        result = run_cli(config, "explain", "reader", f"{PART}: Last notes from the AEW "
                         "Workshop Series")
        assert result.exit_code == 0, result.output
        assert "Proceedings of Workshop AEW10" in result.output
        # After a month its paper is refreshed as an id's is: by id, not by a title search.
        _another_day(tmp_path, config, 15, "Later notes from", "2026-04-20T20:00:00+00:00")
        assert _asked(server) == [LIKED]


def test_a_title_search_that_fails_is_reported_and_asked_again(tmp_path: Path,
                                                               sqlite_url: str) -> None:
    profile = PROFILE.replace(f'like = ["{LIKED}", "{NO_SUCH}"]', f'like = ["{WRITTEN}"]')
    with FixtureServer() as server:
        server.route("/api/query", Reply(503, b"busy", "text/plain"),
                     Reply(503, b"busy", "text/plain"),
                     Reply(200, shared_fixture("arxiv", ANSWER), ATOM))
        config = _setup(tmp_path, sqlite_url, server, profile)
        result = run_cli(config, "run", "--now", "2026-03-12T20:00:00+00:00")
        assert result.exit_code == 0, result.output
        line = next(x for x in result.output.splitlines() if "examples not used" in x)
        assert line.startswith("    examples not used (the lookup failed: ") and "503" in line
        assert line.endswith(f'; asked again next run): "{WRITTEN}"')
        engine = open_engine(sqlite_url)
        try:
            with engine.connect() as conn:  # nothing half-done is kept
                assert conn.execute(select(func.count()).select_from(example_titles)
                                    ).scalar() == 0
        finally:
            engine.dispose()
        output = _another_day(tmp_path, config, 13, "More notes from",
                              "2026-03-13T20:00:00+00:00")
        assert len(_asked(server, "search_query")) == 3
        assert "examples not used" not in output
        (digest,) = (tmp_path / "out" / "reader").glob("2026-03-13*.md")
        assert "Proceedings of Workshop AEW10" in digest.read_text(encoding="utf-8")


def test_a_title_arxiv_refuses_to_search_for_does_not_hold_up_the_others(
        tmp_path: Path, sqlite_url: str) -> None:
    """arXiv's API answers 400 to a query it cannot run: the titles of that search are then
    asked one at a time, the refused one is kept as a title arXiv has no paper for (asked
    again in a week, not every run), and the others are found."""
    refused = "A Title arXiv Refuses"
    error = shared_fixture("arxiv", "arxivpy_api_error_bad_id.xml")
    profile = PROFILE.replace(f'like = ["{LIKED}", "{NO_SUCH}"]',
                              f'like = ["{WRITTEN}", "{refused}"]')
    with FixtureServer() as server:
        server.route("/api/query", Reply(400, error, ATOM), Reply(400, error, ATOM),
                     Reply(200, shared_fixture("arxiv", ANSWER), ATOM))
        config = _setup(tmp_path, sqlite_url, server, profile)
        result = run_cli(config, "run", "--now", "2026-03-12T20:00:00+00:00")
        assert result.exit_code == 0, result.output
        assert [len(q.split(" OR ")) for q in _asked(server, "search_query")] == [2, 1, 1]
        assert ("    examples not used (no arXiv paper has this exact title): "
                f'"{refused}"') in result.output.splitlines()
        assert "arXiv cannot search for the title 'a title arxiv refuses'" in result.stderr
        _the_digest_uses_the_example(tmp_path)
        _another_day(tmp_path, config, 13, "More notes from", "2026-03-13T20:00:00+00:00")
        assert len(server.seen) == 3  # kept: not asked again within the week


def test_many_titles_are_searched_twenty_at_a_time() -> None:
    """A search asks for at most TITLE_LIST titles, an OR of phrases, with room for a few
    results each; only a paper whose whole title is the one asked for counts."""
    keys = sorted({*(f"a title number {n}" for n in range(44)), "proceedings of workshop "
                   "aew10 concepts in information theory and communications"})
    clock = FakeClock()
    with FixtureServer() as server, Fetcher(sleep=clock.sleep, clock=clock.monotonic) as fetcher:
        server.route("/api/query", Reply(200, shared_fixture("arxiv", ANSWER), ATOM))
        answer = ArxivLookup(lambda: fetcher, server.url).titles(keys)
        asked = [q.split(" OR ") for q in _asked(server, "search_query")]
        results = _asked(server, "max_results")
    assert [len(a) for a in asked] == [20, 20, 5] and results == ["100", "100", "25"]
    assert [t for a in asked for t in a] == [f'ti:"{k}"' for k in keys]
    assert {k: p.arxiv_id for k, p in answer.found.items()} == {keys[-1]: LIKED}
    assert answer.missing == dict.fromkeys(keys[:-1]) and not answer.failed


def test_arxiv_out_of_reach_is_asked_once_a_pass(tmp_path: Path, sqlite_url: str) -> None:
    """Offline: the title search is tried (twice), and the id lookup after it is not asked at
    all, saying why (the examples are listed in the profile's order); the next run asks
    both again."""
    from tests.integration.smtpserver import free_port

    down = f"127.0.0.1:{free_port()}"  # nothing listens there
    profile = PROFILE.replace(f'"{NO_SUCH}"]', f'"{WRITTEN}"]')
    with FixtureServer() as server:
        config = _setup(tmp_path, sqlite_url, server, profile, lookup=f"http://{down}")
        result = run_cli(config, "run", "--now", "2026-03-12T20:00:00+00:00")
    assert result.exit_code == 0, result.output
    looked_up, searched = (x for x in result.output.splitlines() if "examples not used" in x)
    assert "connection failed" in searched and "(gave up after 2 attempts)" in searched
    assert searched.endswith(f'; asked again next run): "{WRITTEN}"')
    assert (f"not asked: {down} could not be reached earlier in this run (connection failed"
            in looked_up) and looked_up.endswith(f'; asked again next run): "{LIKED}"')


def test_a_pass_asks_about_so_many_titles_each_profiles_first_ones_first(
        tmp_path: Path, sqlite_url: str) -> None:
    """A profile listing hundreds of titles no source has (or new ones every day) held every
    subscriber's pass for minutes of lookups, 3 s a request on arXiv. A pass asks about at
    most TITLE_BUDGET titles, every profile's first ones before anyone's later ones, and says
    the rest are asked by a later run; that run goes on where this one stopped."""
    many = [f"A Title Nobody Wrote Number {n}" for n in range(TITLE_BUDGET + 50)]
    greedy = PROFILE.replace(f'like = ["{LIKED}", "{NO_SUCH}"]',
                             "like = [" + ", ".join(f'"{t}"' for t in many) + "]")
    modest = PROFILE.replace(f'like = ["{LIKED}", "{NO_SUCH}"]', f'like = ["{WRITTEN}"]')
    with FixtureServer() as server:
        server.route("/api/query", Reply(200, shared_fixture("arxiv", ANSWER), ATOM))
        config = make_config(tmp_path, sqlite_url, {"greedy": greedy, "modest": modest},
                             extra=f'[matching]\nexample_lookup = "{server.url}"\n')
        (tmp_path / "dumps" / "2026-03-12_hf.txt").write_text(DUMP, encoding="utf-8")
        first = run_cli(config, "run", "--now", "2026-03-12T20:00:00+00:00")
        asked = [t for q in _asked(server, "search_query") for t in q.split(" OR ")]
        assert len(asked) == TITLE_BUDGET and any("aew10" in t for t in asked)
        assert "a later run does" in first.output
        (digest,) = (tmp_path / "out" / "modest").glob("*.md")  # its example was found
        assert "Proceedings of Workshop AEW10" in digest.read_text(encoding="utf-8")
        _another_day(tmp_path, config, 13, "More notes from", "2026-03-13T20:00:00+00:00")
        again = [t for q in _asked(server, "search_query") for t in q.split(" OR ")]
    assert len(again) == TITLE_BUDGET + 50 + 1 and len(set(again)) == len(again)
