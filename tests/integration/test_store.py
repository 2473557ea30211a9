"""The store on real databases: identity, ingest, cursors and the outbox."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from tests.integration.helpers import add_seed_day, make_config, migrate, run_cli
from worker.cli import cli
from worker.records import Links, PaperRecord, title_hash
from worker.sources.base import Dump, DumpFailure, content_hash
from worker.store import cursors, identity, outbox, papers
from worker.store.db import make_engine, rolled_back
from worker.store.models import DigestSpec, ItemSpec, SubscriberInfo
from worker.store.opening import HEAD_REVISION, DatabaseOpenError, current_revision, open_engine

NOW = datetime(2026, 3, 14, 8, tzinfo=UTC)
ADA = 'email = "ada@example.org"\n[interests]\nkeywords = ["grounding"]\n'


def dump(name: str, *records: PaperRecord, day: date | None = None) -> Dump:
    return Dump("test", name, content_hash(name.encode() + repr(records).encode()), NOW,
                records, day)


def rec(title: str, abstract: str = "An abstract.", **kw) -> PaperRecord:  # type: ignore[no-untyped-def]
    return PaperRecord(title=title, abstract=abstract, **kw)


@pytest.fixture
def engine(database_url: str):  # type: ignore[no-untyped-def]
    engine = open_engine(database_url)
    yield engine
    engine.dispose()


def test_migrated_to_head(engine) -> None:  # type: ignore[no-untyped-def]
    assert current_revision(engine) == HEAD_REVISION
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from worker.store.opening import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


@pytest.mark.filterwarnings("ignore:.*expression-based index")  # (uq_papers_title_hash)
def test_the_migrations_make_the_schema_that_schema_py_declares(engine) -> None:  # type: ignore[no-untyped-def]
    """Alembic's comparison of the migrated database with worker.store.schema finds nothing
    (columns, types, nullability, indexes, foreign keys), but on SQLite papers.title_hash,
    which SQLite cannot make NOT NULL in an existing table (migration 0005)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from worker.store.schema import metadata

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, metadata)
    # (a column's changes come as a list of them, each naming its table and column)
    found = [(d[0][0], *d[0][2:4]) if isinstance(d, list) else d for d in diffs]
    sqlite = [("modify_nullable", "papers", "title_hash")]
    assert found == (sqlite if engine.dialect.name == "sqlite" else []), diffs


@pytest.mark.parametrize("command", ["run", "status"])
def test_a_database_from_a_newer_version_is_refused_clearly(tmp_path: Path, database_url: str,
                                                            command: str) -> None:
    # Say a newer paper-digest migrated this database and this one was put back (a rollback).
    engine = open_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9001'"))
    with pytest.raises(DatabaseOpenError, match=r"schema revision 9001, which paper-digest .* does "
                                            r"not know \(its newest is " + HEAD_REVISION):
        open_engine(database_url)
    engine.dispose()
    result = run_cli(make_config(tmp_path, database_url, {}), command)
    assert result.exit_code != 0
    assert "schema revision 9001" in result.output and "newer paper-digest" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", [("status",), ("subscribers",), ("preview", "ada"),
                                     ("explain", "ada", "paper:1")])
def test_a_command_that_only_reads_leaves_an_older_schema_alone(tmp_path: Path,
                                                                database_url: str,
                                                                command: tuple[str, ...]) -> None:
    # Looking at an install with a newer paper-digest (`docker run --rm new-image status`)
    # upgraded its schema under the older serve still running: on PostgreSQL its next ingest
    # failed (title_hash NOT NULL), and once restarted it refused the database.
    engine = _downgraded(database_url, "0004")
    assert current_revision(engine) == "0004"
    root = make_config(tmp_path, database_url, {"ada": ADA})
    result = run_cli(root, *command)
    assert result.exit_code == 1
    assert "schema revision 0004, older than" in result.output
    assert f"`paper-digest --config {root} run` or `serve` upgrades it" in result.output
    assert current_revision(engine) == "0004"
    assert run_cli(root, "run").exit_code == 0  # a run upgrades it, as ever
    assert current_revision(engine) == HEAD_REVISION
    assert run_cli(root, "status").exit_code == 0
    engine.dispose()


@pytest.mark.parametrize("command", [("run", "--dry-run"), ("fetch", "--dry-run")])
def test_a_dry_run_leaves_an_older_schema_alone(tmp_path: Path, database_url: str,
                                                command: tuple[str, ...]) -> None:
    # "--dry-run does it all and then undoes it", but the upgrade of the schema was kept: a
    # dry run of a newer version against an install upgraded it for good
    engine = _downgraded(database_url, "0005")
    root = make_config(tmp_path, database_url, {"ada": ADA})
    result = run_cli(root, *command)
    assert result.exit_code == 1, result.output
    assert "schema revision 0005, older than" in result.output
    assert "run without --dry-run (or serve) to upgrade it" in result.output
    assert current_revision(engine) == "0005"
    engine.dispose()


def test_a_dry_run_on_a_new_database_makes_its_schema(tmp_path: Path,
                                                      database_url: str) -> None:
    # README's first digest: `run --source local --dry-run` before any run
    root = make_config(tmp_path, database_url, {"ada": ADA})
    assert run_cli(root, "run", "--dry-run").exit_code == 0
    engine = open_engine(database_url)
    assert current_revision(engine) == HEAD_REVISION
    engine.dispose()


