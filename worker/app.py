"""One pass of the pipeline with an explicit `now`; `run`, `preview` and `serve` all use it.

sources -> parse -> identify -> store -> per subscriber: candidates -> match -> digest
(outbox row) -> render -> deliver -> mark sent. Nothing here reads the clock or the
environment; nothing here prints.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from worker.collector import paced_for_batches
from worker.delivery import Channel, Rendered, channel_for
from worker.errors import DeliveryError, PaperDigestError, RenderError, as_database_error
from worker.examples import Examples, lookup_for
from worker.examples import resolve as resolve_examples
from worker.fanout import FanOut, shared
from worker.progress import Progress, no_progress
from worker.selection import Candidates, default_workers, match_each
from worker.settings import Config, Profile
from worker.sources import Dump, DumpFailure, SourceContext, Unchanged, source_class
from worker.store import outbox, papers, runs
from worker.store.marks import marks_for
from worker.store.models import DigestSpec, StoredPaper, SubscriberInfo
from worker.store.recording import Recorder, recording

log = logging.getLogger("paper_digest")
LEASE = timedelta(minutes=10)
DIGEST_BATCH = 500  # subscribers whose digests are written in one transaction
CLAIM_BATCH = 500  # deliveries claimed at once (and subscribers asked for at once)
RENDER_SHARE = 25  # digests a rendering process takes at a time
RENDER_MIN = 100  # digests in a first batch below which a pass renders them itself
# Renderers at most, whatever `workers`: one process sends, and two renderers (~2 ms a digest
# each) keep it busy; more would only hold more memory (~130 MiB each at 10,000 digests).
RENDERERS_MAX = 2


@dataclass
class SourceReport:
    name: str
    dumps: int = 0
    unchanged: int = 0
    entries: int = 0
    new_papers: int = 0
    known_papers: int = 0
    failures: list[str] = field(default_factory=list)
    repeated: bool = False  # the same error as on the previous run
    saved: list[str] = field(default_factory=list)  # raw bodies kept for inspection


@dataclass
class DeliveryReport:
    subscriber_id: str
    digest_id: int
    channel: str
    status: str  # sent | retry | failed
    detail: str  # where it went, or why not


@dataclass
class SubscriberReport:
    id: str
    digest_id: int | None = None
    items: int = 0
    below_threshold: int = 0
    candidates: int = 0
    created: bool = False
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
                "source_failures": sum(len(s.failures) for s in self.sources)}


def worker_id() -> str:
    """Who holds a delivery lease: host, process and a random part (pids are reused)."""
    return f"{_host()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _host() -> str:
    return socket.gethostname()[:32].replace(":", "-")


def dead_local_owners(engine: Engine) -> list[str]:
    """Lease owners on this host whose process is gone (killed mid-send): no need to wait
    for their leases to run out. Owners on other hosts are left to their lease."""
    dead = []
    for owner in outbox.lease_owners(engine, f"{_host()}:"):
        pid = owner.split(":")[1]
        if pid.isdigit() and not _alive(int(pid)):
            dead.append(owner)
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class Pipeline:
    """The stages of one pass, over one config, one database and one `now`."""

    def __init__(self, config: Config, engine: Engine, now: datetime, *,
                 channel_factory: Callable[[str], Channel] | None = None,
                 http_factory: Callable[[Any], Any] | None = None,
                 new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
                 stop: Callable[[], bool] | None = None, progress: Progress | None = None):
        self.config = config
        self.stop = stop or (lambda: False)  # serve's shutdown: no new send starts once True
        self.progress = progress or no_progress  # (stage, done, total, label): worker.progress
        self.settings = config.settings
        self.engine = engine
        self.marks: Engine | Recorder = engine  # where outcomes go: deliver() says
        self.now = now
        self.owner = worker_id()
        self.new_id = new_id
        self.channel_factory = channel_factory or (lambda n: channel_for(n, self.settings))
        self.http_factory = http_factory
        self._http: Any = None
        self.timings: dict[str, float] = defaultdict(float)  # stage -> seconds, see timed()

    # -- sources ---------------------------------------------------------------------------
    def ingest(self, only: Sequence[str] | None = None) -> list[SourceReport]:
        chosen = [source for source in self.settings.sources
                  if source.enabled and (only is None or source.name in only)]
        reports = []
        for done, source in enumerate(chosen):
            self.progress("reading sources", done, len(chosen), source.name)
            reports.append(self.ingest_source(source))
        self.progress("reading sources", len(chosen), len(chosen), "")
        return reports

    def ingest_source(self, source: Any) -> SourceReport:
        report = SourceReport(source.name)
        cls = source_class(source.kind)
        instance = cls(source.name, source.options)
        ctx = SourceContext(now=self.now,
                            is_known=lambda h: papers.is_ingested(self.engine, h),
                            http=self._fetcher() if source.kind != "dump_dir" else None)
        try:
            for item in instance.collect(ctx):
                self._take(item, report)
        except PaperDigestError as exc:
            report.failures.append(str(exc))
        except Exception as exc:  # a bug in one source must not stop the others
            clean = as_database_error(exc)
            if clean is not None:  # its transaction rolled back; the next run redoes it
                report.failures.append(str(clean))
            else:
                log.exception("source %s crashed", source.name)
                report.failures.append(f"unexpected error: {type(exc).__name__}: {exc}")
        if report.failures:
            error = "; ".join(report.failures)
            report.repeated = not runs.source_failed(self.engine, source.name, self.now, error)
            if not report.repeated:  # an operator hears of each distinct error once
                log.error("source %s failed: %s", source.name, error)
        else:
            runs.source_ok(self.engine, source.name, self.now)
        return report

    def _take(self, item: Dump | DumpFailure | Unchanged, report: SourceReport) -> None:
        if isinstance(item, Unchanged):
            report.unchanged += 1
        elif isinstance(item, DumpFailure):
            if papers.record_failure(self.engine, item, self.now) and item.raw is not None:
                report.saved.append(self._keep_raw(item))
            report.failures.append(str(item))
        else:
            result = papers.ingest_dump(self.engine, item, self.now)
            if result is None:
                report.unchanged += 1
                return
            report.dumps += 1
            report.entries += result.entries
            report.new_papers += result.new_papers
            report.known_papers += result.known_papers
            log.info("ingested %s: %d entries, %d new", item.locator, result.entries,
                     result.new_papers)

    def _keep_raw(self, failure: DumpFailure) -> str:
        """Save what could not be parsed, for inspection, under OUTPUT_DIR/failed/."""
        from worker.delivery.base import write_atomically

        stem = (failure.content_hash or "unhashed")[:16]
        path = self.settings.output_dir / "failed" / failure.source / f"{stem}.raw"
        try:
            write_atomically(path, failure.raw or b"")
        except OSError as exc:
            log.warning("cannot keep the raw body of %s: %s", failure.locator, exc)
        return str(path)

    def _fetcher(self) -> Any:
        if self._http is None and self.http_factory is not None:
            self._http = self.http_factory(runs.DatabaseValidators(self.engine, self.now))
        return self._http

    def close(self) -> None:
        if self._http is not None and hasattr(self._http, "close"):
            self._http.close()

    # -- digests ---------------------------------------------------------------------------
    def sync(self, profiles: Iterable[Profile]) -> dict[str, outbox.SubscriberState]:
        """Record new subscribers (cursor `backfill` before now), refresh known ones."""
        profiles = list(profiles)
        starts = {b: papers.seq_before(self.engine, self.now - b)
                  for b in {p.backfill for p in profiles}}
        return outbox.sync_subscribers(self.engine, [
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
            upto, window, delivered = outbox.candidate_window(
                self.engine, {sid: s.cursor_seq for sid, s in states.items()})
        reports = {p.id: SubscriberReport(p.id, created=states[p.id].created) for p in profiles}
        groups: dict[tuple[int, frozenset[int]], list[Profile]] = defaultdict(list)
        for profile in profiles:
            cursor = states[profile.id].cursor_seq
            if cursor < upto:
                groups[cursor, frozenset(delivered.get(profile.id, ()))].append(profile)
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
        for (cursor, seen), group in groups.items():
            with self.timed("candidates"):
                pool = Candidates([p for p in window if p.first_seen_seq > cursor
                                   and p.id not in seen])
            matched = match_each(group, pool, examples, marked, embedder=embedder,
                                 workers=workers)
            for profile in group:
                with self.timed("matching"):  # the time this pass waits for each match
                    items, below = next(matched)
                report = reports[profile.id]
                report.candidates, report.items, report.below_threshold = (
                    len(pool), len(items), below)
                pending.append(DigestSpec(profile.id, cursor, items, profile.deliver, below,
                                          self._message_id(profile), profile.send_empty))
                if len(pending) >= DIGEST_BATCH:
                    self._write_digests(pending, reports, upto, slot)
        self._write_digests(pending, reports, upto, slot)
        with self.timed("digests"):
            outbox.refresh_statistics(self.engine, sum(r.items for r in reports.values()
                                                       if r.digest_id is not None))
        return reports

    def _write_digests(self, specs: list[DigestSpec], reports: dict[str, SubscriberReport],
                       upto: int, slot: str | None) -> None:
        with self.timed("digests"):
            written = outbox.create_digests(self.engine, specs, upto=upto, now=self.now,
                                            slot=slot)
        for sid, digest_id in written.items():
            reports[sid].digest_id = digest_id
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
        """The profiles' example papers; arXiv ids no source has listed are looked up."""
        refs = {r for p in profiles for r in (*p.interests.like, *p.interests.unlike)}
        return resolve_examples(self.engine, refs, self.now,
                                lookup_for(self.settings, self._fetcher if self.http_factory
                                           else None))

    def _message_id(self, profile: Profile) -> str:
        from worker.render import message_domain

        sender = self.settings.smtp.sender if self.settings.smtp else None
        return f"<digest.{self.new_id()}.{profile.id}@{message_domain(sender)}>"

    # -- delivery --------------------------------------------------------------------------
    def deliver(self, profiles: Sequence[Profile], *, ignore_backoff: bool = True,
                ) -> list[DeliveryReport]:
        """Send every due pending delivery of these subscribers; mark each as it goes.

        Deliveries are claimed CLAIM_BATCH at a time (for a few hundred subscribers at a
        time), their digests read together; a batch's channels stay open for the next."""
        by_id = {p.id: p for p in profiles}
        reclaim = dead_local_owners(self.engine)
        ids = list(by_id)
        channels: dict[str, Channel] = {}
        reports: list[DeliveryReport] = []
        papers_read: dict[int, StoredPaper] = {}  # the pass's papers, read once for all batches
        # Outcomes (sent, retry, failed) are written on one held connection for the pass;
        # digests are rendered over the pass's worker processes (forked when first needed).
        with paced_for_batches(), recording(self.engine) as recorder, \
                self._renderers(by_id, papers_read) as fan:
            self.marks = recorder or self.engine
            try:
                for start in range(0, len(ids), CLAIM_BATCH):
                    after = 0
                    while jobs := outbox.claim_deliveries(
                            self.engine, owner=self.owner, now=self.now, lease=LEASE,
                            subscriber_ids=ids[start:start + CLAIM_BATCH], limit=CLAIM_BATCH,
                            ignore_backoff=ignore_backoff, reclaim=reclaim, after=after):
                        after = jobs[-1].id  # tried in this pass: not claimed again by it
                        if not self._deliver_batch(jobs, by_id, channels, reports,
                                                   papers_read, fan):
                            return reports
            finally:
                self.marks = self.engine
                for channel in channels.values():
                    channel.close()
        return reports

    def _renderers(self, by_id: dict[str, Profile],
                   papers_read: dict[int, StoredPaper]) -> FanOut:
        """The processes that render this pass's digests: with `[matching] workers` = N,
        N - 1 forked ones (at most RENDERERS_MAX) render while this one sends and marks.
        This one renders nothing itself (its caches would add to the renderers' memory, and
        it has the sending to do). A renderer reads the digests itself, on its own
        connection: only their ids go to it, and the finished forms come back. Not for a
        pass on one connection (--dry-run)."""
        workers = min(self.settings.matching.workers or default_workers(), RENDERERS_MAX + 1)
        return FanOut(workers if isinstance(self.engine, Engine) else 1, "rendering",
                      {"pipeline": self, "by_id": by_id, "papers": papers_read},
                      _renderer_started, ahead=0)

    def _deliver_batch(self, jobs: list[Any], by_id: dict[str, Profile],
                       channels: dict[str, Channel], reports: list[DeliveryReport],
                       papers_read: dict[int, StoredPaper], fan: FanOut) -> bool:
        """Send one claimed batch; False when told to stop (the rest handed back, untried)."""
        ready = self._rendered(jobs, by_id, papers_read, fan)
        # A digest's forms (serialized emails included) are kept for its other channels and
        # dropped after its last job: a batch of 500 would otherwise hold them all.
        rendered: dict[int, Rendered] = {}
        last_job = {job.digest_id: index for index, job in enumerate(jobs)}
        for index, job in enumerate(jobs):
            if self.stop():  # shutting down: hand the unsent ones back, untried
                outbox.release(self.engine, jobs[index:])
                return False
            while job.digest_id not in rendered:
                digest = next(ready)
                rendered[digest.digest_id] = digest
            reports.append(self._deliver_one(job, channels, rendered[job.digest_id]))
            if last_job[job.digest_id] == index:
                rendered.pop(job.digest_id, None)
            self.progress("delivering digests", len(reports), None,
                          f"{job.subscriber_id} ({job.channel})")
        return True

    def _rendered(self, jobs: list[Any], by_id: dict[str, Profile],
                  papers_read: dict[int, StoredPaper], fan: FanOut) -> Iterator[Rendered]:
        """The jobs' digests ready to send, in the order the jobs first need them: rendered
        over the fan's processes in shares of RENDER_SHARE (each in the forms its jobs'
        channels take), or here, each form when a channel first asks for it."""
        order = list(dict.fromkeys(job.digest_id for job in jobs))
        if fan.workers < 2 or (len(order) < RENDER_MIN and not fan.started):
            digests = outbox.load_digests(self.engine, order, papers_read)
            for digest_id in order:
                digest = digests[digest_id]
                profile = by_id[digest.subscriber_id]
                try:
                    rendered = self.render(digest_id, profile, digest)
                except Exception as exc:  # its jobs stay pending and say why
                    rendered = self._made(digest_id, profile, "", {}, exc)
                yield rendered
            return
        forms: dict[int, set[str]] = defaultdict(set)
        for job in jobs:
            forms[job.digest_id].add(job.channel)
        shares = [tuple((digest_id, tuple(sorted(forms[digest_id])))
                        for digest_id in order[start:start + RENDER_SHARE])
                  for start in range(0, len(order), RENDER_SHARE)]
        for share in fan.map(_render_share, shares):
            for digest_id, subscriber_id, file_stem, made, error in share:
                yield self._made(digest_id, by_id[subscriber_id], file_stem, made, error)

    def _made(self, digest_id: int, profile: Profile, file_stem: str, made: dict[str, Any],
              error: str | Exception | None) -> Rendered:
        """A digest rendered ahead: its forms as made (`made` by channel name), or the error
        that stopped them (raised when a channel asks for a form: its jobs stay pending); a
        form not made ahead is rendered here when asked for."""
        failure = RenderError(error) if isinstance(error, str) else error

        def form(channel: str) -> Callable[[], Any]:
            def make() -> Any:
                if failure is not None:
                    raise failure
                if channel in made:
                    return made[channel]
                return getattr(self.render(digest_id, profile), channel)
            return make

        return Rendered(digest_id, profile.id, file_stem, form("markdown"), form("email"))

    def _deliver_one(self, job: Any, channels: dict[str, Channel],
                     rendered: Rendered) -> DeliveryReport:
        def report(status: str, detail: str) -> DeliveryReport:
            return DeliveryReport(job.subscriber_id, job.digest_id, job.channel, status, detail)

        try:
            if job.channel not in channels:
                channels[job.channel] = self.channel_factory(job.channel)
                channels[job.channel].open()
            target = channels[job.channel].send(rendered)
        except DeliveryError as exc:
            return self._failed(job, report, str(exc), exc.permanent)
        except Exception as exc:  # a template or file-system bug: keep it pending, say why
            log.exception("delivery of digest %s failed", job.digest_id)
            return self._failed(job, report, f"{type(exc).__name__}: {exc}", False)
        if not outbox.mark_sent(self.marks, job, now=self.now, target=target):
            log.warning("lease on digest %s/%s was lost; it may be sent again with the same "
                        "Message-ID", job.digest_id, job.channel)
        return report("sent", target)

    def _failed(self, job: Any, report: Callable[[str, str], DeliveryReport], error: str,
                permanent: bool) -> DeliveryReport:
        delivery = self.settings.delivery
        if permanent or job.attempts >= delivery.max_attempts:
            outbox.mark_failed(self.marks, job, error=error)
            why = "permanent" if permanent else f"{job.attempts} attempts"
            log.error("digest %s to %s failed (%s): %s", job.digest_id, job.subscriber_id,
                      why, error)
            return report("failed", error)
        delay = min(delivery.base * 2 ** (job.attempts - 1), delivery.cap)
        outbox.mark_retry(self.marks, job, error=error, retry_at=self.now + delay)
        log.warning("digest %s to %s not sent, will retry after %s: %s", job.digest_id,
                    job.subscriber_id, self.now + delay, error)
        return report("retry", f"{error} (retry after {(self.now + delay):%Y-%m-%d %H:%M} UTC)")

    def render(self, digest_id: int, profile: Profile, digest: Any = None) -> Rendered:
        """The digest (read unless given) ready to send; each form rendered when first used."""
        from worker.render import build_email, profile_context, render

        digest = digest or outbox.load_digest(self.engine, digest_id)
        ctx = profile_context(digest, profile, self.settings)
        sender = self.settings.smtp.sender if self.settings.smtp else None
        templates = self.settings.templates_dir
        return Rendered(digest.id, digest.subscriber_id,
                        f"{ctx.date.isoformat()}-digest-{digest.id}",
                        lambda: render(ctx, "md", templates),
                        lambda: build_email(ctx, sender=sender, templates_dir=templates))


