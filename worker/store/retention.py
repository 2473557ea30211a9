"""Forgetting what is done and old (`[retention]` in worker.toml; worker.retention).

Papers and their sightings are never removed: they are what "new" is measured against.
A digest goes, with its items and deliveries, once it is older than the cutoff and every
delivery of it was sent: one still pending or failed stays, to be sent or retried, and so does
each subscriber's newest digest (`status` shows it). Past it, a subscriber still never gets a
paper twice: its cursor has moved beyond every paper those digests held
(worker.store.cursors), and cursors never move back. A run's record goes once it started
before the cutoff, but the newest stays.

Deletes go a batch of digests at a time, each batch its own transaction: a pass that removes a
year of digests does not hold a lock on the outbox while it does.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, delete, exists, func, select

from worker.store.schema import deliveries, digest_items, digests, runs

BATCH = 1000  # digests a transaction


def prune_digests(engine: Engine, before: datetime, *, batch: int = BATCH) -> tuple[int, int]:
    """Remove the digests made before `before` whose deliveries were all sent, but each
    subscriber's newest; (digests, items) removed."""
    newer = digests.alias("newer")
    unsent = (select(deliveries.c.id).where(deliveries.c.digest_id == digests.c.id,
                                            deliveries.c.status != "sent"))
    a_newer = (select(newer.c.id).where(newer.c.subscriber_id == digests.c.subscriber_id,
                                        newer.c.id > digests.c.id))
    old = (select(digests.c.id).where(digests.c.created_at < before, ~exists(unsent),
                                      exists(a_newer))
           .order_by(digests.c.id).limit(batch))
    removed = items = 0
    while True:
        with engine.begin() as conn:
            ids = list(conn.execute(old).scalars())
            if not ids:
                return removed, items
            items += conn.execute(delete(digest_items)
                                  .where(digest_items.c.digest_id.in_(ids))).rowcount
            conn.execute(delete(deliveries).where(deliveries.c.digest_id.in_(ids)))
            removed += conn.execute(delete(digests).where(digests.c.id.in_(ids))).rowcount


def prune_runs(engine: Engine, before: datetime) -> int:
    """Remove the records of runs started before `before`, but the newest run's (a run still
    marked running then had its process die long ago: `status` calls it abandoned)."""
    with engine.begin() as conn:
        newest = conn.execute(select(func.max(runs.c.id))).scalar()
        if newest is None:
            return 0
        return int(conn.execute(delete(runs).where(runs.c.started_at < before,
                                                   runs.c.id != newest)).rowcount)