@pytest.mark.parametrize("command", [("status",), ("subscribers",)])
def test_status_before_the_first_run_shows_the_config_side_on_either_database(
        tmp_path: Path, database_url: str, command: tuple[str, ...]) -> None:
    """A new PostgreSQL install's `status` failed ("has no paper-digest tables yet", exit 1)
    where a new SQLite one's noted it and showed who is subscribed, all "never": both now do
    the latter, and neither makes a file or a table."""
    root = make_config(tmp_path, database_url, {"ada": ADA})
    result = CliRunner().invoke(cli, ["--config", str(root), *command])
    assert result.exit_code == 0, result.stderr
    assert "note: " in result.stderr
    assert f"`paper-digest --config {root} run` or `serve`" in result.stderr
    assert "ada" in result.stdout and "never" in result.stdout
    if database_url.startswith("sqlite"):
        assert not (tmp_path / "paper-digest.db").exists()
    else:
        engine = make_engine(database_url)
        try:
            assert current_revision(engine) is None
        finally:
            engine.dispose()


@pytest.mark.parametrize("command", [("status",), ("subscribers",), ("subscribers", "--json"),
                                     ("preview", "ada")])
def test_a_command_that_only_reads_makes_no_database(tmp_path: Path,
                                                     command: tuple[str, ...]) -> None:
    # status on a mistyped path (or a container without its /data volume) made an empty
    # database there and reported every source and subscriber as never run, saying nothing
    path = tmp_path / "data" / "paper-digest.db"
    root = make_config(tmp_path, f"sqlite:///{path}", {"ada": ADA})
    result = CliRunner().invoke(cli, ["--config", str(root), *command])
    assert f"no database at {path} yet" in result.stderr
    # the command that makes it, for this config (a bare `paper-digest run` reads ./config)
    assert f"`paper-digest --config {root} run` or `serve` makes it" in result.stderr
    assert not path.exists() and not path.parent.exists()
    if command[0] == "preview":  # reads stored papers: there are none to read
        assert result.exit_code == 1
    else:  # the config's side of it: who is subscribed, by which channel, never sent
        assert result.exit_code == 0, result.stderr
        assert "ada" in result.stdout and "never" in result.stdout.replace("null", "never")


def test_same_paper_by_title_then_id_is_one_paper(engine) -> None:  # type: ignore[no-untyped-def]
    first = papers.ingest_dump(engine, dump("d1", rec("SOTOPIA-$\\pi$: Interactive Learning")), NOW)
    assert first is not None and first.new_papers == 1
    later = rec("SOTOPIA-π: Interactive  Learning", arxiv_id="2403.08715", version=2,
                authors=("Ruiyi Wang",), links=Links.for_arxiv("2403.08715"))
    second = papers.ingest_dump(engine, dump("d2", later), NOW + timedelta(days=1))
    assert second is not None
    assert (second.new_papers, second.known_papers, second.gained_ids) == (0, 1, 1)
    paper = identity.find_paper(engine, "2403.08715")
    assert paper is not None and paper.authors == ("Ruiyi Wang",) and paper.version == 2
    assert paper.first_seen_seq == first.seq
    assert paper.links.pdf == "https://arxiv.org/pdf/2403.08715"
    assert papers.counts(engine)["papers"] == 1 and papers.counts(engine)["sightings"] == 2


def test_an_abstract_cut_short_is_completed_by_a_later_copy_and_nothing_else_replaces_it(  # type: ignore[no-untyped-def]
        engine) -> None:
    full = "We study how models ground phrases.  Results on three benchmarks show gains."
    cut = full[:40]  # a dump copied half-way: "...ground phrases.  Res"
    papers.ingest_dump(engine, dump("d1", rec("P", cut, arxiv_id="2403.00001")), NOW)
    papers.ingest_dump(engine, dump("d2", rec("P", " ".join(full.split()),
                                              arxiv_id="2403.00001")), NOW)
    found = identity.find_paper(engine, "2403.00001")
    assert found is not None and found.abstract == " ".join(full.split())
    # A shorter copy, or another wording, never replaces what is held.
    for other in (cut, "We study grounding in another way. A different abstract, and longer "
                       "than the whole of the one held."):
        papers.ingest_dump(engine, dump(f"d-{other}", rec("P", other, arxiv_id="2403.00001")),
                           NOW)
        found = identity.find_paper(engine, "2403.00001")
        assert found is not None and found.abstract == " ".join(full.split())


def test_ids_stay_strings_and_distinct_ids_stay_distinct(engine) -> None:  # type: ignore[no-untyped-def]
    papers.ingest_dump(engine, dump("d", rec("Same Title", arxiv_id="2503.02130"),
                                    rec("Same Title", arxiv_id="2503.02131")), NOW)
    assert papers.counts(engine)["papers"] == 2
    found = identity.find_paper(engine, "2503.02130")
    assert found is not None and found.arxiv_id == "2503.02130"


def test_ingest_is_idempotent_by_content(engine) -> None:  # type: ignore[no-untyped-def]
    d = dump("d", rec("A"), rec("B"), rec("a"))  # "a" is "A" again: one paper, one sighting
    result = papers.ingest_dump(engine, d, NOW)
    assert result is not None and (result.entries, result.new_papers) == (3, 2)
    assert papers.ingest_dump(engine, d, NOW) is None
    assert papers.is_ingested(engine, d.content_hash)
    assert papers.counts(engine) == {"papers": 2, "with_id": 0, "sightings": 2, "dumps": 1,
                                     "failed_dumps": 0}


