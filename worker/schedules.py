"""When digests are due: schedule forms, and slot arithmetic in a subscriber's time zone.

Forms (case-insensitive):

    daily 08:00            every day at 08:00 local time
    weekdays 07:30         Monday to Friday
    weekly mon 09:00       one day of the week (mon, tue, ... or monday, tuesday, ...)
    30 7 * * 1-5           a 5-field cron expression: minute hour day-of-month month weekday
    @daily, @weekly ...    cron shorthands (@hourly, @daily, @weekly, @monthly)
    every 6h               a fixed interval counted from 1970-01-01 00:00 UTC (not wall time);
                           for sub-daily cadences and tests (every 5s)

A *slot* is one instant at which a schedule fires. All arithmetic takes an explicit `now`.
Wall-clock forms are DST-correct:
- a wall time stays the same local time across changes (08:00 is 08:00 in winter and summer);
- a wall time that occurs twice on the autumn night is one slot, at its first occurrence;
- a wall time that does not exist on the spring night (02:30 when clocks jump 02:00 -> 03:00)
  fires once, at the first valid instant after the gap (03:00 local, the moment of the change),
  like Vixie cron runs jobs of the skipped hour right after it. Several skipped times collapse
  into that one slot.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

from worker.config_types import DurationTooLong, parse_duration

FORMS = ("'daily HH:MM', 'weekdays HH:MM', 'weekly DAY HH:MM' (DAY: mon..sun), 'every DURATION' "
         "(e.g. every 6h) or a 5-field cron expression such as '30 7 * * 1-5'")
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
ALIASES = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
           "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *"}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# How far to look for a slot: covers the rarest cron (Feb 29 on a given weekday is OR'ed, so
# the rarest is Feb 29 alone: every 4 years, 8 around 2100).
SEARCH_DAYS = 366 * 9
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
ALL = object()  # marker for an unrestricted cron field


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule. Wall-clock forms keep sets of allowed values (cron's model)."""

    text: str
    times: tuple[tuple[int, int], ...] = ()  # (hour, minute), sorted
    days: frozenset[int] = frozenset(range(1, 32))  # day of month
    months: frozenset[int] = frozenset(range(1, 13))
    weekdays: frozenset[int] = frozenset(range(7))  # 0 = Monday, as date.weekday()
    either_day: bool = False  # cron: both day fields restricted -> a day matching either fires
    interval: timedelta | None = None  # `every` schedules

    def fires_on(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        dom, dow = day.day in self.days, day.weekday() in self.weekdays
        return (dom or dow) if self.either_day else (dom and dow)


def parse_schedule(text: str) -> Schedule:
    """Parse one of the forms above; ValueError names what was wrong and what is accepted."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"empty schedule; use {FORMS}")
    return _parse(" ".join(text.split()).lower())


@lru_cache(maxsize=1024)
def _parse(text: str) -> Schedule:  # schedules are immutable, subscribers share a few
    words = text.split(" ")
    head = words[0]
    if head == "every" and len(words) == 2:
        return _every(text, words[1])
    if head in ("daily", "weekdays") and len(words) == 2:
        days = range(7) if head == "daily" else range(5)
        return Schedule(text, (_clock(words[1], text),), weekdays=frozenset(days))
    if head == "weekly" and len(words) == 3:
        return Schedule(text, (_clock(words[2], text),),
                        weekdays=frozenset({_day_name(words[1], text)}))
    if text in ALIASES:
        return _cron(text, ALIASES[text].split(" "))
    if len(words) == 5 and head not in ("daily", "weekdays", "weekly", "every"):
        return _cron(text, words)
    raise ValueError(f"{text!r} is not a schedule; use {FORMS}")


def _every(text: str, amount: str) -> Schedule:
    try:
        interval = parse_duration(amount)
    except DurationTooLong as exc:
        raise ValueError(f"{text!r}: {exc}") from None
    except ValueError:
        raise ValueError(f"{text!r}: {amount!r} is not a duration like 30s, 15m, 6h or 1d; "
                         f"use {FORMS}") from None
    if interval < timedelta(seconds=1) or interval.total_seconds() != int(interval.total_seconds()):
        raise ValueError(f"{text!r}: the interval must be a whole number of seconds, at least 1s")
    return Schedule(text, interval=interval)


def _clock(word: str, text: str) -> tuple[int, int]:
    match = _TIME.match(word)
    if not match:
        raise ValueError(f"{text!r}: {word!r} is not a time like 08:00 (24-hour HH:MM)")
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        raise ValueError(f"{text!r}: {word!r} is not a time of day (00:00 to 23:59)")
    return hour, minute


def _day_name(word: str, text: str) -> int:
    for index, name in enumerate(DAY_NAMES):
        if word == name or (len(word) > 3 and calendar.day_name[index].lower() == word):
            return index
    raise ValueError(f"{text!r}: {word!r} is not a day; use mon, tue, wed, thu, fri, sat or sun")


def _cron(text: str, fields: list[str]) -> Schedule:
    minute, hour, dom, month, dow = fields
    minutes = _field(minute, 0, 59, "minute", text)
    hours = _field(hour, 0, 23, "hour", text)
    days = _field(dom, 1, 31, "day of month", text)
    months = _field(month, 1, 12, "month", text, MONTH_NAMES)
    # cron counts weekdays from Sunday = 0 (7 is Sunday too); Python's date.weekday() from Monday
    weekdays = {(d - 1) % 7 for d in _field(dow, 0, 7, "weekday", text, DAY_NAMES, sunday=True)}
    # Vixie cron: a day field starting with '*' does not restrict; if both restrict, either fires.
    either = not dom.startswith("*") and not dow.startswith("*")
    schedule = Schedule(text, tuple(sorted((h, m) for h in hours for m in minutes)),
                        frozenset(days), frozenset(months), frozenset(weekdays), either)
    if not either and dow.startswith("*") and not _some_month_has(schedule):
        raise ValueError(f"{text!r} never fires: no month of {month!r} has day {dom!r}")
    return schedule


def _some_month_has(schedule: Schedule) -> bool:
    longest = {m: 29 if m == 2 else calendar.monthrange(2001, m)[1] for m in schedule.months}
    return any(d <= longest[m] for m in schedule.months for d in schedule.days)


def _field(spec: str, low: int, high: int, what: str, text: str,
           names: tuple[str, ...] = (), sunday: bool = False) -> set[int]:
    """One cron field: *, */n, a, a-b, a-b/n and lists of them; names where the field has them."""
    values: set[int] = set()
    for part in spec.split(","):
        rng, _, step_text = part.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if rng == "*":
                start, stop = low, high
            else:
                first, _, last = rng.partition("-")
                start = _value(first, names, low, sunday)
                stop = _value(last, names, low, sunday) if last else (high if step_text else start)
                stop = 7 if sunday and last == "sun" else stop  # fri-sun: sun ends a range as 7
        except ValueError:
            raise ValueError(f"{text!r}: {what} field {spec!r} is not valid cron "
                             f"(use *, */n, a, a-b, a-b/n or lists: 1,15)") from None
        if not (low <= start <= high and low <= stop <= high) or start > stop or step < 1:
            raise ValueError(f"{text!r}: {what} field {spec!r} is out of range {low}-{high}")
        values.update(range(start, stop + 1, step))
    return values


def _value(word: str, names: tuple[str, ...], low: int, sunday: bool) -> int:
    if word.isdigit():
        return int(word)
    if word in names:
        # Weekday names map to cron numbers (sun = 0); month names to 1..12.
        return (names.index(word) + 1) % 7 if sunday else names.index(word) + low
    raise ValueError(word)


# -- slot arithmetic ----------------------------------------------------------------------------

def zone(name: str) -> tzinfo:
    return UTC if name.upper() == "UTC" else ZoneInfo(name)


def latest_slot(schedule: Schedule, tz: tzinfo, now: datetime) -> datetime | None:
    """The latest slot at or before `now` (aware UTC), or None if there is none in reach."""
    if schedule.interval is not None:
        step = int(schedule.interval.total_seconds())
        return EPOCH + timedelta(seconds=(int((now - EPOCH).total_seconds()) // step) * step)
    start = now.astimezone(tz).date() + timedelta(days=1)  # +1: zones that fall back at 00:00
    for back in range(SEARCH_DAYS):
        day = start - timedelta(days=back)
        if schedule.fires_on(day):
            for hour, minute in reversed(schedule.times):
                moment = wall_instant(day, hour, minute, tz)
                if moment <= now:  # instants never decrease with wall time: this is the latest
                    return moment
    return None


def next_slot(schedule: Schedule, tz: tzinfo, now: datetime) -> datetime | None:
    """The first slot strictly after `now` (aware UTC), or None if there is none in reach."""
    if schedule.interval is not None:
        last = latest_slot(schedule, tz, now)
        assert last is not None
        return last + schedule.interval
    start = now.astimezone(tz).date() - timedelta(days=1)
    for ahead in range(SEARCH_DAYS):
        day = start + timedelta(days=ahead)
        if schedule.fires_on(day):
            for hour, minute in schedule.times:
                moment = wall_instant(day, hour, minute, tz)
                if moment > now:
                    return moment
    return None


def wall_instant(day: date, hour: int, minute: int, tz: tzinfo) -> datetime:
    """The UTC instant of a local wall time: first occurrence if repeated, gap end if skipped."""
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)  # fold=0: first
    moment = local.astimezone(UTC)
    if moment.astimezone(tz).replace(tzinfo=None) == local.replace(tzinfo=None):
        return moment
    return _gap_end(local, tz)


def _gap_end(local: datetime, tz: tzinfo) -> datetime:
    """The instant clocks jumped over `local`: search between its two possible readings."""
    early = local.replace(fold=1).astimezone(UTC)  # read with the offset after the change
    late = local.astimezone(UTC)  # read with the offset before it
    lo, hi = min(early, late), max(early, late)
    wall = local.replace(tzinfo=None)
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).replace(tzinfo=None) > wall:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0)


def slot_id(moment: datetime) -> str:
    """A slot's id: its instant as a UTC ISO string; ids sort like the instants."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_every(text: str) -> Schedule:
    """A source's fetch cadence: a duration ("30m": every 30 minutes) or any schedule form."""
    try:
        parse_duration(text)
    except DurationTooLong:
        raise
    except ValueError:
        try:
            return parse_schedule(text)
        except ValueError:
            raise ValueError(f"{text!r} is neither a duration like 30m or 1h nor a schedule "
                             f"({FORMS})") from None
    return parse_schedule(f"every {text}")
