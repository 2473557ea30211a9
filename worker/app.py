"""One pass of the pipeline with an explicit `now`; `run`, `preview` and `serve` all use it.

sources -> parse -> identify -> store -> per subscriber: candidates -> match -> digest
(outbox row) -> render -> deliver -> mark sent; the first four are worker.ingest's, the next
three worker.building's, the last three worker.sending's. Nothing here reads the clock or the
environment; nothing here prints.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from worker.building import DigestBuilder, SubscriberReport, sync_profiles
from worker.delivery import Channel, channel_for
from worker.errors import as_database_error
from worker.ingest import Ingest, SourceReport
from worker.profiles import Profile
from worker.progress import Progress, no_progress
from worker.readers import ReaderNote, settle_config
from worker.sending import Delivery, DeliveryReport, DryRunChannel, Hold, worker_id
from worker.settings import Config
from worker.store import outbox, runs
from worker.store.models import DeliveryState, SubscriberState

log = logging.getLogger("paper_digest")


@dataclass
class PassReport:
    now: datetime
    dry_run: bool = False
    sources: list[SourceReport] = field(default_factory=list)
    subscribers: dict[str, SubscriberReport] = field(default_factory=dict)
    deliveries: list[DeliveryReport] = field(default_factory=list)
    skipped_subscribers: dict[str, list[str]] = field(default_factory=dict)
    disabled: list[str] = field(default_factory=list)  # subscribers with enabled = false
    # subscribers who unsubscribed with a digest's link -> when (worker.store.subscriptions)
    unsubscribed: dict[str, datetime] = field(default_factory=dict)
    readers: list[ReaderNote] = field(default_factory=list)  # files gone, back, new readers
    not_due: int = 0  # `run --due`: subscribers whose schedule was not due in this pass
    # told to stop while digests were built: subscribers whose digests the next pass builds
    unbuilt: int = 0
    # what held digests pending, no attempt counted (a template's error, a relay that cannot
    # be reached, a folder that cannot be written) -> them: said once each (worker.sending)
    holds: dict[str, Hold] = field(default_factory=dict)
    # `run --due`, serve: deliveries left pending for their retry time, not tried in the pass
    waiting: list[DeliveryState] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # anything that makes the pass not clean

    @property
    def papers_read(self) -> int:
        return sum(s.entries for s in self.sources)

    @property
    def new_papers(self) -> int:
        return sum(s.new_papers for s in self.sources)

    @property
    def ok(self) -> bool:
        return not (self.errors or self.skipped_subscribers
                    or any(s.failures for s in self.sources)
                    or any(d.status != "sent" for d in self.deliveries))

    def stats(self) -> dict[str, Any]:
        return {"papers_read": self.papers_read, "new_papers": self.new_papers,
                "digests": sum(1 for s in self.subscribers.values() if s.digest_id),
                "sent": sum(d.status == "sent" for d in self.deliveries),
                "not_sent": sum(d.status != "sent" for d in self.deliveries),
                "source_failures": sum(len(s.failures) for s in self.sources),
                # a partial run says why in `status`: a file skipped is as much a reason
                "broken_subscribers": len(self.skipped_subscribers)}


class Pipeline:
    """The stages of one pass, over one config, one database and one `now`."""

    def __init__(self, config: Config, engine: Engine, now: datetime, *,
                 channel_factory: Callable[[str], Channel] | None = None,
                 http_factory: Callable[[Any], Any] | None = None,
                 new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
                 stop: Callable[[], bool] | None = None, progress: Progress | None = None,
                 dry_run: bool = False):
        self.config = config
        self.dry_run = dry_run  # the database is rolled back after; nothing may go elsewhere
        self.stop = stop or (lambda: False)  # serve's shutdown: no new send starts once True
        self.progress = progress or no_progress  # (stage, done, total, label): worker.progress
        self.settings = config.settings
        self.engine = engine
        self.now = now
        self.owner = worker_id()
        self.new_id = new_id
        self.channel_factory = channel_factory or (lambda n: channel_for(n, self.settings))
        self.http_factory = http_factory
        self._http: Any = None
        self.timings: dict[str, float] = defaultdict(float)  # stage -> seconds, see timed()
        self.interrupted = False  # told to stop before all was sent (worker.sending)
        # told to stop while digests were built: the subscribers it left without one
        self.left: set[str] = set()
        self.holds: dict[str, Hold] = {}  # worker.sending's, of deliver

    # -- sources ---------------------------------------------------------------------------
    def ingest(self, only: Sequence[str] | None = None) -> list[SourceReport]:
        """Read every enabled source (or those named in `only`) into the store
        (worker.ingest)."""
        return Ingest(self.settings, self.engine, self.now, fetcher=self._fetcher,
                      progress=self.progress, dry_run=self.dry_run).sources(only)

    def _fetcher(self) -> Any:
        if self._http is None and self.http_factory is not None:
            self._http = self.http_factory(runs.DatabaseMemory(self.engine, self.now))
            if hasattr(self._http, "stop"):  # told to stop, a failed request is not retried
                self._http.stop = self.stop
        return self._http

    def close(self) -> None:
        if self._http is not None and hasattr(self._http, "close"):
            self._http.close()

    # -- digests ---------------------------------------------------------------------------
    def sync(self, profiles: Iterable[Profile]) -> dict[str, SubscriberState]:
        """Record new subscribers (cursor `backfill` before now), refresh known ones."""
        return sync_profiles(self.engine, profiles, self.now)

    def build_digests(self, profiles: Sequence[Profile], slot: str | None = None,
                      ) -> dict[str, SubscriberReport]:
        """Write one digest per subscriber with what is new to it; cursors move with it
        (worker.building). Told to stop while at it, the digests written so far are kept,
        pending, none is sent, and `left` says whose digests the next pass builds."""
        builder = DigestBuilder(self.settings, self.engine, self.now, new_id=self.new_id,
                                timed=self.timed, stop=self.stop,
                                fetcher=self._fetcher if self.http_factory else None)
        reports = builder.build(profiles, slot)
        if builder.left:
            self.interrupted = True
            self.left |= builder.left
        return reports

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Add the time spent in the block to `timings[stage]` (for logs and benchmarks)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] += time.perf_counter() - start

    # -- delivery --------------------------------------------------------------------------
    def deliver(self, profiles: Sequence[Profile], *, ignore_backoff: bool = True,
                ) -> list[DeliveryReport]:
        """Send every due pending delivery of these subscribers (worker.sending)."""
        delivery = Delivery(self.settings, self.engine, self.now, owner=self.owner,
                            channel_factory=self.channel_factory, stop=self.stop,
                            progress=self.progress)
        try:
            return delivery.deliver(profiles, ignore_backoff=ignore_backoff)
        finally:
            self.interrupted |= delivery.interrupted
            self.holds = delivery.holds


def run_pass(config: Config, engine: Engine, now: datetime, *, dry_run: bool = False,
             only_sources: Sequence[str] | None = None, ignore_backoff: bool = True,
             http_factory: Callable[[Any], Any] | None = None,
             channel_factory: Callable[[str], Channel] | None = None,
             due: bool = False, stop: Callable[[], bool] | None = None,
             progress: Progress | None = None) -> PassReport:
    """One whole pass: ingest, build digests, deliver. `dry_run` does it all, then undoes it.

    `due`: build digests only for subscribers whose schedule slot is due (worker.due), as
    `run --due` and serve do. `stop`: a flag to stop (serve's shutdown, `run`'s SIGTERM or
    Ctrl-C), checked once the sources are read (digests then left to the next pass) and
    before each send.
    `progress`: told of each source read and each digest delivered (worker.progress).
    """
    from worker.store.db import rolled_back

    report = PassReport(now, dry_run)
    report.skipped_subscribers = {sid: [str(p) for p in problems]
                                  for sid, problems in config.broken.items()}
    report.disabled = list(config.disabled)
    if dry_run:
        real = channel_factory or (lambda name: channel_for(name, config.settings))
        with rolled_back(engine) as scoped:
            _pass(config, scoped, report, only_sources, ignore_backoff, http_factory,
                  lambda name: DryRunChannel(real(name)), due=due, stop=stop,
                  progress=progress)
    else:
        _pass(config, engine, report, only_sources, ignore_backoff, http_factory,
              channel_factory, due=due, stop=stop, progress=progress)
    return report


def fetch_pass(config: Config, engine: Engine, now: datetime, *, dry_run: bool = False,
               only_sources: Sequence[str] | None = None,
               http_factory: Callable[[Any], Any] | None = None,
               progress: Progress | None = None) -> list[SourceReport]:
    """Read sources and record papers, building no digests (`paper-digest fetch`)."""
    from worker.store.db import rolled_back

    def ingest(db: Engine) -> list[SourceReport]:
        pipeline = Pipeline(config, db, now, http_factory=http_factory, progress=progress,
                            dry_run=dry_run)
        try:
            return pipeline.ingest(only_sources)
        finally:
            pipeline.close()

    if dry_run:
        with rolled_back(engine) as scoped:
            return ingest(scoped)
    return ingest(engine)


def _pass(config: Config, engine: Engine, report: PassReport, only: Sequence[str] | None,
          ignore_backoff: bool, http_factory: Callable[[Any], Any] | None,
          channel_factory: Callable[[str], Channel] | None, *, due: bool = False,
          stop: Callable[[], bool] | None = None, progress: Progress | None = None) -> None:
    pipeline = Pipeline(config, engine, report.now, http_factory=http_factory,
                        channel_factory=channel_factory, stop=stop, progress=progress,
                        dry_run=report.dry_run)
    run_id = runs.start_run(engine, "run", report.now)
    status, error, started = "failed", None, time.perf_counter()
    try:
        _stages(pipeline, report, only, ignore_backoff=ignore_backoff, due=due)
        status = ("interrupted" if pipeline.interrupted  # serve's shutdown: some handed back
                  else "ok" if report.ok else "partial")
    except Exception as exc:
        clean = as_database_error(exc)
        error = f"{type(exc).__name__}: {exc}" if clean is None else str(clean)
        if clean is None or clean is exc:
            raise
        raise clean from exc
    except KeyboardInterrupt:  # `run` told twice to stop (Ctrl-C again): left at once
        status, error = "interrupted", "aborted (Ctrl-C twice)"
        raise
    finally:
        pipeline.close()
        _finish_run(engine, run_id, report, started, status, error)
        _log_stages(pipeline.timings)


def _stages(pipeline: Pipeline, report: PassReport, only: Sequence[str] | None, *,
            ignore_backoff: bool, due: bool) -> None:
    """Read the sources, then build the digests and deliver them, each stage's outcome into
    `report`; told to stop, the stages not begun are left to the next pass."""
    config, engine = pipeline.config, pipeline.engine
    with pipeline.timed("ingest"):
        report.sources = pipeline.ingest(only)
    with pipeline.timed("sync"):  # before anything reads a subscriber's state
        settled = settle_config(config, engine, report.now)
    report.readers = settled.notes
    profiles = _subscribed(config.profiles, settled.unsubscribed, report)
    if pipeline.stop():
        # Told to stop while sources were read (SIGTERM, Ctrl-C, serve's shutdown): the
        # papers are recorded, and the digests (matching every subscriber, which at scale
        # takes a while) are the next pass's, as if this one had not begun them.
        pipeline.interrupted = True
        return
    report.subscribers = (_build_due(pipeline, profiles) if due
                          else _build_all(pipeline, profiles))
    if due:
        report.not_due = sum(p.id not in report.subscribers and p.id not in pipeline.left
                             for p in profiles)
    if pipeline.interrupted:  # told to stop while digests were built: none is sent
        report.unbuilt = len(pipeline.left)
        return
    with pipeline.timed("delivery"):  # rendering included: forms made as sent
        report.deliveries = pipeline.deliver(profiles, ignore_backoff=ignore_backoff)
    report.holds = pipeline.holds
    if not ignore_backoff:  # else every pending delivery was tried
        tried = {(d.digest_id, d.channel) for d in report.deliveries}
        report.waiting = [d for d in outbox.waiting(engine, {p.id for p in profiles}, report.now)
                          if (d.digest_id, d.channel) not in tried]


def _finish_run(engine: Engine, run_id: int, report: PassReport, started: float, status: str,
                error: str | None) -> None:
    """Record the pass's outcome in its run row."""
    # `now` is the pass's moment; it took this long (a measure, not a clock reading)
    finished = report.now + timedelta(seconds=time.perf_counter() - started)
    try:
        runs.finish_run(engine, run_id, finished, status, report.stats(), error)
    except Exception:
        # A pass that failed (on the database, most likely) says its own error, not the
        # record's: that outcome is kept and written later (runs.recorded_late).
        if error is None:
            raise


