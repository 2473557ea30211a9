"""The semantic extra wired into the pipeline: `[matching] semantic = true` in worker.toml.

worker.matching takes any callable from texts to vectors. Here that callable is the packaged
all-MiniLM-L6-v2 (worker.matching.minilm) behind the database: a paper's vector is read from
`paper_embeddings` when it was made from the same text, and otherwise computed once and stored,
so a paper is embedded once however many subscribers, runs and previews compare it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine

from worker.errors import Problem
from worker.matching import PaperText
from worker.matching.minilm import SemanticUnavailable
from worker.matching.semantic import text_of
from worker.store import embeddings

log = logging.getLogger("paper_digest")
# Papers embedded, then stored, at a time: a long first pass (a new subscriber's backfill of
# thousands of papers, at 30-150 ms each) keeps what it did if it is stopped or its model fails.
CHUNK = 256
_MODELS: dict[str, Any] = {}  # loaded once per process: serve keeps it across passes
_WARNED: set[str] = set()


class Model(Protocol):
    name: str

    def __call__(self, texts: Sequence[str]) -> Sequence[Sequence[float]]: ...


class StoredEmbedder:
    """An Embedder for worker.matching whose vectors of known papers live in the database.

    `know(papers)` tells which paper (PaperText.key = the stored paper's id) a text belongs
    to; texts of papers it knows are looked up, embedded in one batch when missing, and stored
    with `now` as their time (with now=None nothing is stored: preview and explain write
    nothing). Other texts are embedded and kept in memory for the life of this object."""

    def __init__(self, engine: Engine, model: Model, now: datetime | None):
        self.engine, self.model, self.now = engine, model, now
        self._ids: dict[str, int] = {}
        self._memory: dict[str, Sequence[float]] = {}
        self.embedded = 0  # texts this object ran through the model (for tests and the bench)
        self.failed: str | None = None  # why the model could not embed, once it could not

    def know(self, papers: Iterable[PaperText]) -> None:
        for paper in papers:
            if paper.key.isdigit():
                self._ids.setdefault(text_of(paper), int(paper.key))

    def ready(self, papers: Iterable[PaperText]) -> bool:
        """Look up (or embed) `papers` now, before matching asks for them: False, with a
        warning, when the model cannot load or run (a broken install), and the caller matches
        without meaning rather than failing every subscriber's digest."""
        if self.failed is None:
            try:
                self([text_of(p) for p in papers])
            except SemanticUnavailable as exc:
                self.failed = str(exc)
                _warn(self.failed)
        return self.failed is None

    def __call__(self, texts: Sequence[str]) -> list[Sequence[float]]:
        wanted = [t for t in dict.fromkeys(texts) if t not in self._memory]
        if wanted:
            self._fill(wanted)
        return [self._memory[t] for t in texts]

    def _fill(self, texts: list[str]) -> None:
        hashes = {t: embeddings.text_hash(t) for t in texts}
        ids = {t: self._ids[t] for t in texts if t in self._ids}
        stored = embeddings.get_embeddings(self.engine, self.model.name,
                                           {pid: hashes[t] for t, pid in ids.items()})
        for text, pid in ids.items():
            if pid in stored:
                self._memory[text] = stored[pid]
        todo = [t for t in texts if t not in self._memory]
        if len(todo) > CHUNK:
            log.info("semantic matching: embedding %d papers with %s, %d at a time%s", len(todo),
                     self.model.name, CHUNK, ", each stored as its part is done"
                     if self.now is not None else " (not stored: preview and explain write "
                     "nothing)")
        for start in range(0, len(todo), CHUNK):
            part = todo[start:start + CHUNK]
            vectors = self.model(part)
            self.embedded += len(part)
            self._memory.update(zip(part, vectors, strict=True))
            new = {ids[t]: (hashes[t], v) for t, v in zip(part, vectors, strict=True) if t in ids}
            if self.now is not None and new:
                embeddings.put_embeddings(self.engine, self.model.name, new, self.now)


def semantic_problems(settings: Any) -> list[Problem]:
    """For `check`: semantic matching is asked for but its extra is not installed."""
    from worker.matching.minilm import missing

    problem = missing() if settings.matching.semantic else None
    if problem is None:
        return []
    return [Problem(str(settings.config_dir / "worker.toml"), problem, "matching.semantic")]


def embedder_for(settings: Any, engine: Engine, now: datetime | None, *,
                 model: Model | None = None) -> StoredEmbedder | None:
    """The embedder for this pass, or None: semantic matching is off, or its extra is missing
    (then matching goes on by words and examples alone, and the log says why, once)."""
    if not settings.matching.semantic:
        return None
    model = model or _packaged_model()
    return StoredEmbedder(engine, model, now) if model is not None else None


def _packaged_model() -> Model | None:
    from worker.matching.minilm import MODEL, MiniLM, missing

    problem = missing()
    if problem:
        _warn(problem)
        return None
    if MODEL not in _MODELS:
        _MODELS[MODEL] = MiniLM()
    model: Model = _MODELS[MODEL]
    return model


def _warn(problem: str) -> None:
    """Say once per process (serve runs many passes) why matching goes on without meaning."""
    if problem not in _WARNED:
        _WARNED.add(problem)
        log.warning("[matching] semantic = true in worker.toml, but %s; matching without it",
                    problem)
