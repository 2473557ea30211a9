"""Schedule forms and slot arithmetic, with an injected `now`: zones, both DST changes, cron."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.helpers import run_cli
from worker.schedules import (
    latest_slot,
    next_slot,
    parse_every,
    parse_schedule,
    slot_id,
    wall_instant,
    zone,
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def nexts(schedule: str, tz: str, start: str, count: int) -> list[str]:
    """`count` consecutive slots after `start`, as local wall times with their UTC offset."""
    parsed, where, now, out = parse_schedule(schedule), zone(tz), utc(start), []
    for _ in range(count):
        slot = next_slot(parsed, where, now)
        assert slot is not None
        out.append(slot.astimezone(where).isoformat(timespec="minutes"))
        now = slot
    return out


# -- wall-clock forms across zones and DST ---------------------------------------------------

@pytest.mark.parametrize(("tz", "start", "expected"), [
    # Berlin springs forward on 2026-03-29 (02:00 -> 03:00): 08:00 stays 08:00.
    ("Europe/Berlin", "2026-03-27T12:00", ["2026-03-28T08:00+01:00", "2026-03-29T08:00+02:00",
                                           "2026-03-30T08:00+02:00"]),
    # ...and falls back on 2026-10-25 (03:00 -> 02:00).
    ("Europe/Berlin", "2026-10-23T12:00", ["2026-10-24T08:00+02:00", "2026-10-25T08:00+01:00",
                                           "2026-10-26T08:00+01:00"]),
    # New York changes on other dates (2026-03-08, 2026-11-01).
    ("America/New_York", "2026-03-06T18:00", ["2026-03-07T08:00-05:00",
                                              "2026-03-08T08:00-04:00",
                                              "2026-03-09T08:00-04:00"]),
    ("America/New_York", "2026-10-30T18:00", ["2026-10-31T08:00-04:00",
                                              "2026-11-01T08:00-05:00",
                                              "2026-11-02T08:00-05:00"]),
    # The southern hemisphere: Sydney leaves DST on 2026-04-05 and enters it on 2026-10-04.
    ("Australia/Sydney", "2026-04-03T12:00", ["2026-04-04T08:00+11:00",
                                              "2026-04-05T08:00+10:00",
                                              "2026-04-06T08:00+10:00"]),
    ("Australia/Sydney", "2026-10-02T12:00", ["2026-10-03T08:00+10:00",
                                              "2026-10-04T08:00+11:00",
                                              "2026-10-05T08:00+11:00"]),
    # Half-hour offsets, no DST.
    ("Asia/Kolkata", "2026-06-01T00:00", ["2026-06-01T08:00+05:30", "2026-06-02T08:00+05:30",
                                          "2026-06-03T08:00+05:30"]),
])
def test_daily_stays_at_local_time_across_dst(tz: str, start: str,
                                              expected: list[str]) -> None:
    assert nexts("daily 08:00", tz, start, 3) == expected


def test_same_schedule_in_two_zones_fires_at_their_own_eight() -> None:
    now = utc("2026-07-01T00:00")
    berlin = next_slot(parse_schedule("daily 08:00"), zone("Europe/Berlin"), now)
    tokyo = next_slot(parse_schedule("daily 08:00"), zone("Asia/Tokyo"), now)
    assert (berlin, tokyo) == (utc("2026-07-01T06:00"), utc("2026-07-01T23:00"))


def test_spring_gap_time_fires_once_at_the_end_of_the_gap() -> None:
    # 02:30 does not exist in Berlin on 2026-03-29: it fires at 03:00 CEST (01:00 UTC), once.
    slots = nexts("daily 02:30", "Europe/Berlin", "2026-03-27T12:00", 3)
    assert slots == ["2026-03-28T02:30+01:00", "2026-03-29T03:00+02:00",
                     "2026-03-30T02:30+02:00"]
    # Several times inside the gap collapse into that one slot.
    gap = nexts("*/20 2 * * *", "Europe/Berlin", "2026-03-28T23:00", 2)
    assert gap == ["2026-03-29T03:00+02:00", "2026-03-30T02:00+02:00"]


def test_autumn_repeated_time_is_one_slot_at_its_first_occurrence() -> None:
    berlin = zone("Europe/Berlin")
    schedule = parse_schedule("daily 02:30")
    first = next_slot(schedule, berlin, utc("2026-10-24T12:00"))
    assert first == utc("2026-10-25T00:30")  # 02:30 CEST, the first of the two 02:30s
    # From inside the second 02:30 (01:30 UTC) the next slot is tomorrow, not again today.
    assert next_slot(schedule, berlin, utc("2026-10-25T00:30")) == utc("2026-10-26T01:30")
    assert latest_slot(schedule, berlin, utc("2026-10-25T01:45")) == first


def test_wall_instant_rules() -> None:
    berlin = zone("Europe/Berlin")
    day = datetime(2026, 3, 29).date()
    assert wall_instant(day, 2, 30, berlin) == utc("2026-03-29T01:00")
    assert wall_instant(day, 3, 0, berlin) == utc("2026-03-29T01:00")
    assert wall_instant(day, 1, 59, berlin) == utc("2026-03-29T00:59")


def test_latest_slot_is_at_or_before_now() -> None:
    schedule, berlin = parse_schedule("daily 08:00"), zone("Europe/Berlin")
    assert latest_slot(schedule, berlin, utc("2026-03-14T07:00")) == utc("2026-03-14T07:00")
    assert latest_slot(schedule, berlin, utc("2026-03-14T06:59")) == utc("2026-03-13T07:00")
    # After days of downtime the latest slot is the only one that matters.
    assert latest_slot(schedule, berlin, utc("2026-03-20T12:00")) == utc("2026-03-20T07:00")


# -- weekday, weekly, cron and interval forms --------------------------------------------------

def test_weekdays_skip_the_weekend() -> None:
    # 2026-03-13 is a Friday.
    assert nexts("weekdays 07:30", "UTC", "2026-03-13T08:00", 2) == [
        "2026-03-16T07:30+00:00", "2026-03-17T07:30+00:00"]
    assert latest_slot(parse_schedule("weekdays 07:30"), UTC,
                       utc("2026-03-16T07:00")) == utc("2026-03-13T07:30")


@pytest.mark.parametrize("text", ["weekly mon 09:00", "weekly Monday 09:00",
                                  "WEEKLY MON 09:00", "0 9 * * 1", "0 9 * * mon"])
def test_weekly_monday_spellings(text: str) -> None:
    assert nexts(text, "Europe/Berlin", "2026-03-24T12:00", 2) == [
        "2026-03-30T09:00+02:00", "2026-04-06T09:00+02:00"]


@pytest.mark.parametrize(("text", "start", "expected"), [
    ("30 7 * * 1-5", "2026-03-13T08:00", ["2026-03-16T07:30+00:00", "2026-03-17T07:30+00:00"]),
    ("0 9 1 * *", "2026-01-15T00:00", ["2026-02-01T09:00+00:00", "2026-03-01T09:00+00:00"]),
    ("*/15 9-10 * * *", "2026-03-13T10:40", ["2026-03-13T10:45+00:00",
                                             "2026-03-14T09:00+00:00"]),
    ("0 8,18 * * *", "2026-03-13T09:00", ["2026-03-13T18:00+00:00", "2026-03-14T08:00+00:00"]),
    # Both day fields restricted: either matches (13th of the month, or any Friday).
    ("0 8 13 * fri", "2026-03-10T00:00", ["2026-03-13T08:00+00:00", "2026-03-20T08:00+00:00",
                                          "2026-03-27T08:00+00:00", "2026-04-03T08:00+00:00",
                                          "2026-04-10T08:00+00:00", "2026-04-13T08:00+00:00"]),
    ("0 0 29 2 *", "2026-03-01T00:00", ["2028-02-29T00:00+00:00"]),
    ("0 9 * jan,jul sun", "2026-06-29T00:00", ["2026-07-05T09:00+00:00"]),
    ("0 12 * * 0", "2026-03-13T00:00", ["2026-03-15T12:00+00:00"]),
    ("0 12 * * 7", "2026-03-13T00:00", ["2026-03-15T12:00+00:00"]),
    ("0 12 * * fri-sun", "2026-03-14T13:00", ["2026-03-15T12:00+00:00",
                                              "2026-03-20T12:00+00:00"]),
    ("@daily", "2026-03-13T09:00", ["2026-03-14T00:00+00:00"]),
    ("@weekly", "2026-03-13T09:00", ["2026-03-15T00:00+00:00"]),
])
def test_cron_forms(text: str, start: str, expected: list[str]) -> None:
    assert nexts(text, "UTC", start, len(expected)) == expected


def test_every_counts_from_the_epoch_not_wall_time() -> None:
    schedule = parse_schedule("every 6h")
    berlin = zone("Europe/Berlin")  # the zone does not matter for intervals
    assert latest_slot(schedule, berlin, utc("2026-03-29T07:59")) == utc("2026-03-29T06:00")
    assert next_slot(schedule, berlin, utc("2026-03-29T06:00")) == utc("2026-03-29T12:00")
    seconds = parse_schedule("every 5s")
    assert next_slot(seconds, UTC, utc("2026-03-29T06:00:03")) == utc("2026-03-29T06:00:05")


def test_every_for_sources_accepts_durations_and_schedules() -> None:
    assert parse_every("30m").interval == timedelta(minutes=30)
    assert parse_every("daily 06:00").times == ((6, 0),)
    assert parse_every("*/30 * * * *").interval is None
    with pytest.raises(ValueError, match="neither a duration"):
        parse_every("sometimes")


def test_slot_ids_are_utc_and_sort_like_time() -> None:
    berlin_eight = datetime(2026, 3, 14, 8, tzinfo=zone("Europe/Berlin"))
    assert slot_id(berlin_eight) == "2026-03-14T07:00:00Z"
    moments = [utc("2026-03-14T07:00") + timedelta(hours=h * 7) for h in range(30)]
    assert sorted(map(slot_id, moments)) == [slot_id(m) for m in moments]


# -- invalid schedules ---------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "message"), [
    ("dialy 08:00", "is not a schedule; use 'daily HH:MM', 'weekdays HH:MM'"),
    ("daily", "is not a schedule"),
    ("daily 8am", "'8am' is not a time like 08:00"),
    ("daily 24:00", "not a time of day (00:00 to 23:59)"),
    ("weekly someday 09:00", "'someday' is not a day; use mon, tue"),
    ("weekly 09:00", "is not a schedule"),
    ("61 * * * *", "minute field '61' is out of range 0-59"),
    ("0 8 * * 8", "weekday field '8' is out of range 0-7"),
    ("0 8 * * 5-1", "weekday field '5-1' is out of range 0-7"),  # backwards: would never fire
    ("0 8 * foo *", "month field 'foo' is not valid cron"),
    ("0 8 31 2 *", "never fires"),
    ("0 8 * *", "is not a schedule"),
    ("every 0s", "at least 1s"),
    ("every soon", "not a duration"),
    ("", "empty schedule"),
])
def test_invalid_schedules_say_what_is_accepted(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_schedule(text)
    assert message in str(caught.value)


def test_check_rejects_an_invalid_schedule_with_file_key_and_forms(tmp_path: Path) -> None:
    config = tmp_path / "config"
    (config / "subscribers").mkdir(parents=True)
    (config / "worker.toml").write_text(
        f'database_url = "sqlite:///{tmp_path}/db.sqlite"\n'
        '[serve]\ndefault_schedule = "hourly"\n'
        '[[sources]]\nname = "local"\nkind = "dump_dir"\n'
        f'path = "{tmp_path}"\nevery = "now and then"\n', encoding="utf-8")
    (config / "subscribers" / "ada.toml").write_text(
        'email = "ada@example.org"\nschedule = "dialy 08:00"\ntimezone = "Mars/Olympus"\n'
        '[interests]\nkeywords = ["x"]\n', encoding="utf-8")
    (config / "subscribers" / "bob.toml").write_text(
        'email = "bob@example.org"\nschedule = "weekly mon 9:00"\n'
        'timezone = "America/New_York"\n[interests]\nkeywords = ["x"]\n', encoding="utf-8")
    result = run_cli(config, "check")
    assert result.exit_code == 1
    out = result.output
    assert f"{config / 'subscribers' / 'ada.toml'}:2: schedule: 'dialy 08:00' is not a " \
           "schedule; use 'daily HH:MM'" in out
    assert "unknown time zone 'Mars/Olympus'" in out
    assert "bob.toml" not in out  # 9:00 is a fine time
    assert "serve.default_schedule: 'hourly' is not a schedule" in out
    assert "sources[0].every: 'now and then' is neither a duration" in out
