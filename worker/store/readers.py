"""Who reads under each subscriber id: the database's side of worker.readers.

A subscriber's id is its file's name, and names are reused: the file of a reader who left is
deleted, and months later a different person is given one of the same name. Everything kept
per id (the cursor, marks, the unsubscribe, the digests and their items, slot claims) is the
last reader's, so a new reader starts afresh: those are removed, the cursor set to its own
backfill, and the id's `generation`, which every feedback and unsubscribe link signs, goes up
by one, so the links in the earlier reader's digests no longer act on the new one.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, bindparam, delete, func, or_, select, update

from worker.store.db import chunks, reading
from worker.store.models import SubscriberInfo
from worker.store.retention import remove_digests
from worker.store.schema import deliveries, digests, paper_marks, slot_claims, subscribers


@dataclass(frozen=True)
class Known:
    """What the database holds of a subscriber id's reader."""

    id: str
    email: str | None
    name: str
    fingerprint: str  # "" when no pass has read its file yet (a row an unsubscribe made)
    generation: int
    removed_at: datetime | None
    forgotten_at: datetime | None
    unsubscribed_at: datetime | None  # (worker.store.subscriptions)


@dataclass(frozen=True)
class Wiped:
    """What an id's earlier reader left, removed with it."""

    digests: int
    unsent: int  # of those digests, the ones with a delivery never sent (pending or failed)
    marks: int
    unsubscribed_at: datetime | None
    generation: int  # the id's generation after it


def known_readers(engine: Engine) -> dict[str, Known]:
    """Every subscriber id the database has a row for (one read of a small table)."""
    columns = (subscribers.c.id, subscribers.c.email, subscribers.c.name,
               subscribers.c.fingerprint, subscribers.c.generation, subscribers.c.removed_at,
               subscribers.c.forgotten_at, subscribers.c.unsubscribed_at)
    with reading(engine) as conn:
        return {row.id: Known(*row) for row in conn.execute(select(*columns))}


def generation_of(engine: Engine, subscriber_id: str) -> int:
    """The id's generation: what its links must sign (0 for an id the database has no row
    for, as a new row starts at 0)."""
    with reading(engine) as conn:
        return int(conn.execute(select(subscribers.c.generation)
                                .where(subscribers.c.id == subscriber_id)).scalar() or 0)


def returning(engine: Engine) -> set[str]:
    """The ids whose file was found gone, or that were forgotten: the first pass that meets
    their file again settles who reads under them (serve's idle check asks)."""
    with reading(engine) as conn:
        return set(conn.execute(select(subscribers.c.id).where(or_(
            subscribers.c.removed_at.is_not(None),
            subscribers.c.forgotten_at.is_not(None)))).scalars())


def removed_since(engine: Engine) -> dict[str, datetime]:
    """Each id whose file is gone, and since when (`status`)."""
    with reading(engine) as conn:
        return dict(conn.execute(select(subscribers.c.id, subscribers.c.removed_at)
                                 .where(subscribers.c.removed_at.is_not(None))).all())


def note_removed(engine: Engine, ids: Collection[str], now: datetime) -> list[str]:
    """Record that these ids' files are gone (the first time only); the ids newly recorded."""
    done: list[str] = []
    with engine.begin() as conn:
        for chunk in chunks(sorted(ids)):
            done += conn.execute(update(subscribers).where(
                subscribers.c.id.in_(chunk), subscribers.c.removed_at.is_(None),
                subscribers.c.forgotten_at.is_(None)).values(removed_at=now)
                .returning(subscribers.c.id)).scalars()
    return sorted(done)


