"""Engine set-up and schema migration for SQLite and PostgreSQL."""

from __future__ import annotations

import os
import time
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError as SQLAlchemyDatabaseError
from sqlalchemy.exc import OperationalError, ProgrammingError

from worker import __schema__
from worker.errors import PaperDigestError

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest revision in migrations/versions; a test checks it equals Alembic's head, so a
# database already at it opens without importing Alembic (a quick `run` stays quick).
HEAD_REVISION = __schema__


class DatabaseOpenError(PaperDigestError):
    """The database cannot be opened or migrated."""


class NoSchemaYet(DatabaseOpenError):
    """A command that only reads found no paper-digest database there yet: no SQLite file, or
    a PostgreSQL database without its tables. `run` or `serve` makes it."""


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


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at; None when it has no paper-digest tables yet.
    A database that cannot be read (unreachable, not a database) raises, as SQLAlchemy does."""
    try:
        with reading(engine) as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, ProgrammingError):
        from sqlalchemy import inspect

        with reading(engine) as conn:  # (only on this path: a run's open stays one query)
            if inspect(conn).has_table("alembic_version"):
                raise
        return None


def migrate(engine: Engine, *, upgrade: bool = True) -> None:
    """Bring the schema to the newest revision (Alembic), unless it is there already.
    `upgrade=False` (a dry run): create it on an empty database, but refuse to upgrade one an
    older paper-digest made, which no rollback would undo."""
    current = current_revision(engine)
    if current == HEAD_REVISION:
        return
    if not upgrade and current is not None and current.isdigit() \
            and int(current) < int(HEAD_REVISION):
        raise DatabaseOpenError(
            f"database {engine.url.render_as_string(hide_password=True)} is at schema "
            f"revision {current}, older than this paper-digest's {HEAD_REVISION}, and a dry "
            "run keeps nothing, an upgrade included: run without --dry-run (or serve) to "
            "upgrade it (back it up first)")
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    if current is not None and current not in known:
        raise _newer_schema(engine, current)
    if current is not None:
        _refuse_beside_a_running_serve(engine, current)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Runs that start together on an empty database: one migrates, the others wait
            # here, then Alembic finds the schema at head (SQLite's BEGIN IMMEDIATE does this).
            from worker.store.locks import lock_key

            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key("migrate")})
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def _newer_schema(engine: Engine, current: str) -> DatabaseOpenError:
    from worker import __version__

    return DatabaseOpenError(
        f"database {engine.url.render_as_string(hide_password=True)} is at schema revision "
        f"{current}, which paper-digest {__version__} does not know (its newest is "
        f"{HEAD_REVISION}): a newer paper-digest wrote it. Run that version again, or "
        "restore a backup of the database made before it.")


# A serve whose heartbeat is this recent is taken to be running (the default heartbeat is 30 s;
# `health` allows three): an upgrade waits for it to stop.
RUNNING_SERVE = timedelta(minutes=2)


def _refuse_beside_a_running_serve(engine: Engine, current: str) -> None:
    """An upgrade of the schema under a serve that is still running, an older paper-digest
    that keeps writing as its schema had it, is refused: after 0005 an older serve's papers
    had no title hash (SQLite) and were then met again as new papers, sent again; on
    PostgreSQL its every ingest failed. Heartbeats of serves on this host whose process is
    gone (killed), or whose pid is this process's, do not count."""
    import socket
    from datetime import UTC, datetime

    from worker.store.locks import process_alive
    from worker.store.schema import heartbeats

    if current < "0002":  # no heartbeats table yet
        return
    cutoff = datetime.now(UTC) - RUNNING_SERVE
    with reading(engine) as conn:
        beating = conn.execute(
            select(heartbeats.c.worker, heartbeats.c.host, heartbeats.c.pid,
                   heartbeats.c.beat_at).where(heartbeats.c.beat_at > cutoff)).all()
    host = socket.gethostname()
    # this host's pid of ours: a serve before a restart of the same container (PID 1 again)
    running = [row for row in beating
               if row.host != host or (row.pid != os.getpid() and process_alive(row.pid))]
    if running and current_revision(engine) == HEAD_REVISION:
        return  # another process of this version upgraded it meanwhile, and now serves
    if running:
        row = running[0]
        ago = max(0, int((datetime.now(UTC) - row.beat_at).total_seconds()))
        more = f" (and {len(running) - 1} more)" if len(running) > 1 else ""
        raise DatabaseOpenError(
            f"database {engine.url.render_as_string(hide_password=True)} is at schema "
            f"revision {current} and paper-digest serve {row.worker} on {row.host} "
            f"(heartbeat {ago} s ago){more} is using it: stop every serve on it before "
            f"upgrading to {HEAD_REVISION} (an older serve's writes do not fit the new "
            "schema); a serve stopped cleanly leaves no heartbeat, a killed one's counts "
            f"for {int(RUNNING_SERVE.total_seconds() // 60)} minutes")