def _subscribed(profiles: list[Profile], gone: dict[str, datetime], report: PassReport,
                ) -> list[Profile]:
    """The profiles whose readers have not unsubscribed (`gone`: who has, and when; the others
    go in the report): they get no digest, and what they had pending stays pending, unsent,
    until they resubscribe."""
    report.unsubscribed = {p.id: gone[p.id] for p in profiles if p.id in gone}
    return [p for p in profiles if p.id not in gone]


def _log_stages(timings: dict[str, float]) -> None:
    """Where the pass's time went (`run -vv`; bench/vs_rss2email.sh sums these up)."""
    if log.isEnabledFor(logging.DEBUG):
        stages = {stage: round(seconds, 4) for stage, seconds in timings.items()}
        log.debug("pass stages: %s", ", ".join(f"{k} {v:.3f} s" for k, v in stages.items()),
                  extra={"event": "pass.stages", "stages": stages})


def _build_due(pipeline: Pipeline, profiles: Sequence[Profile]) -> dict[str, SubscriberReport]:
    from worker.due import build_due  # schedules and slot claims: only for `run --due`, serve

    return build_due(pipeline, profiles)


def _build_all(pipeline: Pipeline, profiles: Sequence[Profile]) -> dict[str, SubscriberReport]:
    """Everyone's digest (a plain `run`); those written serve their subscribers' latest
    slots (worker.due.serve_latest_slots)."""
    built = pipeline.build_digests(profiles)
    if any(report.digest_id is not None for report in built.values()):
        from worker.due import serve_latest_slots  # only when a digest was written

        serve_latest_slots(pipeline, profiles, built)
    return built