def test_failure_recorded_once(engine) -> None:  # type: ignore[no-untyped-def]
    failure = DumpFailure("test", "bad.txt", "empty file", content_hash="h" * 64)
    assert papers.record_failure(engine, failure, NOW) is True
    assert papers.record_failure(engine, failure, NOW) is False
    assert papers.counts(engine)["failed_dumps"] == 1
    assert papers.counts(engine)["papers"] == 0


def _subscribe(engine, sid: str = "ada", start: int = 0):  # type: ignore[no-untyped-def]
    info = SubscriberInfo(sid, email=f"{sid}@example.org", name=sid, fingerprint="f",
                          start_seq=start)
    return cursors.sync_subscribers(engine, [info], NOW)[sid]


def test_digest_moves_cursor_and_items_are_unique(engine) -> None:  # type: ignore[no-untyped-def]
    papers.ingest_dump(engine, dump("d", rec("A"), rec("B")), NOW)
    state = _subscribe(engine)
    upto, window, delivered = cursors.candidate_window(engine, {"ada": state.cursor_seq})
    assert (upto, [p.title for p in window], delivered) == (1, ["A", "B"], {"ada": set()})
    reasons = json.dumps([{"kind": "keyword", "text": "title mentions A"}])
    items = [ItemSpec(window[0].id, 0.9, reasons)]
    digest_id = outbox.create_digest(engine, "ada", expected_cursor=0, upto=upto, items=items,
                                     channels=["email", "markdown"], below_threshold=1,
                                     message_id="<m1@x>", now=NOW)
    assert digest_id is not None
    # A second builder that read the old cursor writes nothing.
    assert outbox.create_digest(engine, "ada", expected_cursor=0, upto=upto, items=items,
                                channels=["email"], below_threshold=0, message_id="<m2@x>",
                                now=NOW) is None
    digest = outbox.load_digest(engine, digest_id)
    assert [i.paper.title for i in digest.items] == ["A"] and digest.below_threshold == 1
    assert _subscribe(engine).cursor_seq == 1
    # The database itself refuses a paper twice to one subscriber.
    with pytest.raises(IntegrityError):
        outbox.create_digest(engine, "ada", expected_cursor=1, upto=1, items=items,
                             channels=["email"], below_threshold=0, message_id="<m3@x>",
                             now=NOW)


def test_digests_written_together_fall_back_one_by_one_when_one_breaks_a_constraint(  # type: ignore[no-untyped-def]
        engine) -> None:
    """Items go in by COPY on PostgreSQL and by the driver's executemany on SQLite
    (db.insert_rows): a paper sent twice to one subscriber is still SQLAlchemy's
    IntegrityError, so the batch is rolled back and written one subscriber at a time, and
    only the one that broke the rule gets nothing. Reasons keep every character."""
    papers.ingest_dump(engine, dump("d", rec("A"), rec("B")), NOW)
    _, window, _ = cursors.candidate_window(engine, {"ada": _subscribe(engine).cursor_seq,
                                                    "bo": _subscribe(engine, "bo").cursor_seq})
    a, b = window
    odd = json.dumps([{"kind": "keyword", "text": "tab\there, line\nbreak, back\\slash, \\N, “π”"}],
                     ensure_ascii=False)
    twice = [ItemSpec(a.id, 0.9, odd), ItemSpec(a.id, 0.8, odd)]  # ada: A twice
    specs = [DigestSpec("ada", 0, twice, ("email",), 0, "<ada@x>", False),
             DigestSpec("bo", 0, [ItemSpec(b.id, 0.7, odd)], ("email",), 0, "<bo@x>", False)]
    made = outbox.create_digests(engine, specs, upto=1, now=NOW)
    assert made["ada"] is None and made["bo"] is not None
    [item] = outbox.load_digest(engine, made["bo"]).items
    assert (item.paper.title, item.score, item.reasons) == ("B", 0.7, json.loads(odd))


def test_digests_written_together_leave_out_a_subscriber_whose_cursor_moved_meanwhile(  # type: ignore[no-untyped-def]
        engine) -> None:
    """Another pass wrote ada's digest while this one matched (her cursor is no longer the one
    her candidates were read with): this pass writes nothing for her, not even a "nothing
    new" digest, and leaves her cursor where the other pass put it; bo is written as ever."""
    papers.ingest_dump(engine, dump("d1", rec("A")), NOW)
    papers.ingest_dump(engine, dump("d2", rec("B")), NOW)
    _subscribe(engine)
    _subscribe(engine, "bo")
    other = outbox.create_digest(engine, "ada", expected_cursor=0, upto=2, items=[],
                                 channels=["email"], below_threshold=0, message_id="<o@x>",
                                 now=NOW, keep_empty=True)
    specs = [DigestSpec("ada", 0, [], ("email",), 0, "<ada@x>", True),
             DigestSpec("bo", 0, [], ("email",), 0, "<bo@x>", True)]
    made = outbox.create_digests(engine, specs, upto=1, now=NOW)
    assert made["ada"] is None and made["bo"] is not None
    assert [s.digest_id for s in outbox.delivery_states(engine, "ada")] == [other]
    assert (_subscribe(engine).cursor_seq, _subscribe(engine, "bo").cursor_seq) == (2, 1)


