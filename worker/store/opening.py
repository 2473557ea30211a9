"""Opening the database for a command: its schema brought to HEAD_REVISION (open_engine, with
Alembic) or only found there (open_existing, for commands that only read), and each way that
fails said as a DatabaseOpenError: a newer paper-digest's schema, an older one a dry run or a
reading command must not upgrade, a serve still running on it, a file that is no database.

Engines, URLs and the helpers store modules read and write with are worker.store.db's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DatabaseError as SQLAlchemyDatabaseError
from sqlalchemy.exc import OperationalError, ProgrammingError

from worker import __schema__
from worker.errors import PaperDigestError
from worker.store.db import (
    error_line,
    make_engine,
    missing_sqlite_file,
    reading,
    redact,
    unwritable_sqlite,
)

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest revision in migrations/versions; a test checks it equals Alembic's head, so a
# database already at it opens without importing Alembic (a quick `run` stays quick).
HEAD_REVISION = __schema__


class DatabaseOpenError(PaperDigestError):
    """The database cannot be opened or migrated."""


class NoSchemaYet(DatabaseOpenError):
    """A command that only reads found no paper-digest database there yet: no SQLite file, or
    a PostgreSQL database without its tables. `run` or `serve` makes it."""


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
