"""Who unsubscribed with a digest's link (worker.feedback), and taking it back.

The choice is the reader's and lives in the database, beside the subscriber's cursor: editing
the file, or deleting and recreating it, does not undo it; `paper-digest resubscribe` does.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select, update

from worker.store.db import reading
from worker.store.schema import subscribers


def set_unsubscribed(engine: Engine, subscriber_id: str, when: datetime | None) -> bool:
    """Unsubscribe (at `when`) or resubscribe (None); whether anything changed. Unsubscribing
    again keeps the first moment."""
    done = subscribers.c.unsubscribed_at.is_(None) if when is not None else \
        subscribers.c.unsubscribed_at.is_not(None)
    with engine.begin() as conn:
        changed = conn.execute(update(subscribers).where(subscribers.c.id == subscriber_id, done)
                               .values(unsubscribed_at=when)).rowcount
    return bool(changed)


def unsubscribed(engine: Engine) -> dict[str, datetime]:
    """Each subscriber who unsubscribed, and when."""
    with reading(engine) as conn:
        return dict(conn.execute(select(subscribers.c.id, subscribers.c.unsubscribed_at)
                                 .where(subscribers.c.unsubscribed_at.is_not(None))).all())
