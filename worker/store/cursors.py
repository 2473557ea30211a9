"""Each subscriber's cursor and what lies above it: a new subscriber is recorded with the
cursor it starts at (its details are kept up to date after), and the candidates for its next
digest are the papers first seen above its cursor that no digest has given it yet.

A subscriber's cursor moves only when a digest is written (worker.store.outbox), never here:
editing a profile resends nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select, update

from worker.store.db import chunks, reading, upsert
from worker.store.models import StoredPaper, SubscriberInfo, SubscriberState
from worker.store.papers import papers_in_range
from worker.store.schema import digest_items, papers, subscribers


def sync_subscribers(engine: Engine, infos: Sequence[SubscriberInfo], now: datetime,
                     ) -> dict[str, SubscriberState]:
    """Record the subscribers the config names, in one transaction and a few statements: the new
    ones are created (cursor at their start_seq), the known ones get their details refreshed
    (their cursors never move here)."""
    states: dict[str, SubscriberState] = {}
    with engine.begin() as conn:
        known = _subscriber_rows(conn, [i.id for i in infos])
        new = [i for i in infos if i.id not in known]
        created: set[str] = set()
        if new:
            # ON CONFLICT DO NOTHING: one created by a concurrent run a moment ago stays as is.
            statement = upsert(conn, subscribers).on_conflict_do_nothing(
                index_elements=["id"]).returning(subscribers.c.id)
            created = set(conn.execute(statement, [
                {"id": i.id, "email": i.email, "name": i.name, "cursor_seq": i.start_seq,
                 "first_seen_at": now, "fingerprint": i.fingerprint, "updated_at": now}
                for i in new]).scalars())
            if len(created) < len(new):
                known |= _subscriber_rows(conn, [i.id for i in new if i.id not in created])
        changed = [i for i in infos if i.id in known and (
            known[i.id].email, known[i.id].name, known[i.id].fingerprint) != (
            i.email, i.name, i.fingerprint)]
        if changed:
            conn.execute(update(subscribers).where(subscribers.c.id == bindparam("sid"))
                         .values(email=bindparam("email"), name=bindparam("name"),
                                 fingerprint=bindparam("fingerprint"), updated_at=now),
                         [{"sid": i.id, "email": i.email, "name": i.name,
                           "fingerprint": i.fingerprint} for i in changed])
    for info in infos:
        if info.id in created:
            states[info.id] = SubscriberState(info.id, info.start_seq, now, created=True)
        else:
            row = known[info.id]
            states[info.id] = SubscriberState(info.id, row.cursor_seq, row.first_seen_at)
    return states


def _subscriber_rows(conn: Connection, ids: Sequence[str]) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for chunk in chunks(ids):
        rows.update((r.id, r) for r in conn.execute(
            select(subscribers).where(subscribers.c.id.in_(chunk))))
    return rows


def delivered_paper_ids(conn: Connection, sub_ids: Sequence[str], after: int,
                        upto: int, *, before: int | None = None) -> dict[str, set[int]]:
    """Per subscriber, the papers of the range (after, upto] it has already been given (by
    the digests with ids below `before`, when given)."""
    result: dict[str, set[int]] = {sid: set() for sid in sub_ids}
    for chunk in chunks(list(sub_ids)):
        query = (select(digest_items.c.subscriber_id, digest_items.c.paper_id)
                 .join(papers, papers.c.id == digest_items.c.paper_id)
                 .where(digest_items.c.subscriber_id.in_(chunk),
                        papers.c.first_seen_seq > after, papers.c.first_seen_seq <= upto))
        if before is not None:
            query = query.where(digest_items.c.digest_id < before)
        for sid, pid in conn.execute(query):
            result[sid].add(pid)
    return result


def digest_candidates(conn: Connection, sub_id: str, after: int, upto: int, *,
                      before: int | None = None) -> list[StoredPaper]:
    """What a digest of the range (after, upto] ranks for the subscriber, as build_digests
    picks it: the papers first seen in the range that no digest (below id `before`, for a
    digest already written) has given it."""
    given = delivered_paper_ids(conn, [sub_id], after, upto, before=before)[sub_id]
    return [p for p in papers_in_range(conn, after, upto) if p.id not in given]


def candidate_window(engine: Engine, cursors: dict[str, int]
                     ) -> tuple[int, list[StoredPaper], dict[str, set[int]]]:
    """(upto, papers first seen after the lowest cursor, already-delivered ids per subscriber).

    One read of papers serves every subscriber: each takes the papers above its own cursor.
    What was delivered is read per cursor, for the papers above it only: subscribers that are
    up to date (nearly all, nearly always) need not wade through what the one new subscriber
    with a long backfill makes the window span.
    """
    from worker.store.papers import current_seq

    with reading(engine) as conn:
        upto = current_seq(conn)
        low = min(cursors.values(), default=upto)
        found = papers_in_range(conn, low, upto) if low < upto else []
        delivered: dict[str, set[int]] = {}
        if found:
            by_cursor: dict[int, list[str]] = defaultdict(list)
            for sid, cursor in cursors.items():
                by_cursor[cursor].append(sid)
            for cursor, sids in by_cursor.items():
                if cursor < upto:
                    delivered.update(delivered_paper_ids(conn, sids, cursor, upto))
    return upto, found, delivered
