"""Digests (the outbox) and their deliveries (subscribers and their candidates:
worker.store.cursors).

A digest and its items are written, and the subscriber's cursor advanced, in one
transaction before anything is sent. Sending claims a delivery with a lease; it is marked sent
only after the channel accepted it, so a crash can repeat a send (same Message-ID) but never
lose one.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, NoResultFound

from worker.store.db import chunks, insert_rows, reading
from worker.store.models import (
    DeliveryJob,
    DeliveryState,
    Digest,
    DigestItem,
    DigestSpec,
    ItemSpec,
    StoredPaper,
)
from worker.store.papers import first_listing
from worker.store.recording import Recorder
from worker.store.schema import deliveries, digest_items, digests, papers, subscribers

log = logging.getLogger("paper_digest")


# digest_items' columns as create_digest(s) write them: plain values (worker.store.db.insert_rows)
ITEM_COLUMNS = ("digest_id", "subscriber_id", "paper_id", "rank", "score", "reasons")


def create_digest(engine: Engine, sub_id: str, *, expected_cursor: int, upto: int,
                  items: Sequence[ItemSpec], channels: Sequence[str], below_threshold: int,
                  message_id: str, now: datetime, slot: str | None = None,
                  keep_empty: bool = False) -> int | None:
    """Write a digest with its items and deliveries and move the cursor to `upto`, atomically.

    Returns the digest id; None when there is nothing to send (cursor still advanced) or when
    another worker moved the cursor first (then nothing is written).
    """
    with engine.begin() as conn:
        locked = select(subscribers.c.cursor_seq).where(subscribers.c.id == sub_id)
        if conn.dialect.name == "postgresql":
            locked = locked.with_for_update()
        if conn.execute(locked).scalar_one() != expected_cursor:
            return None
        conn.execute(update(subscribers).where(subscribers.c.id == sub_id)
                     .values(cursor_seq=upto, updated_at=now))
        if not items and not keep_empty:
            return None
        digest_id = conn.execute(insert(digests).values(
            subscriber_id=sub_id, created_at=now, message_id=message_id,
            cursor_from=expected_cursor, cursor_to=upto, item_count=len(items),
            below_threshold=below_threshold, slot=slot).returning(digests.c.id)).scalar_one()
        insert_rows(conn, digest_items, ITEM_COLUMNS, [
            (digest_id, sub_id, item.paper_id, rank, item.score, item.reasons)
            for rank, item in enumerate(items, start=1)])
        conn.execute(insert(deliveries), [
            {"digest_id": digest_id, "channel": channel, "status": "pending",
             "next_attempt_at": now} for channel in channels])
        return int(digest_id)


def create_digests(engine: Engine, specs: Sequence[DigestSpec], *, upto: int, now: datetime,
                   slot: str | None = None) -> dict[str, int | None]:
    """`create_digest` for many subscribers in one transaction, a statement or two per table;
    each subscriber's digest is still all or nothing with its cursor, and one whose cursor
    moved meanwhile gets nothing. Returns subscriber id -> digest id (None: nothing written).

    Should the batch break a constraint (a race with another worker), it is rolled back and
    its subscribers are written one by one, so that one cannot hold back the others."""
    if not specs:
        return {}
    try:
        with engine.begin() as conn:
            return _create_digests(conn, specs, upto, now, slot)
    except IntegrityError:
        return {spec.subscriber_id: _create_alone(engine, spec, upto, now, slot)
                for spec in specs}


def _create_alone(engine: Engine, spec: DigestSpec, upto: int, now: datetime,
                  slot: str | None) -> int | None:
    try:
        return create_digest(
            engine, spec.subscriber_id, expected_cursor=spec.expected_cursor, upto=upto,
            items=spec.items, channels=spec.channels, below_threshold=spec.below_threshold,
            message_id=spec.message_id, now=now, slot=slot, keep_empty=spec.keep_empty)
    except IntegrityError as exc:  # raced with another worker: the next pass tries again
        log.error("digest for %s not written: %s", spec.subscriber_id, exc.orig)
        return None


def _create_digests(conn: Connection, specs: Sequence[DigestSpec], upto: int, now: datetime,
                    slot: str | None) -> dict[str, int | None]:
    result: dict[str, int | None] = dict.fromkeys((s.subscriber_id for s in specs), None)
    cursors: dict[str, int] = {}
    for chunk in chunks([s.subscriber_id for s in specs]):
        locked = select(subscribers.c.id, subscribers.c.cursor_seq).where(
            subscribers.c.id.in_(chunk))
        if conn.dialect.name == "postgresql":
            locked = locked.order_by(subscribers.c.id).with_for_update()
        cursors.update((sid, cursor) for sid, cursor in conn.execute(locked))
    ready = [s for s in specs if cursors.get(s.subscriber_id) == s.expected_cursor]
    for chunk in chunks([s.subscriber_id for s in ready]):
        conn.execute(update(subscribers).where(subscribers.c.id.in_(chunk))
                     .values(cursor_seq=upto, updated_at=now))
    kept = [s for s in ready if s.items or s.keep_empty]
    if not kept:
        return result
    ids = conn.execute(insert(digests).returning(digests.c.id, sort_by_parameter_order=True), [
        {"subscriber_id": s.subscriber_id, "created_at": now, "message_id": s.message_id,
         "cursor_from": s.expected_cursor, "cursor_to": upto, "item_count": len(s.items),
         "below_threshold": s.below_threshold, "slot": slot} for s in kept]).scalars().all()
    items: list[tuple[Any, ...]] = []
    sends = []
    for spec, digest_id in zip(kept, ids, strict=True):
        result[spec.subscriber_id] = int(digest_id)
        items += [(digest_id, spec.subscriber_id, item.paper_id, rank, item.score, item.reasons)
                  for rank, item in enumerate(spec.items, start=1)]
        sends += [{"digest_id": digest_id, "channel": channel, "status": "pending",
                   "next_attempt_at": now} for channel in spec.channels]
    insert_rows(conn, digest_items, ITEM_COLUMNS, items)
    conn.execute(insert(deliveries), sends)
    return result


# Tables a pass's digests grow, and the share of new rows that makes their statistics stale.
GROWN_TABLES = ("digests", "digest_items", "deliveries")
GROWN_SHARE = 0.1  # autovacuum's own default (autovacuum_analyze_scale_factor)


def refresh_statistics(engine: Engine, items_written: int) -> bool:
    """On PostgreSQL, ANALYZE the digest tables when this pass's items are a tenth or more of
    digest_items. Autovacuum would, but a minute or more later, and delivery reads them at
    once: on a young install's first large pass the planner, without statistics, read the
    whole of digest_items for every 500 digests delivery loaded (bench/scale.py: loading the
    day's 9,941 digests 2.2 -> 1.45 s; ANALYZE of the three tables ~0.2 s). On an older
    install a day's digests are a small share and nothing is done. True when it analyzed."""
    if not isinstance(engine, Engine) or engine.dialect.name != "postgresql" \
            or not items_written:
        return False
    with engine.begin() as conn:  # (ANALYZE, unlike VACUUM, may run in a transaction)
        known = conn.execute(text(  # -1 (PostgreSQL 14+) or 0: never analyzed
            "SELECT reltuples FROM pg_class WHERE oid = to_regclass('digest_items')")).scalar()
        if known is not None and known > 0 and items_written < GROWN_SHARE * known:
            return False
        for table in GROWN_TABLES:
            conn.execute(text(f"ANALYZE {table}"))
    return True


def lease_owners(engine: Engine, prefix: str) -> list[str]:
    """Owners starting with `prefix` (a host) that hold leases on pending deliveries."""
    query = (select(deliveries.c.lease_owner).distinct()
             .where(deliveries.c.status == "pending", deliveries.c.lease_owner.is_not(None),
                    deliveries.c.lease_owner.startswith(prefix, autoescape=True)))
    with reading(engine) as conn:
        return list(conn.execute(query).scalars())


def claim_deliveries(engine: Engine, *, owner: str, now: datetime, lease: timedelta,
                     subscriber_ids: Iterable[str] | None = None, limit: int = 1000,
                     ignore_backoff: bool = False, reclaim: Sequence[str] = (),
                     after: int = 0) -> list[DeliveryJob]:
    """Lease due pending deliveries to `owner`; no two workers get the same one.

    Leases run out at `lease_until`; those held by `reclaim` owners (processes known to be
    dead) are taken over at once. At most `limit`, in id order, ids above `after` (a pass
    claims batch after batch, and does not come back to one it tried already).
    """
    due = [deliveries.c.status == "pending", deliveries.c.id > after,
           or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now,
               deliveries.c.lease_owner.in_(list(reclaim)))]
    if not ignore_backoff:
        due.append(or_(deliveries.c.next_attempt_at.is_(None),
                       deliveries.c.next_attempt_at <= now))
    # Not for a reader who unsubscribed since the pass began (it left out those who had):
    # a pass delivers for a minute or more at institute scale, a batch after another.
    query = (select(deliveries.c.id, deliveries.c.digest_id, deliveries.c.channel,
                    deliveries.c.attempts, digests.c.subscriber_id)
             .join(digests, digests.c.id == deliveries.c.digest_id)
             .join(subscribers, subscribers.c.id == digests.c.subscriber_id)
             .where(and_(*due), subscribers.c.unsubscribed_at.is_(None))
             .order_by(deliveries.c.id).limit(limit))
    if subscriber_ids is not None:
        query = query.where(digests.c.subscriber_id.in_(list(subscriber_ids)))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(of=deliveries, skip_locked=True)
        rows = list(conn.execute(query))
        if rows:
            conn.execute(update(deliveries).where(deliveries.c.id.in_([r.id for r in rows]))
                         .values(lease_owner=owner, lease_until=now + lease,
                                 attempts=deliveries.c.attempts + 1))
    return [DeliveryJob(r.id, r.digest_id, r.subscriber_id, r.channel, r.attempts + 1, owner)
            for r in rows]


