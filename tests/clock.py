"""A clock for tests of waiting: sleeping only moves it forward (injected into the Fetcher)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class FakeClock:
    """Injected into the Fetcher: sleeping only moves this clock forward."""

    def __init__(self, start: datetime = datetime(2026, 9, 28, 12, tzinfo=UTC)):
        self.start, self.t = start, 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.t += seconds

    def wall(self) -> datetime:
        return self.start + timedelta(seconds=self.t)
