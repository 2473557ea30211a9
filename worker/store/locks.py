"""The lease that tells a run under way from one whose process died (RunLease), whether a
process of this host is alive (delivery leases, serve's heartbeat), and the key of an
advisory lock by name (the schema migration's).

A run's lease is a lock the operating system or the server frees when the process dies: on
SQLite a lock on a file beside the database, on PostgreSQL a session-level advisory lock held
on the run's own connection (it goes away with the connection, so a crashed replica never
leaves it behind).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger("paper_digest")

try:
    import fcntl
except ImportError:  # not on Windows: runs there take no lease
    fcntl = None  # type: ignore[assignment]


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for `name` (advisory locks take a bigint)."""
    return int.from_bytes(hashlib.sha256(f"paper-digest:{name}".encode()).digest()[:8],
                          "big", signed=True)


# A run's advisory lock: (this schema's runs, the run's id). Two schemas of one database, each
# with its own runs numbered from 1, hold different locks.
_RUN_KEY = "hashtext('paper-digest:run:' || current_schema()), :id"


class RunLease:
    """Held by the process doing a run, from before its row can be seen until it is finished:
    the operating system (SQLite: a lock on a file beside the database) or the server
    (PostgreSQL: an advisory lock of the run's own connection) frees it when the process dies,
    so a run left `running` by a killed process can be told from one under way
    (`run_lease_free`)."""

    def __init__(self, release: Callable[[], None]):
        self._release: Callable[[], None] | None = release

    def release(self) -> None:
        if self._release is not None:
            release, self._release = self._release, None
            release()


def lease_run(engine: Any, run_id: int) -> RunLease | None:
    """Take run `run_id`'s lease; called inside the transaction that inserts its row, so no
    one sees the row without the lease. None where there is nothing to lease: an in-memory
    database, a dry run's scope (rolled back), a system without file locks."""
    if getattr(engine, "url", None) is None:
        return None
    if engine.dialect.name == "postgresql":
        holder = engine.connect()
        holder.execute(text(f"SELECT pg_advisory_lock({_RUN_KEY})"), {"id": run_id})
        holder.commit()

        def unlock() -> None:
            try:  # (the pool keeps the session, and a session's lock with it: unlock)
                holder.execute(text(f"SELECT pg_advisory_unlock({_RUN_KEY})"), {"id": run_id})
                holder.commit()
            except SQLAlchemyError:  # the connection is lost, and the lock went with it
                holder.invalidate()
            finally:
                holder.close()
        return RunLease(unlock)
    path = _lease_file(engine, run_id)
    if path is None:
        return None
    for _ in range(3):  # (the folder goes when its last lease does: make it again)
        try:
            path.parent.mkdir(exist_ok=True)
            handle = path.open("a")
            break
        except FileNotFoundError:
            continue
        except OSError as exc:  # the run goes on; a sweep may take it for dead (finish_run
            log.warning("run %s takes no lease: %s", run_id, exc)  # puts its status right)
            return None
    else:
        return None
    fcntl.flock(handle, fcntl.LOCK_EX)

    def unlink() -> None:
        path.unlink(missing_ok=True)
        handle.close()
        _remove_if_empty(path.parent)
    return RunLease(unlink)


def run_lease_free(engine: Any, run_id: int) -> bool:
    """True when no process holds run `run_id`'s lease: the run's process is gone (or the run
    was started by a version that took none). False when it is held or cannot be told."""
    if getattr(engine, "url", None) is None:
        return False
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            free = bool(conn.execute(text(f"SELECT pg_try_advisory_lock({_RUN_KEY})"),
                                     {"id": run_id}).scalar())
            if free:
                conn.execute(text(f"SELECT pg_advisory_unlock({_RUN_KEY})"), {"id": run_id})
            conn.commit()
        return free
    path = _lease_file(engine, run_id)
    if path is None:
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:  # a lease's file exists before its row can be seen: none taken
        return True
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    else:
        path.unlink(missing_ok=True)
        return True
    finally:
        os.close(fd)
        _remove_if_empty(path.parent)


def _remove_if_empty(folder: Path) -> None:
    """No lease folder is left beside a database once its runs are over."""
    with suppress(OSError):  # another run's lease is in it (or it is gone already)
        folder.rmdir()


def _lease_file(engine: Any, run_id: int) -> Path | None:
    """`<database>-runs/<id>.lock` for a SQLite file (beside its -wal and -shm files)."""
    database = engine.url.database
    if fcntl is None or engine.dialect.name != "sqlite" or not database or \
            database == ":memory:" or database.startswith("file:"):
        return None
    return Path(f"{database}-runs") / f"{run_id}.lock"


def process_alive(pid: int) -> bool:
    """Is process `pid` of this host running? (A lease or heartbeat of this host whose
    process is gone need not be waited for.)"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