def _finish(db: Engine | Recorder, job: DeliveryJob, *, uncount: bool = False,
            **values: object) -> bool:
    # One transaction per delivery, by design (a crash repeats at most one digest); the
    # statement is built once per set of columns, since delivery runs it for every digest.
    # A delivery pass writes them on its Recorder's held connection (recording.py says why).
    # `uncount`: the attempt its claim counted is taken back (it was not the digest's).
    statement = _finish_statement(tuple(sorted(values)), uncount)
    params = {"job_id": job.id, "owner": job.lease_owner,
              **{f"v_{name}": v for name, v in values.items()}}
    if isinstance(db, Recorder):
        return db.write(statement, params) == 1
    with db.begin() as conn:
        return conn.execute(statement, params).rowcount == 1


@cache
def _finish_statement(names: tuple[str, ...], uncount: bool = False) -> Any:
    taken_back = {"attempts": deliveries.c.attempts - 1} if uncount else {}
    return update(deliveries).where(
        deliveries.c.id == bindparam("job_id"), deliveries.c.lease_owner == bindparam("owner"),
        deliveries.c.status == "pending",
    ).values(lease_owner=None, lease_until=None, **taken_back,
             **{name: bindparam(f"v_{name}") for name in names})


def mark_sent(db: Engine | Recorder, job: DeliveryJob, *, now: datetime, target: str) -> bool:
    """False when the lease was lost meanwhile (the send may then repeat, same Message-ID)."""
    return _finish(db, job, status="sent", sent_at=now, target=target, last_error=None)


