"""Runs, per-source health, and what the fetcher remembers between runs."""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update

from worker.errors import as_database_error
from worker.store.db import reading, upsert
from worker.store.locks import RunLease, lease_run, run_lease_free
from worker.store.models import RunState, SourceState
from worker.store.schema import http_cache, http_holds, runs, source_status

# Runs this process started and has not finished, by engine, with their leases: what serve
# marks abandoned when it must leave while a job is stuck (else they would read "running" for
# ever). A run whose process died is found by its lease (worker.store.locks.RunLease).
_OPEN: dict[int, tuple[Engine, dict[int, RunLease | None]]] = {}
_OPEN_LOCK = threading.Lock()
# Runs this process finished whose outcome the database did not take (it went away: most
# likely why the pass failed), by engine, with the values to write: recorded_late writes them
# once it answers again (serve's next pass or heartbeat). Left `running`, their leases gone,
# they read `abandoned` as if the process had died.
_UNRECORDED: dict[int, tuple[Engine, dict[int, dict[str, Any]]]] = {}
log = logging.getLogger("paper_digest")


def start_run(engine: Engine, kind: str, now: datetime) -> int:
    """Record a run under way (and first, write how this process's earlier runs ended if the
    database missed it, and mark abandoned the runs whose process died)."""
    recorded_late(engine)
    abandon_dead(engine, now)
    lease = None
    try:
        with engine.begin() as conn:
            run_id = int(conn.execute(insert(runs).values(kind=kind, started_at=now,
                                                          status="running")
                                      .returning(runs.c.id)).scalar_one())
            lease = lease_run(engine, run_id)
    except BaseException:
        if lease is not None:
            lease.release()
        raise
    with _OPEN_LOCK:
        _OPEN.setdefault(id(engine), (engine, {}))[1][run_id] = lease
    return run_id


def finish_run(engine: Engine, run_id: int, now: datetime, status: str,
               stats: dict[str, Any], error: str | None = None) -> None:
    """Record how run `run_id` ended. A database that does not take it (gone away) raises,
    and the outcome is kept for recorded_late to write (not a dry run's: rolled back)."""
    with _OPEN_LOCK:
        open_runs = _OPEN.get(id(engine), (engine, {}))[1]
        lease = open_runs.pop(run_id, None)
        if not open_runs:  # nothing kept of an engine (or a dry run's scope) once its runs end
            _OPEN.pop(id(engine), None)
    values = {"finished_at": now, "status": status, "stats": json.dumps(stats), "error": error}
    try:
        _record(engine, run_id, values)
    except Exception as exc:
        if isinstance(engine, Engine):
            with _OPEN_LOCK:
                _UNRECORDED.setdefault(id(engine), (engine, {}))[1][run_id] = values
            log.warning("run #%d ended %s, but the database did not take it (%s): kept to "
                        "record once it answers, if this process still runs (serve: its next "
                        "heartbeat or pass); until then `status` reads it abandoned",
                        run_id, status, as_database_error(exc) or type(exc).__name__,
                        extra={"event": "run.unrecorded", "run": run_id, "status": status})
        raise
    finally:
        if lease is not None:
            lease.release()


def recorded_late(engine: Engine) -> int:
    """Write how this process's runs on `engine` ended that the database did not take when
    they did (finish_run); how many. Raises, keeping the rest, while it still does not."""
    with _OPEN_LOCK:
        kept = dict(_UNRECORDED.get(id(engine), (engine, {}))[1])
    for run_id, values in sorted(kept.items()):
        _record(engine, run_id, values)  # (over `abandoned`, which another process may have
        with _OPEN_LOCK:                 # written meanwhile: it could not know better)
            unrecorded = _UNRECORDED.get(id(engine), (engine, {}))[1]
            unrecorded.pop(run_id, None)
            if not unrecorded:
                _UNRECORDED.pop(id(engine), None)
        log.info("run #%d recorded %s now that the database answers", run_id,
                 values["status"], extra={"event": "run.recorded", "run": run_id,
                                          "status": values["status"]})
    return len(kept)


def _record(engine: Engine, run_id: int, values: dict[str, Any]) -> None:
    with engine.begin() as conn:
        conn.execute(update(runs).where(runs.c.id == run_id).values(**values))


