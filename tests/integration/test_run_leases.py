"""A run left `running` by a process that died is told from one under way, on SQLite and on
PostgreSQL (worker.store.locks.RunLease); `test_faults_process` kills a real `run` with -9."""

from __future__ import annotations

import multiprocessing
import os
import signal
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select

from tests.integration.helpers import wait_for
from worker.store import runs
from worker.store.opening import open_engine
from worker.store.schema import runs as runs_table

NOW = datetime(2026, 3, 14, 8, tzinfo=UTC)


def _statuses(engine) -> dict[int, str]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return dict(conn.execute(select(runs_table.c.id, runs_table.c.status)).all())


def _start_and_wait(url: str, started: multiprocessing.synchronize.Event) -> None:
    engine = open_engine(url)
    runs.start_run(engine, "run", NOW)
    started.set()
    signal.pause()  # killed here, its run unfinished


def test_a_run_under_way_is_not_taken_for_dead(database_url: str) -> None:
    engine = open_engine(database_url)
    try:
        run_id = runs.start_run(engine, "run", NOW)
        assert runs.abandon_dead(engine, NOW) == 0
        assert runs.recent_runs(engine)[0].status == "running"
        second = runs.start_run(engine, "run", NOW)  # a second run at the same time
        assert _statuses(engine) == {run_id: "running", second: "running"}
        runs.finish_run(engine, run_id, NOW, "ok", {})
        runs.finish_run(engine, second, NOW, "ok", {})
        assert _statuses(engine) == {run_id: "ok", second: "ok"}
        assert runs.abandon_dead(engine, NOW) == 0
    finally:
        engine.dispose()


def test_a_run_whose_process_was_killed_reads_abandoned(database_url: str) -> None:
    context = multiprocessing.get_context("spawn")  # a process of its own, as `run` is
    started = context.Event()
    child = context.Process(target=_start_and_wait, args=(database_url, started))
    child.start()
    engine = open_engine(database_url)
    try:
        assert started.wait(60), "the child did not start its run"
        [(dead, status)] = _statuses(engine).items()
        assert status == "running" and runs.recent_runs(engine)[0].status == "running"
        os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
        child.join(10)
        # (PostgreSQL ends the killed process's session, and its lock, when it sees the
        # connection close: a moment after the kill)
        assert wait_for(lambda: runs.recent_runs(engine)[0].status == "abandoned")
        assert _statuses(engine) == {dead: "running"}  # status only reads
        later = runs.start_run(engine, "run", NOW)  # the next run records it
        assert _statuses(engine) == {dead: "abandoned", later: "running"}
        runs.finish_run(engine, later, NOW, "ok", {})
        assert runs.recent_runs(engine)[1].finished_at is None  # when it died is not known
    finally:
        if child.is_alive():
            child.kill()
        engine.dispose()


def test_a_run_of_a_version_that_took_no_lease_is_abandoned(database_url: str) -> None:
    engine = open_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(insert(runs_table).values(id=7, kind="run", started_at=NOW,
                                                   status="running"))
        assert runs.abandon_dead(engine, NOW) == 1
        assert _statuses(engine) == {7: "abandoned"}
    finally:
        engine.dispose()


def test_sqlite_leases_leave_no_files(sqlite_url: str) -> None:
    engine = open_engine(sqlite_url)
    folder = Path(f"{engine.url.database}-runs")
    try:
        run_id = runs.start_run(engine, "run", NOW)
        assert [p.name for p in folder.iterdir()] == [f"{run_id}.lock"]
        runs.finish_run(engine, run_id, NOW, "ok", {})
        assert not folder.exists()  # nothing is left beside the database
    finally:
        engine.dispose()



def test_a_process_of_another_user_counts_as_alive() -> None:
    """A lease or heartbeat of this host whose process runs as another user (cron's `run` as
    one user, serve as another) is held by a live process: the kernel answers EPERM, not
    ESRCH, and the lease must not be taken over (its digest would go out twice)."""
    from worker.store.locks import process_alive

    if os.geteuid() != 0:
        assert process_alive(1)  # init: root's
        return
    child = os.fork()
    if child == 0:  # as root every process may be signalled: ask as nobody
        code = 2
        try:
            os.setuid(65534)
            code = 0 if process_alive(os.getppid()) else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
