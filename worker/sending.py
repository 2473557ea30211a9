"""The delivery stage of a pass: every due pending digest of the pass's subscribers is sent
through its channels and marked sent, to retry or failed as it goes (worker.app runs it after
building the digests).

Deliveries are claimed in batches under a lease, so two passes do not send one digest at once,
and a pass killed mid-send leaves leases that its host's next pass takes over at once. Their
digests are made ready by worker.rendering (with many, ahead in forked processes while this
one sends). A cause that holds digests with no fault of theirs (a relay down, a template that
fails) is logged once a pass, with how many it held.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from worker.collector import paced_for_batches
from worker.delivery import Channel, Rendered
from worker.errors import DeliveryError, TemplateError, as_database_error
from worker.fanout import FanOut
from worker.plaintext import plural
from worker.profiles import Profile
from worker.progress import Progress, no_progress
from worker.rendering import Renderer
from worker.settings import Settings
from worker.store import outbox
from worker.store.locks import process_alive
from worker.store.models import StoredPaper
from worker.store.recording import Recorder, recording

log = logging.getLogger("paper_digest")
LEASE = timedelta(minutes=10)
CLAIM_BATCH = 500  # deliveries claimed at once (and subscribers asked for at once)


@dataclass
class DeliveryReport:
    subscriber_id: str
    digest_id: int
    channel: str
    status: str  # sent | retry | failed
    detail: str  # where it went, or why not


@dataclass
class Hold:
    """The digests one cause held in a pass (Delivery._held), said once for the pass."""

    template: bool  # a template's error, else a relay's or a folder's
    first: str  # the first digest's own error (a folder's names its file, the cause does not)
    channels: set[str] = field(default_factory=set)
    digests: dict[int, str] = field(default_factory=dict)  # digest id -> its subscriber


class Untried:
    """The deliveries this process has claimed and not yet begun to send, for serve to hand
    back when it must leave while a send hangs (worker.scheduler: its shutdown gives a job
    SHUTDOWN_GRACE seconds): they are free for the next pass at once, their attempt not
    counted. The send under way is not among them: whether the server took it is unknown, and
    its lease keeps it from going out twice in that time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.jobs: dict[tuple[int, int], tuple[Engine, Any]] = {}  # (engine, job id) -> both
        self.stranded: dict[tuple[int, int], tuple[Engine, Any]] = {}  # of passes that failed

    def add(self, engine: Engine, jobs: Sequence[Any]) -> None:
        with self.lock:
            self.jobs.update({(id(engine), job.id): (engine, job) for job in jobs})

    def forget(self, engine: Engine, jobs: Sequence[Any]) -> None:
        with self.lock:
            for job in jobs:
                self.jobs.pop((id(engine), job.id), None)

    def forget_engine(self, engine: Engine) -> None:
        with self.lock:
            for key in [k for k in self.jobs if k[0] == id(engine)]:
                del self.jobs[key]

    def strand(self, engine: Engine) -> None:
        """A pass on `engine` failed (its database went away) with these still claimed: kept
        for the next pass of this process to hand back, or they would wait out their lease
        (10 minutes) though they were never tried."""
        with self.lock:
            for key in [k for k in self.jobs if k[0] == id(engine)]:
                self.stranded[key] = self.jobs.pop(key)

    def release_stranded(self, engine: Engine) -> None:
        """Hand back what an earlier pass on `engine` left stranded (kept if that fails)."""
        with self.lock:
            keys = [k for k in self.stranded if k[0] == id(engine)]
            jobs = [self.stranded.pop(k)[1] for k in keys]
        try:
            outbox.release(engine, jobs)
        except BaseException:
            with self.lock:
                self.stranded.update({(id(engine), job.id): (engine, job) for job in jobs})
            raise

    def release(self, engine: Engine) -> int:
        """Hand back every one claimed on `engine` (serve's, as it leaves a job that hangs),
        stranded or not; how many. Another engine's are not touched: its database may be
        gone, and its failure must not keep this one's claims."""
        with self.lock:
            keys = [k for k in (*self.jobs, *self.stranded) if k[0] == id(engine)]
            jobs = [(self.jobs.pop(k, None) or self.stranded.pop(k))[1] for k in keys]
        outbox.release(engine, jobs)
        return len(jobs)


UNTRIED = Untried()


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
        if pid.isdigit() and not process_alive(int(pid)):
            dead.append(owner)
    return dead