def open_existing(url: str, run: str = "paper-digest run") -> Engine:
    """An engine on `url` for a command that only reads (status, preview): the database must
    be there with the schema at HEAD_REVISION. Unlike open_engine it never creates a SQLite
    file nor migrates: looking at an install with a newer paper-digest must not upgrade the
    schema under the older one still serving it (whose writes the new schema may refuse),
    nor leave an empty database where a mistyped path pointed. `run`: the command that makes
    or upgrades it, as its errors name it (with the config the user gave)."""
    missing = missing_sqlite_file(url)
    if missing is not None:
        raise NoSchemaYet(f"no database at {missing} yet: `{run}` or `serve` makes "
                          "it (is database_url, or PAPER_DIGEST_DATABASE_URL, the one they "
                          "use?)")
    with _opening(url):
        engine = make_engine(url)
        current = current_revision(engine)
    if current == HEAD_REVISION:
        return engine
    engine.dispose()
    if current is None:
        raise NoSchemaYet(f"database {redact(url)} has no paper-digest tables yet: "
                          f"`{run}` or `serve` creates them (is database_url, or "
                          "PAPER_DIGEST_DATABASE_URL, the one they use?)")
    if not current.isdigit() or int(current) > int(HEAD_REVISION):
        raise _newer_schema(engine, current)
    raise DatabaseOpenError(
        f"database {redact(url)} is at schema revision {current}, older than this "
        f"paper-digest's {HEAD_REVISION}: `{run}` or `serve` upgrades it (back it "
        "up first); this command only reads, and leaves it as it is")


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


def open_engine(url: str, *, upgrade: bool = True) -> Engine:
    """An engine on `url` with the schema migrated; DatabaseOpenError says what went wrong.
    `upgrade=False`: a schema an older paper-digest made is refused, not upgraded (migrate)."""
    problem = unwritable_sqlite(url)
    if problem is not None:
        raise DatabaseOpenError(f"cannot open database {redact(url)}: {problem}")
    with _opening(url):
        engine = make_engine(url)
        migrate(engine, upgrade=upgrade)
    return engine


# What SQLite says when the file is not what database_url should name, or the disk is full.
_OPENING_HINTS = (
    ("file is not a database", " (this file is something else: is database_url the file "
                               "paper-digest made?)"),
    ("disk i/o error", " (is the disk full, or the file on a network share?)"),
    ("database or disk is full", " (free some space; nothing half-done was recorded)"),
)


@contextmanager
def _opening(url: str) -> Iterator[None]:
    """What opening the database `url` failed on, as a DatabaseOpenError."""
    try:
        yield
    except SQLAlchemyDatabaseError as exc:  # (OperationalError, ProgrammingError, ...)
        line = error_line(exc)
        hint = next((h for said, h in _OPENING_HINTS if said in line.lower()), "")
        raise DatabaseOpenError(f"cannot open database {redact(url)}: {line}{hint}") from None
    except ModuleNotFoundError as exc:
        raise DatabaseOpenError(f"database driver missing for {redact(url)}: {exc.name}; "
                                "install paper-digest[postgres]") from None


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
