"""Papers, sightings and dumps: ingest one dump in one transaction, and read candidates."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, select, update

from worker.records import (
    PaperRecord,
    find_arxiv_id,
    normalize_title,
    split_arxiv_id,
    title_hash,
)
from worker.sources.base import Dump, DumpFailure, content_hash
from worker.store.db import reading, upsert
from worker.store.models import IngestResult, StoredPaper
from worker.store.schema import counters, dumps, paper_titles, papers, sightings

_CHUNK = 500  # bound parameter lists (SQLite allows 32k, PostgreSQL 65k; stay far below)


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


def is_ingested(engine: Engine, content_hash: str) -> bool:
    with reading(engine) as conn:
        query = select(dumps.c.id).where(dumps.c.content_hash == content_hash,
                                         dumps.c.status == "ingested")
        return conn.execute(query).first() is not None


def listed_by(engine: Engine, source: str, arxiv_ids: Sequence[str]) -> set[str]:
    """Those of `arxiv_ids` that a dump of `source` listed before."""
    found: set[str] = set()
    with reading(engine) as conn:
        for chunk in _chunks(list(arxiv_ids)):
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


def _known(conn: Connection, ids: Iterable[str | None],
           title_keys: Iterable[str]) -> tuple[list[Any], list[tuple[int, str]]]:
    """The known papers with one of these arXiv ids or title keys' hashes, in id order, and
    (paper id, title key) for each other title (paper_titles) of one of these hashes, its
    paper among the papers. A paper of another title with the same hash may come too: callers
    compare the title key itself."""
    rows: dict[int, Any] = {}
    hashes = sorted({title_hash(k) for k in title_keys})
    for column, values in ((papers.c.arxiv_id, sorted({i for i in ids if i})),
                           (papers.c.title_hash, hashes)):
        for chunk in _chunks(values):
            rows.update((r.id, r) for r in conn.execute(select(papers).where(column.in_(chunk))))
    # One more indexed query a chunk, which finds nothing but for a retitled paper.
    others: list[tuple[int, str]] = []
    for chunk in _chunks(hashes):
        others += [(row.paper_id, row.title_key) for row in conn.execute(
            select(paper_titles.c.paper_id, paper_titles.c.title_key)
            .where(paper_titles.c.title_hash.in_(chunk)))]
    missing = sorted({paper_id for paper_id, _ in others} - rows.keys())
    for chunk in _chunks(missing):
        rows.update((r.id, r) for r in conn.execute(select(papers).where(papers.c.id.in_(chunk))))
    return sorted(rows.values(), key=lambda r: r.id), sorted(others)


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
        known, others = _known(conn, (r.arxiv_id for r in dump.records),
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


# How a DOI may be written: bare, after `doi:`, or as a doi.org link.
_DOI = r"(?:(?:https?://)?(?:dx\.)?doi\.org/|doi:\s*)?10\."
_PAPER_PAGE = re.compile(r"(?:https?://)?(?:(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/"
                         r"|(?:www\.)?huggingface\.co/papers/)"
                         rf"|{_DOI}48550/arxiv\.", re.I)
# Any DOI (other_doi leaves out arXiv's own, 10.48550/arXiv.<id>, which is a paper's id).
_ANY_DOI = re.compile(rf"{_DOI}\d{{4,9}}/\S+", re.I)


def ref_arxiv_id(ref: str) -> str | None:
    """The arXiv id a `like` reference gives (`2401.12345`, `arXiv:2401.12345v2`, the paper's
    page or PDF on arxiv.org, its Hugging Face paper page, its arXiv DOI
    `10.48550/arXiv.2401.12345` bare or as a doi.org link), or None when it is a title (which
    may well contain something shaped like an id). An old-style id written with its subject
    class gives the id without it (split_arxiv_id): `math.GT/0309136` is `math/0309136`."""
    bare = _PAPER_PAGE.sub("", ref.strip(), count=1).removesuffix("/").removesuffix(".pdf")
    written, parsed = find_arxiv_id(bare), split_arxiv_id(bare)
    # An id with little else around it, counted from the id as written (its subject class too)
    return parsed[0] if written and parsed and len(bare) <= len(written["id"]) + 12 else None


def other_doi(ref: str) -> bool:
    """Is a `like` reference a DOI other than arXiv's? Such a paper is found neither by arXiv
    id nor by title."""
    return _ANY_DOI.fullmatch(ref.strip()) is not None and ref_arxiv_id(ref) is None


def find_papers(engine: Engine, refs: Sequence[str]) -> dict[str, StoredPaper]:
    """Resolve `like` references (arXiv ids or titles) to known papers; unknown ones absent."""
    found: dict[str, StoredPaper] = {}
    ids = {ref: found_id for ref in refs if (found_id := ref_arxiv_id(ref))}
    keys = {ref: normalize_title(ref) for ref in refs if ref not in ids}
    if not refs:
        return found
    by_id: dict[str, Any] = {}
    by_key: dict[str, Any] = {}
    with reading(engine) as conn:  # rows in id order: the first paper with an id or key wins
        rows, others = _known(conn, ids.values(), keys.values())
    for row in rows:
        if row.arxiv_id:
            by_id.setdefault(row.arxiv_id, row)
        by_key.setdefault(row.title_key, row)
    stored = {row.id: row for row in rows}
    for paper_id, key in others:  # then a title a paper was listed under before (retitled)
        by_key.setdefault(key, stored[paper_id])
    for ref in refs:
        match = by_id.get(ids[ref]) if ref in ids else by_key.get(keys[ref])
        if match is not None:
            found[ref] = StoredPaper.from_row(match)
    return found


def find_paper(engine: Engine, ref: str) -> StoredPaper | None:
    """One paper by arXiv id, title, or `paper:<n>` as shown in digests."""
    if ref.startswith("paper:") and ref[6:].isdigit():
        number = ref[6:]  # ASCII digits a database integer holds: `paper:²` or one of 30
        if not number.isascii() or int(number) >= 2**63:  # digits names no paper
            return None
        with reading(engine) as conn:
            row = conn.execute(select(papers).where(papers.c.id == int(number))).first()
            return StoredPaper.from_row(row) if row else None
    return find_papers(engine, [ref.removeprefix("arxiv:")]).get(ref.removeprefix("arxiv:"))


def near_titles(engine: Engine, ref: str, limit: int = 3) -> list[StoredPaper]:
    """Stored papers whose title is close to `ref`, a title no stored paper has exactly, best
    first: a title that holds it (`Chat-UniVi` in `Chat-UniVi: Unified ...`), or one that
    begins as it does and is nearly the same (a letter missing, a word changed). For a "did
    you mean" when a command someone waits at finds nothing: on a large database the titles
    that hold it are a scan of the table."""
    from difflib import SequenceMatcher

    key = normalize_title(ref)
    if len(key) < 4:
        return []
    query = (select(papers).where(papers.c.title_key.like(f"%{_like(key)}%", escape="\\")
                                  | papers.c.title_key.like(f"{_like(key[:12])}%", escape="\\"))
             .order_by(papers.c.id).limit(500))
    with reading(engine) as conn:
        rows = conn.execute(query).all()
    scored = []
    for row in rows:
        ratio = SequenceMatcher(None, key, row.title_key, autojunk=False).ratio()
        if key in row.title_key or ratio >= 0.8:
            scored.append((key not in row.title_key, -ratio, row.id, row))
    return [StoredPaper.from_row(row) for *_, row in sorted(scored)[:limit]]


def _like(text: str) -> str:
    """`text` matched literally in a LIKE pattern with escape character `\\`."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


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
