"""Forgetting what is done and old (`[retention]` in worker.toml; worker.retention).

Papers and their sightings are never removed: they are what "new" is measured against.
A digest goes, with its items and deliveries, once it is older than the cutoff and every
delivery of it was sent: one still pending or failed stays, to be sent or retried, and so does
each subscriber's newest digest sent whole (`status` says when the last digest went), also
while newer ones wait or failed.
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
from typing import Any

from sqlalchemy import Connection, Engine, delete, exists, func, select

from worker.store.db import upsert
from worker.store.schema import counters, deliveries, digest_items, digests, runs

BATCH = 1000  # digests a transaction
REMOVED_SENDS = "removed_sent:"  # + channel: the counter of its sends whose digests went


def prune_digests(engine: Engine, before: datetime, *, batch: int = BATCH) -> tuple[int, int]:
    """Remove the digests made before `before` whose deliveries were all sent, but each
    subscriber's newest such digest; (digests, items) removed."""
    newer, its = digests.alias("newer"), deliveries.alias("its")

    def unsent(digest: Any) -> Any:
        return exists(select(its.c.id).where(its.c.digest_id == digest.c.id,
                                             its.c.status != "sent"))

    # A digest goes when a newer one of its subscriber was sent whole: the newest sent digest
    # stays (`status` says when the last digest went), also while newer ones wait or failed.
    a_newer_sent = (select(newer.c.id).where(newer.c.subscriber_id == digests.c.subscriber_id,
                                             newer.c.id > digests.c.id, ~unsent(newer)))
    # Locked (PostgreSQL; SQLite has one writer at a time): a serve and a cron `run` pruning
    # at once take different digests, and count each one's sends once.
    old = (select(digests.c.id).where(digests.c.created_at < before, ~unsent(digests),
                                      exists(a_newer_sent))
           .order_by(digests.c.id).limit(batch).with_for_update(skip_locked=True))
    removed = items = 0
    while True:
        with engine.begin() as conn:
            ids = list(conn.execute(old).scalars())
            if not ids:
                return removed, items
            items += remove_digests(conn, ids)
            removed += len(ids)


def remove_digests(conn: Connection, ids: list[int]) -> int:
    """Delete these digests with their items and deliveries, their sends counted first
    (/metrics); the items removed. Also for a subscriber id's earlier reader
    (worker.store.readers)."""
    items = conn.execute(delete(digest_items).where(digest_items.c.digest_id.in_(ids))).rowcount
    _count_sends(conn, ids)
    conn.execute(delete(deliveries).where(deliveries.c.digest_id.in_(ids)))
    conn.execute(delete(digests).where(digests.c.id.in_(ids)))
    return int(items)


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