def test_statistics_are_refreshed_when_a_pass_grows_the_digest_tables(engine) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL: a pass whose items are a tenth or more of digest_items analyzes the digest
    tables (the planner reads them at once, in delivery); a small share does nothing, and
    SQLite has nothing to refresh."""
    papers.ingest_dump(engine, dump("d", *(rec(f"Paper {n}") for n in range(12))), NOW)
    _, window, _ = cursors.candidate_window(engine, {"ada": _subscribe(engine).cursor_seq})
    items = [ItemSpec(p.id, 0.5, "[]") for p in window]
    outbox.create_digests(engine, [DigestSpec("ada", 0, items, ("email",), 0, "<a@x>")],
                          upto=1, now=NOW)
    postgres = engine.dialect.name == "postgresql"
    assert outbox.refresh_statistics(engine, 12) is postgres
    if postgres:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT reltuples FROM pg_class "
                                     "WHERE oid = to_regclass('digest_items')")).scalar() == 12
    assert outbox.refresh_statistics(engine, 1) is False  # 1 of 12: under a tenth
    assert outbox.refresh_statistics(engine, 0) is False


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite: nothing to do
def test_a_pass_that_grows_the_digest_tables_leaves_them_analyzed(  # type: ignore[no-untyped-def]
        tmp_path, seeds_dir, database_url) -> None:
    """`run`'s build calls refresh_statistics: on PostgreSQL a first pass leaves digest_items
    with statistics (never analyzed before; autovacuum would come a minute or more later)."""
    config = make_config(tmp_path, database_url, {"ada": (
        'name = "Ada"\ndeliver = ["markdown"]\nmin_score = 0.01\n'
        '[interests]\nkeywords = ["segmentation", "grounding"]\n')})
    add_seed_day(tmp_path, seeds_dir, "2026-03-12")
    result = run_cli(config, "run", "--now", "2026-03-12T20:00:00+00:00")
    assert result.exit_code == 0, result.output
    engine = open_engine(database_url)
    try:
        with engine.connect() as conn:
            items = conn.execute(text("SELECT count(*) FROM digest_items")).scalar()
            known = conn.execute(text("SELECT reltuples FROM pg_class "
                                      "WHERE oid = to_regclass('digest_items')")).scalar()
    finally:
        engine.dispose()
    assert items and known == items


def test_digests_loaded_together_share_papers_in_rank_order(engine) -> None:  # type: ignore[no-untyped-def]
    papers.ingest_dump(engine, dump("d", rec("A", authors=("Ana",)), rec("B"), rec("C")), NOW)
    _, window, _ = cursors.candidate_window(engine, {"ada": _subscribe(engine).cursor_seq,
                                                    "bo": _subscribe(engine, "bo").cursor_seq})
    a, b, c = window
    made = {}
    for sid, chosen in (("ada", [c, a]), ("bo", [a, b])):
        items = [ItemSpec(p.id, 1.0 - rank / 10, json.dumps([{"kind": "keyword", "text": p.title}]))
                 for rank, p in enumerate(chosen)]
        made[sid] = outbox.create_digest(engine, sid, expected_cursor=0, upto=1, items=items,
                                         channels=["email"], below_threshold=0,
                                         message_id=f"<{sid}@x>", now=NOW)
    loaded = outbox.load_digests(engine, made.values())
    shown = {d.subscriber_id: [(i.paper.title, i.reasons[0]["text"]) for i in d.items]
             for d in loaded.values()}
    assert shown == {"ada": [("C", "C"), ("A", "A")], "bo": [("A", "A"), ("B", "B")]}
    first_a = loaded[made["ada"]].items[1].paper
    assert first_a.authors == ("Ana",) and first_a == loaded[made["bo"]].items[0].paper
    # Batch after batch in one pass: a paper read for an earlier batch is not read again.
    papers_read: dict = {}
    ada = outbox.load_digests(engine, [made["ada"]], papers_read)[made["ada"]]
    assert sorted(p.title for p in papers_read.values()) == ["A", "C"]
    bo = outbox.load_digests(engine, [made["bo"]], papers_read)[made["bo"]]
    assert bo.items[0].paper is ada.items[1].paper  # A: the object read for ada's batch
    assert sorted(p.title for p in papers_read.values()) == ["A", "B", "C"]
    assert {ada.id: ada, bo.id: bo} == loaded


def test_loaded_digests_carry_the_papers_first_listing_date(engine) -> None:  # type: ignore[no-untyped-def]
    """Delivery renders from load_digests: its papers have the listing date candidates have
    (the earliest of their sightings), or sent digests would not say when a paper was listed."""
    papers.ingest_dump(engine, dump("d1", rec("A"), rec("B"), day=date(2026, 3, 13)), NOW)
    papers.ingest_dump(engine, dump("d2", rec("A"), rec("C"), day=date(2026, 3, 14)), NOW)
    papers.ingest_dump(engine, dump("d3", rec("D")), NOW)  # a dump with no date
    _, window, _ = cursors.candidate_window(engine, {"ada": _subscribe(engine).cursor_seq})
    items = [ItemSpec(p.id, 0.5, "[]") for p in window]
    made = outbox.create_digest(engine, "ada", expected_cursor=0, upto=3, items=items,
                                channels=["email"], below_threshold=0, message_id="<l@x>",
                                now=NOW)
    assert made is not None
    loaded = {i.paper.title: i.paper.listing_date for i in outbox.load_digest(engine, made).items}
    assert loaded == {p.title: p.listing_date for p in window} == {
        "A": date(2026, 3, 13), "B": date(2026, 3, 13), "C": date(2026, 3, 14), "D": None}


def test_claims_are_exclusive_and_marking_needs_the_lease(engine) -> None:  # type: ignore[no-untyped-def]
    papers.ingest_dump(engine, dump("d", rec("A")), NOW)
    _subscribe(engine)
    outbox.create_digest(engine, "ada", expected_cursor=0, upto=1, items=[],
                         channels=["email"], below_threshold=0, message_id="<m@x>", now=NOW,
                         keep_empty=True)
    lease = timedelta(minutes=10)
    (job,) = outbox.claim_deliveries(engine, owner="w1", now=NOW, lease=lease)
    assert outbox.claim_deliveries(engine, owner="w2", now=NOW, lease=lease) == []
    # w1 is still sending: up to the last second of its lease, no one else may take it
    for held in (lease / 2, lease - timedelta(seconds=1)):
        assert outbox.claim_deliveries(engine, owner="w2", now=NOW + held, lease=lease) == []
    later = NOW + lease + timedelta(seconds=1)  # w1 died: its lease runs out
    (stolen,) = outbox.claim_deliveries(engine, owner="w2", now=later, lease=lease)
    assert stolen.attempts == 2
    assert outbox.mark_sent(engine, job, now=later, target="x") is False
    assert outbox.mark_sent(engine, stolen, now=later, target="x") is True
    assert outbox.delivery_states(engine, "ada")[0].status == "sent"


def test_retry_backoff_and_failed_then_retry(engine) -> None:  # type: ignore[no-untyped-def]
    _subscribe(engine)
    outbox.create_digest(engine, "ada", expected_cursor=0, upto=0, items=[],
                         channels=["email"], below_threshold=0, message_id="<m@x>", now=NOW,
                         keep_empty=True)
    lease = timedelta(minutes=10)
    (job,) = outbox.claim_deliveries(engine, owner="w", now=NOW, lease=lease)
    outbox.mark_retry(engine, job, error="421 busy", retry_at=NOW + timedelta(minutes=2))
    assert outbox.claim_deliveries(engine, owner="w", now=NOW, lease=lease) == []
    (job,) = outbox.claim_deliveries(engine, owner="w", now=NOW, lease=lease,
                                     ignore_backoff=True)
    outbox.mark_failed(engine, job, error="550 no such user")
    (state,) = outbox.delivery_states(engine, "ada")
    assert (state.status, state.last_error) == ("failed", "550 no such user")
    assert outbox.retry_failed(engine, NOW, "ada") == 1
    assert outbox.delivery_states(engine, "ada")[0].status == "pending"


def test_rolled_back_scope_leaves_nothing(engine) -> None:  # type: ignore[no-untyped-def]
    with rolled_back(engine) as scoped:
        papers.ingest_dump(scoped, dump("d", rec("A")), NOW)
        _subscribe(scoped)
        assert papers.counts(scoped)["papers"] == 1
    assert papers.counts(engine)["papers"] == 0
    with engine.connect() as conn:
        assert papers.current_seq(conn) == 0


def test_backfill_start(engine) -> None:  # type: ignore[no-untyped-def]
    papers.ingest_dump(engine, dump("d1", rec("A")), NOW - timedelta(days=10))
    papers.ingest_dump(engine, dump("d2", rec("B")), NOW - timedelta(days=2))
    assert papers.seq_before(engine, NOW - timedelta(days=7)) == 1
    assert papers.seq_before(engine, NOW - timedelta(days=30)) == 0
    # A dump recorded at the very moment a backfill starts is before it, not in it: cron runs
    # at the same minute each day, and a subscriber added a whole backfill after one starts
    # after that run's papers (its cursor is that dump's seq), not with them.
    assert papers.seq_before(engine, NOW - timedelta(days=10)) == 1
    assert papers.seq_before(engine, NOW - timedelta(days=2)) == 2



def test_a_source_error_keeps_the_time_it_began_until_a_success(engine) -> None:  # type: ignore[no-untyped-def]
    """`status` says "ERROR since <when it began>": a failure after failure, even with another
    reason, keeps that time (and says whether the reason is new, for the log); a success
    clears it, and the next failure starts a new one."""
    from worker.store import runs

    t = [NOW + timedelta(hours=h) for h in range(4)]
    assert runs.source_failed(engine, "hf", t[0], "HTTP 503") is True
    assert runs.source_failed(engine, "hf", t[1], "HTTP 503") is False
    assert runs.source_failed(engine, "hf", t[2], "HTTP 502") is True
    [state] = runs.source_states(engine)
    assert (state.last_error, _utc(state.last_error_at), _utc(state.error_since)) == (
        "HTTP 502", t[2], t[0])
    runs.source_ok(engine, "hf", t[3])
    [state] = runs.source_states(engine)
    assert (state.last_error, state.error_since, _utc(state.last_success_at)) == (
        None, None, t[3])
    assert runs.source_failed(engine, "hf", t[3] + timedelta(hours=1), "HTTP 503") is True
    assert _utc(runs.source_states(engine)[0].error_since) == t[3] + timedelta(hours=1)


def _utc(moment: datetime | None) -> datetime | None:
    """A stored moment as an aware UTC time (SQLite gives it back naive)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def test_title_key_uniqueness_is_kept_by_the_database(engine) -> None:  # type: ignore[no-untyped-def]
    """The one index of migrations 0004 and 0005 still says what the two before it said:
    papers without an id never share a title key; with distinct ids, or one id and none, they
    may."""
    from sqlalchemy import insert

    from worker.store.schema import papers as table

    def add(conn, arxiv_id: str | None) -> None:  # type: ignore[no-untyped-def]
        conn.execute(insert(table).values(arxiv_id=arxiv_id, title="T", title_key="t",
                                          title_hash=title_hash("t"),
                                          abstract="", first_seen_at=NOW, first_seen_seq=0,
                                          updated_at=NOW))

    with engine.begin() as conn:
        add(conn, None)
        add(conn, "2401.00001")
        add(conn, "2401.00002")
    with pytest.raises(IntegrityError), engine.begin() as conn:
        add(conn, None)
    assert papers.counts(engine)["papers"] == 3
    assert identity.find_papers(engine, ["T"])["T"].arxiv_id is None  # first by id wins


