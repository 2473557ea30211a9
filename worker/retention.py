"""`[retention]` in worker.toml: how long sent digests and run records are kept.

Unset, everything is kept for good (the default: nothing an install had is ever removed by an
upgrade). `run` applies it after its pass, serve hourly (worker.scheduler): the database of an
install with ten thousand daily subscribers otherwise grows by ~3.6 million digests and ~50
million digest items a year. What goes and what always stays: worker.store.retention.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from worker.config_types import duration_problems, load_table, parse_duration, section_start
from worker.errors import Problem

if TYPE_CHECKING:
    from sqlalchemy import Engine

log = logging.getLogger("paper_digest.retention")  # serve logs "paper_digest"

# The shortest retention accepted: a digest is kept at least this long after it was made, so
# that `preview --since`, `explain` and the "last digest" of `status` have the recent ones.
MIN_RETENTION = timedelta(days=7)


@dataclass(frozen=True)
class RetentionSettings:
    digests: str | None = None  # e.g. "400d": sent digests older than that go, with items
    runs: str | None = None  # e.g. "90d": records of runs started before that go

    @property
    def configured(self) -> bool:
        return self.digests is not None or self.runs is not None


@dataclass(frozen=True)
class Removed:
    digests: int = 0
    items: int = 0  # the removed digests' items
    runs: int = 0

    def __bool__(self) -> bool:
        return bool(self.digests or self.runs)


def load_retention(table: Any, file: str, text: str,
                   ) -> tuple[RetentionSettings, list[Problem]]:
    at = section_start(text, "retention")
    retention, problems = load_table(RetentionSettings, table, file=file, text=text,
                                     prefix="retention.", after=at)
    retention = retention or RetentionSettings()
    problems += duration_problems(retention, "retention", ("digests", "runs"), MIN_RETENTION,
                                  f"expected {MIN_RETENTION.days}d or longer (leave it out to "
                                  "keep them for good)", file=file, text=text, at=at)
    return retention, problems


def apply_retention(engine: Engine, retention: RetentionSettings, now: datetime) -> Removed:
    """Remove what `retention` says is old enough at `now`; what was removed."""
    if not retention.configured:
        return Removed()
    from worker.store.retention import prune_digests, prune_runs

    digests = items = runs = 0
    if retention.digests is not None:
        digests, items = prune_digests(engine, now - parse_duration(retention.digests))
    if retention.runs is not None:
        runs = prune_runs(engine, now - parse_duration(retention.runs))
    removed = Removed(digests, items, runs)
    if removed:
        log.info("retention: removed %s", describe(removed, retention),
                 extra={"event": "retention.removed", "digests": digests, "items": items,
                        "runs": runs})
    return removed


def describe(removed: Removed, retention: RetentionSettings) -> str:
    """`120 digests made over 400d ago, all sent (2,400 items), 30 run records over 90d
    old`."""
    parts = []
    if removed.digests:
        parts.append(f"{removed.digests:,} digest{'s' * (removed.digests != 1)} made over "
                     f"{retention.digests} ago, all sent ({removed.items:,} items)")
    if removed.runs:
        parts.append(f"{removed.runs:,} run record{'s' * (removed.runs != 1)} over "
                     f"{retention.runs} old")
    return ", ".join(parts)
