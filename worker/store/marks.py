"""Papers a subscriber marked after reading them (`paper-digest mark`): more like/unlike
examples for that subscriber, beside the ones written in the profile file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, select

from worker.store.db import reading, upsert
from worker.store.models import StoredPaper
from worker.store.schema import paper_marks, papers, subscribers

VERDICTS = ("like", "unlike")


class ReaderChanged(Exception):
    """The id's reader is no longer of the generation a mark was asked for at (worker.readers:
    a link checked a moment ago, then a new reader started under the name): nothing marked."""


@dataclass(frozen=True)
class Mark:
    paper: StoredPaper
    verdict: str  # like | unlike
    marked_at: datetime


def set_mark(engine: Engine, subscriber_id: str, paper_id: int, verdict: str,
             now: datetime, *, generation: int | None = None) -> str | None:
    """Mark a paper; returns the verdict it had before (None when it was not marked).
    Marking again with the other verdict changes the mark: the latest word counts.
    `generation`: only while the id's reader is of it, else ReaderChanged."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, not {verdict!r}")
    with engine.begin() as conn:
        _hold(conn, subscriber_id, generation)
        before = conn.execute(select(paper_marks.c.verdict).where(
            paper_marks.c.subscriber_id == subscriber_id,
            paper_marks.c.paper_id == paper_id)).scalar()
        statement = upsert(conn, paper_marks).values(
            subscriber_id=subscriber_id, paper_id=paper_id, verdict=verdict, marked_at=now)
        conn.execute(statement.on_conflict_do_update(
            index_elements=["subscriber_id", "paper_id"],
            set_={"verdict": verdict, "marked_at": now}))
    return before


def remove_mark(engine: Engine, subscriber_id: str, paper_id: int, *,
                generation: int | None = None) -> str | None:
    """Unmark a paper; returns the verdict it had (None when it was not marked).
    `generation`: as set_mark."""
    with engine.begin() as conn:
        _hold(conn, subscriber_id, generation)
        return conn.execute(delete(paper_marks).where(
            paper_marks.c.subscriber_id == subscriber_id, paper_marks.c.paper_id == paper_id)
            .returning(paper_marks.c.verdict)).scalar()


def _hold(conn: Connection, subscriber_id: str, generation: int | None) -> None:
    """Check that the id's reader is of `generation` (an id without a row yet is of 0), and
    hold it there until the transaction ends: the subscriber's row is locked (PostgreSQL; a
    write transaction on SQLite holds the whole database), so a new reader's start, which
    wipes the id's marks, waits for this mark and then wipes it too."""
    if generation is None:
        return
    found = conn.execute(select(subscribers.c.generation)
                         .where(subscribers.c.id == subscriber_id).with_for_update()).scalar()
    if (found or 0) != generation:
        raise ReaderChanged(subscriber_id)


def marks_for(engine: Engine, subscriber_ids: Sequence[str]) -> dict[str, list[Mark]]:
    """subscriber id -> its marks, oldest first (every listed subscriber has an entry)."""
    out: dict[str, list[Mark]] = {sid: [] for sid in subscriber_ids}
    if not subscriber_ids:
        return out
    query = (select(paper_marks.c.subscriber_id, paper_marks.c.verdict,
                    paper_marks.c.marked_at, papers)
             .join(papers, papers.c.id == paper_marks.c.paper_id)
             .where(paper_marks.c.subscriber_id.in_(list(subscriber_ids)))
             .order_by(paper_marks.c.marked_at, paper_marks.c.paper_id))
    with reading(engine) as conn:
        for row in conn.execute(query):
            out[row.subscriber_id].append(Mark(StoredPaper.from_row(row), row.verdict,
                                               row.marked_at))
    return out