def mark_retry(db: Engine | Recorder, job: DeliveryJob, *, error: str, retry_at: datetime) -> bool:
    return _finish(db, job, last_error=error, next_attempt_at=retry_at)


def mark_held(db: Engine | Recorder, job: DeliveryJob, *, error: str,
              retry_at: datetime) -> bool:
    """Pending again after a refusal that is no fault of the digest (the relay refused our
    login): the attempt its claim counted is taken back, so it never runs out of them."""
    return _finish(db, job, uncount=True, last_error=error, next_attempt_at=retry_at)


def mark_failed(db: Engine | Recorder, job: DeliveryJob, *, error: str) -> bool:
    return _finish(db, job, status="failed", last_error=error, next_attempt_at=None)


def release(engine: Engine, jobs: Sequence[DeliveryJob]) -> None:
    """Give claimed deliveries back unsent (shutdown): lease cleared, the attempt uncounted."""
    if not jobs:
        return
    with engine.begin() as conn:
        conn.execute(_finish_statement((), True),
                     [{"job_id": job.id, "owner": job.lease_owner} for job in jobs])


def retry_failed(engine: Engine, now: datetime, subscriber_id: str | None = None) -> int:
    """Put failed deliveries back to pending (`paper-digest retry`); returns how many."""
    query = update(deliveries).where(deliveries.c.status == "failed")
    if subscriber_id is not None:
        ids = select(digests.c.id).where(digests.c.subscriber_id == subscriber_id)
        query = query.where(deliveries.c.digest_id.in_(ids))
    with engine.begin() as conn:
        result = conn.execute(query.values(status="pending", next_attempt_at=now, attempts=0))
        return result.rowcount


def load_digest(engine: Engine, digest_id: int) -> Digest:
    """A digest with its items and papers, in rank order, as stored when it was built."""
    return load_digests(engine, [digest_id])[digest_id]


