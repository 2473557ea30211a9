"""Papers, sightings and dumps: ingest one dump in one transaction, and read candidates.

The papers a dump's records may be are read by worker.store.identity (known_papers) and matched
here (_Index): by arXiv id, then title key, then a title the paper was listed under before.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, select, update

from worker.records import PaperRecord, title_hash
from worker.sources.base import Dump, DumpFailure, content_hash
from worker.store.db import chunks, reading, upsert
from worker.store.identity import known_papers
from worker.store.models import IngestResult, StoredPaper
from worker.store.schema import counters, dumps, paper_titles, papers, sightings


def is_ingested(engine: Engine, content_hash: str) -> bool:
    with reading(engine) as conn:
        query = select(dumps.c.id).where(dumps.c.content_hash == content_hash,
                                         dumps.c.status == "ingested")
        return conn.execute(query).first() is not None


def listed_by(engine: Engine, source: str, arxiv_ids: Sequence[str]) -> set[str]:
    """Those of `arxiv_ids` that a dump of `source` listed before."""
    found: set[str] = set()
    with reading(engine) as conn:
        for chunk in chunks(list(arxiv_ids)):
            query = (select(papers.c.arxiv_id).distinct()
                     .join(sightings, sightings.c.paper_id == papers.c.id)
                     .join(dumps, dumps.c.id == sightings.c.dump_id)
                     .where(dumps.c.source == source, papers.c.arxiv_id.in_(chunk)))
            found.update(conn.execute(query).scalars())
    return found


def ingested_hashes(engine: Engine) -> set[str]:
    with reading(engine) as conn:
        query = select(dumps.c.content_hash).where(dumps.c.status == "ingested")
        return set(conn.execute(query).scalars())


def current_seq(conn: Connection) -> int:
    return int(conn.execute(select(counters.c.value).where(counters.c.name == "ingest"))
               .scalar_one())


def _next_seq(conn: Connection) -> int:
    # The row lock taken here is held to commit, so sequence order is commit order: a reader
    # that sees seq N committed has seen every seq below N too.
    return int(conn.execute(update(counters).where(counters.c.name == "ingest")
                            .values(value=counters.c.value + 1).returning(counters.c.value))
               .scalar_one())


class _Index:
    """Known papers by id and by title key, as the ingest of one dump sees them: by the title
    key a paper shows, then by the other titles it was listed under (paper_titles)."""

    def __init__(self, rows: Iterable[Any], others: Iterable[tuple[int, str]]):
        self.by_id: dict[str, dict[str, Any]] = {}
        self.by_title: dict[str, dict[str, Any]] = {}
        self.by_other: dict[str, dict[str, Any]] = {}
        self.others: dict[int, set[str]] = {}  # id(paper) -> its other title keys
        stored = {}
        for row in rows:
            stored[row.id] = paper = dict(row._mapping)
            self.add(paper)
        for paper_id, key in others:
            self.add_other(stored[paper_id], key)

    def add(self, paper: dict[str, Any]) -> None:
        if paper["arxiv_id"]:
            self.by_id[paper["arxiv_id"]] = paper
        self.by_title.setdefault(paper["title_key"], paper)

    def add_other(self, paper: dict[str, Any], key: str) -> bool:
        """Note another title key of `paper`; False when it had it already."""
        keys = self.others.setdefault(id(paper), set())
        if key in keys:
            return False
        keys.add(key)
        self.by_other.setdefault(key, paper)
        return True

    def find(self, record: PaperRecord) -> dict[str, Any] | None:
        if record.arxiv_id and record.arxiv_id in self.by_id:
            return self.by_id[record.arxiv_id]
        for same_title in (self.by_title.get(record.title_key),
                           self.by_other.get(record.title_key)):
            # A title match is the same paper unless both carry different arXiv ids.
            if same_title and not (record.arxiv_id and same_title["arxiv_id"]):
                return same_title
        return None


def _new_values(record: PaperRecord, now: datetime, seq: int) -> dict[str, Any]:
    key = record.title_key
    return {
        "arxiv_id": record.arxiv_id, "version": record.version, "title": record.title,
        "title_key": key, "title_hash": title_hash(key), "abstract": record.abstract,
        "authors": json.dumps(list(record.authors), ensure_ascii=False),
        "link_abstract": record.links.abstract, "link_pdf": record.links.pdf,
        "link_code": record.links.code, "link_project": record.links.project,
        "published": record.published, "upvotes": record.upvotes,
        "first_seen_at": now, "first_seen_seq": seq, "updated_at": now,
    }


def _merge_values(known: dict[str, Any], record: PaperRecord) -> dict[str, Any]:
    """What `record` adds to a known paper: gaps filled, newer version and votes taken."""
    changes: dict[str, Any] = {}
    if record.arxiv_id and not known["arxiv_id"]:
        changes["arxiv_id"] = record.arxiv_id
    if record.version and (known["version"] or 0) < record.version:
        changes["version"] = record.version
    if record.authors and known["authors"] in (None, "", "[]"):
        changes["authors"] = json.dumps(list(record.authors), ensure_ascii=False)
    for name in ("abstract", "pdf", "code", "project"):
        column = f"link_{name}"
        value = getattr(record.links, name)
        if value and not known[column]:
            changes[column] = value
    if record.published and not known["published"]:
        changes["published"] = record.published
    if record.upvotes is not None and record.upvotes != known["upvotes"]:
        changes["upvotes"] = record.upvotes
    if record.abstract and _completes(known["abstract"] or "", record.abstract):
        changes["abstract"] = record.abstract
    return changes


def _completes(stored: str, incoming: str) -> bool:
    """Does `incoming` finish an abstract we hold only part of (none, or one cut short: a
    dump copied half-way, a response that ended early)? Only a longer text that begins with
    all of the stored one, spacing aside, replaces it: a rewording never does."""
    head = " ".join(stored.split())
    return len(incoming) > len(stored) and " ".join(incoming.split()).startswith(head)


def ingest_dump(engine: Engine, dump: Dump, now: datetime) -> IngestResult | None:
    """Record a parsed dump and its papers in one transaction.

    Returns None when the same content was ingested meanwhile (another worker won the race).
    """
    try:
        return _ingest(engine, dump, now)
    except _AlreadyIngested:  # the transaction was rolled back: the sequence number too
        return None


class _AlreadyIngested(Exception):
    pass


def _ingest(engine: Engine, dump: Dump, now: datetime) -> IngestResult:
    with engine.begin() as conn:
        # Take the sequence lock first: a concurrent ingest of the same content has then
        # committed, and the check below sees it (PostgreSQL reads committed data per statement).
        seq = _next_seq(conn)
        already = conn.execute(select(dumps.c.id).where(
            dumps.c.content_hash == dump.content_hash, dumps.c.status == "ingested")).first()
        if already:
            raise _AlreadyIngested
        known, others = known_papers(conn, (r.arxiv_id for r in dump.records),
                                     (r.title_key for r in dump.records))
        plan = _Plan(_Index(known, others), now, seq)
        for position, record in enumerate(dump.records):
            plan.take(position, record, record.listing_date or dump.listing_date)
        dump_id = conn.execute(insert(dumps).values(
            source=dump.source, locator=dump.locator, content_hash=dump.content_hash,
            status="ingested", seq=seq, listing_date=dump.listing_date,
            fetched_at=dump.fetched_at, recorded_at=now, entries=len(dump.records),
            new_papers=len(plan.new)).returning(dumps.c.id)).scalar_one()
        plan.write(conn, dump_id)
    return IngestResult(dump_id, seq, len(dump.records), len(plan.new), plan.known,
                        plan.gained)


class _Plan:
    """What one dump does to the papers table, worked out in memory, then written in bulk."""

    def __init__(self, index: _Index, now: datetime, seq: int):
        self.index, self.now, self.seq = index, now, seq
        self.new: list[dict[str, Any]] = []
        self.changed: dict[int, dict[str, Any]] = {}  # paper id -> merged columns
        self.seen: dict[int, tuple[dict[str, Any], int, Any]] = {}  # id(paper) -> sighting
        self.titles: list[tuple[dict[str, Any], str]] = []  # (paper, other title key) to write
        self.known = self.gained = 0

    def take(self, position: int, record: PaperRecord, listing: Any) -> None:
        paper = self.index.find(record)
        if paper is None:
            paper = _new_values(record, self.now, self.seq)
            self.index.add(paper)
            self.new.append(paper)
        else:
            changes = _merge_values(paper, record)
            found_by_id = record.arxiv_id and record.arxiv_id == paper["arxiv_id"]
            if found_by_id and record.title_key != paper["title_key"]:
                changes.update(self._retitle(paper, record))
            if changes:
                if "id" in paper:  # stored already: remember to update it
                    self.gained += "arxiv_id" in changes and not paper["arxiv_id"]
                    self.changed.setdefault(paper["id"], {}).update(changes)
                paper.update(changes)
                self.index.add(paper)
            self.known += paper["first_seen_seq"] != self.seq
        self.seen.setdefault(id(paper), (paper, position, listing))

    def _retitle(self, paper: dict[str, Any], record: PaperRecord) -> dict[str, Any]:
        """`record`, found by its id, lists `paper` under another title key: arXiv retitled
        the paper (or a source still lists an older version's title). Both keys stay the
        paper's, so that a text dump (titles only) listing either lists a known paper. A
        version newer than the paper's shows its title from now on, and the key it replaces
        goes to paper_titles; otherwise the record's key goes there and the title shown
        stays, so an old listing read again never takes the title back. The paper has an id:
        uq_papers_title_hash, on (hash, id), takes its new key whoever else has that title.
        The columns to change (the paper's version is read before _merge_values' applies)."""
        key = record.title_key
        newer = record.version is not None and record.version > (paper["version"] or 0)
        changes = ({"title": record.title, "title_key": key, "title_hash": title_hash(key)}
                   if newer and key else {})
        other = paper["title_key"] if changes else key
        if other and self.index.add_other(paper, other):
            self.titles.append((paper, other))
        return changes

    def write(self, conn: Connection, dump_id: int) -> None:
        if self.new:
            rows = conn.execute(insert(papers).returning(papers.c.id,
                                                         sort_by_parameter_order=True),
                                self.new)
            for paper, paper_id in zip(self.new, rows.scalars(), strict=True):
                paper["id"] = paper_id
        for paper_id, changes in self.changed.items():
            conn.execute(update(papers).where(papers.c.id == paper_id)
                         .values(**changes, updated_at=self.now))
        if self.titles:
            # A key the paper showed until now may be held already (it had been its other
            # title before, and the dump did not list it: not read with the others).
            conn.execute(upsert(conn, paper_titles).on_conflict_do_nothing(), [
                {"title_hash": title_hash(key), "paper_id": paper["id"], "title_key": key}
                for paper, key in self.titles])
        if self.seen:
            conn.execute(insert(sightings), [
                {"paper_id": paper["id"], "dump_id": dump_id, "position": position,
                 "listing_date": listing, "seen_at": self.now}
                for paper, position, listing in self.seen.values()])


def record_failure(engine: Engine, failure: DumpFailure, now: datetime) -> bool:
    """Keep a failed dump on record; True when this content failed for the first time."""
    digest = failure.content_hash or content_hash(f"unread:{failure.locator}".encode())
    with engine.begin() as conn:
        statement = upsert(conn, dumps).values(
            source=failure.source, locator=failure.locator, content_hash=digest,
            status="failed", fetched_at=now, recorded_at=now, error=failure.reason)
        inserted = conn.execute(statement.on_conflict_do_nothing(
            index_elements=["content_hash", "status"]).returning(dumps.c.id)).first()
        if inserted is None:
            conn.execute(update(dumps).where(dumps.c.content_hash == digest,
                                             dumps.c.status == "failed")
                         .values(recorded_at=now, error=failure.reason))
        return inserted is not None


def seq_before(engine: Engine, moment: datetime) -> int:
    """The last ingest sequence number recorded at or before `moment` (0 if none)."""
    with reading(engine) as conn:
        value = conn.execute(select(func.max(dumps.c.seq)).where(
            dumps.c.status == "ingested", dumps.c.recorded_at <= moment)).scalar()
        return int(value or 0)


def first_listing() -> Any:
    """A paper's earliest listing date among its sightings, as a column of a select from
    papers (`first_listing`): what a digest shows as "listed", the same whether the papers
    are read as candidates (a pass, preview) or with a stored digest (delivery)."""
    return (select(func.min(sightings.c.listing_date))
            .where(sightings.c.paper_id == papers.c.id).scalar_subquery()
            .label("first_listing"))


def papers_in_range(conn: Connection, after: int, upto: int) -> list[StoredPaper]:
    """Papers first seen in ingest sequence (after, upto], oldest first."""
    query = (select(papers, first_listing())
             .where(papers.c.first_seen_seq > after, papers.c.first_seen_seq <= upto)
             .order_by(papers.c.first_seen_seq, papers.c.id))
    return [StoredPaper.from_row(row, row.first_listing) for row in conn.execute(query)]


def texts_before(engine: Engine, seq: int, limit: int) -> list[tuple[str, str]]:
    """(title, abstract) of the `limit` papers first seen last before ingest sequence `seq`
    (by the index on first_seen_seq: a look at the end of the history, whatever its size)."""
    with reading(engine) as conn:
        rows = conn.execute(select(papers.c.title, papers.c.abstract)
                            .where(papers.c.first_seen_seq < seq)
                            .order_by(papers.c.first_seen_seq.desc(), papers.c.id.desc())
                            .limit(limit))
        return [(row.title, row.abstract) for row in rows]


def counts(engine: Engine) -> dict[str, int]:
    with reading(engine) as conn:
        return {
            "papers": conn.execute(select(func.count()).select_from(papers)).scalar_one(),
            "with_id": conn.execute(select(func.count()).select_from(papers)
                                    .where(papers.c.arxiv_id.is_not(None))).scalar_one(),
            "sightings": conn.execute(select(func.count()).select_from(sightings)).scalar_one(),
            "dumps": conn.execute(select(func.count()).select_from(dumps)
                                  .where(dumps.c.status == "ingested")).scalar_one(),
            "failed_dumps": conn.execute(select(func.count()).select_from(dumps)
                                         .where(and_(dumps.c.status == "failed"))).scalar_one(),
        }
