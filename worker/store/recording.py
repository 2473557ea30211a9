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
the delivery still pending. While the server does not answer at all (restarting, failing
over, a network blip), the mark is tried again for up to PATIENCE: a mark given up on is a
digest the channel accepted that goes out a second time once its lease ends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from worker.errors import as_database_error

log = logging.getLogger("paper_digest")
PATIENCE = 60.0  # seconds a mark is tried again while the database does not answer
PAUSE_MAX = 5.0  # seconds at most between two tries


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
        """Execute `statement` in a transaction of its own; return the rows it changed.

        Once more at once on a new connection when the held one is gone, then again and again
        (pauses doubling up to PAUSE_MAX) while no connection can be made, for PATIENCE."""
        deadline, pause = None, 0.5
        while True:
            try:
                return self._write(statement, params)
            except DBAPIError as exc:
                # Not the database's answer to the write (a constraint): the connection.
                if not (exc.connection_invalidated or self._conn is None):
                    raise
                # Had the write been committed before the connection went (only its reply
                # lost), writing it again changes nothing and reports no rows.
                self.close()
                if deadline is None:
                    deadline = time.monotonic() + PATIENCE
                    if exc.connection_invalidated:
                        continue  # a killed backend: a new connection at once
                if time.monotonic() + pause > deadline:
                    raise
                if pause == 0.5:  # one line for the outage, not one a try
                    log.warning("database does not answer (%s); the outcome of the send is "
                                "written again for up to %d s", as_database_error(exc) or exc,
                                PATIENCE, extra={"event": "database.retry"})
                time.sleep(pause)
                pause = min(pause * 2, PAUSE_MAX)

    def _write(self, statement: Any, params: Mapping[str, Any]) -> int:
        conn = self._connection()  # (a failure here leaves self._conn None)
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
