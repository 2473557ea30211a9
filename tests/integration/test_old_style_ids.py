"""An old-style arXiv id written with its subject class (`math.GT/0309136`) and without it
(`math/0309136`, arXiv's form) is one paper: in what sources list, in `like`, in `explain` and
`mark`, and in a database that stored the class before (migration 0014). The feeds are written
here, in the form arXiv's API answers in (../shared/fixtures/arxiv); the titles are real."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import insert, select

from tests.clock import FakeClock
from tests.integration.helpers import migrate
from tests.integration.httpfixture import ATOM, FixtureServer, Reply
from worker import examples
from worker.records import title_hash
from worker.sources import arxiv_api
from worker.sources.base import Dump, content_hash
from worker.sources.http import Fetcher
from worker.store import identity, papers
from worker.store.opening import HEAD_REVISION, current_revision, open_engine
from worker.store.schema import example_papers, example_titles
from worker.store.schema import papers as papers_table

NOW = datetime(2026, 3, 14, 8, tzinfo=UTC)
TITLE = "Heegaard Floer homology and alternating knots"


def atom(arxiv_id: str, version: int, title: str = TITLE) -> bytes:
    """An export-API answer with one paper, its id written as `arxiv_id`."""
    return f"""<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" xmlns="http://www.w3.org/2005/Atom">
  <id>https://arxiv.org/api/x</id>
  <title>arXiv Query</title>
  <updated>2026-03-14T00:00:00Z</updated>
  <opensearch:totalResults>1</opensearch:totalResults>
  <opensearch:startIndex>0</opensearch:startIndex>
  <entry>
    <id>http://arxiv.org/abs/{arxiv_id}v{version}</id>
    <title>{title}</title>
    <updated>2003-09-08T00:00:00Z</updated>
    <link href="https://arxiv.org/abs/{arxiv_id}v{version}" rel="alternate" type="text/html"/>
    <summary>We compute the knot Floer homology of alternating knots.</summary>
    <published>2003-09-08T00:00:00Z</published>
    <author><name>Peter Ozsvath</name></author>
  </entry>
