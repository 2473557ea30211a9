"""Similarity to example papers: sparse tf-idf vectors over stems, in pure Python.

Vectors are built once per corpus (cached on it) and once per example; a profile's similarity
pass is a sparse dot product per paper. Title words count double because a title states what a
paper is about; sublinear tf keeps one repeated word from dominating; a short stop list and
numbers are left out because they make every pair of papers look alike.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from worker.matching.corpus import Corpus, Doc

Vector = dict[str, float]

TITLE_WEIGHT = 2.0
STOP = frozenset("""
a an and are as at be been being by can do does for from has have how in into is it its more
most of on or our over such than that the their them these they this those through to under up
us via was we were what when where which while who why will with within without both each other
all also any based but not no new only same so some then there thus very one two three using use
used show shows shown paper propose proposed approach method methods results result work works
well however further furthermore moreover e g i ie eg et al may might could would should first
second existing recent recently often many significant significantly achieve achiev achieves
extensive experiment experiments demonstrate demonstrat state art sota code available
""".split())


@dataclass(frozen=True)
class ExampleSet:
    """Liked (or unliked) examples as vectors in one corpus's idf space."""

    titles: tuple[str, ...]
    vectors: tuple[Vector, ...]


def _counts(doc: Doc) -> dict[str, float]:
    counts: dict[str, float] = defaultdict(float)
    for name, weight in (("title", TITLE_WEIGHT), ("abstract", 1.0)):
        for tok in doc.fields[name].tokens:
            if _content(tok.fold, tok.stem):
                counts[tok.stem] += weight
    return counts


def _content(fold: str, stem: str) -> bool:
    return fold not in STOP and stem not in STOP and len(stem) > 1 and not stem.isdigit()


def _idf(corpus: Corpus, stem: str) -> float:
    df = len(corpus.index.get(stem, ()))
    return math.log((len(corpus) + 1) / (df + 1)) + 1.0


def vectorize(doc: Doc, corpus: Corpus) -> Vector:
    vec = {s: (1.0 + math.log(c)) * _idf(corpus, s) for s, c in _counts(doc).items()}
    norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
    return {s: v / norm for s, v in vec.items()}


def corpus_vectors(corpus: Corpus) -> list[Vector]:
    cached = corpus.cache.get("tfidf")
    if cached is None:
        cached = corpus.cache["tfidf"] = [vectorize(d, corpus) for d in corpus.docs]
    return cast(list[Vector], cached)


def corpus_postings(corpus: Corpus) -> dict[str, list[tuple[int, float]]]:
    """stem -> (doc, weight) for every doc vector: similarity to an example then only touches
    the papers that share a word with it."""
    cached = corpus.cache.get("tfidf-postings")
    if cached is None:
        postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for n, vec in enumerate(corpus_vectors(corpus)):
            for stem, weight in vec.items():
                postings[stem].append((n, weight))
        cached = corpus.cache["tfidf-postings"] = dict(postings)
    return cast(dict[str, list[tuple[int, float]]], cached)


def similarities(vec: Vector, corpus: Corpus) -> dict[int, float]:
    """doc -> cosine with `vec`, for docs sharing at least one word with it."""
    postings = corpus_postings(corpus)
    dots: dict[int, float] = defaultdict(float)
    for stem, weight in vec.items():
        for n, w in postings.get(stem, ()):
            dots[n] += weight * w
    return dots


def nearest_all(examples: ExampleSet, corpus: Corpus) -> dict[int, tuple[int, float]]:
    """doc -> (index of its most similar example, cosine)."""
    best: dict[int, tuple[int, float]] = {}
    for i, vec in enumerate(examples.vectors):
        for n, sim in similarities(vec, corpus).items():
            if sim > best.get(n, (-1, 0.0))[1]:
                best[n] = (i, sim)
    return best


def example_set(examples: Sequence[Doc], corpus: Corpus) -> ExampleSet:
    return ExampleSet(tuple(d.paper.title for d in examples),
                      tuple(vectorize(d, corpus) for d in examples))


def cosine(a: Vector, b: Vector) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(v * b.get(s, 0.0) for s, v in a.items())


def nearest(vec: Vector, examples: ExampleSet) -> tuple[int, float]:
    """(index of the most similar example, cosine); (-1, 0.0) without examples."""
    best, best_sim = -1, 0.0
    for i, ex in enumerate(examples.vectors):
        sim = cosine(vec, ex)
        if sim > best_sim:
            best, best_sim = i, sim
    return best, best_sim


def shared_terms(vec: Vector, example: Vector, limit: int = 5) -> tuple[str, ...]:
    """The stems contributing most to the cosine: the words a reader sees the papers share."""
    common = sorted(((v * example[s], s) for s, v in vec.items() if s in example), reverse=True)
    return tuple(s for _, s in common[:limit])
