"""Aggregates for /metrics, read from the database so they survive restarts and add up
across replicas."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, func, select

from worker.store.db import reading
from worker.store.models import SourceState
from worker.store.retention import removed_sends
from worker.store.runs import source_states
from worker.store.schema import deliveries, dumps, papers, runs
from worker.store.subscriptions import unsubscribed


@dataclass(frozen=True)
class Figures:
    papers: int  # distinct papers stored
    listed: int  # entries in every ingested dump (a paper listed twice counts twice)
    new: int  # entries that were new papers when their dump was ingested
    failed_dumps: int
    deliveries: dict[tuple[str, str], int] = field(default_factory=dict)  # (channel, status)
    last_ok_run: datetime | None = None
    sources: tuple[SourceState, ...] = ()
    unsubscribed: frozenset[str] = frozenset()  # who left with a digest's link


def figures(engine: Engine) -> Figures:
    ingested = dumps.c.status == "ingested"
    # One snapshot for every figure: the sends still in deliveries and those of digests
    # [retention] removed are read apart, and a prune committed between the two reads had
    # PostgreSQL (each statement its own snapshot) count its sends twice, so the next scrape
    # saw the counter go down. SQLite's read transaction is one snapshot, and takes no lock.
    with reading(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
        stored = conn.execute(select(func.count()).select_from(papers)).scalar_one()
        listed, new = conn.execute(select(func.coalesce(func.sum(dumps.c.entries), 0),
                                          func.coalesce(func.sum(dumps.c.new_papers), 0))
                                   .where(ingested)).one()
        failed = conn.execute(select(func.count()).select_from(dumps)
                              .where(dumps.c.status == "failed")).scalar_one()
        by_status = {(ch, st): n for ch, st, n in conn.execute(
            select(deliveries.c.channel, deliveries.c.status, func.count())
            .group_by(deliveries.c.channel, deliveries.c.status))}
        for channel, removed in removed_sends(conn).items():  # [retention] digests: still sent
            by_status[(channel, "sent")] = by_status.get((channel, "sent"), 0) + removed
        last_ok = conn.execute(select(func.max(runs.c.finished_at))
                               .where(runs.c.status == "ok")).scalar()
    return Figures(int(stored), int(listed), int(new), int(failed), by_status, last_ok,
                   tuple(source_states(engine)), frozenset(unsubscribed(engine)))
