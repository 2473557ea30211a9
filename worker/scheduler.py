"""`paper-digest serve`: APScheduler 3 wiring around the one pipeline pass (worker.app).

Jobs (in-memory job store, never shared between replicas; each job at most one instance at
a time, late runs coalesced into one):
- fetch:<source>  each source on its `every` ([serve] fetch_every by default), and at start;
- due             every [serve] check_every: digests for subscribers whose slot is due
                  (worker.due), then sends what is pending, respecting retry back-off;
- heartbeat       every [serve] heartbeat: a row `paper-digest health` reads;
- reload          every [serve] reload: picks up edits in config/ (worker.reload);
- maintenance     hourly: forgets old slot claims and dead workers' heartbeats, and what
                  [retention] says is old enough (worker.retention).

This module is the one place that reads the clock; every pass gets `now` from here. Shutdown
(SIGTERM, SIGINT): no new job or send starts, a send in progress finishes, claimed but unsent
deliveries are handed back; what still runs after SHUTDOWN_GRACE is abandoned (the caller then
exits at once). Nothing is marked sent that the channel did not accept.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from sqlalchemy import Engine, text

from worker.app import PassReport, fetch_pass, run_pass
from worker.due import has_work
from worker.errors import PaperDigestError, as_database_error
from worker.examples import unused_lines
from worker.jobs import FetchTrackingExecutor, SlotTrigger, interval
from worker.metrics import Metrics, config_samples, db_samples, render
from worker.outage import DatabaseWatch, FailingJobs
from worker.reload import Change, ConfigWatcher
from worker.retention import apply_retention
from worker.schedules import parse_every, parse_schedule, zone
from worker.sending import UNTRIED, worker_id
from worker.signals import stopped_by
from worker.store import runs
from worker.store import schedule as store
from worker.store.metrics import figures

log = logging.getLogger("paper_digest.serve")
SHUTDOWN_GRACE = 8.0  # seconds: Docker's default stop timeout is 10
# How long a digest check waits for the fetches due with it (a daily 08:00 digest and an
# hourly fetch fire together): then it builds digests all the same.
FETCH_WAIT = 120.0
Clock = Callable[[], datetime]


class ServeError(PaperDigestError):
    """serve cannot start (its HTTP port is taken, ...)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class Server:
    """The scheduler, its jobs and the optional HTTP port, over one watched Config."""

    def __init__(self, watcher: ConfigWatcher, engine: Engine, *,
                 http_factory: Callable[[Any], Any] | None = None, clock: Clock = utc_now):
        self.watcher = watcher
        self.engine = engine
        self.http_factory = http_factory
        self.clock = clock
        self.settings = watcher.config.settings  # what needs a restart stays as started
        self.stopping = threading.Event()
        self.metrics = Metrics()
        self.database = DatabaseWatch(log, "metrics")
        self.failing = FailingJobs(log)  # jobs failing on the database: said once each
        self.worker, self.host, self.started = worker_id(), socket.gethostname(), clock()
        self._running = 0
        # fetch job -> the moments of its runs handed on and not yet done (one, but for the
        # instant a run ends as the next is handed on)
        self._fetches: dict[str, list[datetime]] = {}
        self._idle = threading.Condition()
        self.http: Any = None
        sources = [s for s in self.settings.sources if s.enabled]
        self.scheduler = BackgroundScheduler(
            executors={"default": FetchTrackingExecutor(len(sources) + 4, self._track_fetch,
                                                        self._untrack_fetch)},
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
            timezone=UTC)

    # -- life cycle -----------------------------------------------------------------------
    def start(self) -> None:
        now, serve = self.clock(), self.settings.serve
        if serve.http_port:  # first: a port taken (another serve) stops serve before any job
            self._start_http(serve.http_host, serve.http_port)
        elif self.settings.feedback.url:
            log.warning("[feedback] url is set but [serve] http_port is not: nothing answers "
                        "the feedback links in digests", extra={"event": "feedback.unanswered"})
        for source in self.settings.sources:
            if source.enabled:
                every = parse_every(source.every or serve.fetch_every)
                self._add(f"fetch:{source.name}", functools.partial(self._fetch, source.name),
                          SlotTrigger(every, zone(self.settings.timezone)), now)
        tick = parse_schedule(f"every {serve.check_every}")
        self._add("due", self.due, SlotTrigger(tick, UTC))  # aligned: :00 for 1m
        self._add("heartbeat", self.heartbeat, interval(serve.duration("heartbeat")), now)
        self._add("reload", self.reload, interval(serve.duration("reload")))
        self._add("maintenance", self.maintenance, interval(timedelta(hours=1)), now)
        self.scheduler.start()

    def _add(self, name: str, func: Callable[[], None], trigger: BaseTrigger,
             first: datetime | None = None) -> None:
        extra = {"next_run_time": first} if first is not None else {}
        self.scheduler.add_job(self._guarded(name, func), trigger, id=name, name=name, **extra)

    def _start_http(self, host: str, port: int) -> None:
        from worker.statusserver import StatusServer

        links, desk = self.settings.feedback.links(), None
        if links is not None:
            from worker.feedback import Desk

            desk = Desk(self.engine, links.secret, self.clock, subscribed=self.subscribed)
        try:
            self.http = StatusServer(host, port, self.health, self.metrics_text, desk)
        except OSError as exc:
            raise ServeError(f"cannot listen on {host}:{port} ([serve] http_port): "
                             f"{exc.strerror or exc}") from None
        self.http.start()
        log.info("http on %s:%d (/healthz, /metrics%s)", host, self.http.port,
                 ", feedback links at .../mark and .../unsubscribe" if desk else "",
                 extra={"event": "http.start", "port": self.http.port})

    def shutdown(self, grace: float = SHUTDOWN_GRACE) -> bool:
        """Stop; True when every job finished within `grace` seconds (False: abandon them)."""
        self.stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        deadline = time.monotonic() + grace
        with self._idle:
            while self._running and time.monotonic() < deadline:
                self._idle.wait(max(0.0, deadline - time.monotonic()))
            clean = self._running == 0
        if not clean:  # a job is stuck (a send that hangs): leave nothing claimed behind it
            self._hand_back()
        if self.http is not None:
            self.http.stop()
        if clean:
            try:
                store.end_beat(self.engine, self.worker)
            except Exception:  # the database may be the reason we stop
                log.warning("could not remove this worker's heartbeat", exc_info=True)
        return clean

    def _hand_back(self) -> None:
        """What the job left behind as serve abandons it: the deliveries it claimed but had
        not begun to send (sending.UNTRIED), and its run, marked abandoned."""
        try:
            released = UNTRIED.release(self.engine)
            abandoned = runs.abandon_open(self.engine, self.clock())
        except Exception as exc:  # the database may be why the job is stuck
            log.warning("could not hand back what the abandoned job held: %s",
                        as_database_error(exc) or exc, extra={"event": "serve.hand_back"})
            return
        log.warning("handed back %d deliveries the abandoned job had claimed but not tried; "
                    "%d run(s) marked abandoned", released, abandoned,
                    extra={"event": "serve.hand_back", "released": released,
                           "runs": abandoned})

    def _guarded(self, name: str, func: Callable[[], None]) -> Callable[[], None]:
        """Count running jobs (for shutdown), refuse to start when stopping, log failures."""
        def run() -> None:
            with self._idle:
                if self.stopping.is_set():
                    return
                self._running += 1
            outcome = "ok"
            try:
                func()
                self.failing.worked(name)
            except Exception as exc:
                outcome = "error"
                clean = as_database_error(exc)
                if clean is not None:
                    # one line, no SQL: the job's transaction rolled back; its next turn redoes
                    # it. Said when the job starts failing so, not on each turn of an outage.
                    news = self.failing.failed(name, str(clean))
                    log.log(logging.ERROR if news else logging.DEBUG, "job %s failed: %s",
                            name, clean, extra={"event": "job.error", "job": name})
                else:
                    log.exception("job %s failed: %s", name, exc,
                                  extra={"event": "job.error", "job": name})
            finally:
                self.metrics.inc("paper_digest_job_runs_total", job=name, outcome=outcome)
                with self._idle:
                    self._running -= 1
                    self._idle.notify_all()
        return run

    # -- jobs -------------------------------------------------------------------------------
    def fetch(self, name: str) -> None:
        """Fetch one source now (what its job does, but tracked from here)."""
        self._track_fetch(f"fetch:{name}", self.clock())
        self._fetch(name)

    def _track_fetch(self, job_id: str, moment: datetime) -> None:
        """A run of a fetch job handed on, for `moment` (its scheduled time)."""
        with self._idle:
            self._fetches.setdefault(job_id, []).append(moment)
            self._idle.notify_all()

    def _untrack_fetch(self, job_id: str, moment: datetime | None = None) -> None:
        """A run done (its job's earliest moment), or refused (that `moment`)."""
        with self._idle:
            moments = self._fetches.get(job_id, [])
            if moments:
                moments.remove(moment if moment in moments else min(moments))
            if not moments:
                self._fetches.pop(job_id, None)
            self._idle.notify_all()

    def _fetch(self, name: str) -> None:
        """The fetch job: tracked from when the scheduler hands it on (FetchTrackingExecutor)
        until done."""
        try:
            reports = fetch_pass(self.watcher.config, self.engine, self.clock(),
                                 only_sources=[name], http_factory=self.http_factory)
        finally:
            self._untrack_fetch(f"fetch:{name}")
        self.metrics.observe_sources(reports)
        for source in reports:
            log.info("fetched %s: %d dumps, %d entries, %d new", source.name, source.dumps,
                     source.entries, source.new_papers,
                     extra={"event": "fetch.done", "source": source.name,
                            "dumps": source.dumps, "unchanged": source.unchanged,
                            "entries": source.entries, "new": source.new_papers,
                            "failures": len(source.failures)})

    def due(self) -> None:
        now = self.clock()
        self._await_fetches(now)
        config = self.watcher.config
        if self.stopping.is_set() or not has_work(self.engine, config, now):
            return
        report = run_pass(config, self.engine, now, only_sources=[], due=True,
                          ignore_backoff=False, http_factory=self.http_factory,
                          stop=self.stopping.is_set)
        self.metrics.observe_sources(report.sources)
        _log_unused_examples(report)  # deliveries are logged as each is sent (worker.sending)

    def _await_fetches(self, tick: datetime) -> None:
        """Wait for the fetches due at or before this check (running, or about to start: the
        scheduler fires jobs of one moment in any order), so that a digest due at the minute
        a source is fetched holds what that fetch finds, not the next slot. Only those: later
        fetches never hold a check up. At most FETCH_WAIT seconds."""
        deadline = time.monotonic() + FETCH_WAIT

        while not self.stopping.is_set() and time.monotonic() < deadline:
            waiting = any(job.id.startswith("fetch:") and job.next_run_time is not None
                          and job.next_run_time <= tick for job in self.scheduler.get_jobs())
            with self._idle:  # (never held while asking the scheduler: it takes its own lock)
                if not waiting and all(moment > tick for moments in self._fetches.values()
                                       for moment in moments):
                    return
                self._idle.wait(0.2)

    def heartbeat(self) -> None:
        now = self.clock()
        store.beat(self.engine, self.worker, host=self.host, pid=os.getpid(),
                   started_at=self.started, now=now)
        self.metrics.last_beat = now
        # A pass that failed as the database went away could not record so: written as soon
        # as it answers, not at the next pass (hours off, for daily digests), so that `status`
        # says `failed` and why rather than `abandoned`.
        runs.recorded_late(self.engine)

    def reload(self) -> None:
        gone = []
        for change in self.watcher.poll():
            _log_change(change)
            if change.kind == "removed":
                gone.append(change.subject)
        if gone:
            # Recorded now, not at the next pass: a new file of the same name written before
            # it (another reader given the name) would look like an edit of the address.
            from worker.readers import record_gone

            record_gone(self.engine, gone, self.clock())

    def maintenance(self) -> None:
        now = self.clock()
        store.prune(self.engine, now, claims_older_than=timedelta(days=90),
                    beats_older_than=timedelta(days=1))
        apply_retention(self.engine, self.watcher.config.settings.retention, now)

    # -- HTTP -------------------------------------------------------------------------------
    def health(self) -> tuple[bool, str]:
        from worker.health import default_max_age

        try:  # first: a database away is why the heartbeat goes stale, and what to fix
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            return False, f"database unreachable: {type(exc).__name__}"
        beat, now = self.metrics.last_beat, self.clock()
        if beat is None or now - beat > default_max_age(self.settings):
            return False, "heartbeat is stale"
        return True, "ok"

    def subscribed(self, subscriber_id: str) -> bool:
        """Whether the running config, as the last reload left it, has `subscriber_id`: served,
        or its file there but broken (to be fixed). A deleted or disabled one is not: the
        feedback desk marks nothing for it."""
        config = self.watcher.config  # read once: a reload swaps the whole Config
        return subscriber_id in config.broken or any(p.id == subscriber_id
                                                     for p in config.profiles)

    def metrics_text(self) -> str:
        samples = self.metrics.samples()
        if self.metrics.last_beat:
            samples.append(("paper_digest_heartbeat_timestamp_seconds", (),
                            self.metrics.last_beat.timestamp()))
        try:
            found = figures(self.engine)
        except Exception as exc:  # logged when the outage starts, not per scrape
            self.database.failed(exc)
            samples += [*config_samples(self.watcher.config), ("paper_digest_up", (), 0)]
        else:
            self.database.answered()
            samples += [*config_samples(self.watcher.config, found.unsubscribed),
                        *db_samples(found), ("paper_digest_up", (), 1)]
        return render(samples)


