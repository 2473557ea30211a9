"""When the fetcher asks a server again after a request failed (worker.sources.http).

A failure worth retrying (a connection error, a timeout, 429, 5xx, a body cut short) is tried
again in the same pass after exponential backoff with jitter, or after the `Retry-After` the
server asked for. A server asking for longer than a run waits, or still failing on the last
attempt with a `Retry-After`, is held: not asked again before that time (a day ahead at most),
in this pass nor the next (FetchMemory keeps the hold). A host that could not be reached at
all on any attempt of a request (no route, refused, its name not found, no connection in
time) is not asked again in this pass: offline, a pass no longer waits out every URL's
retries. The next pass tries it again.

Sleeping, randomness and the wall clock are the Fetcher's, injected so tests never wait.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from worker.errors import SourceError

if TYPE_CHECKING:
    from worker.sources.http import FetchMemory, FetchSettings

log = logging.getLogger("paper_digest.fetch")  # under "paper_digest": serve and -v log that


class Retry(Exception):
    """One attempt failed in a way worth retrying."""

    def __init__(self, reason: str, status: int | None = None, wait: float | None = None,
                 unreachable: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.wait = wait  # what Retry-After asked for, if anything
        self.unreachable = unreachable  # no connection was made at all


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class RetryPolicy:
    """One Fetcher's servers (host[:port]) not to ask, and how long to wait before a retry."""

    def __init__(self, settings: FetchSettings, memory: FetchMemory | None, *,
                 sleep: Callable[[float], None], random: Callable[[], float],
                 wall_clock: Callable[[], datetime]):
        self.settings, self.memory = settings, memory
        self.sleep, self.random, self.wall_clock = sleep, random, wall_clock
        self._unreachable: dict[str, str] = {}  # host[:port] -> why nothing got through
        self._holds: dict[str, tuple[datetime, str] | None] = {}  # host[:port] -> its hold

    def check(self, where: str, source: str, url: str) -> None:
        """Refuse, without a request, a server not reached earlier in this pass, or one that
        asked (`Retry-After`) to be left alone until a time not yet come: in this pass or an
        earlier one (FetchMemory). Without holds, serve every 15 minutes asked a server that
        had said "in an hour" four times over."""
        if where in self._unreachable:
            raise SourceError(source, url, f"not asked: {where} could not be reached earlier "
                              f"in this run ({self._unreachable[where]})")
        if where not in self._holds:
            self._holds[where] = self.memory.held(where) if self.memory is not None else None
        hold = self._holds[where]
        if hold is not None and self.wall_clock() < hold[0]:
            raise SourceError(source, url, f"not asked: {where} asked to be left alone until "
                              f"{hold[0]:%Y-%m-%d %H:%M:%S} UTC ({hold[1]}, Retry-After); "
                              "the first run after that asks again")

    def give_up(self, where: str, source: str, url: str, retry: Retry,
                attempts: int) -> SourceError:
        """The error of a request whose last attempt failed; what `check` refuses from now."""
        tried = "tried once" if attempts == 1 else f"gave up after {attempts} attempts"
        if retry.unreachable:
            self._unreachable[where] = retry.reason
        self._hold(where, retry)
        return SourceError(source, url, f"{retry.reason} ({tried})", retry.status)

    def wait(self, url: str, where: str, source: str, attempt: int, retry: Retry) -> None:
        """Sleep before attempt `attempt` + 1; SourceError when the server asks for longer than
        a run waits (it is then held)."""
        if retry.wait is not None:
            if retry.wait > self.settings.max_retry_after:
                until = self._hold(where, retry)
                raise SourceError(source, url, f"{retry.reason}; the server asks to retry "
                                  f"after {retry.wait:.0f} s, longer than a run waits: not "
                                  f"asked again before {until:%Y-%m-%d %H:%M:%S} UTC",
                                  retry.status)
            delay = retry.wait
        else:
            # Exponential backoff with "equal jitter": half fixed, half random, so many
            # workers that failed together do not come back together.
            ceiling = min(self.settings.backoff_max,
                          self.settings.backoff_base * 2 ** (attempt - 1))
            delay = ceiling / 2 + self.random() * ceiling / 2
        log.info("%s: %s; retrying in %.1f s", url, retry.reason, delay)
        self.sleep(delay)

    def _hold(self, where: str, retry: Retry) -> datetime | None:
        """Remember the `Retry-After` a request gave up on (a day ahead at most), for every
        request to that server until then, in this pass and the next; until when."""
        if retry.wait is None or retry.wait <= 0:
            return None
        until = self.wall_clock() + timedelta(seconds=min(retry.wait, self.settings.max_hold))
        self._holds[where] = (until, retry.reason)
        if self.memory is not None:
            self.memory.hold(where, until, retry.reason)
        return until
