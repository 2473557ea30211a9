"""One profile against one batch of papers: each paper's evidence, and the top of the ranking
without scoring every paper in full.

The evidence for each term of a profile is cached on the batch's Corpus and shared by every
profile with that term (Matcher._term_evidence); what is left per profile is to put it
together.
A digest shows a profile's best few papers, and only they need a full score and reasons.
`Batch.bounds` works out an upper bound of every paper's score at once, on arrays (numpy): per
paper, the noisy-OR of its concepts (each the best of its alternatives' cached strengths), the
example part at its exact cosines to the nearest liked and unliked examples (and, with semantic
matching, its exact z by meaning to them: worker.matching.semantic compares the whole batch at
once), and the demotions (`exclude` terms in demote mode, an unliked example resembled more
than any liked one, in words or by meaning). That
is the score itself, to rounding, except where two terms may share a paper's text (below).
`Batch.ranking` then scores papers in full in the order of their bounds and stops as soon as
no bound left can beat the last paper taken: usually after little more than the papers the
digest shows. The papers it never scores still count for "N more scored lower": the papers
with any evidence that no exclusion rules out.

What the bounds rely on in worker.matching.explain.parts and scoring (tests check it): a
paper's score is combine((lexical, example)) times the demote and unlike factors; lexical is
the noisy-OR of its topical concepts and its strongest passing one, at most PASSING_MAX
(worker.matching.clues), each the best of its terms' strengths, which only falls when a concept
stands apart from the rest of an AND or turns from topical to passing; where terms may share
text (`object hallucination` and `hallucination`) a term's strength in its part of the text is
at most its saturation before the specificity ceiling (its cap: the exact split is worked out
only for the papers that get scored), and that part is topical only if all of it is; the
example part and the unlike factor are what explain.parts makes of the cosines (and z by
meaning) to the nearest liked and unliked examples (the side resembled more counts, by how much
more; words or meaning, whichever gives more); and a term with
strength above 0 gives a score above 0. (Sharing more words with a liked example than with any
unliked one counts as evidence only while the example part is above 0 for every cosine above 0:
else every such paper is scored.)
"""

from __future__ import annotations

import math
from bisect import insort
from collections.abc import Collection, Iterable, Iterator
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from worker.matching import examples as ex
from worker.matching import scoring, semantic
from worker.matching.clues import PASSING_MAX
from worker.matching.corpus import Corpus, bits
from worker.matching.evidence import Breakdown, TermScore
from worker.matching.explain import Parts, build_match, parts
from worker.matching.model import Ranking

if TYPE_CHECKING:
    from worker.matching.matcher import Matcher

SLACK = 1e-6  # scores as shown are rounded to six places: keep what could round up
CHUNK = 4  # candidates scored together after the first `limit`
ROUNDING = 1e-9  # bounds computed on arrays may sum in another order than the exact score
_CURVES: dict[bool, bool] = {}