FORMS = ("email", "markdown")  # channels named after the form of a digest they send


def _renderer_started() -> None:
    # A forked process opens its own connections: the pool's, inherited, are the parent's.
    shared("rendering")["pipeline"].engine.dispose(close=False)


def _render_share(share: Sequence[tuple[int, Sequence[str]]],
                  ) -> list[tuple[int, str, str, dict[str, Any], str | None]]:
    """Digests rendered in the forms their channels take: (id, subscriber, file stem, the
    forms by channel name, None), or an error's text in the last place."""
    state = shared("rendering")
    pipeline, by_id = state["pipeline"], state["by_id"]
    digests = outbox.load_digests(pipeline.engine, [digest_id for digest_id, _ in share],
                                  state["papers"])
    out: list[tuple[int, str, str, dict[str, Any], str | None]] = []
    for digest_id, channels in share:
        digest = digests[digest_id]
        try:
            rendered = pipeline.render(digest_id, by_id[digest.subscriber_id], digest)
            made = {channel: getattr(rendered, channel) for channel in channels
                    if channel in FORMS}
        except Exception as exc:  # a template bug: that digest stays pending, says why
            out.append((digest_id, digest.subscriber_id, "", {}, f"{type(exc).__name__}: {exc}"))
            continue
        out.append((digest_id, digest.subscriber_id, rendered.file_stem, made, None))
    return out


