"""One connection that a delivery pass records its outcomes on (sent, retry, failed).

Each outcome is still its own transaction, written as soon as the channel has answered, so a
crash repeats at most the one digest whose mark was being written. What this saves is the
rest: through the pool every mark took a connection (with its liveness ping), a BEGIN, the
UPDATE and a COMMIT, four round trips to PostgreSQL a digest, about a millisecond at
institute scale, a fifth of the delivery stage. On the held connection, in autocommit mode on
PostgreSQL, the one UPDATE is the transaction: one round trip. SQLite keeps its explicit
(IMMEDIATE) transaction, which costs no round trip.

A connection that died between two marks (a restarted server, a killed backend) is found by
the mark itself rather than by a ping before it: the mark is then written once more on a new
connection. Writing it twice is harmless: it changes the row only while the lease is ours and
the delivery still pending.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError


class Recorder:
    """Runs single-statement writes, each in its own transaction, on one held connection."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._conn: Connection | None = None

    def _connection(self) -> Connection:
        if self._conn is None:
            conn = self.engine.connect()
            if conn.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            self._conn = conn
        return self._conn

    def write(self, statement: Any, params: Mapping[str, Any]) -> int:
        """Execute `statement` in a transaction of its own; return the rows it changed."""
        try:
            return self._write(statement, params)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            # The connection is gone. Had the write been committed before it went (only its
            # reply lost), writing it again changes nothing and reports no rows.
            self.close()
            return self._write(statement, params)

    def _write(self, statement: Any, params: Mapping[str, Any]) -> int:
        conn = self._connection()
        with conn.begin():
            return conn.execute(statement, params).rowcount

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()


@contextmanager
def recording(engine: Engine) -> Iterator[Recorder | None]:
    """A Recorder for a pass on `engine`; None inside `rolled_back` (a dry run), whose
    stand-in engine already runs everything on one connection."""
    if not isinstance(engine, Engine):
        yield None
        return
    recorder = Recorder(engine)
    try:
        yield recorder
    finally:
        recorder.close()
