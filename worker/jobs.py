"""What serve gives APScheduler: triggers on worker.schedules slots, a fixed interval, and a
thread pool that tracks fetch runs from the moment it is handed them (worker.scheduler)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from worker.schedules import Schedule, next_slot


class SlotTrigger(BaseTrigger):
    """Fires at a worker.schedules Schedule's slots (DST rules and all) in `tz`."""

    def __init__(self, schedule: Schedule, tz: tzinfo):
        self.schedule = schedule
        self.tz = tz

    def get_next_fire_time(self, previous_fire_time: datetime | None,
                           now: datetime) -> datetime | None:
        return next_slot(self.schedule, self.tz, previous_fire_time or now)

    def __str__(self) -> str:
        return f"slots[{self.schedule.text}]"


class FetchTrackingExecutor(ThreadPoolExecutor):
    """Tells `track` of each run of a fetch job, with the moment it runs for, as the scheduler
    hands it on (before it moves the job's next run time on), and `untrack` when the run is
    refused (its last run still going): a digest check (Server._await_fetches) never finds a
    fetch of its moment neither due nor under way."""

    def __init__(self, size: int, track: Callable[[str, datetime], None],
                 untrack: Callable[[str, datetime], None]):
        super().__init__(size)
        self._track, self._untrack = track, untrack

    def submit_job(self, job: Any, run_times: list[datetime]) -> None:
        if not job.id.startswith("fetch:"):
            super().submit_job(job, run_times)
            return
        self._track(job.id, run_times[-1])
        try:
            super().submit_job(job, run_times)
        except BaseException:
            self._untrack(job.id, run_times[-1])
            raise


def interval(every: timedelta) -> IntervalTrigger:
    return IntervalTrigger(seconds=max(1, int(every.total_seconds())), timezone=UTC)