def abandon_open(engine: Engine, now: datetime) -> int:
    """Mark this process's unfinished runs on `engine` abandoned; how many."""
    with _OPEN_LOCK:
        open_runs = _OPEN.pop(id(engine), (engine, {}))[1]
    if not open_runs:
        return 0
    try:
        return _abandon(engine, sorted(open_runs), finished_at=now)
    finally:
        for lease in open_runs.values():
            if lease is not None:
                lease.release()


def abandon_dead(engine: Engine, now: datetime) -> int:
    """Mark abandoned the runs left `running` by a process that died (killed, the machine
    lost): their leases are free. How many. When it died is not known: no finish time."""
    with reading(engine) as conn:
        running = conn.execute(select(runs.c.id).where(runs.c.status == "running")).scalars()
        ids = list(running)
    dead = [run_id for run_id in ids if run_lease_free(engine, run_id)]
    return _abandon(engine, dead, finished_at=None) if dead else 0


def _abandon(engine: Engine, ids: list[int], finished_at: datetime | None) -> int:
    with engine.begin() as conn:
        return int(conn.execute(update(runs).where(runs.c.id.in_(ids),
                                                   runs.c.status == "running")
                                .values(finished_at=finished_at, status="abandoned")).rowcount)


def recent_runs(engine: Engine, limit: int = 5) -> list[RunState]:
    """The last `limit` runs, newest first; one left `running` by a process that died reads
    `abandoned` (the next run records it so)."""
    with reading(engine) as conn:
        rows = list(conn.execute(select(runs).order_by(runs.c.id.desc()).limit(limit)))
    return [RunState(r.id, r.kind, r.started_at, r.finished_at,
                     "abandoned" if r.status == "running" and run_lease_free(engine, r.id)
                     else r.status, json.loads(r.stats or "{}"), r.error) for r in rows]


def source_ok(engine: Engine, name: str, now: datetime) -> None:
    _upsert_source(engine, name, last_success_at=now, last_error=None, error_since=None)


def source_last_success(engine: Engine, name: str) -> datetime | None:
    """When the source `name` was last read without a failure; None: never."""
    with reading(engine) as conn:
        return conn.execute(select(source_status.c.last_success_at)
                            .where(source_status.c.name == name)).scalar_one_or_none()


def source_failed(engine: Engine, name: str, now: datetime, error: str) -> bool:
    """Record a source error; True when it differs from the error already on record."""
    with reading(engine) as conn:
        row = conn.execute(select(source_status).where(source_status.c.name == name)).first()
    distinct = row is None or row.last_error != error
    since = row.error_since if row is not None and row.error_since else now
    _upsert_source(engine, name, last_error=error, last_error_at=now, error_since=since)
    return distinct


def _upsert_source(engine: Engine, name: str, **values: Any) -> None:
    with engine.begin() as conn:
        statement = upsert(conn, source_status).values(name=name, **values)
        conn.execute(statement.on_conflict_do_update(index_elements=["name"], set_=values))


def source_states(engine: Engine) -> list[SourceState]:
    with reading(engine) as conn:
        return [SourceState(r.name, r.last_success_at, r.last_error, r.last_error_at,
                            r.error_since)
                for r in conn.execute(select(source_status).order_by(source_status.c.name))]


class DatabaseMemory:
    """ETag / Last-Modified per URL and servers' holds, kept in the database (the fetcher's
    FetchMemory)."""

    def __init__(self, engine: Engine, now: datetime):
        self.engine = engine
        self.now = now

    def get(self, url: str) -> tuple[str | None, str | None]:
        with reading(self.engine) as conn:
            row = conn.execute(select(http_cache).where(http_cache.c.url == url)).first()
        return (row.etag, row.last_modified) if row else (None, None)

    def put(self, url: str, etag: str | None, last_modified: str | None) -> None:
        values = {"etag": etag, "last_modified": last_modified, "updated_at": self.now}
        with self.engine.begin() as conn:
            statement = upsert(conn, http_cache).values(url=url, **values)
            conn.execute(statement.on_conflict_do_update(index_elements=["url"], set_=values))

    def held(self, where: str) -> tuple[datetime, str] | None:
        with reading(self.engine) as conn:
            row = conn.execute(select(http_holds).where(http_holds.c.host == where)).first()
        return (row.until, row.reason) if row else None

    def hold(self, where: str, until: datetime, reason: str) -> None:
        values = {"until": until, "reason": reason, "set_at": self.now}
        with self.engine.begin() as conn:
            statement = upsert(conn, http_holds).values(host=where, **values)
            conn.execute(statement.on_conflict_do_update(index_elements=["host"], set_=values))
