"""Scheduler pieces without a process: the slot trigger and the shutdown bookkeeping."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from worker.jobs import SlotTrigger
from worker.reload import ConfigWatcher
from worker.scheduler import Server
from worker.schedules import parse_schedule, zone
from worker.settings import load_config
from worker.store.db import open_engine


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
