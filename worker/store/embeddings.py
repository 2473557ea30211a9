"""Sentence embeddings of papers, one per paper and model, kept so each paper is embedded once.

Vectors are stored as little-endian float32 bytes (384 floats = 1.5 KB for all-MiniLM-L6-v2),
with the model's name and the dimension beside them, and a hash of the text that was embedded:
a vector whose text has changed since (an abstract filled in later) is not returned.
"""

from __future__ import annotations

import hashlib
import logging
import math
import sys
from array import array
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Engine, func, select

from worker.store.db import reading, upsert
from worker.store.schema import paper_embeddings

log = logging.getLogger("paper_digest")
_CHUNK = 500  # bound parameter lists, as worker.store.db.chunks does

Vector = tuple[float, ...]


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def pack(vector: Sequence[float]) -> bytes:
    data = array("f", vector)
    if sys.byteorder != "little":  # the stored form is the same on every machine
        data.byteswap()
    return data.tobytes()


def unpack(blob: bytes, dim: int) -> Vector:
    """The stored vector; ValueError if the bytes are not `dim` finite float32s."""
    if not isinstance(blob, bytes | bytearray | memoryview) or len(blob) % 4:
        size = len(blob) if isinstance(blob, bytes | bytearray | memoryview) else None
        raise ValueError(f"stored vector is {size} bytes, not float32s")
    data = array("f")
    data.frombytes(blob)
    if sys.byteorder != "little":
        data.byteswap()
    if len(data) != dim:
        raise ValueError(f"stored vector has {len(data)} floats, expected {dim}")
    if not all(map(math.isfinite, data)):
        raise ValueError("stored vector holds NaN or infinite values")
    return tuple(data)


def get_embeddings(engine: Engine, model: str, wanted: Mapping[int, str]) -> dict[int, Vector]:
    """paper id -> stored vector, for the papers in `wanted` (paper id -> hash of the text to
    embed) whose stored vector was made by `model` from that same text. A stored vector that
    cannot be read (damaged bytes) is left out with a warning, as if it were not there: the
    caller embeds that paper again (and a pass stores it over the damaged one)."""
    found: dict[int, Vector] = {}
    ids = sorted(wanted)
    with reading(engine) as conn:
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            rows = conn.execute(select(paper_embeddings).where(
                paper_embeddings.c.model == model, paper_embeddings.c.paper_id.in_(chunk)))
            for row in rows:
                if row.text_hash != wanted[row.paper_id]:
                    continue
                try:
                    found[row.paper_id] = unpack(row.vector, row.dim)
                except (ValueError, TypeError) as exc:
                    log.warning("paper %d: its stored %s embedding (paper_embeddings) cannot be "
                                "read (%s); it is embedded again", row.paper_id, model, exc)
    return found


def put_embeddings(engine: Engine, model: str, vectors: Mapping[int, tuple[str, Sequence[float]]],
                   now: datetime) -> int:
    """Store paper id -> (text hash, vector), replacing what the same model stored before.
    Two workers embedding the same paper at once both succeed; the vectors are the same."""
    rows = [{"paper_id": pid, "model": model, "dim": len(vec), "text_hash": digest,
             "vector": pack(vec), "created_at": now} for pid, (digest, vec) in vectors.items()]
    if not rows:
        return 0
    with engine.begin() as conn:
        for start in range(0, len(rows), _CHUNK):
            statement = upsert(conn, paper_embeddings)
            statement = statement.on_conflict_do_update(
                index_elements=["paper_id", "model"],
                set_={"dim": statement.excluded.dim, "text_hash": statement.excluded.text_hash,
                      "vector": statement.excluded.vector,
                      "created_at": statement.excluded.created_at})
            conn.execute(statement, rows[start:start + _CHUNK])
    return len(rows)


def embedding_counts(engine: Engine) -> dict[str, tuple[int, int]]:
    """model -> (papers embedded, dimension), for status and tests."""
    with reading(engine) as conn:
        rows = conn.execute(select(paper_embeddings.c.model, func.count(),
                                   func.max(paper_embeddings.c.dim))
                            .group_by(paper_embeddings.c.model))
        return {row[0]: (int(row[1]), int(row[2])) for row in rows}