class Delivery:
    """The delivery stage of one pass, over one database and one `now`. `owner` holds the
    leases; `channel_factory` makes a channel by its name; `stop` (serve's shutdown) is asked
    before each send; `progress` is told of each digest sent."""

    def __init__(self, settings: Settings, engine: Engine, now: datetime, *, owner: str,
                 channel_factory: Callable[[str], Channel],
                 stop: Callable[[], bool] | None = None, progress: Progress | None = None):
        self.settings = settings
        self.engine = engine
        self.now = now
        self.owner = owner
        self.channel_factory = channel_factory
        self.stop = stop or (lambda: False)
        self.progress = progress or no_progress
        self.renderer = Renderer(settings, engine, now)
        self.marks: Engine | Recorder = engine  # where outcomes go: deliver() says
        self.interrupted = False  # told to stop with deliveries left: handed back
        # What held digests in this pass (a template's error, a relay that cannot be reached,
        # a folder that cannot be written) -> them: said once for the pass (see _held).
        self.holds: dict[str, Hold] = {}

    def deliver(self, profiles: Sequence[Profile], *, ignore_backoff: bool = True,
                ) -> list[DeliveryReport]:
        """Send every due pending delivery of these subscribers; mark each as it goes.

        Deliveries are claimed CLAIM_BATCH at a time (for a few hundred subscribers at a
        time), their digests read together; a batch's channels stay open for the next."""
        by_id = {p.id: p for p in profiles}
        if isinstance(self.engine, Engine):
            UNTRIED.release_stranded(self.engine)
        reclaim = dead_local_owners(self.engine)
        ids = list(by_id)
        channels: dict[str, Channel] = {}
        reports: list[DeliveryReport] = []
        papers_read: dict[int, StoredPaper] = {}  # the pass's papers, read once for all batches
        # Outcomes (sent, retry, failed) are written on one held connection for the pass;
        # digests are rendered over the pass's worker processes (forked when first needed).
        with paced_for_batches(), recording(self.engine) as recorder, \
                self.renderer.processes(by_id, papers_read) as fan:
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
                            self.interrupted = True  # the rest handed back, untried
                            return reports
            except Exception:
                if isinstance(self.engine, Engine):  # (a dry run's are rolled back)
                    UNTRIED.strand(self.engine)  # the next pass hands them back
                raise
            finally:
                self.marks = self.engine
                UNTRIED.forget_engine(self.engine)
                for channel in channels.values():
                    channel.close()
                self._say_held()
        return reports

    def _deliver_batch(self, jobs: list[Any], by_id: dict[str, Profile],
                       channels: dict[str, Channel], reports: list[DeliveryReport],
                       papers_read: dict[int, StoredPaper], fan: FanOut) -> bool:
        """Send one claimed batch; False when told to stop (the rest handed back, untried)."""
        ready = self.renderer.ready(jobs, by_id, papers_read, fan)
        # A digest's forms (serialized emails included) are kept for its other channels and
        # dropped after its last job: a batch of 500 would otherwise hold them all.
        rendered: dict[int, Rendered] = {}
        last_job = {job.digest_id: index for index, job in enumerate(jobs)}
        UNTRIED.add(self.engine, jobs)
        for index, job in enumerate(jobs):
            if self.stop():  # shutting down: hand the unsent ones back, untried
                outbox.release(self.engine, jobs[index:])
                UNTRIED.forget(self.engine, jobs[index:])
                return False
            UNTRIED.forget(self.engine, [job])
            while job.digest_id not in rendered:
                digest = next(ready)
                rendered[digest.digest_id] = digest
            reports.append(self._deliver_one(job, channels, rendered[job.digest_id]))
            if last_job[job.digest_id] == index:
                rendered.pop(job.digest_id, None)
            self.progress("delivering digests", len(reports), None,
                          f"{job.subscriber_id} ({job.channel})")
        return True

    def _deliver_one(self, job: Any, channels: dict[str, Channel],
                     rendered: Rendered) -> DeliveryReport:
        def report(status: str, detail: str) -> DeliveryReport:
            return DeliveryReport(job.subscriber_id, job.digest_id, job.channel, status, detail)

        try:
            if job.channel not in channels:
                channels[job.channel] = self.channel_factory(job.channel)
                channels[job.channel].stop = self.stop
                channels[job.channel].open()
            target = channels[job.channel].send(rendered)
        except DeliveryError as exc:
            if exc.held:
                return self._held(job, report, str(exc), exc.cause)
            return self._failed(job, report, str(exc), exc.permanent)
        except TemplateError as exc:
            error = f"TemplateError: {exc}"
            return self._held(job, report, error, error, template=True)
        except Exception as exc:  # a bug of ours: keep it pending, say why
            return self._failed(job, report, f"{type(exc).__name__}: {exc}", False, bug=exc)
        try:
            recorded = outbox.mark_sent(self.marks, job, now=self.now, target=target)
        except Exception as exc:  # the database went away for longer than a mark waits
            log.error("digest %s to %s by %s was sent (%s) but could not be recorded as sent "
                      "(%s): it goes out again, with the same Message-ID, once its lease "
                      "ends", job.digest_id, job.subscriber_id, job.channel, target,
                      as_database_error(exc) or exc,
                      extra={"event": "delivery.unrecorded", "digest": job.digest_id,
                             "subscriber": job.subscriber_id, "channel": job.channel})
            raise
        if not recorded:
            log.warning("lease on digest %s/%s was lost; it may be sent again with the same "
                        "Message-ID", job.digest_id, job.channel,
                        extra={"event": "delivery.lease_lost", "digest": job.digest_id,
                               "subscriber": job.subscriber_id, "channel": job.channel})
        return _logged(report("sent", target))

    def _retry_at(self, delay: timedelta) -> datetime:
        """`delay` from now, to the second: a pass's `now` is its check's moment and a little
        more, and the check at exactly `now + delay` must find it due, not the one after."""
        return (self.now + delay).replace(microsecond=0)

    def _held(self, job: Any, report: Callable[[str, str], DeliveryReport], error: str,
              cause: str, *, template: bool = False) -> DeliveryReport:
        """No fault of this digest (the relay cannot be reached or refused our login, a folder
        cannot be written, a `template` cannot be rendered): pending, its attempt not
        counted, tried again after `retry_base`, for as long as it takes, and sent by the first
        pass after it is put right. (A template that names a field `d` lacks is the install's
        to fix, not the digest's: counted as an attempt, it made every digest failed after
        `max_attempts` passes, and they stayed unsent once it was fixed, until `retry`.)
        `cause` is what the digests it holds share: every digest of the pass meets it, so it
        is said once for the pass (_say_held) and each digest's own line is DEBUG."""
        retry_at = self._retry_at(self.settings.delivery.base)
        outbox.mark_held(self.marks, job, error=error, retry_at=retry_at)
        hold = self.holds.setdefault(cause, Hold(template, error))
        hold.channels.add(job.channel)
        hold.digests[job.digest_id] = job.subscriber_id
        return _logged(report("retry", f"{error} (retry after {retry_at:%Y-%m-%d %H:%M} UTC)"),
                       attempts=job.attempts - 1, retry_at=_iso(retry_at), level=logging.DEBUG)

    def _say_held(self) -> None:
        """One line for each cause that held digests in the pass, with how many digests of
        how many subscribers (a line each was 10,000 lines a pass at 10,000 subscribers). A
        template's error: event delivery.template_held, an error (the install's to fix: it
        does not pass by itself), with one of its subscribers to `preview`; a relay's or a
        folder's: delivery.held, a warning as a retry is, with the first digest's own error
        when the cause does not name its file."""
        for cause, hold in self.holds.items():
            digests, subscribers = len(hold.digests), len(set(hold.digests.values()))
            counted = (f"{plural(digests, 'digest')} of {plural(subscribers, 'subscriber')} "
                       "held, pending with no attempt counted")
            fields = {"digests": digests, "subscribers": subscribers}
            if hold.template:
                log.error("%s: %s, until the template is fixed (the first pass after sends "
                          "them)", cause, counted, extra={
                              "event": "delivery.template_held", **fields,
                              "subscriber": next(iter(hold.digests.values()))})
                continue
            channels = ",".join(sorted(hold.channels))
            first = "" if hold.first == cause else f"; the first: {hold.first}"
            log.warning("%s: %s (by %s), until it is put right (the first pass after sends "
                        "them)%s", cause, counted, channels, first,
                        extra={"event": "delivery.held", "channel": channels, **fields})

    def _failed(self, job: Any, report: Callable[[str, str], DeliveryReport], error: str,
                permanent: bool, bug: Exception | None = None) -> DeliveryReport:
        """Mark a send that did not go through: to retry after a back-off, or failed for good
        (refused for good, or out of attempts). Logged once, traceback and all for a `bug`."""
        delivery = self.settings.delivery
        if permanent or job.attempts >= delivery.max_attempts:
            outbox.mark_failed(self.marks, job, error=error)
            why = "refused for good" if permanent else f"gave up after {job.attempts} attempts"
            return _logged(report("failed", error), bug, why, attempts=job.attempts)
        retry_at = self._retry_at(delivery.wait(job.attempts))
        outbox.mark_retry(self.marks, job, error=error, retry_at=retry_at)
        return _logged(report("retry", f"{error} (retry after {retry_at:%Y-%m-%d %H:%M} UTC)"),
                       bug, attempts=job.attempts, retry_at=_iso(retry_at))



