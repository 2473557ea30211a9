"""Who unsubscribed with a digest's link (worker.feedback), and taking it back.

The choice is the reader's and lives in the database, beside the subscriber's cursor: editing
the file, or deleting and restoring it, does not undo it; `paper-digest resubscribe` does (and
a new reader given the name starts subscribed: worker.readers).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select, update

from worker.store.db import reading, upsert
from worker.store.papers import current_seq
from worker.store.schema import subscribers


def set_unsubscribed(engine: Engine, subscriber_id: str, when: datetime | None, *,
                     generation: int | None = None) -> bool:
    """Unsubscribe (at `when`) or resubscribe (None); whether anything changed. Unsubscribing
    again keeps the first moment. A reader the database has no row for yet (restored from a
    backup made before their first digest, or a new one) is recorded all the same, as a
    pass records a new subscriber: the first pass that meets their file leaves them out.
    `generation`: only while the id's reader is of that generation (worker.readers: a link
    checked a moment ago must not act on a new reader started in between)."""
    done = subscribers.c.unsubscribed_at.is_(None) if when is not None else \
        subscribers.c.unsubscribed_at.is_not(None)
    same = [] if generation is None else [subscribers.c.generation == generation]
    change = (update(subscribers).where(subscribers.c.id == subscriber_id, done, *same)
              .values(unsubscribed_at=when))
    with engine.begin() as conn:
        changed = conn.execute(change).rowcount
        if not changed and when is not None and not generation and conn.execute(
                select(subscribers.c.id).where(subscribers.c.id == subscriber_id)).first() is None:
            # its details come from its file at the next pass (cursors.sync_subscribers)
            conn.execute(upsert(conn, subscribers).on_conflict_do_nothing(index_elements=["id"]),
                         {"id": subscriber_id, "email": None, "name": subscriber_id,
                          "cursor_seq": current_seq(conn), "first_seen_at": when,
                          "fingerprint": "", "updated_at": when})
            changed = conn.execute(change).rowcount  # (or the row a pass made meanwhile)
    return bool(changed)


def unsubscribed(engine: Engine) -> dict[str, datetime]:
    """Each subscriber who unsubscribed, and when."""
    with reading(engine) as conn:
        return dict(conn.execute(select(subscribers.c.id, subscribers.c.unsubscribed_at)
                                 .where(subscribers.c.unsubscribed_at.is_not(None))).all())


def unsubscribed_since(engine: Engine, subscriber_id: str) -> datetime | None:
    """When the subscriber unsubscribed; None while subscribed (or not known)."""
    with reading(engine) as conn:
        return conn.execute(select(subscribers.c.unsubscribed_at)
                            .where(subscribers.c.id == subscriber_id)).scalar()