</feed>""".encode()


def dump(name: str, body: bytes) -> Dump:
    return Dump("arxiv", name, content_hash(body), NOW, tuple(arxiv_api.parse(body, name)))


@pytest.fixture
def engine(database_url: str):  # type: ignore[no-untyped-def]
    engine = open_engine(database_url)
    yield engine
    engine.dispose()


@pytest.mark.parametrize("first", ["math.GT/0309136", "math/0309136"],
                         ids=["class-first", "class-later"])
def test_an_old_style_id_with_or_without_its_subject_class_is_one_paper(  # type: ignore[no-untyped-def]
        engine, first: str) -> None:
    """One source lists the paper as math.GT/0309136, a later one as math/0309136 (or the
    other way round): the second listing is of a known paper, not a new one sent again to
    everyone, and a `like`, `explain` or `mark` naming it either way finds it."""
    second = "math/0309136" if first == "math.GT/0309136" else "math.GT/0309136"
    one = papers.ingest_dump(engine, dump("d1", atom(first, 1)), NOW)
    assert one is not None and one.new_papers == 1
    two = papers.ingest_dump(engine, dump("d2", atom(second, 2)), NOW + timedelta(days=1))
    assert two is not None and (two.new_papers, two.known_papers) == (0, 1)
    assert (papers.counts(engine)["papers"], papers.counts(engine)["sightings"]) == (1, 2)
    refs = ["math.GT/0309136", "math/0309136", "arXiv:math.GT/0309136v1",
            "https://arxiv.org/abs/math.GT/0309136v2"]
    found = identity.find_papers(engine, refs)
    assert {ref: (p.arxiv_id, p.version) for ref, p in found.items()} == dict.fromkeys(
        refs, ("math/0309136", 2))
    for ref in ("math.GT/0309136", "arxiv:math.GT/0309136", "arxiv:math/0309136"):
        paper = identity.find_paper(engine, ref)  # (what explain and mark look a paper up by)
        assert paper is not None and paper.first_seen_seq == one.seq, ref
        assert paper.links.abstract == "https://arxiv.org/abs/math/0309136"


def test_a_like_with_a_subject_class_no_source_listed_is_looked_up_without_it(  # type: ignore[no-untyped-def]
        engine) -> None:
    """arXiv answers for an old-style id with the id without its class: the lookup asked for
    `math.GT/0309136`, did not recognise the answer as the paper asked for, and kept it as not
    on arXiv."""
    clock = FakeClock()
    with FixtureServer() as server, Fetcher(sleep=clock.sleep, clock=clock.monotonic) as fetcher:
        server.route("/api/query", Reply(200, atom("math/0309136", 1), ATOM))
        lookup = examples.ArxivLookup(lambda: fetcher, server.url)
        found = examples.resolve(engine, ["math.GT/0309136"], NOW, lookup)
        asked = [parse_qs(urlsplit(s.path).query)["id_list"][0] for s in server.seen
                 if s.path.startswith("/api/query")]
    assert asked == ["math/0309136"] and found.unused == {}
    assert found.papers["math.GT/0309136"].title == TITLE
    # kept for the other form as well: asked once
    again = examples.resolve(engine, ["math/0309136"], NOW, lookup=None)
    assert again.papers["math/0309136"].title == TITLE


def test_migration_0014_stores_old_style_ids_without_their_subject_class(
        database_url: str) -> None:
    """Papers stored at 0013 with a subject class in their id (more than one batch of them) get
    the id without it and are found by either form, unless another paper holds that id already
    (left as it is: the two are not merged). Example lookups kept for an id with a class are
    given the id without it, or dropped, to be asked again; the ids title searches found
    lose their class too."""
    engine = open_engine(database_url)
    migrate(engine, "0013")
    assert current_revision(engine) == "0013"
    filler = [f"physics.XX/05{n:05d}" for n in range(1000)]  # a batch before the others
    ids = [*filler, "math.GT/0309136", "math/0401001", "math.AG/0401001", "cs.AI/0101001",
           "cs.LG/0101001", "2401.00001", None, "astro-ph/0601001"]
    with engine.begin() as conn:
        conn.execute(insert(papers_table), [
            {"arxiv_id": arxiv_id, "title": f"Paper {n}", "title_key": f"paper {n}",
             "title_hash": title_hash(f"paper {n}"), "abstract": "", "first_seen_at": NOW,
             "first_seen_seq": 0, "updated_at": NOW} for n, arxiv_id in enumerate(ids)])
        conn.execute(insert(example_papers), [
            {"arxiv_id": arxiv_id, "found": found, "title": "", "looked_up_at": NOW}
            for arxiv_id, found in (("math.GT/0309136", True), ("cs.AI/0101001", False),
                                    ("math/0401001", True), ("math.AG/0401001", True),
                                    ("2401.00001", False))])
        conn.execute(insert(example_titles), [
            {"title_hash": n, "title_key": f"t{n}", "arxiv_id": arxiv_id, "near_id": near,
             "looked_up_at": NOW}
            for n, arxiv_id, near in ((1, "math.GT/0309136", None), (2, None, "nlin.CD/0301001"),
                                      (3, "2401.00002", "hep-th/9901001"))])
    engine.dispose()
    engine = open_engine(database_url)  # upgraded
    try:
        assert current_revision(engine) == HEAD_REVISION
        with engine.connect() as conn:
            stored = list(conn.execute(select(papers_table.c.arxiv_id)
                                       .order_by(papers_table.c.id)).scalars())
            looked_up = dict(conn.execute(select(example_papers.c.arxiv_id,
                                                 example_papers.c.found)).all())
            titles = conn.execute(select(example_titles.c.arxiv_id, example_titles.c.near_id)
                                  .order_by(example_titles.c.title_hash)).all()
        assert stored[:1000] == [f"physics/05{n:05d}" for n in range(1000)]
        assert stored[1000:] == ["math/0309136", "math/0401001", "math.AG/0401001",
                                 "cs/0101001", "cs.LG/0101001", "2401.00001", None,
                                 "astro-ph/0601001"]
        assert looked_up == {"math/0309136": True, "math/0401001": True, "2401.00001": False}
        assert [tuple(row) for row in titles] == [("math/0309136", None), (None, "nlin/0301001"),
                                                  ("2401.00002", "hep-th/9901001")]
        # listed again by a source, in either form: a known paper
        again = papers.ingest_dump(engine, dump("d", atom("math.GT/0309136", 2, "Paper 1000")),
                                   NOW)
        assert again is not None and (again.new_papers, again.known_papers) == (0, 1)
        found = identity.find_papers(engine, ["math.GT/0309136", "math/0309136"])
        assert {p.title for p in found.values()} == {"Paper 1000"}
    finally:
        engine.dispose()
