"""Papers of history written straight into the store, fast (the scale and growth benchmarks).

Going through dumps would take as long as the ingest being measured; history only has to look
like what a long-running install holds: papers (half with arXiv ids) first seen in daily dumps
of `per_dump` papers each, a sighting per paper, the ingest counter at the last dump. Rows are
bulk-inserted (executemany on SQLite, COPY on PostgreSQL), with explicit ids.

Titles and abstracts come from a pool of generated papers; every title gets its own name
(`Name: ...`), so titles and title keys are unique like real ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from scaledata import Generator
from sqlalchemy import Engine, insert, text, update

from worker.records import normalize_title, title_hash
from worker.store.schema import counters, dumps, papers, sightings

POOL = 4000
CHUNK = 20_000


class History:
    """`n` papers ending at `end` (the last dump's time), in dumps of `per_dump`."""

    def __init__(self, n: int, end: datetime, seed: int = 11, per_dump: int = 2000):
        self.n, self.end, self.per_dump = n, end, per_dump
        self.gen = Generator(seed)
        pool = list(self.gen.papers(POOL))
        self.tails = [p.title.split(": ", 1)[1] for p in pool]
        self.tail_keys = [normalize_title(t) for t in self.tails]
        self.abstracts = [p.abstract.replace(p.title.split(": ", 1)[0], "{name}") for p in pool]
        self.dumps = max(1, -(-n // per_dump))

    def dump_time(self, d: int) -> datetime:
        """Dump d (1-based): one a day, the last one at `end`."""
        return self.end - timedelta(days=self.dumps - d)

    def papers(self) -> Iterator[dict[str, Any]]:
        for i in range(self.n):
            name = self.gen.name()
            k = (i * 7919) % POOL
            title = f"{name}: {self.tails[k]}"
            d = i // self.per_dump + 1
            when = self.dump_time(d)
            key = f"{_name_key(name)} {self.tail_keys[k]}"
            yield {
                "id": i + 1,
                # Half the papers came with arXiv ids (API, RSS, HF sources), half from dumps.
                "arxiv_id": f"{2401 + i // 99_999}.{i % 99_999:05d}" if i % 2 else None,
                "title": title, "title_key": key, "title_hash": title_hash(key),
                "abstract": self.abstracts[(i * 104_729) % POOL].replace("{name}", name),
                "authors": "[]", "first_seen_at": when, "first_seen_seq": d,
                "updated_at": when,
            }


def _name_key(name: str) -> str:
    # What normalize_title makes of a generated name (letters, digits, `-`): checked in write().
    return " ".join(name.casefold().replace("-", " ").split())


def write(engine: Engine, history: History) -> list[str]:
    """Insert the history; returns every 20th title (example papers for `like`)."""
    titles: list[str] = []
    with engine.begin() as conn:
        postgres = conn.dialect.name == "postgresql"
        conn.execute(insert(dumps), [_dump_row(history, d) for d in range(1, history.dumps + 1)])
        batch: list[dict[str, Any]] = []
        for row in history.papers():
            if row["id"] % 20 == 1:
                titles.append(row["title"])
                assert row["title_key"] == normalize_title(row["title"]), row["title"]
            batch.append(row)
            if len(batch) >= CHUNK:
                _insert(conn, batch, history, postgres)
                batch = []
        if batch:
            _insert(conn, batch, history, postgres)
        conn.execute(update(counters).where(counters.c.name == "ingest")
                     .values(value=history.dumps))
        if postgres:
            for table in ("papers", "dumps", "sightings"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT max(id) FROM {table}))"))
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    return titles


def _dump_row(history: History, d: int) -> dict[str, Any]:
    when = history.dump_time(d)
    entries = min(history.per_dump, history.n - (d - 1) * history.per_dump)
    return {"id": d, "source": "history", "locator": f"history/{d:06d}.txt",
            "content_hash": hashlib.sha256(f"history {d}".encode()).hexdigest(),
            "status": "ingested", "seq": d, "listing_date": when.date(), "fetched_at": when,
            "recorded_at": when, "entries": entries, "new_papers": entries}


def _sighting(row: dict[str, Any], history: History) -> dict[str, Any]:
    d = row["first_seen_seq"]
    return {"id": row["id"], "paper_id": row["id"], "dump_id": d,
            "listing_date": row["first_seen_at"].date(),
            "position": (row["id"] - 1) % history.per_dump, "seen_at": row["first_seen_at"]}


def _insert(conn: Any, rows: list[dict[str, Any]], history: History, postgres: bool) -> None:
    seen = [_sighting(r, history) for r in rows]
    cursor = conn.connection.driver_connection.cursor()
    if not postgres:  # the driver's executemany, values converted as SQLAlchemy would
        for table, batch in ((papers, rows), (sightings, seen)):
            columns = list(batch[0])
            convert = [_converter(conn, table.c[name]) for name in columns]
            cursor.executemany(
                f"INSERT INTO {table.name} ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' * len(columns))})",
                [tuple(f(row[c]) if f else row[c] for f, c in zip(convert, columns, strict=True))
                 for row in batch])
        return
    paper_cols = list(rows[0])
    with cursor.copy(f"COPY papers ({', '.join(paper_cols)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in paper_cols])
    sight_cols = list(seen[0])
    with cursor.copy(f"COPY sightings ({', '.join(sight_cols)}) FROM STDIN") as copy:
        for row in seen:
            copy.write_row([row[c] for c in sight_cols])


def _converter(conn: Any, column: Any) -> Any:
    """The column type's own conversion to what the driver stores, cached per value (history
    has one timestamp per dump)."""
    process = column.type.bind_processor(conn.dialect)
    return lru_cache(maxsize=4096)(process) if process else None
