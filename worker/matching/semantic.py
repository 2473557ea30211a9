"""The hook for optional semantic matching (the `semantic` install extra).

The core install ships no model. A caller that has one passes `embedder=` to Matcher: any
callable from texts to vectors (compared by cosine, so any length and scale). The matcher embeds
each paper once per batch (cached on the Corpus) and its examples once; a caller that keeps
embeddings in the database can wrap its model in a callable that looks texts up there first.

Similarity from embeddings is calibrated separately from tf-idf similarity, because sentence
embedding cosines sit much higher: for all-MiniLM-L6-v2, abstracts from one field are about 0.3
apart, clearly related ones about 0.55, near-duplicates 0.9. The curve below maps those to 0.1,
0.5 and 1.0; it is provisional until measured with the model on the relevance bench.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import cast

from worker.matching.corpus import Corpus
from worker.matching.model import PaperText

Embedder = Callable[[Sequence[str]], Sequence[Sequence[float]]]
Unit = tuple[float, ...]

MIDPOINT = 0.5
SCALE = 0.07


def text_of(paper: PaperText) -> str:
    return f"{paper.title}. {paper.abstract}"


def _unit(vec: Sequence[float]) -> Unit:
    norm = math.sqrt(sum(x * x for x in vec)) or 1.0
    return tuple(x / norm for x in vec)


def embed(embedder: Embedder, papers: Sequence[PaperText]) -> list[Unit]:
    return [_unit(v) for v in embedder([text_of(p) for p in papers])] if papers else []


def corpus_embeddings(corpus: Corpus, embedder: Embedder) -> list[Unit]:
    key = f"embeddings-{id(embedder)}"
    cached = corpus.cache.get(key)
    if cached is None:
        cached = corpus.cache[key] = embed(embedder, [d.paper for d in corpus.docs])
    return cast(list[Unit], cached)


def nearest(vec: Unit, examples: Sequence[Unit]) -> tuple[int, float]:
    best, best_sim = -1, 0.0
    for i, ex in enumerate(examples):
        sim = sum(a * b for a, b in zip(vec, ex, strict=False))
        if sim > best_sim:
            best, best_sim = i, sim
    return best, best_sim


def semantic_score(cosine: float) -> float:
    """Embedding cosine -> 0..1 on the same scale as every other score."""
    if cosine <= 0.0:
        return 0.0
    return 1.0 / (1.0 + math.exp(-(cosine - MIDPOINT) / SCALE))
