"""Similarity to example papers: sparse tf-idf vectors over stems.

Vectors are built once per corpus (cached on it) and once per example in use (the most
recently used are kept). The cosine of an example with every paper of the batch is a product
with the dense rows of the batch's common stems and one bincount over the postings of its rare
ones (numpy). Every cosine, bound or exact, comes from that one computation, so a bound and the
score it bounds agree to the bit. Title words count double because a title states what a paper
is about; sublinear tf keeps one repeated word from dominating; a short stop list and numbers
are left out because they make every pair of papers look alike.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain, compress
from typing import cast

import numpy as np

from worker.matching.corpus import FUNCTION_WORDS, Bounded, Corpus, Doc
from worker.matching.interests import FIELDS
from worker.matching.model import PaperText
from worker.matching.text import stem as stem_of
from worker.matching.text import word_forms

Vector = dict[str, float]

TITLE_WEIGHT = 2  # a title's words count twice
# A stem in at least 1 of DENSE_SHARE papers is a dense row of Postings, within DENSE_BYTES.
DENSE_SHARE = 32
DENSE_BYTES = 64 << 20
EXAMPLES_KEPT = 1000
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

# Words a reason's "shares ..." leaves out (as stems): English function words (corpus's and
# more) and common adverbs, which tell a reader nothing of what two papers have in common
# (`whose`, `upon`, `rather`, `notably`). They still count in the vectors as before: taking
# them out of STOP there raised the cosines of content words and lowered the relevance bench
# (mean F1 0.660 -> 0.646, MAP 0.781 -> 0.778).
UNSAID = frozenset(map(stem_of, FUNCTION_WORDS | set("""
another neither me ours ourselves you him itself theirs themselves whatever whichever about
above after against amid amongst around before behind below beneath beside besides beyond
despite during except inside like near outside per since till toward towards underneath unlike
until versus vs yet although though because unless whereas whether once hence therefore am
having doing cannot already always even ever still just quite rather almost instead else
otherwise perhaps indeed namely respectively meanwhile nevertheless nonetheless whereby wherein
thereby therein much etc ii iii iv including according notably particularly especially
specifically mainly largely mostly typically generally usually simply directly effectively
readily widely highly fully additionally finally consequently currently previously subsequently
primarily commonly increasingly relatively considerably substantially remarkably accurately
""".split())))


@dataclass(frozen=True)
class Example:
    """An example paper as a vector in one corpus's idf space, and the same as arrays over the
    corpus's Postings: the stems some paper of the batch has, common and rare apart, each in
    the vector's order."""

    vector: Vector
    rows: np.ndarray  # Postings dense rows of its common stems (intp)...
    row_weights: np.ndarray  # ...and the vector's weight of each
    stems: np.ndarray  # Postings sparse ids of its rare stems (intp)...
    weights: np.ndarray  # ...and the vector's weight of each


@dataclass(frozen=True)
class ExampleSet:
    """Liked (or unliked) examples."""

    titles: tuple[str, ...]
    examples: tuple[Example, ...]

    @property
    def vectors(self) -> tuple[Vector, ...]:
        return tuple(e.vector for e in self.examples)


Words = tuple[Sequence[str], Sequence[str]]  # a field's words: (folded forms, stems)


def _counts(title: Words, abstract: Words) -> Counter[str]:
    """stem -> its weighted count (a title's words TITLE_WEIGHT times), in order of first
    occurrence. Counted by loops in C (a Counter over the stems `_content` keeps): an example is
    counted for every profile that likes it, and every paper of a batch once."""
    kept = list(compress(title[1], map(_content, title[0])))
    return Counter(chain(*[kept] * TITLE_WEIGHT, compress(abstract[1], map(_content, abstract[0]))))


@lru_cache(maxsize=65536)
def _content(fold: str) -> bool:
    """Does a word (its folded form) count in a vector: not a stop word (as written or as its
    stem), not a single letter, not a number?"""
    stem = stem_of(fold)
    return fold not in STOP and stem not in STOP and len(stem) > 1 and not stem.isdigit()


def vectorize(doc: Doc, corpus: Corpus) -> Vector:
    title, abstract = ((doc.fields[f].folds, doc.fields[f].stems) for f in FIELDS)
    return _vector(_counts(title, abstract), corpus)


def _vector(counts: Mapping[str, float], corpus: Corpus) -> Vector:
    idf = cast(dict[str, float], corpus.cache.setdefault("idf", {}))
    size = len(corpus) + 1
    vec = {}
    for s, c in counts.items():
        weight = idf.get(s)
        if weight is None:
            weight = idf[s] = math.log(size / (len(corpus.index.get(s, ())) + 1)) + 1.0
        vec[s] = (1.0 + math.log(c)) * weight
    norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
    return {s: v / norm for s, v in vec.items()}


def corpus_vectors(corpus: Corpus) -> list[Vector]:
    cached = corpus.cache.get("tfidf")
    if cached is None:
        cached = corpus.cache["tfidf"] = [vectorize(d, corpus) for d in corpus.docs]
    return cast(list[Vector], cached)


def shared_terms(vec: Vector, example: Vector, limit: int = 5) -> tuple[str, ...]:
    """The stems contributing most to the cosine: the words a reader sees the papers share
    (function words left out: UNSAID)."""
    few, many = (vec, example) if len(vec) <= len(example) else (example, vec)
    common = sorted(((v * many[s], s) for s, v in few.items() if s in many and s not in UNSAID),
                    reverse=True)
    return tuple(s for _, s in common[:limit])


