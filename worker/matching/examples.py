"""Similarity to example papers: sparse tf-idf vectors over stems, in pure Python.

Vectors are built once per corpus (cached on it) and once per example; a profile's similarity
pass is a sparse dot product per paper. Title words count double because a title states what a
paper is about; sublinear tf keeps one repeated word from dominating; a short stop list and
numbers are left out because they make every pair of papers look alike.
"""

from __future__ import annotations

import math
from array import array
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import cast

from worker.matching.corpus import Corpus, Doc, bits
from worker.matching.model import PaperText

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


# ---- similarity for many profiles: only the papers that can matter ------------------------------
#
# nearest_all scores every paper that shares a word with an example, and in one field nearly
# every paper shares a few (`model`, `dataset`, `benchmark`). Thousands of profiles ranked
# against one batch need less: bounds that say which papers may come close enough to an example
# to be picked (cosine_bounds), the exact cosines of a few papers (nearest_among), and how many
# papers share any word at all (example_bits), which is a count, not a computation per paper.

def example_vectors(papers: Sequence[PaperText], corpus: Corpus) -> ExampleSet:
    """`example_set` from papers; each is tokenized and weighed once per corpus, so subscribers
    who like the same paper share the work."""
    cache = cast(dict[PaperText, Vector], corpus.cache.setdefault("example-vectors", {}))
    vectors = []
    for paper in papers:
        vec = cache.get(paper)
        if vec is None:
            vec = cache[paper] = vectorize(Doc.of(paper), corpus)
        vectors.append(vec)
    return ExampleSet(tuple(p.title for p in papers), tuple(vectors))


# Upper bounds of every paper's cosine at once. Weights are rounded up to whole multiples of
# 1/SCALE and, for the stems many papers have, packed FIELD bits per paper into one Python int
# per stem: one multiply-add of such ints adds a stem's share to every paper's bound, the
# arithmetic done in C rather than a Python loop over the papers. Rarer stems are added from
# their postings. Rounding up keeps every bound at or above the true cosine. Which papers reach
# the floor is found on the packed sum too: adding TOP - floor to every field sets a field's
# top bit exactly when its sum is at least the floor.
# A weight <= 1 becomes an int <= 2**15. Vectors have norm 1, so by Cauchy-Schwarz a sum of
# products of rounded-up weights stays under 2**30 * 1.01 (for up to 10**5 stems): 31 bits,
# and the 32nd is the flag.
SCALE = 1 << 15
FIELD = 32
TOP = 1 << (FIELD - 1)
UINT = "I"  # array type code of FIELD-bit unsigned ints
assert array(UINT).itemsize * 8 == FIELD
PACKED_BYTES = 32 << 20  # memory for packed stems per corpus
# A packed row costs about as much as adding one in ROW_SHARE papers from a posting list.
ROW_SHARE = 32


class Packed:
    """A corpus's weights rounded up to ints: packed rows for frequent stems, (paper, weight)
    lists for the others; each made the first time a profile's example has the stem."""

    def __init__(self, corpus: Corpus):
        self.postings = corpus_postings(corpus)
        self.papers = len(corpus)
        self.width = len(corpus) * FIELD // 8  # bytes per packed row
        self.budget = PACKED_BYTES // max(self.width, 1)  # packed rows it may keep
        self.rows: dict[str, int] = {}
        self.lists: dict[str, list[tuple[int, int]]] = {}
        self.ones = int.from_bytes(array(UINT, [1] * self.papers).tobytes(), "little")

    def row(self, stem: str) -> int | None:
        """The stem's packed row, if it is frequent enough to be worth one."""
        found = self.rows.get(stem)
        if found is None:
            posting = self.postings.get(stem, ())
            if len(posting) * ROW_SHARE < self.papers or len(self.rows) >= self.budget:
                return None
            values = array(UINT, bytes(self.width))
            for n, w in posting:
                values[n] = math.ceil(w * SCALE)
            found = self.rows[stem] = int.from_bytes(values.tobytes(), "little")
        return found

    def pairs(self, stem: str) -> list[tuple[int, int]]:
        found = self.lists.get(stem)
        if found is None:
            found = self.lists[stem] = [(n, math.ceil(w * SCALE))
                                        for n, w in self.postings.get(stem, ())]
        return found


