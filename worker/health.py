"""`paper-digest health`: is serve alive here, and is the database reachable?

Docker's HEALTHCHECK runs it inside the container, so by default only heartbeats written
from this host name count (the container's id): another replica's beat on a shared
PostgreSQL must not make a dead container look healthy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from worker.settings import Settings
from worker.store.db import error_line, make_engine, missing_sqlite_file, redact
from worker.store.schedule import latest_beat


@dataclass(frozen=True)
class Health:
    ok: bool
    message: str


def default_max_age(settings: Settings) -> timedelta:
    """Three missed beats, and never less than ten seconds of slack."""
    beat = settings.serve.duration("heartbeat")
    return max(3 * beat, beat + timedelta(seconds=10))


def check_health(settings: Settings, now: datetime, *, host: str | None,
                 max_age: timedelta) -> Health:
    url = settings.database_url
    missing = missing_sqlite_file(url)
    if missing:
        return Health(False, f"database file {missing} does not exist")
    engine = None
    try:
        engine = make_engine(url)
        beat = latest_beat(engine, host)
    except (SQLAlchemyError, ModuleNotFoundError) as exc:
        return Health(False, f"cannot read the heartbeat from {redact(url)}: {error_line(exc)}")
    finally:
        if engine is not None:
            engine.dispose()
    where = f" on host {host}" if host else ""
    if beat is None:
        return Health(False, f"no heartbeat recorded{where}: is `paper-digest serve` running?")
    age = now - beat.beat_at
    if age > max_age:
        return Health(False, f"heartbeat is stale: last one {_ago(age)} ago at "
                      f"{beat.beat_at:%Y-%m-%d %H:%M:%S} UTC from {beat.worker} "
                      f"(limit {_ago(max_age)})")
    return Health(True, f"OK: heartbeat {_ago(age)} ago from {beat.worker}; database "
                  "reachable")


def _ago(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"