def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _logged(report: DeliveryReport, bug: Exception | None = None, why: str = "",
            level: int | None = None, **fields: Any) -> DeliveryReport:
    """One line for each delivery's outcome, as it happens (its `ts` is when it was sent or
    refused, not the end of the pass): event delivery.sent (info), .retry (warning) or
    .failed (error), with the digest, subscriber, channel, and for a refusal its attempts and
    when it is tried again. `level` instead for a held digest's (DEBUG: its cause is said
    once for the pass)."""
    if level is None:
        level = {"sent": logging.INFO, "retry": logging.WARNING}.get(report.status,
                                                                    logging.ERROR)
    log.log(level, "digest %s to %s by %s: %s (%s%s)", report.digest_id, report.subscriber_id,
            report.channel, report.status, report.detail, f"; {why}" if why else "", exc_info=bug,
            extra={"event": f"delivery.{report.status}", "digest": report.digest_id,
                   "subscriber": report.subscriber_id, "channel": report.channel, **fields})
    return report


class DryRunChannel(Channel):
    """Renders like the real channel, says what it would do, and does nothing (`run
    --dry-run`): no file written, no SMTP connection opened."""

    def __init__(self, real: Channel):
        self.real = real
        self.name = real.name

    def send(self, rendered: Rendered) -> str:
        return self.real.would(rendered)

    def would(self, rendered: Rendered) -> str:
        return self.real.would(rendered)