def packed(corpus: Corpus) -> Packed:
    cached = corpus.cache.get("tfidf-packed")
    if cached is None:
        cached = corpus.cache["tfidf-packed"] = Packed(corpus)
    return cast(Packed, cached)


def cosine_bounds(vec: Vector, corpus: Corpus, floor: float) -> dict[int, float]:
    """Upper bounds of the cosines of `vec` with the papers whose cosine may be `floor` or
    more (and above 0); every other paper's cosine is less."""
    weights = packed(corpus)
    total = 0
    extra: dict[int, int] = defaultdict(int)
    for stem, weight in vec.items():
        q = math.ceil(weight * SCALE)
        row = weights.row(stem)
        if row is not None:
            total += q * row
        else:
            for n, w in weights.pairs(stem):
                extra[n] += q * w
    least = min(TOP, max(1, math.floor(floor * SCALE * SCALE)))
    top = ((total + (TOP - least) * weights.ones) & (TOP * weights.ones)).to_bytes(
        weights.width, "little")[FIELD // 8 - 1::FIELD // 8]  # one byte per paper
    sums = array(UINT)
    sums.frombytes(total.to_bytes(weights.width, "little"))
    out = {n: sums[n] / (SCALE * SCALE) for n in _flagged(top) if n not in extra}
    for n, add in extra.items():
        if sums[n] + add >= least:
            out[n] = (sums[n] + add) / (SCALE * SCALE)
    return out


def _flagged(flags: bytes) -> list[int]:
    """Positions of the flagged bytes (each byte is 0x80, the field's top bit, or 0)."""
    found, at = [], flags.find(b"\x80")
    while at >= 0:
        found.append(at)
        at = flags.find(b"\x80", at + 1)
    return found


def nearest_among(docs: Collection[int], examples: ExampleSet, corpus: Corpus,
                  ) -> dict[int, tuple[int, float]]:
    """`nearest_all` for the papers `docs` only, to the last bit: each cosine is summed in the
    order `similarities` sums it (the example's stems in turn), whichever way is cheaper."""
    best: dict[int, tuple[int, float]] = {}
    if not docs:
        return best
    vectors = corpus_vectors(corpus)
    for i, vec in enumerate(examples.vectors):
        if len(docs) * 8 < len(vectors):  # a few papers: a lookup per stem of the example each
            dots = {n: _dot(vec, vectors[n]) for n in docs}
        else:  # most papers wanted: walk the postings, as similarities() does
            wanted = docs if isinstance(docs, set | frozenset | dict) else set(docs)
            dots = {n: s for n, s in similarities(vec, corpus).items() if n in wanted}
        for n, sim in dots.items():
            if sim > best.get(n, (-1, 0.0))[1]:
                best[n] = (i, sim)
    return best


def _dot(example: Vector, paper: Vector) -> float:
    total = 0.0
    for stem, weight in example.items():
        w = paper.get(stem)
        if w is not None:
            total += weight * w
    return total


def example_bits(examples: ExampleSet, corpus: Corpus) -> int:
    """The papers sharing a weighted stem with an example (cosine > 0), as a bit set."""
    cache = cast(dict[str, int], corpus.cache.setdefault("tfidf-bits", {}))
    postings = corpus_postings(corpus)
    found = 0
    for vec in examples.vectors:
        for stem in vec:
            stem_bits = cache.get(stem)
            if stem_bits is None:
                stem_bits = cache[stem] = bits(n for n, _ in postings.get(stem, ()))
            found |= stem_bits
    return found