def _log_unused_examples(report: PassReport) -> None:
    """What `run` prints under a subscriber whose `like`/`unlike` entries could not be used (a
    typo in a title, an id arXiv does not know), as a warning for each digest built."""
    for sid, sub in report.subscribers.items():
        for line in unused_lines(sub.unknown_examples):
            log.warning("subscriber %s: %s", sid, line,
                        extra={"event": "examples.unused", "subject": sid})


def _log_change(change: Change) -> None:
    quiet = change.kind in ("added", "updated", "removed", "disabled", "applied")
    text_ = {"added": "subscriber {s} added", "updated": "subscriber {s} updated",
             "removed": "subscriber {s} removed", "disabled": "subscriber {s} disabled",
             "broken": "{s} has problems, not served: {d}",
             "kept": "{s} has problems; the previous version stays in force: {d}",
             "applied": "worker.toml: applied {d}",
             "restart": "worker.toml: {d} changed; restart serve to apply"}[change.kind]
    if change.kind == "broken" and change.subject == "worker.toml":
        text_ = "worker.toml has problems; serve goes on with the settings it has: {d}"
    log.log(logging.INFO if quiet else logging.WARNING,
            text_.format(s=change.subject, d=change.detail),
            extra={"event": f"config.{change.kind}", "subject": change.subject})


