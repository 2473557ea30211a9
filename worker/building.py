"""The digest-building stage of a pass: per subscriber, the papers new to it (candidates) are
matched (worker.selection) and its digest is written as an outbox row, its cursor moving with
it (worker.store.outbox). worker.app runs it between reading the sources (worker.ingest) and
delivery (worker.sending).

Subscribers with the same candidates (the same cursor, none of them delivered yet: nearly
always everyone) are matched against one prepared batch, group by group; the digests are
written DIGEST_BATCH subscribers to a transaction. A stop (serve's shutdown, SIGTERM, Ctrl-C)
is asked before each group and each subscriber: the digests written so far are kept,
pending, and the others are left to the next pass (`DigestBuilder.left`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, closing
from dataclasses import dataclass
from datetime import date, datetime
from itertools import zip_longest
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Engine

from worker.examples import Examples, lookup_for
from worker.examples import resolve as resolve_examples
from worker.profiles import Profile
from worker.selection import candidates, default_workers, match_each
from worker.settings import Settings
from worker.store import cursors, outbox, papers, runs
from worker.store.marks import Mark, marks_for
from worker.store.models import (
    DigestSpec,
    ItemSpec,
    StoredPaper,
    SubscriberInfo,
    SubscriberState,
)

if TYPE_CHECKING:
    from worker.semantic import StoredEmbedder

log = logging.getLogger("paper_digest")
DIGEST_BATCH = 500  # subscribers whose digests are written in one transaction

Groups = dict[tuple[int, frozenset[int]], list[Profile]]  # (cursor, delivered) -> subscribers


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


def sync_profiles(engine: Engine, profiles: Iterable[Profile], now: datetime,
                  ) -> dict[str, SubscriberState]:
    """Record new subscribers (cursor `backfill` before now), refresh known ones."""
    profiles = list(profiles)
    starts = {b: papers.seq_before(engine, now - b) for b in {p.backfill for p in profiles}}
    return cursors.sync_subscribers(engine, [
        SubscriberInfo(p.id, p.email, p.name, p.fingerprint, starts[p.backfill])
        for p in profiles], now)


class _Inputs(NamedTuple):
    """What every group of one build is matched with."""

    window: list[StoredPaper]  # the papers new to the lowest cursor (cursors.candidate_window)
    examples: dict[str, StoredPaper]  # the profiles' example papers (worker.examples)
    marked: dict[str, list[Mark]]
    embedder: StoredEmbedder | None  # semantic matching's, when it is on
    workers: int


class _Digests:
    """The digests of one build, queued and written DIGEST_BATCH subscribers to a
    transaction; each written digest's id (or `taken`) goes in its subscriber's report."""

    def __init__(self, builder: DigestBuilder, reports: dict[str, SubscriberReport],
                 upto: int, slot: str | None, keep_empty: set[str]):
        self.builder = builder
        self.reports = reports
        self.upto = upto
        self.slot = slot
        self.keep_empty = keep_empty  # subscribers whose digest is written even if empty
        self.pending: list[DigestSpec] = []

    def spec(self, profile: Profile, cursor: int, items: list[ItemSpec],
             below: int) -> DigestSpec:
        return DigestSpec(profile.id, cursor, items, profile.deliver, below,
                          self.builder.message_id(profile), profile.id in self.keep_empty)

    def add(self, spec: DigestSpec) -> None:
        self.pending.append(spec)
        if len(self.pending) >= DIGEST_BATCH:
            self.flush()

    def flush(self) -> None:
        self.write(self.pending)

    def write(self, specs: list[DigestSpec]) -> None:
        """Write `specs` in one transaction (the list is emptied)."""
        with self.builder.timed("digests"):
            written = outbox.create_digests(self.builder.engine, specs, upto=self.upto,
                                            now=self.builder.now, slot=self.slot)
        for sid, digest_id in written.items():
            self.reports[sid].digest_id = digest_id
        for spec in specs:
            report = self.reports[spec.subscriber_id]
            if report.digest_id is None and (spec.items or spec.keep_empty):
                report.taken, report.items, report.below_threshold = True, 0, 0
        specs.clear()


class DigestBuilder:
    """The digest-building stage of one pass, over one database and one `now`. `timed` adds a
    block's time to the pass's stage timings; `stop` is asked before each group and each
    subscriber; `fetcher` gives the pass's HTTP fetcher for example lookups (None: none);
    `new_id` makes the unique part of each Message-ID."""

    def __init__(self, settings: Settings, engine: Engine, now: datetime, *,
                 new_id: Callable[[], str],
                 timed: Callable[[str], AbstractContextManager[None]],
                 stop: Callable[[], bool], fetcher: Callable[[], Any] | None = None):
        self.settings = settings
        self.engine = engine
        self.now = now
        self.new_id = new_id
        self.timed = timed
        self.stop = stop
        self.fetcher = fetcher
        self.left: set[str] = set()  # told to stop: the subscribers whose digests are not built

    def build(self, profiles: Sequence[Profile], slot: str | None = None,
              ) -> dict[str, SubscriberReport]:
        """Write one digest per subscriber with what is new to it; cursors move with it.
        Told to stop, the reports of those it built (`left`: the others)."""
        with self.timed("sync"):
            states = sync_profiles(self.engine, profiles, self.now)
        with self.timed("candidates"):
            upto, window, delivered = cursors.candidate_window(
                self.engine, {sid: s.cursor_seq for sid, s in states.items()})
        reports = {p.id: SubscriberReport(p.id, created=states[p.id].created) for p in profiles}
        # who would hear "nothing new" if nothing matched: once a day, or once a slot
        empty_due = {p.id for p in self._empty_due([p for p in profiles if p.send_empty],
                                                   slot)}
        digests = _Digests(self, reports, upto, slot, empty_due)
        groups, quiet = _grouped(profiles, states, upto, delivered, empty_due)
        if quiet:  # nothing new to them, but they asked for a digest all the same
            digests.write([digests.spec(p, upto, [], 0) for p in quiet])
        if not groups:  # nothing new to anyone: no examples, marks or model to load
            return reports
        inputs = self._inputs(profiles, window, reports)
        for (cursor, seen), group in groups.items():
            self._build_group(cursor, seen, group, inputs, digests)
        digests.flush()
        with self.timed("digests"):
            outbox.refresh_statistics(self.engine, sum(r.items for r in reports.values()
                                                       if r.digest_id is not None))
        return self._stopped(reports) if self.left else reports

    def _inputs(self, profiles: Sequence[Profile], window: list[StoredPaper],
                reports: dict[str, SubscriberReport]) -> _Inputs:
        """Load what every group is matched with; each report is told of its profile's
        examples that could not be used."""
        with self.timed("examples"):
            found = self._examples(profiles)
        with self.timed("candidates"):
            marked = marks_for(self.engine, [p.id for p in profiles])
        for profile in profiles:
            reports[profile.id].unknown_examples = tuple(
                (r, found.unused[r]) for r in (*profile.interests.like, *profile.interests.unlike)
                if r in found.unused)
        from worker.semantic import embedder_for  # the semantic extra's wiring: only if asked

        embedder = embedder_for(self.settings, self.engine, self.now)
        return _Inputs(window, found.papers, marked, embedder,
                       self.settings.matching.workers or default_workers())

    def _build_group(self, cursor: int, seen: frozenset[int], group: list[Profile],
                     inputs: _Inputs, digests: _Digests) -> None:
        """Match a group of subscribers with the same candidates and queue their digests,
        asking before each whether to stop (the rest of the group is then `left`)."""
        if self.stop():
            self.left.update(p.id for p in group)
            return
        with self.timed("candidates"):
            pool = candidates(self.engine, [p for p in inputs.window if p.first_seen_seq > cursor
                                            and p.id not in seen])
        with closing(match_each(group, pool, inputs.examples, inputs.marked,
                                embedder=inputs.embedder,
                                workers=inputs.workers)) as matched:  # closed: workers end
            for done, profile in enumerate(group):
                if self.stop():
                    self.left.update(p.id for p in group[done:])
                    break
                with self.timed("matching"):  # the time this pass waits for each match
                    items, below = next(matched)
                report = digests.reports[profile.id]
                report.candidates, report.items, report.below_threshold = (
                    len(pool), len(items), below)
                digests.add(digests.spec(profile, cursor, items, below))

    def _stopped(self, reports: dict[str, SubscriberReport]) -> dict[str, SubscriberReport]:
        """Told to stop (SIGTERM, Ctrl-C, serve's shutdown) while matching, which at scale
        takes a while: the digests written so far are kept, pending; the others' cursors have
        not moved, so the next pass builds theirs as if this one had not begun them."""
        log.info("stopped while building digests: %d left to the next pass", len(self.left),
                 extra={"event": "digest.stopped", "left": len(self.left)})
        return {sid: r for sid, r in reports.items() if sid not in self.left}

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

    def _examples(self, profiles: Sequence[Profile]) -> Examples:
        """The profiles' example papers; arXiv ids no source has listed are looked up, each
        profile's first examples before anyone's later ones (a pass asks about so many: a
        profile listing thousands must not hold up the others' for many passes)."""
        lists = [(*p.interests.like, *p.interests.unlike) for p in profiles]
        refs = [r for turn in zip_longest(*lists) for r in turn if r is not None]
        return resolve_examples(self.engine, refs, self.now,
                                lookup_for(self.settings, self.fetcher))

    def message_id(self, profile: Profile) -> str:
        from worker.digest_mail import message_id

        sender = self.settings.smtp.sender if self.settings.smtp else None
        return message_id(self.new_id(), profile.id, sender)


def _grouped(profiles: Sequence[Profile], states: dict[str, SubscriberState], upto: int,
             delivered: dict[str, set[int]], empty_due: set[str],
             ) -> tuple[Groups, list[Profile]]:
    """(the subscribers with new papers, grouped by their candidates: their cursor and what
    was delivered to them; those with none whose "nothing new" digest is due)."""
    groups: Groups = defaultdict(list)
    quiet = []
    for profile in profiles:
        cursor = states[profile.id].cursor_seq
        if cursor < upto:
            groups[cursor, frozenset(delivered.get(profile.id, ()))].append(profile)
        elif profile.id in empty_due:
            quiet.append(profile)
    return groups, quiet