def load_digests(engine: Engine, digest_ids: Iterable[int],
                 papers_read: dict[int, StoredPaper] | None = None) -> dict[int, Digest]:
    """`load_digest` for many digests, in three queries per few hundred (delivery sends many).
    A paper is in many of them: it is read and made into a StoredPaper once, not once per
    item. `papers_read`, given for a whole pass, keeps the papers read by id and is added
    to: a day's papers recur in every batch of a pass and are read in the first."""
    found: dict[int, Digest] = {}
    by_id = {} if papers_read is None else papers_read
    with reading(engine) as conn:
        for chunk in chunks(sorted(set(digest_ids))):
            # .all() fetches the rows at once; iterating a result fetches them one by one.
            rows = conn.execute(select(digests, subscribers.c.generation)
                                .join(subscribers, subscribers.c.id == digests.c.subscriber_id)
                                .where(digests.c.id.in_(chunk))).all()
            query = (select(digest_items.c.digest_id, digest_items.c.rank, digest_items.c.score,
                            digest_items.c.reasons, digest_items.c.paper_id)
                     .where(digest_items.c.digest_id.in_(chunk))
                     .order_by(digest_items.c.digest_id, digest_items.c.rank))
            item_rows = conn.execute(query).all()
            # Rows unpacked as tuples: a row's attribute by name costs ~0.4 µs, ten times its
            # place, and a pass reads ~140,000 items at an institute's scale.
            by_id.update(_papers_by_id(conn, {row[4] for row in item_rows} - by_id.keys()))
            items: dict[int, list[DigestItem]] = defaultdict(list)
            for digest_id, rank, score, reasons, paper_id in item_rows:
                items[digest_id].append(DigestItem(rank, score, reasons, by_id[paper_id]))
            for row in rows:
                found[row.id] = Digest(row.id, row.subscriber_id, row.created_at, row.message_id,
                                       row.item_count, row.below_threshold, row.cursor_from,
                                       row.cursor_to, tuple(items[row.id]), row.generation)
    missing = set(digest_ids) - found.keys()
    if missing:
        raise NoResultFound(f"no digest {min(missing)}")
    return found


def _papers_by_id(conn: Connection, paper_ids: Iterable[int]) -> dict[int, StoredPaper]:
    """The papers with their listing dates, read as candidates are (papers.papers_in_range):
    a digest sent must show what its preview showed."""
    by_id: dict[int, StoredPaper] = {}
    for chunk in chunks(sorted(paper_ids)):
        query = select(papers, first_listing()).where(papers.c.id.in_(chunk))
        for row in conn.execute(query).all():
            by_id[row.id] = StoredPaper.from_row(row, row.first_listing)
    return by_id


def delivery_states(engine: Engine, subscriber_id: str | None = None,
                    statuses: Sequence[str] = ("pending", "failed", "sent"),
                    retry_after: datetime | None = None) -> list[DeliveryState]:
    """Deliveries in these statuses, oldest digest first (`retry_after`: only those whose
    next attempt is later than that)."""
    query = (select(deliveries, digests.c.subscriber_id, digests.c.created_at,
                    digests.c.message_id, digests.c.item_count)
             .join(digests, digests.c.id == deliveries.c.digest_id)
             .where(deliveries.c.status.in_(list(statuses)))
             .order_by(digests.c.created_at, deliveries.c.id))
    if subscriber_id is not None:
        query = query.where(digests.c.subscriber_id == subscriber_id)
    if retry_after is not None:
        query = query.where(deliveries.c.next_attempt_at > retry_after)
    with reading(engine) as conn:
        return [DeliveryState(r.digest_id, r.subscriber_id, r.channel, r.status, r.attempts,
                              r.created_at, r.next_attempt_at, r.last_error, r.sent_at,
                              r.target, r.message_id, r.item_count)
                for r in conn.execute(query)]


def waiting(engine: Engine, subscriber_ids: Collection[str], now: datetime,
            ) -> list[DeliveryState]:
    """These subscribers' pending deliveries whose retry time is still to come, oldest
    first: what a pass that keeps back-off (`run --due`, serve) leaves untried."""
    return [d for d in delivery_states(engine, statuses=("pending",), retry_after=now)
            if d.subscriber_id in subscriber_ids]


def last_digest_at(engine: Engine, subscriber_ids: Iterable[str]) -> dict[str, datetime]:
    """When each of these subscribers' latest digest was written (sent or not)."""
    found: dict[str, datetime] = {}
    with reading(engine) as conn:
        for chunk in chunks(list(subscriber_ids)):
            found.update(conn.execute(
                select(digests.c.subscriber_id, func.max(digests.c.created_at))
                .where(digests.c.subscriber_id.in_(chunk))
                .group_by(digests.c.subscriber_id)).all())
    return found


def last_sent(engine: Engine) -> dict[str, datetime]:
    query = (select(digests.c.subscriber_id, func.max(deliveries.c.sent_at))
             .join(digests, digests.c.id == deliveries.c.digest_id)
             .where(deliveries.c.status == "sent").group_by(digests.c.subscriber_id))
    with reading(engine) as conn:
        return {sid: when for sid, when in conn.execute(query)}
