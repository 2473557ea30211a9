"""A database error becomes one clear line: the driver's first line, never SQL or paper data
(worker.errors.as_database_error), wherever it surfaces: a command, a source, a serve job."""

from __future__ import annotations

import logging
import threading
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from worker.errors import DatabaseError, as_database_error
from worker.outage import FailingJobs
from worker.scheduler import Server


def _real_error() -> SQLAlchemyError:
    engine = create_engine("sqlite://")
    try:
        with engine.connect() as conn:
            conn.execute(text("INSERT INTO papers (title) VALUES (:title)"),
                         {"title": "Secret Paper Title"})
    except SQLAlchemyError as exc:
        return exc
    raise AssertionError("the statement should have failed")


def test_a_sqlalchemy_error_becomes_its_driver_line() -> None:
    exc = _real_error()
    assert "[SQL:" in str(exc) and "Secret Paper Title" in str(exc)  # what must not be shown
    clean = as_database_error(exc)
    assert isinstance(clean, DatabaseError)
    assert str(clean) == "database error: no such table: papers"


def test_ours_is_kept_and_others_are_not_database_errors() -> None:
    ours = DatabaseError("database error: gone")
    assert as_database_error(ours) is ours
    assert as_database_error(ValueError("no")) is None


def test_a_serve_job_logs_a_database_error_as_one_line(caplog: pytest.LogCaptureFixture,
                                                       ) -> None:
    counted: list[str] = []
    server = SimpleNamespace(_idle=threading.Condition(), stopping=threading.Event(),
                             _running=0, failing=FailingJobs(logging.getLogger("t")),
                             metrics=SimpleNamespace(
                                 inc=lambda name, **labels: counted.append(labels["outcome"])))

    def job() -> None:
        raise _real_error()

    with caplog.at_level(logging.ERROR):
        Server._guarded(server, "digests", job)()  # type: ignore[arg-type]
    (record,) = caplog.records
    assert record.getMessage() == "job digests failed: database error: no such table: papers"
    assert record.exc_info is None  # no traceback, so no SQL and no parameters either
    assert counted == ["error"] and server._running == 0


def test_a_database_that_cannot_be_reached_is_one_line() -> None:
    """psycopg's refusal has a second line (a tab, "Is the server running...?") that came out
    as a literal \\n\\t in every command's error."""
    from tests.integration.smtpserver import free_port
    from worker.store.opening import DatabaseOpenError, open_engine

    with pytest.raises(DatabaseOpenError) as caught:
        open_engine(f"postgresql://u:S3cret@127.0.0.1:{free_port()}/db")
    said = str(caught.value)
    assert "\n" not in said and "\t" not in said and "S3cret" not in said
    assert said.startswith("cannot open database postgresql+psycopg://u:***@127.0.0.1:")