def refresh(engine: Engine, infos: Collection[SubscriberInfo], now: datetime) -> None:
    """Keep what the database knows of present files as they say (address, name, file hash):
    an edit, the same reader. Also for a reader who unsubscribed, whose digests a pass does
    not build: its address must be the one its file gives when the file comes back. Clears
    `removed_at`: the file is there."""
    if not infos:
        return
    with engine.begin() as conn:  # one statement, its rows in the order passes lock them
        conn.execute(update(subscribers).where(subscribers.c.id == bindparam("sid")).values(
            email=bindparam("email"), name=bindparam("name"),
            fingerprint=bindparam("fingerprint"), removed_at=None, updated_at=now),
            [{"sid": i.id, "email": i.email, "name": i.name, "fingerprint": i.fingerprint}
             for i in sorted(infos, key=lambda i: i.id)])


def start_afresh(engine: Engine, info: SubscriberInfo, generation: int, now: datetime,
                 ) -> Wiped | None:
    """Make `info` the id's new reader, as if never seen: cursor at its `start_seq`, first
    seen now, subscribed, no marks, digests or slot claims, the next generation. None when
    the id is no longer at `generation` or needs no fresh start (another pass did it)."""
    with engine.begin() as conn:
        # The row changes first: its lock keeps a concurrent pass from doing it twice.
        before = conn.execute(select(subscribers.c.unsubscribed_at).where(
            subscribers.c.id == info.id, subscribers.c.generation == generation)).first()
        changed = conn.execute(update(subscribers).where(
            subscribers.c.id == info.id, subscribers.c.generation == generation,
            or_(subscribers.c.removed_at.is_not(None),
                subscribers.c.forgotten_at.is_not(None))).values(
            email=info.email, name=info.name, fingerprint=info.fingerprint,
            cursor_seq=info.start_seq, first_seen_at=now, updated_at=now,
            unsubscribed_at=None, removed_at=None, forgotten_at=None,
            generation=generation + 1)).rowcount
        if not changed or before is None:
            return None
        return _wipe(conn, info.id, before.unsubscribed_at, generation + 1)


def forget(engine: Engine, subscriber_id: str, now: datetime) -> Wiped | None:
    """Wipe what the database holds of an id's reader: digests, marks, slot claims, the
    unsubscribe, the address and name. The row stays, at the next generation, marked
    forgotten: the links in the wiped digests stay refused, and the next file of that name
    starts afresh whatever its address. None when the database knows nothing of the id."""
    with engine.begin() as conn:
        row = conn.execute(select(subscribers.c.generation, subscribers.c.unsubscribed_at)
                           .where(subscribers.c.id == subscriber_id)).first()
        if row is None:  # marks may come before a first digest makes the row
            marks = conn.execute(delete(paper_marks).where(
                paper_marks.c.subscriber_id == subscriber_id)).rowcount
            return Wiped(0, 0, marks, None, 0) if marks else None
        conn.execute(update(subscribers).where(subscribers.c.id == subscriber_id).values(
            email=None, name=subscriber_id, fingerprint="", unsubscribed_at=None,
            forgotten_at=now, updated_at=now, generation=row.generation + 1))
        return _wipe(conn, subscriber_id, row.unsubscribed_at, row.generation + 1)


def _wipe(conn: Connection, subscriber_id: str, unsubscribed_at: datetime | None,
          generation: int) -> Wiped:
    """Remove the id's digests (their sends still counted, /metrics), marks and claims."""
    ids = list(conn.execute(select(digests.c.id)
                            .where(digests.c.subscriber_id == subscriber_id)).scalars())
    unsent = 0
    for chunk in chunks(ids):
        unsent += int(conn.execute(
            select(func.count(func.distinct(deliveries.c.digest_id)))
            .where(deliveries.c.digest_id.in_(chunk), deliveries.c.status != "sent"))
            .scalar_one())
        remove_digests(conn, list(chunk))
    conn.execute(delete(slot_claims).where(slot_claims.c.subscriber_id == subscriber_id))
    marks = conn.execute(delete(paper_marks)
                         .where(paper_marks.c.subscriber_id == subscriber_id)).rowcount
    return Wiped(len(ids), unsent, int(marks), unsubscribed_at, generation)
