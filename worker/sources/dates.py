"""Relative dates in source config: `today`, `yesterday`, `last N days`, or `YYYY-MM-DD`.

A daily job keeps working with `date = "today"`; the pass's `now` (never the clock) decides
which day that is. Days without papers (weekends, holidays) are normal: the sources report
them as "nothing listed", not as errors.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from worker.errors import ParseError

_LAST_N = re.compile(r"^last\s+(\d{1,2})\s+days?$")
MAX_DAYS = 31
DATE_HELP = '"today", "yesterday", "last N days" (N up to 31) or a date like "2026-06-12"'


def resolve_dates(spec: str, now: datetime) -> list[date]:
    """The concrete days `spec` means at `now` (UTC), oldest first; ValueError if invalid."""
    today = (now.astimezone(UTC) if now.tzinfo else now).date()
    text = " ".join(spec.strip().lower().split())
    if text == "today":
        return [today]
    if text == "yesterday":
        return [today - timedelta(days=1)]
    match = _LAST_N.match(text)
    if match:
        count = int(match.group(1))
        if not 1 <= count <= MAX_DAYS:
            raise ValueError(f"{spec!r}: N must be between 1 and {MAX_DAYS}")
        return [today - timedelta(days=back) for back in range(count - 1, -1, -1)]
    try:
        return [date.fromisoformat(text)]
    except ValueError:
        raise ValueError(f"{spec!r} is not a date; use {DATE_HELP}") from None


def days_to_read(spec: str, now: datetime, last_read: datetime | None = None
                 ) -> tuple[list[date], str | None]:
    """The days to read at `now`, oldest first, and a warning when some had to be left out.

    Those `spec` means at `now`, and, for a relative spec, every day it meant since
    `last_read` (when the source was last read without a failure): the rest of a day read
    early by a daily cron, or the days a source failed or the worker was down, are read on
    the next pass that can, not skipped for good (what was already read is unchanged: a
    304 or the same content). At most MAX_DAYS days in all; the warning names those left."""
    days = resolve_dates(spec, now)
    if last_read is None:
        return days, None
    start = min(resolve_dates(spec, last_read)[0], days[0])
    first = max(start, days[-1] - timedelta(days=MAX_DAYS - 1))
    span = [first + timedelta(days=n) for n in range((days[-1] - first).days + 1)]
    if first == start:
        return span, None
    return span, (f"last read without failure at {last_read:%Y-%m-%d %H:%M}: the days "
                  f"{start.isoformat()} to {(first - timedelta(days=1)).isoformat()} are not "
                  f"read (at most {MAX_DAYS} days are caught up; a source with date = "
                  '"YYYY-MM-DD" reads one of them)')


def check_date_spec(spec: str) -> str | None:
    """An error message for config checks, or None when `spec` is valid."""
    try:
        resolve_dates(spec, datetime(2000, 1, 1, tzinfo=UTC))
    except ValueError as exc:
        return str(exc)
    return None


def parse_moment(value: Any, where: str, what: str = "") -> datetime | None:
    """An ISO 8601 date-time of a source's item (`Z` for UTC), None for none; ParseError
    naming `where` (and `what`: the item and field) for one that is not, or that is after
    9999 or before 0001 once in UTC, as it is stored."""
    if value in (None, ""):
        return None
    said = f"{what}: " if what else ""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ParseError(where, f"{said}not an ISO date-time: {value!r}") from None
    try:  # stored in UTC, where 9999-12-31T23:00-05:00 is after the year 9999
        if moment.tzinfo is not None:
            moment.astimezone(UTC)
    except OverflowError:
        raise ParseError(where, f"{said}{value!r} is after 9999 or before 0001 in UTC") from None
    return moment
