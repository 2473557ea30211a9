"""Which subscribers are due for a digest, and one digest per subscriber and slot.

Shared by `serve` (every [serve] check_every) and `paper-digest run --due` (from cron).

- A subscriber's slots come from its `schedule` (else [serve] default_schedule) in its
  `timezone` (else worker.toml's), see worker.schedules.
- It is due when its latest slot at or before `now` is newer than any slot claimed for it so
  far, and later than when it was first seen minus [serve] grace (a subscriber added at
  09:00 with `daily 08:00` starts tomorrow, unless grace is at least an hour).
- Catch-up: only the latest slot is ever considered, so after downtime over several slots
  one digest goes out, with everything new since the last one.
- The claim is a row in slot_claims (see worker.store.schedule); a second fire for the same
  slot, in this process or another replica, finds it taken and builds nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from worker.profiles import Profile
from worker.schedules import latest_slot, parse_schedule, slot_id, zone
from worker.settings import Config, Settings
from worker.store import schedule as store

if TYPE_CHECKING:
    from worker.app import Pipeline
    from worker.building import SubscriberReport

log = logging.getLogger("paper_digest.due")
# A claim whose builder died is taken over after this (longer than any build takes).
STALE_CLAIM = timedelta(minutes=10)


@dataclass(frozen=True)
class DueSlot:
    profile: Profile
    slot: datetime

    @property
    def id(self) -> str:
        return slot_id(self.slot)


def latest_slots(profiles: Sequence[Profile], settings: Settings, now: datetime,
                 ) -> dict[str, datetime]:
    """Each subscriber's latest slot at or before `now` (absent when it has none)."""
    cache: dict[tuple[str, str], datetime | None] = {}  # subscribers share a few schedules
    result = {}
    for profile in profiles:
        key = (profile.schedule or settings.serve.default_schedule,
               profile.timezone or settings.timezone)
        if key not in cache:
            cache[key] = latest_slot(parse_schedule(key[0]), zone(key[1]), now)
        slot = cache[key]
        if slot is not None:
            result[profile.id] = slot
    return result


def select_due(profiles: Sequence[Profile], latest: dict[str, datetime],
               first_seen: dict[str, datetime], claimed: dict[str, str],
               grace: timedelta) -> list[DueSlot]:
    """The rule itself, on plain data (see the module docstring)."""
    due = []
    for profile in profiles:
        slot = latest.get(profile.id)
        seen = first_seen.get(profile.id)
        if slot is None or seen is None or slot <= seen - grace:  # strictly after
            continue
        if slot_id(slot) > claimed.get(profile.id, ""):
            due.append(DueSlot(profile, slot))
    return due


def find_due(engine: Engine, profiles: Sequence[Profile], settings: Settings, now: datetime,
             first_seen: dict[str, datetime]) -> list[DueSlot]:
    ids = [p.id for p in profiles]
    return select_due(profiles, latest_slots(profiles, settings, now), first_seen,
                      store.last_slots(engine, ids, now=now, stale_after=STALE_CLAIM),
                      settings.serve.duration("grace"))


def has_work(engine: Engine, config: Config, now: datetime) -> bool:
    """Cheap read for serve's idle tick: a new subscriber, a file back after it went (a pass
    settles who reads under it, worker.readers), a due slot or a due delivery? Not for those
    who unsubscribed: a pass leaves them out, so their slots would stay due."""
    from worker.store.readers import returning
    from worker.store.subscriptions import unsubscribed

    back = returning(engine)
    if back and any(p.id in back for p in (*config.profiles, *config.disabled.values())):
        return True  # (the earlier reader may have unsubscribed: before that filter)
    gone = unsubscribed(engine)
    profiles = [p for p in config.profiles if p.id not in gone]
    ids = [p.id for p in profiles]
    if not ids:
        return False
    seen = store.first_seen(engine, ids)
    if len(seen) < len(ids):  # new subscribers: a pass records when they were first seen
        return True
    if find_due(engine, profiles, config.settings, now, seen):
        return True
    return store.has_deliverable(engine, ids, now)


def serve_latest_slots(pipeline: Pipeline, profiles: Sequence[Profile],
                       built: dict[str, SubscriberReport]) -> None:
    """A plain `run` builds everyone's digest whatever their schedules; each digest it wrote
    serves its subscriber's latest slot, which is recorded as claimed and finished with it
    (unless claimed already). Else the next `run --due` or serve built a second digest for a
    slot that passed before the run: a plain run at 10:00 after a 07:30 slot, then cron's
    `run --due` at 06:00 the next morning sent a digest for that 07:30 slot too ("nothing
    new", to a subscriber with send_empty), and another at 07:30."""
    written = {sid: r.digest_id for sid, r in built.items() if r.digest_id is not None}
    slots = latest_slots([p for p in profiles if p.id in written], pipeline.settings,
                         pipeline.now)
    store.record_served(pipeline.engine, {sid: (slot_id(slot), written[sid])
                                          for sid, slot in slots.items()},
                        owner=pipeline.owner, now=pipeline.now)


def build_due(pipeline: Pipeline, profiles: Sequence[Profile]) -> dict[str, SubscriberReport]:
    """Claim each due subscriber's latest slot and build its digest; skip slots taken."""
    engine, now = pipeline.engine, pipeline.now
    seen = store.first_seen(engine, [p.id for p in profiles])
    new = [p for p in profiles if p.id not in seen]
    if new:  # first sight is recorded now: their first slot is the next one (or within grace)
        seen |= {sid: state.first_seen_at for sid, state in pipeline.sync(new).items()}
    due = find_due(engine, profiles, pipeline.settings, now, seen)
    groups: dict[str, list[Profile]] = defaultdict(list)
    won = set(store.claim_slots(engine, [(item.profile.id, item.id) for item in due],
                                owner=pipeline.owner, now=now, stale_after=STALE_CLAIM))
    for item in due:
        if (item.profile.id, item.id) in won:
            groups[item.id].append(item.profile)
        else:
            log.info("slot %s of %s was already claimed", item.id, item.profile.id,
                     extra={"event": "slot.taken", "subscriber": item.profile.id,
                            "slot": item.id})
    reports: dict[str, SubscriberReport] = {}
    for slot, group in groups.items():
        built = pipeline.build_digests(group, slot=slot)
        store.finish_slots(engine, slot, {sid: r.digest_id for sid, r in built.items()},
                           now=now)
        # told to stop while building: the next pass claims these slots again, at once
        store.release_slots(engine, slot, [p.id for p in group if p.id not in built],
                            owner=pipeline.owner)
        for profile in (p for p in group if p.id in built):
            digest_id = built[profile.id].digest_id
            log.info("slot %s of %s: %s", slot, profile.id,
                     f"digest {digest_id}" if digest_id else "nothing to send",
                     extra={"event": "slot.done", "subscriber": profile.id, "slot": slot,
                            "digest": digest_id, "items": built[profile.id].items})
        reports.update(built)
    return reports
