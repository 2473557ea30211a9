"""The hook for optional semantic matching (the `semantic` install extra).

The core install ships no model. A caller that has one passes `embedder=` to Matcher: any
callable from texts to vectors (compared by cosine, so any length and scale). The matcher embeds
each paper once per batch (cached on the Corpus) and its examples once; a caller that keeps
embeddings in the database wraps its model in a callable that looks texts up there first
(worker.semantic does, for all-MiniLM-L6-v2 from worker.matching.minilm).

Embedding similarity is judged against the batch, not on an absolute scale. Papers of one field
all sit close together: with all-MiniLM-L6-v2, the 338 papers of the relevance bench have a
median cosine of 0.47 to 0.61 to any one example paper, with a robust spread (1.4826 x the
median absolute deviation) of 0.07 to 0.095, so an absolute curve would call every paper of
the field "about the same thing". What counts is how far a paper stands out from today's
papers: its cosine's distance above the batch median in spreads (a z-score). Three spreads,
closer to the example than all but about one in a thousand papers of the field, maps to 0.5;
two to 0.12, four to 0.88. Small batches borrow the median and spread above (as priors worth
5 and 20 papers), so a handful of papers is not judged against itself alone.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from typing import cast

from worker.matching.corpus import Corpus
from worker.matching.model import PaperText

Embedder = Callable[[Sequence[str]], Sequence[Sequence[float]]]
Unit = tuple[float, ...]

# z-score -> 0..1: see the module docstring
MIDPOINT = 3.0
SCALE = 0.5
# The batch's typical cosine to an example, before the batch says otherwise (see above).
# The median settles with few papers, the spread needs more: each prior is worth that many.
PRIOR_MEDIAN, MEDIAN_WEIGHT = 0.5, 5
PRIOR_SPREAD, SPREAD_WEIGHT = 0.08, 20


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


def nearest(units: Sequence[Unit], examples: Sequence[Unit]) -> list[tuple[int, float]]:
    """For each paper: (the example it stands out as closest to, how many spreads above the
    batch's median cosine to that example it is); (-1, 0.0) when at or below the median."""
    columns = [[_dot(u, ex) for u in units] for ex in examples]
    baselines = [_baseline(col) for col in columns]
    out = []
    for n in range(len(units)):
        best, best_z = -1, 0.0
        for i, (col, (median, spread)) in enumerate(zip(columns, baselines, strict=True)):
            z = (col[n] - median) / spread
            if z > best_z:
                best, best_z = i, z
        out.append((best, best_z))
    return out


def _dot(a: Unit, b: Unit) -> float:
    return sum(x * y for x, y in zip(a, b, strict=False))


def _baseline(cosines: Sequence[float]) -> tuple[float, float]:
    """(median, robust spread) of a batch's cosines to one example, shrunk toward the prior."""
    n = len(cosines)
    if n == 0:
        return PRIOR_MEDIAN, PRIOR_SPREAD
    median = statistics.median(cosines)
    spread = 1.4826 * statistics.median(abs(c - median) for c in cosines)
    return (_shrink(median, n, PRIOR_MEDIAN, MEDIAN_WEIGHT),
            max(_shrink(spread, n, PRIOR_SPREAD, SPREAD_WEIGHT), 1e-3))


def _shrink(value: float, n: int, prior: float, weight: int) -> float:
    return (n * value + weight * prior) / (n + weight)


def semantic_score(z: float) -> float:
    """How far a paper stands out as close to an example (z, in spreads) -> 0..1, on the same
    scale as every other score."""
    if z <= 0.0:
        return 0.0
    value = 1.0 / (1.0 + math.exp(-(z - MIDPOINT) / SCALE))
    floor = 1.0 / (1.0 + math.exp(MIDPOINT / SCALE))
    return max(0.0, (value - floor) / (1.0 - floor))
