"""Scheduler pieces without a process: the slot trigger and the shutdown bookkeeping."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from worker.jobs import SlotTrigger
from worker.reload import ConfigWatcher
from worker.scheduler import Server
from worker.schedules import parse_schedule, zone
from worker.settings import load_config
from worker.store.opening import open_engine


def test_slot_trigger_follows_local_time_across_dst() -> None:
    trigger = SlotTrigger(parse_schedule("daily 08:00"), zone("Europe/Berlin"))
    first = trigger.get_next_fire_time(None, datetime(2026, 3, 28, 12, tzinfo=UTC))
    second = trigger.get_next_fire_time(first, datetime(2026, 3, 29, 6, 0, 1, tzinfo=UTC))
    assert (first, second) == (datetime(2026, 3, 29, 6, tzinfo=UTC),
                               datetime(2026, 3, 30, 6, tzinfo=UTC))


def make_server(tmp_path: Path) -> Server:
    config = tmp_path / "config"
    (config / "subscribers").mkdir(parents=True)
    (config / "worker.toml").write_text(f'database_url = "sqlite:///{tmp_path}/db"\n',
                                        encoding="utf-8")
    loaded = load_config(config, {})
    return Server(ConfigWatcher(config, {}, loaded), open_engine(loaded.settings.database_url))


def test_shutdown_waits_for_a_running_job_then_gives_up(tmp_path: Path) -> None:
    server = make_server(tmp_path)
    release = threading.Event()
    job = threading.Thread(target=server._guarded("slow", lambda: release.wait(5)))
    job.start()
    time.sleep(0.1)
    began = time.monotonic()
    assert server.shutdown(grace=0.3) is False  # abandoned: the caller exits at once
    assert time.monotonic() - began < 1
    release.set()
    job.join()


def test_shutdown_is_clean_when_jobs_finish_and_no_job_starts_after(tmp_path: Path) -> None:
    server = make_server(tmp_path)
    ran: list[str] = []
    job = threading.Thread(target=server._guarded("short", lambda: time.sleep(0.2)))
    job.start()
    time.sleep(0.05)
    assert server.shutdown(grace=5) is True
    server._guarded("late", lambda: ran.append("late"))()
    assert ran == []
    job.join()


def _tracked_scheduler(run):  # type: ignore[no-untyped-def]
    """A paused scheduler with the real fetch-counting pool, and the Server's tracking of its
    fetch runs (on a stand-in for the Server: only its lock and its table)."""
    import threading
    from types import SimpleNamespace

    from apscheduler.schedulers.background import BackgroundScheduler

    from worker.jobs import FetchTrackingExecutor

    server = SimpleNamespace(_idle=threading.Condition(), _fetches={})
    track = lambda job_id, moment: Server._track_fetch(server, job_id, moment)  # noqa: E731
    untrack = lambda job_id, moment=None: Server._untrack_fetch(  # noqa: E731
        server, job_id, moment)
    pool = FetchTrackingExecutor(4, track, untrack)
    scheduler = BackgroundScheduler(executors={"default": pool}, timezone=UTC,
                                    job_defaults={"max_instances": 1})
    scheduler.start(paused=True)
    job = scheduler.add_job(run(untrack), "interval", minutes=5, id="fetch:src")
    return server, pool, scheduler, job


def test_a_fetch_run_ending_as_the_next_is_refused_leaves_nothing_tracked() -> None:
    """The run's own end untracks it; the next, handed on before the scheduler counts that
    run done, is refused: it must not stay tracked (every check would wait 2 minutes)."""
    import threading

    from apscheduler.executors.base import MaxInstancesReachedError

    ended, go = threading.Event(), threading.Event()

    def run(untrack):  # type: ignore[no-untyped-def]
        def fetch() -> None:
            untrack("fetch:src")  # what Server._fetch does as it ends
            ended.set()
            go.wait()  # the scheduler has not yet counted the run done
        return fetch

    server, pool, scheduler, job = _tracked_scheduler(run)
    # Ahead of the real clock: the pool drops a run time more than the misfire grace (1 s)
    # in the past as missed. (A fixed 09:00 of the day it was written failed from 09:00 on.)
    t1 = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    try:
        pool.submit_job(job, [t1])
        assert ended.wait(5)
        with pytest.raises(MaxInstancesReachedError):
            pool.submit_job(job, [t1 + timedelta(minutes=5)])
        assert server._fetches == {}
    finally:
        go.set()
        scheduler.shutdown(wait=False)


def test_a_fetch_run_handed_on_as_the_last_ends_stays_tracked() -> None:
    """Tracked for 09:05 while the 09:00 run still counts, then the 09:00 run ends: the 09:05
    run, under way, is still tracked (a check for 09:05 waits for it)."""
    from types import SimpleNamespace

    t1 = datetime(2026, 12, 7, 9, tzinfo=UTC)
    t2 = t1 + timedelta(minutes=5)
    server = SimpleNamespace(_idle=threading.Condition(), _fetches={})
    Server._track_fetch(server, "fetch:src", t1)  # type: ignore[arg-type]  # 09:00, under way
    Server._track_fetch(server, "fetch:src", t2)  # type: ignore[arg-type]  # 09:05 handed on
    Server._untrack_fetch(server, "fetch:src")  # type: ignore[arg-type]  # the 09:00 run ends
    assert server._fetches == {"fetch:src": [t2]}


def test_health_turns_stale_when_heartbeats_stop(tmp_path: Path) -> None:
    """/healthz reads serve's own last beat: a scheduler whose heartbeat job stopped running
    (a stuck pool, a dead thread) is unhealthy after three missed beats, not "ok" for ever."""
    moments = [datetime(2026, 12, 7, 9, tzinfo=UTC)]
    server = make_server(tmp_path)
    server.clock = lambda: moments[-1]
    assert server.health() == (False, "heartbeat is stale")  # no beat yet
    server.heartbeat()
    assert server.health() == (True, "ok")
    moments.append(moments[0] + timedelta(seconds=90))  # three beats of 30 s: still in time
    assert server.health() == (True, "ok")
    moments.append(moments[0] + timedelta(seconds=91))
    assert server.health() == (False, "heartbeat is stale")
    server.heartbeat()  # beats again: healthy again
    assert server.health() == (True, "ok")
    server.engine.dispose()


def test_stop_signals_get_their_previous_handlers_back_after_the_block() -> None:
    """`run` and `serve` catch SIGTERM (and serve SIGINT) only while they work: after the block
    the handlers before it are back, so a later signal is not swallowed by a stale flag."""
    import signal

    from worker.signals import stopped_by

    def mine(*_: object) -> None:
        pass

    before = signal.signal(signal.SIGTERM, mine)
    interrupt = signal.getsignal(signal.SIGINT)
    try:
        with stopped_by(signal.SIGTERM, signal.SIGINT) as stop:
            assert signal.getsignal(signal.SIGTERM) is not mine
            signal.raise_signal(signal.SIGTERM)
            assert stop.is_set()  # the signal asked the block to stop; it did not kill us
        assert signal.getsignal(signal.SIGTERM) is mine
        assert signal.getsignal(signal.SIGINT) is interrupt
    finally:
        signal.signal(signal.SIGTERM, before)


def test_a_second_ctrl_c_aborts_a_run_told_to_stop() -> None:
    """`run` stops cleanly on Ctrl-C as on SIGTERM (the send under way finished); pressed
    again, it gives up at once, as a terminal user expects."""
    import signal

    from worker.signals import stopped_by

    with pytest.raises(KeyboardInterrupt), \
            stopped_by(signal.SIGTERM, signal.SIGINT, again_aborts=True) as stop:
        signal.raise_signal(signal.SIGINT)
        assert stop.is_set()
        signal.raise_signal(signal.SIGTERM)  # SIGTERM again only asks again
        signal.raise_signal(signal.SIGINT)