def _adopt_apscheduler_logs() -> None:
    """APScheduler's own warnings (a run skipped as the previous one still runs) go through
    our handler, so they are JSON lines too; its per-run INFO chatter is not an event."""
    ours = logging.getLogger("paper_digest")
    theirs = logging.getLogger("apscheduler")
    theirs.handlers[:] = ours.handlers
    theirs.setLevel(logging.WARNING)
    theirs.propagate = False


def serve(watcher: ConfigWatcher, engine: Engine, *, http_factory: Callable[[Any], Any] | None,
          stop: threading.Event | None = None) -> bool:
    """Run until SIGTERM/SIGINT (or `stop`); True when it stopped cleanly in time."""
    _adopt_apscheduler_logs()
    server = Server(watcher, engine, http_factory=http_factory)
    with stopped_by(signal.SIGTERM, signal.SIGINT, stop=stop) as stop:
        try:
            server.start()
            config = watcher.config
            log.info("serve started: %d subscribers, %d sources", len(config.profiles),
                     sum(source.enabled for source in config.settings.sources),
                     extra={"event": "serve.start", "worker": server.worker})
            for sid, problems in config.broken.items():
                log.warning("%s has problems, not served: %s", sid,
                            "; ".join(map(str, problems)),
                            extra={"event": "config.broken", "subject": sid})
            while not stop.wait(0.5):
                pass
        finally:
            log.info("stopping", extra={"event": "serve.stopping"})
            clean = server.shutdown()
    log.log(logging.INFO if clean else logging.WARNING,
            "stopped" if clean else "stopped; a job still running was abandoned",
            extra={"event": "serve.stop", "clean": clean})
    return clean