class Batch:
    """A Matcher's profile against one Corpus."""

    def __init__(self, matcher: Matcher, corpus: Corpus):
        m = self.m = matcher
        self.corpus = corpus
        self.terms = [(t, m._term_evidence(t, corpus)) for t in m.terms]
        self.excludes = [(t, m._term_evidence(t, corpus)) for t in m.excludes]
        self.query_papers = m.query_papers(corpus) if m.query else {}
        self.gate = m.gate_bits(corpus, self.query_papers) if m.query else None
        self.liked = ex.example_vectors(m.examples, corpus)
        self.unliked = ex.example_vectors(m.unlike, corpus)

    # ---- exact ---------------------------------------------------------------------------------

    def breakdowns(self, docs: Iterable[int]) -> dict[int, Breakdown]:
        """The full breakdown of each paper in `docs`, by doc number."""
        m, corpus = self.m, self.corpus
        found: dict[int, Breakdown] = {}
        for n in sorted(docs):
            b = found[n] = Breakdown(corpus.docs[n], terms=self.terms_of(n),
                                     excludes=[ev.score(t, n) for t, ev in self.excludes
                                               if n in ev.hits])
            if self.gate is not None:
                b.gate = bool(self.gate >> n & 1)
                if b.gate:
                    b.gate_terms = m.gate_terms(self.query_papers, n)
                else:
                    b.gate_missing = m.gate_missing(self.query_papers, n)
            if m.conjunction and b.terms:
                b.apart = m.conjunction.apart(corpus, n, b.terms)
        if m.examples or m.unlike:
            self._nearest(found)
        return found

    def _nearest(self, found: dict[int, Breakdown]) -> None:
        """Each paper's nearest liked and unliked example, in words (with the vectors the
        reasons quote) and, with semantic matching, by meaning."""
        liked, cosines = self.nearest_liked
        unliked, unliked_cosines = self.nearest_unliked
        (near, near_z), (far, far_z) = self.meaning_liked, self.meaning_unliked
        vectors = ex.corpus_vectors(self.corpus)
        for n, b in found.items():
            if liked[n] >= 0:
                b.liked = (int(liked[n]), float(cosines[n]))
                b.vectors = (vectors[n], self.liked.vectors[b.liked[0]])
            if unliked[n] >= 0:
                b.unliked = (int(unliked[n]), float(unliked_cosines[n]))
            if near[n] >= 0:
                b.semantic = (int(near[n]), float(near_z[n]))
            if far[n] >= 0:
                b.semantic_unliked = (int(far[n]), float(far_z[n]))

    @cached_property
    def meaning_liked(self) -> tuple[np.ndarray, np.ndarray]:
        """Every paper's nearest liked example by meaning (-1: none, or no semantic matching)
        and how far it stands out, in spreads above the batch (worker.matching.semantic)."""
        return self._meaning_of(unlike=False)

    @cached_property
    def meaning_unliked(self) -> tuple[np.ndarray, np.ndarray]:
        return self._meaning_of(unlike=True)

    def _meaning_of(self, unlike: bool) -> tuple[np.ndarray, np.ndarray]:
        m, size = self.m, len(self.corpus)
        if m.embedder is None or not (m.unlike if unlike else m.examples):
            return np.full(size, -1, dtype=np.intp), np.zeros(size)  # the batch not embedded
        return semantic.nearest(semantic.corpus_embeddings(self.corpus, m.embedder),
                                m.example_units(unlike))

    @cached_property
    def nearest_liked(self) -> tuple[np.ndarray, np.ndarray]:
        """Every paper's nearest liked example (-1: none) and its cosine with it (0: none)."""
        return self._nearest_of(self.liked)

    @cached_property
    def nearest_unliked(self) -> tuple[np.ndarray, np.ndarray]:
        return self._nearest_of(self.unliked)

    def _nearest_of(self, examples: ex.ExampleSet) -> tuple[np.ndarray, np.ndarray]:
        if not examples.examples:  # no need for the batch's postings
            size = len(self.corpus)
            return np.full(size, -1, dtype=np.intp), np.zeros(size)
        return ex.postings(self.corpus).nearest(examples)

    # ---- ranking -------------------------------------------------------------------------------

    def ranking(self, min_score: float, limit: int | None, skip: Collection[int],
                shown: bool) -> Ranking:
        """The best papers scoring at least `min_score` (as shown, rounded, when `shown`), at
        most `limit`, none of `skip`; and how many papers ranked (score > 0, not excluded)."""
        allowed = as_mask(self.corpus.all_bits & ~self._ruled_out() & ~bits(skip),
                          len(self.corpus))
        bound = self.bounds()
        # a paper without evidence scores 0, which never ranks
        candidates = np.flatnonzero(allowed & self.evidence & (bound >= min_score - SLACK))
        order = candidates[np.lexsort((candidates, -bound[candidates]))].tolist()
        bounds = bound[order].tolist()
        best: list[tuple[float, str, int, Parts, Breakdown]] = []
        ranked, scored = 0, np.zeros(len(self.corpus), dtype=bool)
        for start, end in self._chunks(len(order), limit):
            if self._enough(best, limit, bounds[start]):
                break
            found = self.breakdowns(order[start:end])
            for n, bound_n in zip(order[start:end], bounds[start:end], strict=True):
                if self._enough(best, limit, bound_n):
                    break
                b = found[n]
                p = parts(b, self.m)
                scored[n] = True
                if p.score > 0 and not p.excluded:
                    ranked += 1
                    if (round(p.score, 6) if shown else p.score) >= min_score:
                        insort(best, (-p.score, b.doc.paper.key, n, p, b), key=lambda t: t[:3])
                        del best[len(best) if limit is None else limit:]
        ranked += int(np.count_nonzero(self.evidence & allowed & ~scored))
        return Ranking(tuple(build_match(b, self.m, p) for _, _, _, p, b in best), ranked)

    def _chunks(self, size: int, limit: int | None) -> Iterator[tuple[int, int]]:
        """The (start, end) of each chunk of the candidates to score together: all at once
        when all are scored; else first `limit`, since the bounds are the scores but where
        terms share text, so the first `limit` are nearly always the digest; then a few at a
        time."""
        step = size if self.exhaustive or limit is None else max(limit, 1)
        start = 0
        while start < size:
            yield start, min(start + step, size)
            start, step = start + step, CHUNK

    @staticmethod
    def _enough(best: list[tuple[float, str, int, Parts, Breakdown]], limit: int | None,
                bound: float) -> bool:
        """Taken `limit` papers, the worst of which no paper with this bound can beat?"""
        return limit is not None and len(best) >= limit and bound < -best[-1][0] - 1e-9

    def _ruled_out(self) -> int:
        """Papers the query gate or an exclude term (in "drop" mode) excludes, as bits."""
        out = 0 if self.gate is None else self.corpus.all_bits & ~self.gate
        if self.m.excludes and self.m.interests.exclude_mode != "demote":
            for term in self.m.excludes:
                out |= self.corpus.hit_bits(term.variants, term.near)
        return out

    @cached_property
    def evidence(self) -> np.ndarray:
        """Papers with any evidence, which therefore score above 0 unless excluded: a term with
        strength above 0, or a liked example resembled more than any unliked one, in words or
        (semantic matching) by meaning."""
        if self.exhaustive:
            return np.ones(len(self.corpus), dtype=bool)
        found = self.lexical > 0.0
        if self.m.examples:
            found |= self.nearest_liked[1] > self.nearest_unliked[1]
            found |= self.meaning_liked[1] > self.meaning_unliked[1]
        return found

    @cached_property
    def exhaustive(self) -> bool:
        """Must every paper be scored? With an example curve that is 0 near cosine 0, sharing
        a word is no evidence (only with liked examples)."""
        return bool(self.m.examples) and not example_curve(self.m)

    # ---- bounds --------------------------------------------------------------------------------

    def bounds(self) -> np.ndarray:
        """An upper bound of every paper's score (see the module docstring)."""
        if self.exhaustive:
            return np.ones(len(self.corpus))
        score = self.lexical.copy()
        liked, unliked = self.nearest_liked[1], self.nearest_unliked[1]  # cosines, 0 for none
        near, far = self.meaning_liked[1], self.meaning_unliked[1]  # z by meaning, 0 for none
        if self.m.examples:
            example = np.maximum(similarity_scores(liked - unliked), semantic_scores(near - far))
            if self.m.terms:
                example *= scoring.EXAMPLE_WITH_TERMS
            score = 1.0 - (1.0 - score) * (1.0 - example)
        if self.m.excludes and self.m.interests.exclude_mode == "demote":
            for _, ev in self.excludes:
                evidence = np.minimum(ev.strengths / scoring.TERM_STRENGTH, 1.0)
                score[ev.base.papers] *= 1.0 - scoring.DEMOTE_STRENGTH * evidence
        if self.m.unlike:
            score *= 1.0 - scoring.UNLIKE_STRENGTH * np.maximum(
                similarity_scores(unliked - liked), semantic_scores(far - near))
        return score + ROUNDING

    def terms_of(self, n: int) -> list[TermScore]:
        """Paper n's terms' evidence, each piece of text counted for one term only."""
        m, corpus, doc = self.m, self.corpus, self.corpus.docs[n]
        hitting = [(t, ev) for t, ev in self.terms if n in ev.hits]
        if n in self.shared_text:
            split = corpus.claimed(n, [ev.hits[n] for _, ev in hitting])
            return [ev.score(t, n) if by_field is ev.hits[n]
                    else m._evidence(t, by_field, doc, corpus, ev.spec)
                    for (t, ev), by_field in zip(hitting, split, strict=True) if by_field]
        return [ev.score(t, n) for t, ev in hitting]

    @cached_property
    def lexical(self) -> np.ndarray:
        """Every paper's terms combined (a fresh array), as explain.parts combines them
        (worker.matching.clues): the noisy-OR of the concepts the paper states as its topic
        and of the strongest it only mentions in passing, each concept the best of its
        alternatives. Being apart from the rest of an AND only lowers a concept.

        Where terms may share text in a paper (`object hallucination` and `hallucination`),
        each counts only the text it claims (terms_of), and what it is left with can even be
        worth more than all of it (a rarer field's share rises), or be no longer topical. There
        each is bounded by what its occurrences are worth before the specificity ceiling, which
        no part of them can exceed, and counted as topical if all of them are; the exact split
        is only worked out for the papers that get scored."""
        size = len(self.corpus)
        shared = as_mask(bits(self.shared_text), size) if self.shared_text else None
        best: dict[int, np.ndarray] = {}  # concept -> its strength in every paper
        topical: dict[int, np.ndarray] = {}  # concept -> where the paper states it as its topic
        for term, ev in self.terms:
            papers, strengths = ev.base.papers, ev.strengths
            if shared is not None:
                strengths = np.where(shared[papers], ev.caps, strengths)
            if term.group not in best:
                best[term.group] = np.zeros(size)
                topical[term.group] = np.zeros(size, dtype=bool)
            best[term.group][papers] = np.maximum(best[term.group][papers], strengths)
            topical[term.group][papers] |= ev.base.topical
        miss, passing = np.ones(size), np.zeros(size)
        for group, strength in best.items():
            miss *= np.where(topical[group], 1.0 - strength, 1.0)
            np.maximum(passing, np.where(topical[group], 0.0, strength), out=passing)
        return 1.0 - miss * (1.0 - np.minimum(passing, PASSING_MAX))

    @cached_property
    def shared_text(self) -> set[int]:
        """The papers two terms that may share text (they have a word in common) both hit."""
        found: set[int] = set()
        for i, j in self.m._overlap_pairs:
            found |= self.terms[i][1].hits.keys() & self.terms[j][1].hits.keys()
        return found