def example_vectors(papers: Sequence[PaperText], corpus: Corpus) -> ExampleSet:
    """ExampleSet of papers in the corpus's idf space; the EXAMPLES_KEPT most recently used
    are kept on the corpus, so subscribers who like the same paper share the work (most
    examples are one subscriber's: kept without a bound, they grew to ~36 MiB at 10,000
    subscribers). An example needs only its words, not the index and sentence roles a paper
    being ranked gets."""
    cache = cast(Bounded, corpus.cache.setdefault("example-vectors", Bounded(EXAMPLES_KEPT)))
    found = []
    for paper in papers:
        example = cache.get(paper)
        if example is None:
            vec = _vector(_counts(word_forms(paper.title), word_forms(paper.abstract)), corpus)
            example = cache.put(paper, postings(corpus).example(vec))
        found.append(example)
    return ExampleSet(tuple(p.title for p in papers), tuple(found))


class Postings:
    """The batch's vectors stem by stem, for a vector's cosine with every paper at once.

    The stems many papers have (`model`, `benchmark`: at least one in DENSE_SHARE papers) are
    kept as dense rows, one weight per paper: a few rows times a few weights is a short
    product on arrays. The many rare ones are compressed sparse rows (`start[i]:start[i + 1]`
    of `docs` and `weights` are stem i's papers and weights), added up with one bincount."""

    def __init__(self, corpus: Corpus):
        by_stem: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for n, vec in enumerate(corpus_vectors(corpus)):
            for stem, weight in vec.items():
                by_stem[stem].append((n, weight))
        self.papers = size = len(corpus)
        common = sorted((s for s, p in by_stem.items() if len(p) * DENSE_SHARE >= size),
                        key=lambda s: -len(by_stem[s]))[:DENSE_BYTES // (8 * max(size, 1))]
        self.rows = {stem: r for r, stem in enumerate(common)}
        self.dense = np.zeros((len(common), size))
        for stem, r in self.rows.items():
            papers, weights = zip(*by_stem.pop(stem), strict=True)
            self.dense[r, list(papers)] = weights
        self.ids = {stem: i for i, stem in enumerate(by_stem)}
        self.start = np.zeros(len(by_stem) + 1, dtype=np.intp)
        np.cumsum([len(p) for p in by_stem.values()], out=self.start[1:])
        pairs = [pair for posting in by_stem.values() for pair in posting]
        self.docs = np.fromiter((n for n, _ in pairs), dtype=np.intp, count=len(pairs))
        self.weights = np.fromiter((w for _, w in pairs), dtype=np.float64, count=len(pairs))

    def example(self, vec: Vector) -> Example:
        rows = {stem: r for stem in vec if (r := self.rows.get(stem)) is not None}
        ids = {stem: i for stem in vec if (i := self.ids.get(stem)) is not None}
        return Example(vec, _ints(rows.values()), _floats(vec[s] for s in rows),
                       _ints(ids.values()), _floats(vec[s] for s in ids))

    def cosines(self, examples: Sequence[Example]) -> np.ndarray:
        """Each example's cosine with every paper (0.0 where they share no stem), a row per
        example: its rare stems' products summed by one bincount for all examples, then its
        common stems' rows times their weights (one vector-matrix product)."""
        stems = np.concatenate([e.stems for e in examples]) if examples else _ints(())
        starts = self.start[stems]
        lengths = self.start[stems + 1] - starts
        # positions of every posting of these stems, stem after stem
        at = np.arange(int(lengths.sum())) + np.repeat(starts - (np.cumsum(lengths) - lengths),
                                                       lengths)
        weights = np.concatenate([e.weights for e in examples]) if examples else _floats(())
        # the postings of example i count in row i: paper n is bin i * papers + n
        rows = np.repeat(np.arange(len(examples)) * self.papers, [len(e.stems) for e in examples])
        bins = self.docs[at] + np.repeat(rows, lengths)
        products = self.weights[at] * np.repeat(weights, lengths)
        out = np.bincount(bins, weights=products, minlength=len(examples) * self.papers
                          ).astype(np.float64, copy=False).reshape(len(examples), self.papers)
        for i, e in enumerate(examples):
            if len(e.rows):
                out[i] += e.row_weights @ self.dense[e.rows]
        return out

    def nearest(self, examples: ExampleSet) -> tuple[np.ndarray, np.ndarray]:
        """For every paper, the index of its most similar example (the first of equals; -1
        where it shares no stem with any) and that cosine."""
        if not examples.examples:
            return np.full(self.papers, -1, dtype=np.intp), np.zeros(self.papers)
        cosines = self.cosines(examples.examples)
        best = cosines.argmax(axis=0)
        best_cosine = cosines[best, np.arange(self.papers)]
        return np.where(best_cosine > 0.0, best, -1), best_cosine


def _ints(values: Iterable[int]) -> np.ndarray:
    return np.fromiter(values, dtype=np.intp)


def _floats(values: Iterable[float]) -> np.ndarray:
    return np.fromiter(values, dtype=np.float64)


def postings(corpus: Corpus) -> Postings:
    cached = corpus.cache.get("tfidf-postings")
    if cached is None:
        cached = corpus.cache["tfidf-postings"] = Postings(corpus)
    return cast(Postings, cached)
