"""One pass of the pipeline with an explicit `now`; `run`, `preview` and `serve` all use it.

sources -> parse -> identify -> store -> per subscriber: candidates -> match -> digest
(outbox row) -> render -> deliver -> mark sent; the first four are worker.ingest's, the last
three worker.sending's. Nothing here reads the clock or the environment; nothing here prints.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import zip_longest
from typing import Any

from sqlalchemy import Engine

from worker.delivery import Channel, channel_for
from worker.errors import as_database_error
from worker.examples import Examples, lookup_for
from worker.examples import resolve as resolve_examples
from worker.ingest import Ingest, SourceReport
from worker.profiles import Profile
from worker.progress import Progress, no_progress
from worker.readers import ReaderNote, settle_config
from worker.selection import candidates, default_workers, match_each
from worker.sending import Delivery, DeliveryReport, DryRunChannel, worker_id
from worker.settings import Config
from worker.store import cursors, outbox, papers, runs
from worker.store.marks import marks_for
from worker.store.models import DigestSpec, SubscriberInfo, SubscriberState

log = logging.getLogger("paper_digest")
DIGEST_BATCH = 500  # subscribers whose digests are written in one transaction


@dataclass
class SubscriberReport:
    id: str
    digest_id: int | None = None
    items: int = 0
    below_threshold: int = 0
    candidates: int = 0
    created: bool = False
    # Another run built this subscriber's digest first (its cursor moved while this one
    # matched): what this run matched was not written, and is no digest of its own.
    taken: bool = False
    # (`like`/`unlike` entry, why it was not used: worker.examples), for the entries that
    # could not be used; resolved only when there was something new to match
    unknown_examples: tuple[tuple[str, str], ...] = ()


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
    # a template's error -> the digests it held pending, with their subscribers (a line each)
    held_by_template: dict[str, dict[int, str]] = field(default_factory=dict)
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
        self.held_by_template: dict[str, dict[int, str]] = {}  # worker.sending's, of deliver

    # -- sources ---------------------------------------------------------------------------
    def ingest(self, only: Sequence[str] | None = None) -> list[SourceReport]:
        """Read every enabled source (or those named in `only`) into the store
        (worker.ingest)."""
        return Ingest(self.settings, self.engine, self.now, fetcher=self._fetcher,
                      progress=self.progress, dry_run=self.dry_run).sources(only)

    def _fetcher(self) -> Any:
        if self._http is None and self.http_factory is not None:
            self._http = self.http_factory(runs.DatabaseMemory(self.engine, self.now))
        return self._http

    def close(self) -> None:
        if self._http is not None and hasattr(self._http, "close"):
            self._http.close()

    # -- digests ---------------------------------------------------------------------------
    def sync(self, profiles: Iterable[Profile]) -> dict[str, SubscriberState]:
        """Record new subscribers (cursor `backfill` before now), refresh known ones."""
        profiles = list(profiles)
        starts = {b: papers.seq_before(self.engine, self.now - b)
                  for b in {p.backfill for p in profiles}}
        return cursors.sync_subscribers(self.engine, [
            SubscriberInfo(p.id, p.email, p.name, p.fingerprint, starts[p.backfill])
            for p in profiles], self.now)

    def build_digests(self, profiles: Sequence[Profile], slot: str | None = None,
                      ) -> dict[str, SubscriberReport]:
        """Write one digest per subscriber with what is new to it; cursors move with it.

        Subscribers with the same candidates (the same cursor, none of them delivered yet:
        nearly always everyone) are matched against one prepared batch, group by group; the
        digests are written DIGEST_BATCH subscribers to a transaction."""
        with self.timed("sync"):
            states = self.sync(profiles)
        with self.timed("candidates"):
            upto, window, delivered = cursors.candidate_window(
                self.engine, {sid: s.cursor_seq for sid, s in states.items()})
        reports = {p.id: SubscriberReport(p.id, created=states[p.id].created) for p in profiles}
        groups: dict[tuple[int, frozenset[int]], list[Profile]] = defaultdict(list)
        # who would hear "nothing new" if nothing matched: once a day, or once a slot
        empty_due = {p.id for p in self._empty_due([p for p in profiles if p.send_empty],
                                                   slot)}
        quiet = []  # nothing new to them, but they asked for a digest all the same
        for profile in profiles:
            cursor = states[profile.id].cursor_seq
            if cursor < upto:
                groups[cursor, frozenset(delivered.get(profile.id, ()))].append(profile)
            elif profile.id in empty_due:
                quiet.append(profile)
        if quiet:
            self._write_digests([DigestSpec(p.id, upto, [], p.deliver, 0, self._message_id(p),
                                            True) for p in quiet], reports, upto, slot)
        if not groups:  # nothing new to anyone: no examples, marks or model to load
            return reports
        with self.timed("examples"):
            found = self._examples(profiles)
            examples = found.papers
        with self.timed("candidates"):
            marked = marks_for(self.engine, [p.id for p in profiles])
        for profile in profiles:
            reports[profile.id].unknown_examples = tuple(
                (r, found.unused[r]) for r in (*profile.interests.like, *profile.interests.unlike)
                if r in found.unused)
        from worker.semantic import embedder_for  # the semantic extra's wiring: only if asked

        embedder = embedder_for(self.settings, self.engine, self.now)
        pending: list[DigestSpec] = []
        workers = self.settings.matching.workers or default_workers()
        left: set[str] = set()  # told to stop: the subscribers whose digests are not built
        for (cursor, seen), group in groups.items():
            if self.stop():
                left.update(p.id for p in group)
                continue
            with self.timed("candidates"):
                pool = candidates(self.engine, [p for p in window if p.first_seen_seq > cursor
                                                and p.id not in seen])
            with closing(match_each(group, pool, examples, marked, embedder=embedder,
                                    workers=workers)) as matched:  # closed: workers end
                for done, profile in enumerate(group):
                    if self.stop():
                        left.update(p.id for p in group[done:])
                        break
                    with self.timed("matching"):  # the time this pass waits for each match
                        items, below = next(matched)
                    report = reports[profile.id]
                    report.candidates, report.items, report.below_threshold = (
                        len(pool), len(items), below)
                    pending.append(DigestSpec(profile.id, cursor, items, profile.deliver,
                                              below, self._message_id(profile),
                                              profile.id in empty_due))
                    if len(pending) >= DIGEST_BATCH:
                        self._write_digests(pending, reports, upto, slot)
        self._write_digests(pending, reports, upto, slot)
        with self.timed("digests"):
            outbox.refresh_statistics(self.engine, sum(r.items for r in reports.values()
                                                       if r.digest_id is not None))
        if left:
            # Told to stop (SIGTERM, Ctrl-C, serve's shutdown) while matching, which at scale
            # takes a while: the digests written so far are kept, pending; the others'
            # cursors have not moved, so the next pass builds theirs as if this one had not
            # begun them.
            self.interrupted = True
            self.left |= left
            log.info("stopped while building digests: %d left to the next pass", len(left),
                     extra={"event": "digest.stopped", "left": len(left)})
            return {sid: r for sid, r in reports.items() if sid not in left}
        return reports

    def _empty_due(self, profiles: list[Profile], slot: str | None) -> list[Profile]:
        """Those of `send_empty` subscribers whose "nothing new" digest is due, should nothing
        match: at a schedule's slot (one a slot), else when they have had no digest yet on
        this day of their time zone (`run` from cron: one a day, however often it runs)."""
        if profiles and self._failing_sources():  # "nothing new" is not known: hold it
            return []
        if not profiles or slot is not None:
            return profiles
        from worker.schedules import zone

        last = outbox.last_digest_at(self.engine, [p.id for p in profiles])

        def day(when: datetime, profile: Profile) -> date:
            return when.astimezone(zone(profile.timezone or self.settings.timezone)).date()

        return [p for p in profiles
                if p.id not in last or day(last[p.id], p) < day(self.now, p)]

    def _failing_sources(self) -> list[str]:
        """The enabled sources whose last read failed: what they list now is not known, so
        no subscriber is told there is nothing new (the next pass that reads them sends what
        they had)."""
        enabled = {source.name for source in self.settings.sources if source.enabled}
        failing = [s.name for s in runs.source_states(self.engine)
                   if s.name in enabled and s.last_error]
        if failing:
            log.info("no \"nothing new\" digests while %s cannot be read", ", ".join(failing),
                     extra={"event": "digest.empty_held", "sources": failing})
        return failing

    def _write_digests(self, specs: list[DigestSpec], reports: dict[str, SubscriberReport],
                       upto: int, slot: str | None) -> None:
        with self.timed("digests"):
            written = outbox.create_digests(self.engine, specs, upto=upto, now=self.now,
                                            slot=slot)
        for sid, digest_id in written.items():
            reports[sid].digest_id = digest_id
        for spec in specs:
            report = reports[spec.subscriber_id]
            if report.digest_id is None and (spec.items or spec.keep_empty):
                report.taken, report.items, report.below_threshold = True, 0, 0
        specs.clear()

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Add the time spent in the block to `timings[stage]` (for logs and benchmarks)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] += time.perf_counter() - start

    def _examples(self, profiles: Sequence[Profile]) -> Examples:
        """The profiles' example papers; arXiv ids no source has listed are looked up, each
        profile's first examples before anyone's later ones (a pass asks about so many: a
        profile listing thousands must not hold up the others' for many passes)."""
        lists = [(*p.interests.like, *p.interests.unlike) for p in profiles]
        refs = [r for turn in zip_longest(*lists) for r in turn if r is not None]
        return resolve_examples(self.engine, refs, self.now,
                                lookup_for(self.settings, self._fetcher if self.http_factory
                                           else None))

    def _message_id(self, profile: Profile) -> str:
        from worker.render import message_id

        sender = self.settings.smtp.sender if self.settings.smtp else None
        return message_id(self.new_id(), profile.id, sender)

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
            self.held_by_template = delivery.held_by_template


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
        else:
            report.subscribers = (_build_due(pipeline, profiles) if due
                                  else pipeline.build_digests(profiles))
            if due:
                report.not_due = sum(p.id not in report.subscribers and p.id not in
                                     pipeline.left for p in profiles)
            if pipeline.interrupted:  # told to stop while digests were built: none is sent
                report.unbuilt = len(pipeline.left)
            else:
                with pipeline.timed("delivery"):  # rendering included: forms made as sent
                    report.deliveries = pipeline.deliver(profiles,
                                                         ignore_backoff=ignore_backoff)
                report.held_by_template = pipeline.held_by_template
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
        # `now` is the pass's moment; it took this long (a measure, not a clock reading)
        finished = report.now + timedelta(seconds=time.perf_counter() - started)
        try:
            runs.finish_run(engine, run_id, finished, status, report.stats(), error)
        except Exception:
            # A pass that failed (on the database, most likely) says its own error, not the
            # record's: that outcome is kept and written later (runs.recorded_late).
            if error is None:
                raise
        _log_stages(pipeline.timings)


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
