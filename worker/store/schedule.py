"""Schedule slot claims, serve heartbeats, and the cheap reads serve's idle tick makes.

A slot is claimed by inserting (subscriber, slot) into slot_claims: the primary key lets one
worker win, however often or wherever the scheduler fires. The claim is finished once the
digest is written (or found empty). A claim left unfinished by a worker that died is taken
over after `stale_after`, unless its digest made it into the database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from worker.store.db import upsert
from worker.store.schema import deliveries, digests, heartbeats, slot_claims, subscribers

# Rows a claiming INSERT carries: 4 values each, under SQLite's 32,766 bound parameters.
CLAIMS_A_STATEMENT = 1000


@dataclass(frozen=True)
class Heartbeat:
    worker: str
    host: str
    pid: int
    started_at: datetime
    beat_at: datetime


def first_seen(engine: Engine, subscriber_ids: Sequence[str]) -> dict[str, datetime]:
    """When each known subscriber was first seen; unknown ids are absent."""
    with engine.connect() as conn:
        rows = conn.execute(select(subscribers.c.id, subscribers.c.first_seen_at)
                            .where(subscribers.c.id.in_(list(subscriber_ids))))
        return {sid: when for sid, when in rows}


def last_slots(engine: Engine, subscriber_ids: Sequence[str], *, now: datetime,
               stale_after: timedelta) -> dict[str, str]:
    """The newest slot claimed per subscriber (any schedule it ever had), not counting
    claims abandoned unfinished longer than `stale_after` ago: those are to be taken over."""
    live = or_(slot_claims.c.finished_at.is_not(None),
               slot_claims.c.claimed_at > now - stale_after)
    with engine.connect() as conn:
        rows = conn.execute(select(slot_claims.c.subscriber_id, func.max(slot_claims.c.slot))
                            .where(slot_claims.c.subscriber_id.in_(list(subscriber_ids)), live)
                            .group_by(slot_claims.c.subscriber_id))
        return {sid: slot for sid, slot in rows}


def claim_slot(engine: Engine, subscriber_id: str, slot: str, *, owner: str, now: datetime,
               stale_after: timedelta) -> bool:
    """True when this caller now owns the slot and must build its digest."""
    key = and_(slot_claims.c.subscriber_id == subscriber_id, slot_claims.c.slot == slot)
    with engine.begin() as conn:
        try:
            with conn.begin_nested():
                conn.execute(insert(slot_claims).values(
                    subscriber_id=subscriber_id, slot=slot, claimed_at=now, owner=owner))
            return True
        except IntegrityError:  # somebody claimed it first
            pass
        row = conn.execute(select(slot_claims).where(key)).one()
        if row.finished_at is not None or row.claimed_at > now - stale_after:
            return False
        built = conn.execute(select(digests.c.id).where(
            digests.c.subscriber_id == subscriber_id, digests.c.slot == slot)).scalar()
        if built is not None:  # the worker died after writing the digest: just finish
            conn.execute(update(slot_claims).where(key).values(finished_at=now,
                                                               digest_id=built))
            return False
        taken = conn.execute(update(slot_claims).where(
            key, slot_claims.c.finished_at.is_(None),
            slot_claims.c.claimed_at == row.claimed_at).values(owner=owner, claimed_at=now))
        return taken.rowcount == 1


def claim_slots(engine: Engine, wanted: Sequence[tuple[str, str]], *, owner: str,
                now: datetime, stale_after: timedelta) -> list[tuple[str, str]]:
    """claim_slot for many (subscriber, slot) pairs; the ones this caller now owns.

    One transaction inserts every claim that is free (a daily slot of 10,000 subscribers:
    one commit, not 10,000, which took ~25 s on PostgreSQL); only a pair found taken goes
    through claim_slot, to be taken over if stale. Claims are made in subscriber order, so
    two workers claiming the same slots wait for each other rather than deadlock."""
    wanted = sorted(set(wanted))
    won: set[tuple[str, str]] = set()
    with engine.begin() as conn:
        for start in range(0, len(wanted), CLAIMS_A_STATEMENT):
            chunk = wanted[start:start + CLAIMS_A_STATEMENT]
            statement = upsert(conn, slot_claims).values([
                {"subscriber_id": sid, "slot": slot, "claimed_at": now, "owner": owner}
                for sid, slot in chunk])
            won |= {(row.subscriber_id, row.slot) for row in conn.execute(
                statement.on_conflict_do_nothing().returning(slot_claims.c.subscriber_id,
                                                             slot_claims.c.slot))}
    return [(sid, slot) for sid, slot in wanted if (sid, slot) in won
            or claim_slot(engine, sid, slot, owner=owner, now=now, stale_after=stale_after)]


def record_served(engine: Engine, served: Mapping[str, tuple[str, int]], *, owner: str,
                  now: datetime) -> None:
    """Record each subscriber's slot (subscriber -> (slot, digest id)) as claimed and finished
    with a digest built outside any slot (a plain `run`), unless it is claimed already."""
    if not served:
        return
    rows = [{"subscriber_id": sid, "slot": slot, "claimed_at": now, "owner": owner,
             "finished_at": now, "digest_id": digest_id}
            for sid, (slot, digest_id) in sorted(served.items())]
    with engine.begin() as conn:
        for start in range(0, len(rows), CLAIMS_A_STATEMENT // 2):  # 6 values a row
            conn.execute(upsert(conn, slot_claims).values(
                rows[start:start + CLAIMS_A_STATEMENT // 2]).on_conflict_do_nothing())


def finish_slots(engine: Engine, slot: str, digest_ids: Mapping[str, int | None], *,
                 now: datetime) -> None:
    """Finish each subscriber's claim of `slot` with its digest (None: nothing to send), in
    one transaction (one commit a subscriber took ~19 s of a 10,000-subscriber slot)."""
    if not digest_ids:
        return
    with engine.begin() as conn:
        conn.execute(update(slot_claims).where(
            slot_claims.c.subscriber_id == bindparam("sid"), slot_claims.c.slot == slot,
        ).values(finished_at=now, digest_id=bindparam("did")),
            [{"sid": sid, "did": did} for sid, did in digest_ids.items()])


def release_slots(engine: Engine, slot: str, subscriber_ids: Sequence[str], *,
                  owner: str) -> None:
    """Give up `owner`'s unfinished claims of `slot` for these subscribers (told to stop
    before their digests were built): the next pass claims them at once, rather than after
    the claims grow stale."""
    if not subscriber_ids:
        return
    with engine.begin() as conn:
        for start in range(0, len(subscriber_ids), CLAIMS_A_STATEMENT):
            conn.execute(delete(slot_claims).where(
                slot_claims.c.slot == slot, slot_claims.c.owner == owner,
                slot_claims.c.finished_at.is_(None),
                slot_claims.c.subscriber_id.in_(
                    list(subscriber_ids[start:start + CLAIMS_A_STATEMENT]))))


def has_deliverable(engine: Engine, subscriber_ids: Sequence[str], now: datetime) -> bool:
    """Is any delivery of these subscribers pending, unleased and past its retry time?"""
    query = (select(deliveries.c.id).join(digests, digests.c.id == deliveries.c.digest_id)
             .where(deliveries.c.status == "pending",
                    or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now),
                    or_(deliveries.c.next_attempt_at.is_(None),
                        deliveries.c.next_attempt_at <= now),
                    digests.c.subscriber_id.in_(list(subscriber_ids)))
             .limit(1))
    with engine.connect() as conn:
        return conn.execute(query).first() is not None


def beat(engine: Engine, worker: str, *, host: str, pid: int, started_at: datetime,
         now: datetime) -> None:
    with engine.begin() as conn:
        done = conn.execute(update(heartbeats).where(heartbeats.c.worker == worker)
                            .values(beat_at=now))
        if done.rowcount == 0:
            conn.execute(insert(heartbeats).values(worker=worker, host=host[:64], pid=pid,
                                                   started_at=started_at, beat_at=now))


def latest_beat(engine: Engine, host: str | None = None) -> Heartbeat | None:
    """The most recent heartbeat, of workers on `host` when given."""
    query = select(heartbeats).order_by(heartbeats.c.beat_at.desc()).limit(1)
    if host is not None:
        query = query.where(heartbeats.c.host == host[:64])
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return Heartbeat(row.worker, row.host, row.pid, row.started_at, row.beat_at) if row else None


def end_beat(engine: Engine, worker: str) -> None:
    """A clean stop: the worker is gone, `health` must not see it as alive."""
    with engine.begin() as conn:
        conn.execute(delete(heartbeats).where(heartbeats.c.worker == worker))


def prune(engine: Engine, now: datetime, *, claims_older_than: timedelta,
          beats_older_than: timedelta) -> int:
    """Forget old finished claims (never a subscriber's newest) and dead workers' beats."""
    newer = slot_claims.alias("newer")
    own_newest = (select(func.max(newer.c.slot))
                  .where(newer.c.subscriber_id == slot_claims.c.subscriber_id)
                  .scalar_subquery())
    with engine.begin() as conn:
        gone = conn.execute(delete(slot_claims).where(
            slot_claims.c.finished_at.is_not(None),
            slot_claims.c.claimed_at < now - claims_older_than,
            slot_claims.c.slot < own_newest)).rowcount
        conn.execute(delete(heartbeats).where(heartbeats.c.beat_at < now - beats_older_than))
    return int(gone)