def test_papers_are_found_by_their_title_not_only_its_hash(engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Ingest and `like` look titles up by their 64-bit hash (migration 0005); a paper of
    another title with the same hash is not the paper. Every title hashing alike shows it."""
    for module in (papers, identity):  # what ingest writes, and what both look up
        monkeypatch.setattr(module, "title_hash", lambda key: 7)
    papers.ingest_dump(engine, dump("a", rec("Alpha Paper", arxiv_id="2401.00001"),
                                    rec("Beta Paper", arxiv_id="2401.00002")), NOW)
    again = papers.ingest_dump(engine, dump("b", rec("Beta paper"), rec("Gamma Paper")), NOW)
    assert again is not None and (again.new_papers, again.known_papers) == (1, 1)
    found = identity.find_papers(engine, ["Alpha Paper", "beta paper", "Gamma Paper", "Delta"])
    assert {ref: p.arxiv_id for ref, p in found.items()} == {
        "Alpha Paper": "2401.00001", "beta paper": "2401.00002", "Gamma Paper": None}
    assert papers.counts(engine)["papers"] == 3


def test_migration_0005_hashes_the_titles_of_papers_already_stored(  # type: ignore[no-untyped-def]
        database_url: str) -> None:
    """A database of revision 0004 with papers (more than one batch of them) upgraded: each
    paper gets the hash of its title key, the index on hashes replaces the one on keys, and
    papers are found by title as before."""
    from sqlalchemy import insert, inspect, select

    from worker.store.db import make_engine
    from worker.store.schema import papers as table

    engine = make_engine(database_url)
    migrate(engine, "0004", up=True)
    with engine.begin() as conn:  # the columns of revision 0004
        conn.execute(insert(table), [
            {"arxiv_id": f"2401.{i:05d}" if i % 2 else None, "title": f"Paper {i}",
             "title_key": f"paper {i}", "abstract": "", "first_seen_at": NOW,
             "first_seen_seq": 0, "updated_at": NOW} for i in range(1, 2502)])
    engine.dispose()
    engine = open_engine(database_url)
    try:
        assert current_revision(engine) == HEAD_REVISION
        with engine.connect() as conn:
            rows = conn.execute(select(table.c.title_key, table.c.title_hash)).all()
        assert len(rows) == 2501 and all(h == title_hash(k) for k, h in rows)
        # (an index on an expression is not reflected: the catalogues are asked)
        catalogue = ("SELECT indexname FROM pg_indexes WHERE tablename = 'papers' AND "
                     "schemaname = current_schema()" if engine.dialect.name == "postgresql"
                     else "SELECT name FROM sqlite_master WHERE type = 'index' AND "
                     "tbl_name = 'papers'")
        with engine.connect() as conn:
            indexes = set(conn.execute(text(catalogue)).scalars())
        assert "uq_papers_title_hash" in indexes and "uq_papers_title_key" not in indexes
        if engine.dialect.name == "postgresql":
            column = next(c for c in inspect(engine).get_columns("papers")
                          if c["name"] == "title_hash")
            assert column["nullable"] is False
        assert identity.find_papers(engine, ["Paper 2500"])["Paper 2500"].arxiv_id is None
        again = papers.ingest_dump(engine, dump("d", rec("paper 2500"), rec("Paper 2501!")), NOW)
        assert again is not None and (again.new_papers, again.known_papers) == (0, 2)
    finally:
        engine.dispose()


def test_migration_0012_gives_stored_papers_the_keys_tex_titles_have_now(  # type: ignore[no-untyped-def]
        database_url: str) -> None:
    """Papers stored at 0011 with the keys the older normalize_title made (`schr odinger`, a TeX
    accent read as a space) get today's keys, and are found by them: the same paper met again
    as shown (`Schrödinger`) is known, not new. A paper without an id whose new key another
    paper without an id holds keeps its old one."""
    from sqlalchemy import insert, select

    from worker.store.schema import papers as table

    engine = _downgraded(database_url, "0011")
    old = [('Schr\\"odinger Bridges', "schr odinger bridges", None),
           ("$\\ell_1$ Probing", "1 probing", "2401.00001"),
           ("Plain Title", "plain title", None),
           ("Soft\u00adMax Heads", "soft max heads", None),
           ("SoftMax Heads", "softmax heads", None),  # holds "soft max heads"'s new key
           ("Q&amp;A at 100%", "q amp a at 100", None)]  # (found by the database: LIKE)
    with engine.begin() as conn:
        conn.execute(insert(table), [
            {"arxiv_id": arxiv_id, "title": title, "title_key": key,
             "title_hash": title_hash(key), "abstract": "", "first_seen_at": NOW,
             "first_seen_seq": 0, "updated_at": NOW} for title, key, arxiv_id in old])
    engine.dispose()
    engine = open_engine(database_url)  # upgraded
    try:
        assert current_revision(engine) == HEAD_REVISION
        with engine.connect() as conn:
            rows = conn.execute(select(table.c.title, table.c.title_key, table.c.title_hash)
                                .order_by(table.c.id)).all()
        assert [key for _, key, _ in rows] == ["schrödinger bridges", "l1 probing",
                                               "plain title", "soft max heads", "softmax heads",
                                               "q a at 100"]
        assert all(h == title_hash(key) for _, key, h in rows)
        again = papers.ingest_dump(engine, dump("d", rec("Schrödinger bridges"),
                                                rec("ℓ1 Probing")), NOW)
        assert again is not None and (again.new_papers, again.known_papers) == (0, 2)
        assert papers.counts(engine)["papers"] == 6
    finally:
        engine.dispose()


def test_an_empty_arxiv_id_is_no_id(engine) -> None:  # type: ignore[no-untyped-def]
    """A source that gives "" for the id gives no id: the paper is one paper by its title,
    stored without an id, and a later listing with the real id fills it in."""
    papers.ingest_dump(engine, dump("a", rec("Same Title", arxiv_id="")), NOW)
    papers.ingest_dump(engine, dump("b", rec("Same title", arxiv_id="")), NOW)
    assert papers.counts(engine)["papers"] == 1
    assert identity.find_papers(engine, ["Same Title"])["Same Title"].arxiv_id is None
    papers.ingest_dump(engine, dump("c", rec("Same Title", arxiv_id="2401.00003")), NOW)
    assert papers.counts(engine)["papers"] == 1
    assert identity.find_papers(engine, ["Same Title"])["Same Title"].arxiv_id == "2401.00003"


@pytest.mark.parametrize("where", ["folder", "folder to make", "file"])
def test_a_database_this_user_cannot_write_is_named_with_the_user(where: str) -> None:
    """A container's /data a host folder the image's user (10001) may not write: SQLite said
    'unable to open database file', and a database in a folder still to be made was a
    PermissionError traceback. As root the run is made as nobody, who owns nothing here."""
    import os
    import shutil
    import subprocess
    import sys
    import tempfile

    from tests.integration.faultkit import child_env

    base = Path(tempfile.mkdtemp(prefix="pd-unwritable-"))
    try:
        base.chmod(0o755)
        data = base / "data"
        data.mkdir()
        database = data / ("sub" if where == "folder to make" else "") / "paper-digest.db"
        if where == "file":  # a database another user made, in a folder this one may write
            open_engine(f"sqlite:///{database}").dispose()
            database.chmod(0o644)
        config = make_config(base, f"sqlite:///{database}", {"ada": ADA})
        for path in (base, *base.rglob("*")):
            path.chmod(path.stat().st_mode | 0o055)  # readable by all ...
        data.chmod(0o777 if where == "file" else 0o555)  # ... and /data writable or not
        as_nobody: list[str] = []
        if os.geteuid() == 0:  # root writes anywhere: the run is nobody's
            if shutil.which("setpriv") is None:
                pytest.skip("run as root without setpriv to run as another user")
            as_nobody = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
        done = subprocess.run([*as_nobody, sys.executable, "-m", "worker", "--config",
                               str(config), "run"], cwd=base, env=child_env(),
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "Traceback" not in done.stderr, done.stderr
        named = database if where == "file" else f"the folder {data}"
        assert f"{named} cannot be written by this process (user id " in done.stderr, (
            done.stderr)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_no_upgrade_under_a_serve_still_running(tmp_path: Path, database_url: str) -> None:
    """A newer paper-digest (a replica upgraded first, `docker run --rm new-image run` beside
    the old container, cron upgraded before serve) migrated the schema under an older serve
    that went on writing as before: on SQLite its papers had no title hash after 0005 and
    were met again as new papers (three sent twice over the sample days); on PostgreSQL its
    every ingest failed. The upgrade now waits for every serve on the database to stop."""
    import os
    import socket

    from worker.store.schema import heartbeats

    engine = open_engine(database_url)
    migrate(engine, "0004")
    now = datetime.now(UTC)
    beat = {"worker": "old-box:41:0a1b2c3d", "host": "old-box", "pid": 41,
            "started_at": now - timedelta(hours=1), "beat_at": now - timedelta(seconds=20)}
    with engine.begin() as conn:
        conn.execute(heartbeats.insert(), [beat])
    root = make_config(tmp_path, database_url, {"ada": ADA})
    result = run_cli(root, "run")
    assert result.exit_code == 1, result.output
    assert ("schema revision 0004 and paper-digest serve old-box:41:0a1b2c3d on old-box "
            "(heartbeat 2") in result.output
    assert "stop every serve on it before upgrading" in result.output
    assert current_revision(engine) == "0004"
    # a serve of this host whose process is gone (killed) holds nothing up, nor a stale beat
    dead = 2 ** 22 + 7
    while True:
        try:
            os.kill(dead, 0)
        except ProcessLookupError:
            break
        dead += 1
    with engine.begin() as conn:
        conn.execute(heartbeats.update().values(
            host=socket.gethostname(), pid=dead, worker=f"{socket.gethostname()}:{dead}:x"))
        conn.execute(heartbeats.insert(), [{**beat, "worker": "gone:1:x", "host": "gone",
                                            "beat_at": now - timedelta(minutes=5)}])
        # nor this host's serve under this process's pid: the container restarted (PID 1)
        conn.execute(heartbeats.insert(), [{**beat, "worker": "me", "pid": os.getpid(),
                                            "host": socket.gethostname()}])
    assert run_cli(root, "run").exit_code == 0
    assert current_revision(engine) == HEAD_REVISION
    engine.dispose()


def test_a_serve_that_upgraded_meanwhile_is_no_reason_to_refuse(database_url: str) -> None:
    # Two replicas of the new version start together: one reads the old revision, the other
    # upgrades and starts serving (its heartbeat) before the first looks at heartbeats
    from worker.store.opening import _refuse_beside_a_running_serve
    from worker.store.schema import heartbeats

    engine = open_engine(database_url)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(heartbeats.insert(), [{"worker": "b:7:x", "host": "replica-b", "pid": 7,
                                            "started_at": now, "beat_at": now}])
    _refuse_beside_a_running_serve(engine, "0004")  # read as 0004, at head now: no error
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0004'"))
    with pytest.raises(DatabaseOpenError, match="replica-b"):
        _refuse_beside_a_running_serve(engine, "0004")
    engine.dispose()


def test_a_schema_with_digests_goes_back_before_0010_and_up_again(
        tmp_path: Path, seeds_dir: Path, database_url: str) -> None:
    """0010's downgrade rebuilt subscribers on SQLite (batch mode), and dropping the table
    its digests refer to failed (FOREIGN KEY constraint failed) once anyone had a digest."""
    root = make_config(tmp_path, database_url, {"ada": "min_score = 0.0\n" + ADA.replace(
        "grounding", "model")})
    add_seed_day(tmp_path, seeds_dir, "2026-03-12")
    assert run_cli(root, "run", "--now", "2026-03-12T20:00:00+00:00").exit_code == 0
    engine = _downgraded(database_url, "0008")
    assert current_revision(engine) == "0008"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM digests")).scalar()
    assert run_cli(root, "run", "--now", "2026-03-13T20:00:00+00:00").exit_code == 0
    assert current_revision(engine) == HEAD_REVISION
    engine.dispose()


def test_0011_goes_down_and_up_with_subscribers_and_their_links_kept(
        tmp_path: Path, seeds_dir: Path, database_url: str) -> None:
    """0011 gives every subscriber a generation (0: the links in digests already sent stay
    valid) and the times its file went or was forgotten; going back drops them and keeps
    every subscriber, digest and mark, on SQLite (whose subscribers digests refer to) and
    PostgreSQL alike."""
    from sqlalchemy import inspect

    from worker.feedback import Desk, Links

    root = make_config(tmp_path, database_url, {n: "min_score = 0.0\n" + ADA.replace(
        "grounding", "model").replace("ada@", f"{n}@") for n in ("ada", "bob")})
    add_seed_day(tmp_path, seeds_dir, "2026-03-12")
    assert run_cli(root, "run", "--now", "2026-03-12T20:00:00+00:00").exit_code == 0
    assert run_cli(root, "mark", "ada", "paper:1").exit_code == 0
    engine = _downgraded(database_url, "0010")  # as paper-digest left it before 0011

    def columns() -> set[str]:
        return {c["name"] for c in inspect(engine).get_columns("subscribers")}

    def counts() -> tuple[int, ...]:
        with engine.connect() as conn:
            return tuple(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                         for table in ("subscribers", "digests", "digest_items", "paper_marks"))

    assert current_revision(engine) == "0010"
    assert not columns() & {"generation", "removed_at", "forgotten_at"}
    before = counts()
    assert before[:2] == (2, 2) and before[3] == 1
    engine.dispose()
    engine = open_engine(database_url)  # upgraded
    assert current_revision(engine) == HEAD_REVISION == "0014"
    assert {"generation", "removed_at", "forgotten_at"} <= columns() and counts() == before
    with engine.connect() as conn:
        assert conn.execute(text("SELECT id, generation, removed_at, forgotten_at FROM "
                                 "subscribers ORDER BY id")).all() == [
            ("ada", 0, None, None), ("bob", 0, None, None)]
    # a link sent before the upgrade (no generation in it) still answers
    link = Links("https://x.example.org", "s3cret-s3cret-s3cret").unsubscribe_link("ada")
    desk = Desk(engine, "s3cret-s3cret-s3cret", lambda: NOW, subscribed=lambda sid: True)
    params = dict(part.split("=") for part in link.split("?")[1].split("&"))
    assert desk.unsubscribe("GET", params).status == 200
    # down again with a name that had a new reader, and a removed one: rows kept
    with engine.begin() as conn:
        conn.execute(text("UPDATE subscribers SET generation = 1 WHERE id = 'ada'"))
        conn.execute(text("UPDATE subscribers SET removed_at = :t WHERE id = 'bob'"), {"t": NOW})
    engine.dispose()
    engine = _downgraded(database_url, "0010")
    assert current_revision(engine) == "0010" and counts() == before
    assert not columns() & {"generation", "removed_at", "forgotten_at"}
    engine.dispose()


def _downgraded(database_url: str, revision: str):  # type: ignore[no-untyped-def]
    """An engine on a database whose schema is as an older paper-digest left it."""
    engine = open_engine(database_url)
    migrate(engine, revision)
    return engine


def test_readers_refresh_gives_each_row_its_own_file_and_clears_removed(engine) -> None:  # type: ignore[no-untyped-def]
    """store.readers.refresh writes several subscribers' details in one statement: each row
    gets its own address, name and file hash, and is no longer marked removed."""
    from worker.store.readers import known_readers, note_removed, refresh

    for sid in ("ada", "bob", "cy"):
        _subscribe(engine, sid)
    assert note_removed(engine, ["ada", "bob"], NOW) == ["ada", "bob"]
    refresh(engine, [SubscriberInfo(sid, f"{sid}@new.example.org", sid.title(), f"h-{sid}", 0)
                     for sid in ("bob", "ada")], NOW)
    found = {sid: (k.email, k.name, k.fingerprint, k.removed_at)
             for sid, k in known_readers(engine).items()}
    assert found == {"ada": ("ada@new.example.org", "Ada", "h-ada", None),
                     "bob": ("bob@new.example.org", "Bob", "h-bob", None),
                     "cy": ("cy@example.org", "cy", "f", None)}
