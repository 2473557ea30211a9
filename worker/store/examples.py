"""Example papers looked up on arXiv (schema.example_papers, by id; schema.example_titles, the
id a title search found), for `like`/`unlike` entries no source has listed: what
worker.examples asked arXiv, and what it answered."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from worker.records import Links, PaperRecord, title_hash
from worker.store.db import reading, upsert
from worker.store.models import StoredPaper
from worker.store.schema import example_papers, example_titles

_CHUNK = 500  # bound parameter lists, as worker.store.db.chunks does


def _paper(row: Any) -> StoredPaper:
    return StoredPaper(
        id=-row.id, title=row.title, abstract=row.abstract, arxiv_id=row.arxiv_id,
        version=row.version, authors=tuple(json.loads(row.authors or "[]")),
        links=Links.for_arxiv(row.arxiv_id), published=None, upvotes=None,
        first_seen_at=row.looked_up_at, first_seen_seq=0)


def looked_up(engine: Engine, arxiv_ids: Iterable[str]) -> dict[str, StoredPaper | datetime]:
    """arXiv id -> the paper arXiv gave for it, or when arXiv last said it had no such paper.
    Ids never asked about are absent."""
    return {row.arxiv_id: _paper(row) if row.found else row.looked_up_at
            for row in _rows(engine, example_papers.c.arxiv_id, set(arxiv_ids))}


def record_lookup(engine: Engine, papers: Sequence[PaperRecord], missing: Sequence[str],
                  now: datetime) -> None:
    """Keep what arXiv answered: the papers it gave, and the ids it had nothing for
    (`looked_up` reads them back as examples)."""
    rows: list[dict[str, Any]] = [
        {"arxiv_id": p.arxiv_id, "found": True, "version": p.version, "title": p.title,
         "abstract": p.abstract, "authors": json.dumps(list(p.authors)), "looked_up_at": now}
        for p in papers if p.arxiv_id]
    rows += [{"arxiv_id": i, "found": False, "version": None, "title": "", "abstract": "",
              "authors": "[]", "looked_up_at": now} for i in missing]
    _upsert(engine, example_papers.c.arxiv_id, rows)


@dataclass(frozen=True)
class NoSuchTitle:
    """arXiv had no paper with a title when last asked; `near`: (arXiv id, title) of a paper
    whose title holds it, which the search gave (what the subscriber may have meant)."""

    asked_at: datetime
    near: tuple[str, str] | None = None


def titles_looked_up(engine: Engine, keys: Iterable[str]) -> dict[str, str | NoSuchTitle]:
    """Title key -> the arXiv id of the paper with that title, or NoSuchTitle. Titles never
    searched for are absent."""
    wanted = {title_hash(k): k for k in set(keys)}
    return {row.title_key: row.arxiv_id or NoSuchTitle(
                row.looked_up_at, (row.near_id, row.near_title) if row.near_id else None)
            for row in _rows(engine, example_titles.c.title_hash, wanted)
            if wanted[row.title_hash] == row.title_key}  # not another title's hash


def record_titles(engine: Engine, found: dict[str, str],
                  missing: dict[str, tuple[str, str] | None], now: datetime) -> None:
    """Keep what a title search answered: title key -> arXiv id, and for the titles it had
    no paper for, the near paper (arXiv id, title) it gave, if any."""
    rows = [{"title_hash": title_hash(k), "title_key": k, "arxiv_id": i, "near_id": None,
             "near_title": None, "looked_up_at": now} for k, i in found.items()]
    rows += [{"title_hash": title_hash(k), "title_key": k, "arxiv_id": None,
              "near_id": near[0] if near else None, "near_title": near[1] if near else None,
              "looked_up_at": now} for k, near in missing.items()]
    _upsert(engine, example_titles.c.title_hash, rows)


def _rows(engine: Engine, key: Any, values: Iterable[Any]) -> list[Any]:
    """The rows of key's table whose `key` is one of `values`, _CHUNK values a query."""
    wanted = sorted(values)
    found: list[Any] = []
    with reading(engine) as conn:
        for start in range(0, len(wanted), _CHUNK):
            found += conn.execute(select(key.table).where(
                key.in_(wanted[start:start + _CHUNK]))).all()
    return found


def _upsert(engine: Engine, key: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Insert each row into key's table, or update the one with its `key`; one transaction."""
    if not rows:
        return
    with engine.begin() as conn:
        for row in rows:
            statement = upsert(conn, key.table).values(**row)
            conn.execute(statement.on_conflict_do_update(
                index_elements=[key.name],
                set_={k: v for k, v in row.items() if k != key.name}))