def as_mask(bitset: int, size: int) -> np.ndarray:
    """A bit set (worker.matching.corpus.bits) as a boolean array of `size` papers."""
    raw = np.frombuffer(bitset.to_bytes((size + 7) // 8, "little"), dtype=np.uint8)
    return np.unpackbits(raw, bitorder="little")[:size].astype(bool)


def similarity_scores(cosines: np.ndarray) -> np.ndarray:
    """scoring.similarity_score of every cosine at once (to rounding: numpy's exp)."""
    value = 1.0 / (1.0 + np.exp(-(cosines - scoring.SIM_MIDPOINT) / scoring.SIM_SCALE))
    floor = 1.0 / (1.0 + math.exp(scoring.SIM_MIDPOINT / scoring.SIM_SCALE))
    return np.where(cosines > 0.0, np.maximum(0.0, (value - floor) / (1.0 - floor)), 0.0)


def semantic_scores(z: np.ndarray) -> np.ndarray:
    """semantic.semantic_score of every z at once (to rounding: numpy's exp)."""
    value = 1.0 / (1.0 + np.exp(-(z - semantic.MIDPOINT) / semantic.SCALE))
    floor = 1.0 / (1.0 + math.exp(semantic.MIDPOINT / semantic.SCALE))
    return np.where(z > 0.0, np.maximum(0.0, (value - floor) / (1.0 - floor)), 0.0)


def example_curve(m: Matcher) -> bool:
    """Does every cosine above 0 add something to the score (explain.parts' `example`, worked
    out by parts itself once per process)? Then sharing a word with an example is evidence."""
    key = bool(m.terms)
    found = _CURVES.get(key)
    if found is None:
        found = _CURVES[key] = parts(Breakdown(None, liked=(0, 1e-9)),  # type: ignore[arg-type]
                                     m).example > 0
    return found
