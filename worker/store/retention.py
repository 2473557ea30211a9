"""Forgetting what is done and old (`[retention]` in worker.toml; worker.retention).

Papers and their sightings are never removed: they are what "new" is measured against.
A digest goes, with its items and deliveries, once it is older than the cutoff and every
delivery of it was sent: one still pending or failed stays, to be sent or retried, and so does
each subscriber's newest digest, and their newest sent one (`status` shows when it was sent).
Past it, a subscriber still never gets a paper twice: its cursor has moved beyond every paper
those digests held (worker.store.cursors), and cursors never move back. A run's record goes
once it started before the cutoff, but the newest stays, and the newest that ended ok.

The sends of the digests removed are added to a counter per channel (`counters`), so that
/metrics' count of digests sent, a Prometheus counter, never goes down (worker.store.metrics).

Deletes go a batch of digests at a time, each batch its own transaction: a pass that removes a
year of digests does not hold a lock on the outbox while it does.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Engine, bindparam, delete, exists, func, select

from worker.store.db import upsert
from worker.store.schema import counters, deliveries, digest_items, digests, runs

BATCH = 1000  # digests a transaction
REMOVED_SENDS = "removed_sent:"  # + channel: the counter of its sends whose digests went


def prune_digests(engine: Engine, before: datetime, *, batch: int = BATCH) -> tuple[int, int]:
    """Remove the digests made before `before` whose deliveries were all sent, but each
    subscriber's newest and newest sent; (digests, items) removed."""
    newer, its = digests.alias("newer"), deliveries.alias("its")
    unsent = (select(deliveries.c.id).where(deliveries.c.digest_id == digests.c.id,
                                            deliveries.c.status != "sent"))
    a_newer = (select(newer.c.id).where(newer.c.subscriber_id == digests.c.subscriber_id,
                                        newer.c.id > digests.c.id))
    # Locked (PostgreSQL; SQLite has one writer at a time): a serve and a cron `run` pruning
    # at once take different digests, and count each one's sends once.
    old = (select(digests.c.id, digests.c.subscriber_id)
           .where(digests.c.created_at < before, ~exists(unsent), exists(a_newer),
                  digests.c.id > bindparam("after"))
           .order_by(digests.c.id).limit(batch).with_for_update(skip_locked=True))
    # Of those, the newest sent digest of a subscriber whose newer ones wait or failed stays
    # too (`status` says when the last digest was sent). Asked only of the few subscribers
    # with a delivery waiting or failed, a digest at a time (OFFSET 0: PostgreSQL made it a
    # join, and hashed every digest and delivery for each batch).
    waiting = (select(newer.c.subscriber_id).distinct()
               .join(its, its.c.digest_id == newer.c.id)
               .where(its.c.status.in_(("pending", "failed"))))
    a_newer_sent = (select(newer.c.id).join(its, its.c.digest_id == newer.c.id)
                    .where(newer.c.subscriber_id == digests.c.subscriber_id,
                           newer.c.id > digests.c.id, its.c.sent_at.is_not(None)).offset(0))
    last_sent = select(digests.c.id).where(digests.c.id.in_(bindparam("ids", expanding=True)),
                                           ~exists(a_newer_sent))
    removed = items = after = 0
    while True:
        with engine.begin() as conn:
            found = conn.execute(old, {"after": after}).all()
            if not found:
                return removed, items
            after = found[-1].id  # the batch's newest sent stay: not asked about again
            held = set(conn.execute(waiting).scalars())
            doubt = [row.id for row in found if row.subscriber_id in held]
            kept = set(conn.execute(last_sent, {"ids": doubt}).scalars()) if doubt else set()
            ids = [row.id for row in found if row.id not in kept]
            if not ids:
                continue
            items += conn.execute(delete(digest_items)
                                  .where(digest_items.c.digest_id.in_(ids))).rowcount
            _count_sends(conn, ids)
            conn.execute(delete(deliveries).where(deliveries.c.digest_id.in_(ids)))
            removed += conn.execute(delete(digests).where(digests.c.id.in_(ids))).rowcount


def _count_sends(conn: Connection, digest_ids: list[int]) -> None:
    sent = conn.execute(select(deliveries.c.channel, func.count())
                        .where(deliveries.c.digest_id.in_(digest_ids),
                               deliveries.c.status == "sent")
                        .group_by(deliveries.c.channel)).all()
    if sent:
        statement = upsert(conn, counters)
        conn.execute(statement.on_conflict_do_update(
            index_elements=["name"], set_={"value": counters.c.value + statement.excluded.value}),
            [{"name": f"{REMOVED_SENDS}{channel}", "value": n} for channel, n in sent])


def removed_sends(conn: Connection) -> dict[str, int]:
    """Per channel, the sends of the digests retention removed."""
    rows = conn.execute(select(counters.c.name, counters.c.value)
                        .where(counters.c.name.startswith(REMOVED_SENDS)))
    return {name.removeprefix(REMOVED_SENDS): int(value) for name, value in rows}


def prune_runs(engine: Engine, before: datetime) -> int:
    """Remove the records of runs started before `before`, but the newest run's and the
    newest successful one's (/metrics' time of the last good run). A run still marked running
    then had its process die long ago: `status` calls it abandoned."""
    with engine.begin() as conn:
        kept = {conn.execute(select(func.max(runs.c.id))).scalar(),
                conn.execute(select(func.max(runs.c.id)).where(runs.c.status == "ok")).scalar()}
        return int(conn.execute(delete(runs).where(
            runs.c.started_at < before, runs.c.id.not_in([k for k in kept if k is not None]),
        )).rowcount)
