"""A FetchMemory (worker.sources.http) in dicts, for tests: the validators and holds the
database keeps between passes (worker.store.runs.DatabaseMemory)."""

from __future__ import annotations

from datetime import datetime


class DictMemory:
    def __init__(self) -> None:
        self.data: dict[str, tuple[str | None, str | None]] = {}
        self.holds: dict[str, tuple[datetime, str]] = {}

    def get(self, url: str) -> tuple[str | None, str | None]:
        return self.data.get(url, (None, None))

    def put(self, url: str, etag: str | None, last_modified: str | None) -> None:
        self.data[url] = (etag, last_modified)

    def held(self, where: str) -> tuple[datetime, str] | None:
        return self.holds.get(where)

    def hold(self, where: str, until: datetime, reason: str) -> None:
        self.holds[where] = (until, reason)
