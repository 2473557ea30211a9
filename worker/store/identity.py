"""Stored papers found by what identifies them: an arXiv id, a title key, a title a retitled
paper was listed under before (paper_titles), or `paper:<n>` as digests show it.

`known_papers` is the one look-up by identity: ingest matches a dump's records against what it
finds (worker.store.papers), and so does `find_papers` the references users write (`like`,
explain, mark), each read as an arXiv id in any of the forms it is written in, or else as a
title (`other_doi`: a DOI other than arXiv's, which names no paper found here). `near_titles`
offers a "did you mean" when nothing matches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, select

from worker.records import find_arxiv_id, normalize_title, split_arxiv_id, title_hash
from worker.store.db import chunks, reading
from worker.store.models import StoredPaper
from worker.store.schema import paper_titles, papers


def known_papers(conn: Connection, ids: Iterable[str | None],
                 title_keys: Iterable[str]) -> tuple[list[Any], list[tuple[int, str]]]:
    """The known papers with one of these arXiv ids or title keys' hashes, in id order, and
    (paper id, title key) for each other title (paper_titles) of one of these hashes, its
    paper among the papers. A paper of another title with the same hash may come too: callers
    compare the title key itself."""
    rows: dict[int, Any] = {}
    hashes = sorted({title_hash(k) for k in title_keys})
    for column, values in ((papers.c.arxiv_id, sorted({i for i in ids if i})),
                           (papers.c.title_hash, hashes)):
        for chunk in chunks(values):
            rows.update((r.id, r) for r in conn.execute(select(papers).where(column.in_(chunk))))
    # One more indexed query a chunk, which finds nothing but for a retitled paper.
    others: list[tuple[int, str]] = []
    for chunk in chunks(hashes):
        others += [(row.paper_id, row.title_key) for row in conn.execute(
            select(paper_titles.c.paper_id, paper_titles.c.title_key)
            .where(paper_titles.c.title_hash.in_(chunk)))]
    missing = sorted({paper_id for paper_id, _ in others} - rows.keys())
    for chunk in chunks(missing):
        rows.update((r.id, r) for r in conn.execute(select(papers).where(papers.c.id.in_(chunk))))
    return sorted(rows.values(), key=lambda r: r.id), sorted(others)


# How a DOI may be written: bare, after `doi:`, or as a doi.org link.
_DOI = r"(?:(?:https?://)?(?:dx\.)?doi\.org/|doi:\s*)?10\."
_PAPER_PAGE = re.compile(r"(?:https?://)?(?:(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/"
                         r"|(?:www\.)?huggingface\.co/papers/)"
                         rf"|{_DOI}48550/arxiv\.", re.I)
# Any DOI (other_doi leaves out arXiv's own, 10.48550/arXiv.<id>, which is a paper's id).
_ANY_DOI = re.compile(rf"{_DOI}\d{{4,9}}/\S+", re.I)


def ref_arxiv_id(ref: str) -> str | None:
    """The arXiv id a `like` reference gives (`2401.12345`, `arXiv:2401.12345v2`, the paper's
    page or PDF on arxiv.org, its Hugging Face paper page, its arXiv DOI
    `10.48550/arXiv.2401.12345` bare or as a doi.org link), or None when it is a title (which
    may well contain something shaped like an id). An old-style id written with its subject
    class gives the id without it (split_arxiv_id): `math.GT/0309136` is `math/0309136`."""
    bare = _PAPER_PAGE.sub("", ref.strip(), count=1).removesuffix("/").removesuffix(".pdf")
    written, parsed = find_arxiv_id(bare), split_arxiv_id(bare)
    # An id with little else around it, counted from the id as written (its subject class too)
    return parsed[0] if written and parsed and len(bare) <= len(written["id"]) + 12 else None


def other_doi(ref: str) -> bool:
    """Is a `like` reference a DOI other than arXiv's? Such a paper is found neither by arXiv
    id nor by title."""
    return _ANY_DOI.fullmatch(ref.strip()) is not None and ref_arxiv_id(ref) is None


def find_papers(engine: Engine, refs: Sequence[str]) -> dict[str, StoredPaper]:
    """Resolve `like` references (arXiv ids or titles) to known papers; unknown ones absent."""
    found: dict[str, StoredPaper] = {}
    ids = {ref: found_id for ref in refs if (found_id := ref_arxiv_id(ref))}
    keys = {ref: normalize_title(ref) for ref in refs if ref not in ids}
    if not refs:
        return found
    by_id: dict[str, Any] = {}
    by_key: dict[str, Any] = {}
    with reading(engine) as conn:  # rows in id order: the first paper with an id or key wins
        rows, others = known_papers(conn, ids.values(), keys.values())
    for row in rows:
        if row.arxiv_id:
            by_id.setdefault(row.arxiv_id, row)
        by_key.setdefault(row.title_key, row)
    stored = {row.id: row for row in rows}
    for paper_id, key in others:  # then a title a paper was listed under before (retitled)
        by_key.setdefault(key, stored[paper_id])
    for ref in refs:
        match = by_id.get(ids[ref]) if ref in ids else by_key.get(keys[ref])
        if match is not None:
            found[ref] = StoredPaper.from_row(match)
    return found


def find_paper(engine: Engine, ref: str) -> StoredPaper | None:
    """One paper by arXiv id, title, or `paper:<n>` as shown in digests."""
    if ref.startswith("paper:") and ref[6:].isdigit():
        number = ref[6:]  # ASCII digits a database integer holds: `paper:²` or one of 30
        if not number.isascii() or int(number) >= 2**63:  # digits names no paper
            return None
        with reading(engine) as conn:
            row = conn.execute(select(papers).where(papers.c.id == int(number))).first()
            return StoredPaper.from_row(row) if row else None
    return find_papers(engine, [ref.removeprefix("arxiv:")]).get(ref.removeprefix("arxiv:"))


def near_titles(engine: Engine, ref: str, limit: int = 3) -> list[StoredPaper]:
    """Stored papers whose title is close to `ref`, a title no stored paper has exactly, best
    first: a title that holds it (`Chat-UniVi` in `Chat-UniVi: Unified ...`), or one that
    begins as it does and is nearly the same (a letter missing, a word changed). For a "did
    you mean" when a command someone waits at finds nothing: on a large database the titles
    that hold it are a scan of the table."""
    from difflib import SequenceMatcher

    key = normalize_title(ref)
    if len(key) < 4:
        return []
    query = (select(papers).where(papers.c.title_key.like(f"%{_like(key)}%", escape="\\")
                                  | papers.c.title_key.like(f"{_like(key[:12])}%", escape="\\"))
             .order_by(papers.c.id).limit(500))
    with reading(engine) as conn:
        rows = conn.execute(query).all()
    scored = []
    for row in rows:
        ratio = SequenceMatcher(None, key, row.title_key, autojunk=False).ratio()
        if key in row.title_key or ratio >= 0.8:
            scored.append((key not in row.title_key, -ratio, row.id, row))
    return [StoredPaper.from_row(row) for *_, row in sorted(scored)[:limit]]


def _like(text: str) -> str:
    """`text` matched literally in a LIKE pattern with escape character `\\`."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
