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
from collections.abc import Callable, Sequence
from typing import cast

import numpy as np

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


def corpus_embeddings(corpus: Corpus, embedder: Embedder) -> np.ndarray:
    """Every paper of the batch embedded (a row each, unit length), once a batch."""
    key = f"embeddings-{id(embedder)}"
    cached = corpus.cache.get(key)
    if cached is None:
        units = embed(embedder, [d.paper for d in corpus.docs])
        cached = corpus.cache[key] = np.array(units, dtype=np.float64).reshape(len(units), -1)
    return cast(np.ndarray, cached)


def nearest(units: Sequence[Unit] | np.ndarray, examples: Sequence[Unit],
            ) -> tuple[np.ndarray, np.ndarray]:
    """For every paper, the index of the example it stands out as closest to (-1 where it is at
    or below the batch's median cosine to every example) and how many spreads above that
    median it is (0.0 there), as examples.Postings.nearest gives them in words. All papers
    against all examples at once, on arrays: a reader's marks make many examples."""
    papers = np.asarray(units, dtype=np.float64)
    if not len(examples) or not len(papers):
        return np.full(len(papers), -1, dtype=np.intp), np.zeros(len(papers))
    cosines = np.asarray(examples, dtype=np.float64) @ papers.T  # a row per example
    median, spread = _baselines(cosines)
    z = (cosines - median[:, None]) / spread[:, None]
    best = z.argmax(axis=0)  # the first of equals
    best_z = z[best, np.arange(len(papers))]
    return np.where(best_z > 0.0, best, -1), np.maximum(best_z, 0.0)


def _baselines(cosines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(median, robust spread) of each row of cosines (the batch's to one example), shrunk
    toward the prior."""
    n = cosines.shape[1]
    median = np.median(cosines, axis=1)
    spread = 1.4826 * np.median(np.abs(cosines - median[:, None]), axis=1)
    return (_shrink(median, n, PRIOR_MEDIAN, MEDIAN_WEIGHT),
            np.maximum(_shrink(spread, n, PRIOR_SPREAD, SPREAD_WEIGHT), 1e-3))


def _shrink(value: np.ndarray, n: int, prior: float, weight: int) -> np.ndarray:
    """A batch's figures (one an example) shrunk toward the prior."""
    return (n * value + weight * prior) / (n + weight)


def semantic_score(z: float) -> float:
    """How far a paper stands out as close to an example (z, in spreads) -> 0..1, on the same
    scale as every other score."""
    if z <= 0.0:
        return 0.0
    value = 1.0 / (1.0 + math.exp(-(z - MIDPOINT) / SCALE))
    floor = 1.0 / (1.0 + math.exp(MIDPOINT / SCALE))
    return max(0.0, (value - floor) / (1.0 - floor))
