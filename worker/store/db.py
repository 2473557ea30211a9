"""Engines on SQLite and PostgreSQL: database URLs checked and shown without their password,
an engine set up (SQLite's pragmas and transactions), what a SQLite URL's file is like, and
the helpers store modules read and write with (reading, upsert, insert_rows, chunks,
rolled_back). Opening a database for a command, its schema checked or migrated, is
worker.store.opening's.
"""

from __future__ import annotations

import os
import time
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url


def normalize_url(url: str) -> str:
    """`postgres://` and `postgresql://` use psycopg 3; sqlite paths get their folder made."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def url_problem(url: str) -> str | None:
    """What is wrong with a database URL before connecting (a database this tool does not
    speak, or no URL at all), or None."""
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(normalize_url(url))
    except ValueError:  # a port that is no number, an unclosed [host]
        return (f"{_shown(url)!r} cannot be read as a URL: is its port a number, its host "
                "whole? (expected sqlite:///path/to/file.db or postgresql://user@host/database)")
    except ArgumentError:
        parsed = None
    if parsed is None or parsed.get_backend_name() not in ("sqlite", "postgresql"):
        # its password never shown (a typo in a scheme is common, the password with it)
        shown = (parsed.render_as_string(hide_password=True) if parsed is not None
                 else _shown(url))
        return (f"{shown!r} is not a database URL this tool uses: expected "
                "sqlite:///path/to/file.db or postgresql://user@host/database")
    return None


def _shown(url: str) -> str:
    """A URL that could not be parsed, as a message may show it: without what may be a
    password (its scheme only, when it names a user)."""
    return url if "@" not in url else url.split(":", 1)[0] + ":..."


def _sqlite_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transactions into our own hands (pysqlite's implicit BEGIN is deferred).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        journal_wal(cursor.execute)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the lock up front (IMMEDIATE): concurrent runs then queue on
        # busy_timeout instead of failing with "database is locked" when a transaction that
        # began as a reader tries to write. Readers stay deferred and, with WAL, never wait.
        read_only = conn.get_execution_options().get("read_only", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


# How long a new SQLite connection tries to put the database in WAL mode while SQLite answers
# "database is locked" at once (journal_wal); the busy timeout waits as long.
WAL_PATIENCE = 30.0


def journal_wal(execute: Callable[[str], Any], patience: float = WAL_PATIENCE) -> None:
    """`PRAGMA journal_mode=WAL`, the first statement of every SQLite connection, tried again
    for up to `patience` seconds while it fails with "database is locked". The busy timeout
    covers a lock another connection holds, not these: SQLite answers busy at once, without
    waiting, to a connection that asks while another process's last connection cleans up the
    WAL on closing, or runs recovery (sqlite.org/wal.html), or switches a new file to WAL
    itself. Two `run`s that cron started together on a new database: one of them failed to
    open it (test_concurrency, on a loaded machine)."""
    import sqlite3

    deadline = time.monotonic() + patience
    while True:
        try:
            execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return create_engine(url, pool_pre_ping=True)


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for reads only: it never takes SQLite's write lock."""
    with engine.connect() as conn:
        if isinstance(engine, Engine):  # not inside rolled_back(): its transaction is begun
            conn.execution_options(read_only=True)
        yield conn


def upsert(conn: Any, table: Any) -> Any:
    """INSERT with ON CONFLICT for the connection's dialect (SQLite and PostgreSQL agree).

    Only the dialect in use is imported: the PostgreSQL one costs a run on SQLite ~15 ms."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def insert_rows(conn: Connection, table: Any, columns: Sequence[str],
                rows: Sequence[tuple[Any, ...]]) -> None:
    """INSERT many rows of plain values (ints, floats, strings, None: columns whose types
    convert nothing) the way each database takes many rows quickest: COPY on PostgreSQL, the
    driver's executemany on SQLite. Through insert() each row's parameters are a dict that
    SQLAlchemy converts one by one; psycopg's executemany sends the server an INSERT a row.
    Writing the scale pass's digests (~140,000 items) took 7.8 s on PostgreSQL with
    insert(), 8.2 s with psycopg's executemany, 4.2-4.7 s with COPY; on SQLite 3.1 s with
    insert(), 2.6 s with the driver's executemany. COPY runs on the driver's connection,
    outside SQLAlchemy's execution: its errors are made SQLAlchemy's here (an IntegrityError
    stays one), and the rollback that follows goes through SQLAlchemy, which notices a
    dropped connection there."""
    if not rows:
        return
    names = ", ".join(columns)
    if conn.dialect.name != "postgresql":
        conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES "
                             f"({', '.join('?' * len(columns))})", list(rows))
        return
    from sqlalchemy.exc import DBAPIError

    statement = f"COPY {table.name} ({names}) FROM STDIN"
    dbapi = conn.dialect.loaded_dbapi
    driver: Any = conn.connection.driver_connection  # psycopg's, in this transaction
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except dbapi.Error as exc:
        raise DBAPIError.instance(statement, None, exc, dbapi.Error,
                                  dialect=conn.dialect) from exc


def chunks(items: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    """Bounded IN lists: far below SQLite's and PostgreSQL's limits on bound parameters."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def unwritable_sqlite(url: str) -> str | None:
    """Why this process cannot write the SQLite database `url` names (its file, or the folder
    that holds it and its -wal and -shm files, or would be made in), or None. SQLite itself
    says only 'unable to open database file', and making the folder failed with a traceback:
    in a container whose /data is a host folder the image's user may not write to."""
    found = _sqlite_file(url)
    if found is None:
        return None
    path = found.absolute()
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    whose = f"this process (user id {os.getuid()})" if hasattr(os, "getuid") else "this process"
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return (f"{path} cannot be written by {whose}: make it that user's, or run as its "
                "owner")
    if not os.access(folder, os.W_OK | os.X_OK):
        return (f"the folder {folder} cannot be written by {whose}: make it that user's, or "
                "run as its owner (SQLite keeps its -wal and -shm files beside the database)")
    return None


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        return make_url(normalize_url(url)).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown only by its scheme
        return url.split(":", 1)[0] + ":..."


def missing_sqlite_file(url: str) -> str | None:
    """The path of the SQLite file `url` names when there is none (connecting would create an
    empty one: a command that only reads says it is missing instead); else None."""
    path = _sqlite_file(url)
    return None if path is None or path.exists() else str(path)


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite database URL; None for an in-memory one or another database."""
    url = normalize_url(url)
    if not url.startswith("sqlite"):
        return None
    database = make_url(url).database
    if not database or database == ":memory:":
        return None
    return Path(database).expanduser()


def error_line(exc: BaseException) -> str:
    """The first line of a database error: the driver's message, without SQLAlchemy's
    statement and background link."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


class _Scoped:
    """Quacks like an Engine but runs every transaction as a savepoint of one connection."""

    def __init__(self, conn: Any):
        self.conn = conn
        self.dialect = conn.dialect

    @contextmanager
    def begin(self) -> Iterator[Any]:
        with self.conn.begin_nested():
            yield self.conn

    @contextmanager
    def connect(self) -> Iterator[Any]:
        yield self.conn


@contextmanager
def rolled_back(engine: Engine) -> Iterator[Engine]:
    """Run the real pipeline against `engine` and undo all of it: `--dry-run` and `preview`."""
    with engine.connect() as conn:
        outer = conn.begin()
        try:
            yield typing.cast(Engine, _Scoped(conn))
        finally:
            outer.rollback()