class DryRunChannel(Channel):
    """Renders like the real channel but sends nothing (`run --dry-run`)."""

    def __init__(self, name: str):
        self.name = name

    def send(self, rendered: Rendered) -> str:
        to = rendered.email.to if self.name == "email" else rendered.file_stem + ".md"
        return f"would send to {to}" if self.name == "email" else f"would write {to}"


def run_pass(config: Config, engine: Engine, now: datetime, *, dry_run: bool = False,
             only_sources: Sequence[str] | None = None, ignore_backoff: bool = True,
             http_factory: Callable[[Any], Any] | None = None,
             channel_factory: Callable[[str], Channel] | None = None,
             due: bool = False, stop: Callable[[], bool] | None = None,
             progress: Progress | None = None) -> PassReport:
    """One whole pass: ingest, build digests, deliver. `dry_run` does it all, then undoes it.

    `due`: build digests only for subscribers whose schedule slot is due (worker.due), as
    `run --due` and serve do. `stop`: serve's shutdown flag, checked before each send.
    `progress`: told of each source read and each digest delivered (worker.progress).
    """
    from worker.store.db import rolled_back

    report = PassReport(now, dry_run)
    report.skipped_subscribers = {sid: [str(p) for p in problems]
                                  for sid, problems in config.broken.items()}
    if dry_run:
        with rolled_back(engine) as scoped:
            _pass(config, scoped, report, only_sources, ignore_backoff, http_factory,
                  DryRunChannel, due=due, stop=stop, progress=progress)
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
        pipeline = Pipeline(config, db, now, http_factory=http_factory, progress=progress)
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
                        channel_factory=channel_factory, stop=stop, progress=progress)
    run_id = runs.start_run(engine, "run", report.now)
    status, error = "failed", None
    try:
        with pipeline.timed("ingest"):
            report.sources = pipeline.ingest(only)
        report.subscribers = (_build_due(pipeline, config.profiles) if due
                              else pipeline.build_digests(config.profiles))
        with pipeline.timed("delivery"):  # rendering included: forms are made as sent
            report.deliveries = pipeline.deliver(config.profiles, ignore_backoff=ignore_backoff)
        status = "ok" if report.ok else "partial"
    except Exception as exc:
        clean = as_database_error(exc)
        error = f"{type(exc).__name__}: {exc}" if clean is None else str(clean)
        if clean is None or clean is exc:
            raise
        raise clean from exc
    finally:
        pipeline.close()
        runs.finish_run(engine, run_id, report.now, status, report.stats(), error)
        _log_stages(pipeline.timings)


def _log_stages(timings: dict[str, float]) -> None:
    """Where the pass's time went (`run -vv`; bench/vs_rss2email.sh sums these up)."""
    if log.isEnabledFor(logging.DEBUG):
        stages = {stage: round(seconds, 4) for stage, seconds in timings.items()}
        log.debug("pass stages: %s", ", ".join(f"{k} {v:.3f} s" for k, v in stages.items()),
                  extra={"event": "pass.stages", "stages": stages})


def _build_due(pipeline: Pipeline, profiles: Sequence[Profile]) -> dict[str, SubscriberReport]:
    from worker.due import build_due  # schedules and slot claims: only for `run --due`, serve

    return build_due(pipeline, profiles)
