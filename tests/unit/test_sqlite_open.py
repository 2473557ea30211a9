"""worker.store.db.journal_wal: a new SQLite connection's first statement, tried again while
SQLite answers "database is locked" at once (another process closing or recovering the WAL,
or switching a new file to WAL: cases the busy timeout does not wait through)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from worker.store.db import journal_wal, make_engine


class Answers:
    """An `execute` that fails with each of `errors` in turn, then succeeds."""

    def __init__(self, *errors: Exception):
        self.errors, self.asked = list(errors), []

    def __call__(self, statement: str) -> None:
        self.asked.append(statement)
        if self.errors:
            raise self.errors.pop(0)


def test_a_database_locked_for_a_moment_is_asked_again() -> None:
    execute = Answers(sqlite3.OperationalError("database is locked"),
                      sqlite3.OperationalError("database is locked"))
    journal_wal(execute)
    assert execute.asked == ["PRAGMA journal_mode=WAL"] * 3


def test_another_error_is_raised_at_once() -> None:
    execute = Answers(sqlite3.OperationalError("file is not a database"))
    with pytest.raises(sqlite3.OperationalError, match="not a database"):
        journal_wal(execute)
    assert len(execute.asked) == 1


def test_a_lock_that_lasts_is_raised_once_its_patience_is_spent() -> None:
    execute = Answers(*[sqlite3.OperationalError("database is locked")] * 1000)
    began = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        journal_wal(execute, patience=0.3)
    assert 0.3 <= time.monotonic() - began < 2.0 and 2 < len(execute.asked) < 1000


def test_every_connection_of_an_engine_is_in_wal_mode(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        engine.dispose()
