"""Who reads under each subscriber id, settled at the start of every pass.

A subscriber's id is its file's name, and names are reused: a lab's next "alex" must not get
the last one's cursor, marks or unsubscribe, nor be reached by the links in the last one's
digests. A pass compares each file with what the database knows of its id:

- a file gone is recorded (`removed_at`), once; its state is kept, in case it comes back;
- a file back with the address it had when it went (a file restored, one edited out and
  in again) carries on where it left off;
- a file back with another address is a new reader: it starts afresh (its own backfill, no
  marks, subscribed, the next generation, so the earlier reader's links are refused);
  `paper-digest forget` asks for the same whatever the address;
- an address changed while the file stayed is an edit: the same reader, everything kept.

Only a pass that read every subscriber file can tell a file is gone (`complete`); serve's
reload records the files it sees go between passes as well.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from worker.profiles import Profile
from worker.settings import Config
from worker.store import papers
from worker.store import readers as store
from worker.store.models import SubscriberInfo

log = logging.getLogger("paper_digest")


@dataclass(frozen=True)
class ReaderNote:
    """Something a pass settled about who reads under an id, to be said in one line."""

    id: str
    kind: str  # removed | back | afresh | address
    since: datetime | None = None  # back, afresh: when the file went (or was forgotten)
    forgotten: bool = False  # afresh: `paper-digest forget` asked for it
    address: str | None = None  # address: the new one
    wiped: store.Wiped | None = None  # afresh: what the earlier reader left


@dataclass(frozen=True)
class Settled:
    """What `settle` found: its notes, and who stays unsubscribed (id -> when), read with the
    rest of each id's state: a pass leaves them out (worker.app) without reading it again."""

    notes: list[ReaderNote]
    unsubscribed: dict[str, datetime]


def same_address(a: str | None, b: str | None) -> bool:
    """Addresses compared as people write them: `Alex@Lab.org` is `alex@lab.org`."""
    return (a or "").casefold() == (b or "").casefold()


def settle(engine: Engine, profiles: Sequence[Profile], now: datetime, *,
           present: set[str] | None = None) -> Settled:
    """Settle who reads under the ids of `profiles` (enabled or not) before anything reads
    their state; `present`: every id with a file (broken ones too), when all files were read,
    so that the ids without one are recorded as gone. A reader started afresh is subscribed."""
    known = store.known_readers(engine)
    notes: list[ReaderNote] = []
    if present is not None:
        gone = [sid for sid, k in known.items() if sid not in present
                and k.removed_at is None and k.forgotten_at is None]
        notes += [ReaderNote(sid, "removed") for sid in store.note_removed(engine, gone, now)]
    afresh, refreshed = [], []
    for profile in profiles:
        k = known.get(profile.id)
        if k is None:
            continue  # new: the pass records it (worker.store.cursors.sync_subscribers)
        moved = bool(k.fingerprint) and not same_address(k.email, profile.email)
        if k.forgotten_at is not None or (k.removed_at is not None and moved):
            afresh.append((profile, k))
            continue
        if k.removed_at is not None:
            notes.append(ReaderNote(profile.id, "back", since=k.removed_at))
        elif moved:
            notes.append(ReaderNote(profile.id, "address", address=profile.email))
        if k.removed_at is not None or (k.email, k.name, k.fingerprint) != (
                profile.email, profile.name, profile.fingerprint):
            refreshed.append(_info(profile, 0))
    if refreshed:
        store.refresh(engine, refreshed, now)
    notes += _start_afresh(engine, afresh, now)
    for note in notes:
        _log(note)
    fresh = {profile.id for profile, _ in afresh}
    return Settled(notes, {sid: k.unsubscribed_at for sid, k in known.items()
                           if k.unsubscribed_at is not None and sid not in fresh})


def settle_config(config: Config, engine: Engine, now: datetime) -> Settled:
    """`settle` for a pass over a config: its profiles, enabled or not, and (when it read
    every file) the ids that have one, broken ones too."""
    present = ({p.id for p in config.profiles} | set(config.broken) | set(config.disabled)
               if config.complete else None)
    return settle(engine, [*config.profiles, *config.disabled.values()], now, present=present)


def _start_afresh(engine: Engine, afresh: list[tuple[Profile, store.Known]], now: datetime,
                  ) -> list[ReaderNote]:
    starts = {b: papers.seq_before(engine, now - b) for b in {p.backfill for p, _ in afresh}}
    notes = []
    for profile, k in afresh:
        wiped = store.start_afresh(engine, _info(profile, starts[profile.backfill]),
                                   k.generation, now)
        if wiped is not None:  # (None: a pass at the same time did it)
            notes.append(ReaderNote(profile.id, "afresh", since=k.forgotten_at or k.removed_at,
                                    forgotten=k.forgotten_at is not None, wiped=wiped))
    return notes


def _info(profile: Profile, start_seq: int) -> SubscriberInfo:
    return SubscriberInfo(profile.id, profile.email, profile.name, profile.fingerprint,
                          start_seq)


def record_gone(engine: Engine, ids: Sequence[str], now: datetime) -> list[ReaderNote]:
    """serve's reload: record the ids whose file it saw go, as it sees them (not at the next
    pass, which then finds them recorded and says nothing), and log each as a pass would
    (event `subscriber.removed`)."""
    notes = [ReaderNote(sid, "removed") for sid in store.note_removed(engine, ids, now)]
    for note in notes:
        _log(note)
    return notes


def _log(note: ReaderNote) -> None:
    """serve's log says what `run` prints (worker.report.reader_lines)."""
    fields: dict[str, object] = {"event": f"subscriber.{note.kind}", "subscriber": note.id}
    if note.wiped is not None:
        fields.update(generation=note.wiped.generation, digests=note.wiped.digests,
                      marks=note.wiped.marks, forgotten=note.forgotten)
    log.info("subscriber %s: %s", note.id, {
        "removed": "its file is gone; its state is kept in case it comes back",
        "back": "its file is back with the same address: carries on",
        "afresh": "a new reader: starts afresh",
        "address": "address changed with its file in place: the same reader",
    }[note.kind], extra=fields)
