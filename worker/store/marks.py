"""Papers a subscriber marked after reading them (`paper-digest mark`): more like/unlike
examples for that subscriber, beside the ones written in the profile file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, select

from worker.store.db import reading, upsert
from worker.store.models import StoredPaper
from worker.store.schema import paper_marks, papers

VERDICTS = ("like", "unlike")


@dataclass(frozen=True)
class Mark:
    paper: StoredPaper
    verdict: str  # like | unlike
    marked_at: datetime


def set_mark(engine: Engine, subscriber_id: str, paper_id: int, verdict: str,
             now: datetime) -> str | None:
    """Mark a paper; returns the verdict it had before (None when it was not marked).
    Marking again with the other verdict changes the mark: the latest word counts."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, not {verdict!r}")
    with engine.begin() as conn:
        before = conn.execute(select(paper_marks.c.verdict).where(
            paper_marks.c.subscriber_id == subscriber_id,
            paper_marks.c.paper_id == paper_id)).scalar()
        statement = upsert(conn, paper_marks).values(
            subscriber_id=subscriber_id, paper_id=paper_id, verdict=verdict, marked_at=now)
        conn.execute(statement.on_conflict_do_update(
            index_elements=["subscriber_id", "paper_id"],
            set_={"verdict": verdict, "marked_at": now}))
    return before


def remove_mark(engine: Engine, subscriber_id: str, paper_id: int) -> str | None:
    """Unmark a paper; returns the verdict it had (None when it was not marked)."""
    with engine.begin() as conn:
        return conn.execute(delete(paper_marks).where(
            paper_marks.c.subscriber_id == subscriber_id, paper_marks.c.paper_id == paper_id)
            .returning(paper_marks.c.verdict)).scalar()


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
