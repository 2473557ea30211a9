"""A paper arXiv retitled (v2 under another title) is one paper by either title: a source with
ids lists it under the new title, a text dump (titles only) under either, and it is new once.
The titles are made up."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, text

from tests.integration.helpers import make_config, migrate, run_cli
from tests.integration.httpfixture import JSON, FixtureServer, Reply
from worker.records import PaperRecord
from worker.sources.base import Dump, content_hash
from worker.store import identity, papers
from worker.store.opening import HEAD_REVISION, current_revision, open_engine
from worker.store.schema import digest_items, paper_titles
from worker.store.schema import papers as papers_table

NOW = datetime(2026, 3, 14, 8, tzinfo=UTC)
OLD = "Sparse Probes for Tiny Models"
NEW = "Sparse Probes Find Features in Tiny Models"  # the title of v2
ID = "2603.01234"


def dump(name: str, *records: PaperRecord) -> Dump:
    return Dump("test", name, content_hash(name.encode() + repr(records).encode()), NOW, records)


def rec(title: str, arxiv_id: str | None = None, version: int | None = None) -> PaperRecord:
    return PaperRecord(title=title, abstract="We probe tiny models.", arxiv_id=arxiv_id,
                       version=version)


def ingest(engine, name: str, *records: PaperRecord, day: int = 0):  # type: ignore[no-untyped-def]
    result = papers.ingest_dump(engine, dump(name, *records), NOW + timedelta(days=day))
    assert result is not None
    return result


@pytest.fixture
def engine(database_url: str):  # type: ignore[no-untyped-def]
    engine = open_engine(database_url)
    yield engine
    engine.dispose()


@pytest.mark.parametrize(("version", "shown"), [(2, NEW), (None, OLD)],
                         ids=["newer-version", "no-version"])
def test_a_retitled_paper_is_one_paper_by_either_title(  # type: ignore[no-untyped-def]
        engine, version: int | None, shown: str) -> None:
    """id + old title, then id + new title, then each title alone (a text dump): never new
    again, one paper, each listing a sighting. The new title is shown when it came with a
    newer version; without one (the HF API gives none) the shown title stays."""
    first = ingest(engine, "d1", rec(OLD, ID, 1))
    assert first.new_papers == 1
    assert ingest(engine, "d2", rec(NEW, ID, version), day=1).new_papers == 0
    for day, title in enumerate((NEW, OLD, NEW.upper()), start=2):
        again = ingest(engine, f"dump-{day}", rec(title), day=day)
        assert (again.new_papers, again.known_papers) == (0, 1), title
    assert papers.counts(engine)["papers"] == 1 and papers.counts(engine)["sightings"] == 5
    paper = identity.find_paper(engine, ID)
    assert paper is not None and paper.title == shown and paper.first_seen_seq == first.seq
    # a `like` by either title is the paper
    found = identity.find_papers(engine, [OLD, NEW])
    assert {ref: p.arxiv_id for ref, p in found.items()} == {OLD: ID, NEW: ID}


def test_a_paper_retitled_within_one_dump_is_found_by_both_titles(engine) -> None:  # type: ignore[no-untyped-def]
    """A feed that lists v1 and v2 at once: the paper is new in that dump, stored once, and
    the title it is not shown under is kept for it as well."""
    assert ingest(engine, "d1", rec(OLD, ID, 1), rec(NEW, ID, 2)).new_papers == 1
    again = ingest(engine, "d2", rec(OLD), rec(NEW), day=1)
    assert (again.new_papers, again.known_papers) == (0, 2)  # (two listings of it)
    assert (papers.counts(engine)["papers"], papers.counts(engine)["sightings"]) == (1, 2)
    paper = identity.find_paper(engine, ID)
    assert paper is not None and paper.title == NEW


def test_an_older_version_does_not_take_the_title_back(engine) -> None:  # type: ignore[no-untyped-def]
    """A source that still lists v1 under the old title after v2 (a cached page) leaves the
    newer title shown, and writes nothing more: both titles are known already."""
    ingest(engine, "d1", rec(OLD, ID, 1))
    ingest(engine, "d2", rec(NEW, ID, 2), day=1)
    ingest(engine, "d3", rec(OLD, ID, 1), rec(OLD, ID), day=2)
    paper = identity.find_paper(engine, ID)
    assert paper is not None and (paper.title, paper.version) == (NEW, 2)
    with engine.connect() as conn:
        assert conn.execute(select(paper_titles.c.title_key)).scalars().all() == [
            "sparse probes for tiny models"]


def test_a_title_given_back_in_a_later_version_is_shown_again(engine) -> None:  # type: ignore[no-untyped-def]
    """v1 with the old title, the new one listed without a version, v2 with it, v3 with the
    old title again: each title is kept once, the newest version's is shown, and a dump with
    either title alone lists a known paper."""
    ingest(engine, "d1", rec(OLD, ID, 1))
    ingest(engine, "d2", rec(NEW, ID), day=1)
    ingest(engine, "d3", rec(NEW, ID, 2), day=2)
    ingest(engine, "d4", rec(OLD, ID, 3), day=3)
    paper = identity.find_paper(engine, ID)
    assert paper is not None and (paper.title, paper.version) == (OLD, 3)
    assert ingest(engine, "d5", rec(OLD), rec(NEW), day=4).new_papers == 0
    assert papers.counts(engine)["papers"] == 1
    with engine.connect() as conn:
        assert sorted(conn.execute(select(paper_titles.c.title_key)).scalars()) == [
            "sparse probes find features in tiny models", "sparse probes for tiny models"]


def test_different_ids_stay_different_papers_under_a_title_one_of_them_had(  # type: ignore[no-untyped-def]
        engine) -> None:
    """A title match is the same paper unless both carry different arXiv ids, for a title a
    paper was listed under before as for the one it shows."""
    ingest(engine, "d1", rec(OLD, ID, 1))
    ingest(engine, "d2", rec(NEW, ID, 2), day=1)
    other = ingest(engine, "d3", rec(OLD, "2603.09999", 1), rec(NEW, "2603.08888", 1), day=2)
    assert other.new_papers == 2
    assert papers.counts(engine)["papers"] == 3
    # a title alone is one of them, not new
    alone = ingest(engine, "d4", rec(OLD), rec(NEW), day=3)
    assert alone.new_papers == 0
    assert papers.counts(engine)["papers"] == 3
    for arxiv_id, title in ((ID, NEW), ("2603.09999", OLD), ("2603.08888", NEW)):
        paper = identity.find_paper(engine, arxiv_id)
        assert paper is not None and paper.title == title


def test_a_paper_removed_takes_its_other_titles_with_it(engine) -> None:  # type: ignore[no-untyped-def]
    """Nothing removes papers today; if something does, their titles go with them (ON DELETE
    CASCADE), and a text dump listing the title again lists a new paper."""
    ingest(engine, "d1", rec(OLD, ID, 1))
    ingest(engine, "d2", rec(NEW, ID, 2), day=1)
    with engine.begin() as conn:
        assert conn.execute(select(func.count()).select_from(paper_titles)).scalar_one() == 1
        conn.execute(text("DELETE FROM sightings"))
        conn.execute(delete(papers_table))
        assert conn.execute(select(func.count()).select_from(paper_titles)).scalar_one() == 0
    assert ingest(engine, "d3", rec(OLD), day=2).new_papers == 1


def test_0013_goes_down_and_up(engine, database_url: str) -> None:  # type: ignore[no-untyped-def]
    """Going back below 0013 drops the titles papers were listed under besides the one they
    show (found by their id and shown title, as before); up again, the table is back, empty."""
    from sqlalchemy import inspect

    ingest(engine, "d1", rec(OLD, ID, 1))
    ingest(engine, "d2", rec(NEW, ID, 2), day=1)
    migrate(engine, "0012")
    assert current_revision(engine) == "0012"
    assert "paper_titles" not in inspect(engine).get_table_names()
    assert papers.counts(engine)["papers"] == 1
    engine.dispose()
    engine = open_engine(database_url)  # upgraded
    try:
        assert current_revision(engine) == HEAD_REVISION == "0014"
        inspector = inspect(engine)
        assert "paper_titles" in inspector.get_table_names()
        assert inspector.get_pk_constraint("paper_titles")["constrained_columns"] == [
            "title_hash", "paper_id"]
        [foreign] = inspector.get_foreign_keys("paper_titles")
        assert foreign["referred_table"] == "papers"
        assert (foreign["options"].get("ondelete") or "").upper() == "CASCADE"
        # the old title was forgotten going down: listed again with the id, it is kept again
        ingest(engine, "d3", rec(OLD, ID, 1), day=2)
        assert ingest(engine, "d4", rec(OLD), day=3).new_papers == 0
    finally:
        engine.dispose()


SUB = """
deliver = ["markdown"]
min_score = 0.01
backfill = "30d"
[interests]
keywords = ["probes"]
"""


def test_a_retitled_paper_reaches_a_subscriber_once(tmp_path: Path, database_url: str) -> None:
    """The HF API lists a paper, a day later under its new title (no version: the title shown
    stays), and then a text dump lists it under the new title: delivered once."""
    def api(title: str, day: str) -> bytes:
        return json.dumps([{"paper": {
            "id": ID, "title": title, "summary": "We train sparse probes on tiny models.",
            "authors": [{"name": "A. Author"}], "submittedOnDailyAt": f"{day}T00:00:00.000Z"},
        }]).encode()

    with FixtureServer() as server:
        config = make_config(tmp_path, database_url, {"ada": SUB})
        worker = config / "worker.toml"
        dump_source = worker.read_text()
        head = dump_source.split("[[sources]]")[0]
        for day, title in (("2026-06-12", OLD), ("2026-06-13", NEW)):
            server.route("/api/daily_papers", Reply(200, api(title, day), JSON))
            worker.write_text(head + f'[[sources]]\nname = "hf"\nkind = "hf_api"\n'
                              f'base_url = "{server.url}"\ndate = "{day}"\nmin_interval = 0\n')
            result = run_cli(config, "run", "--now", f"{day}T20:00:00+00:00")
            assert result.exit_code == 0, result.output
    worker.write_text(dump_source)
    (tmp_path / "dumps" / "jun14.txt").write_text(
        f"new\n\nJun 14\n\n{NEW}\n\nWe train sparse probes on tiny models.\n", encoding="utf-8")
    third = run_cli(config, "run", "--now", "2026-06-14T20:00:00+00:00")
    assert third.exit_code == 0, third.output
    assert "1 paper listed, 0 new, 1 already known" in third.output, third.output
    engine = open_engine(database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(papers_table)).scalar_one() == 1
            assert conn.execute(select(func.count()).select_from(digest_items)).scalar_one() == 1
    finally:
        engine.dispose()
