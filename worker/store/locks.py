"""Cluster-wide "only one of us does this now" for jobs such as fetching.

On PostgreSQL a session-level advisory lock, held on its own connection for the job's
duration (it goes away with the connection, so a crashed replica never leaves it behind). On
SQLite every replica shares one file on one host, and what such jobs write is idempotent
(a dump is ingested once, by content), so the lock is always granted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for `name` (advisory locks take a bigint)."""
    return int.from_bytes(hashlib.sha256(f"paper-digest:{name}".encode()).digest()[:8],
                          "big", signed=True)


@contextmanager
def exclusive(engine: Engine, name: str) -> Iterator[bool]:
    """Yield True when this process holds the lock `name`, False when another one does."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    key = lock_key(name)
    with engine.connect() as conn:
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()
        try:
            yield got
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
