"""One profile against one batch of papers: each paper's evidence, and the top of the ranking
without scoring every paper.

The evidence for each term of a profile is cached on the batch's Corpus and shared by every
profile with that term (Matcher._term_evidence); what is left per profile is to put it
together.
A digest shows a profile's best few papers, and only they need a full score and reasons:
`Batch.ranking` bounds every paper's score from above cheaply (a noisy-OR of the cached term
strengths; MaxScore bounds on the cosine to each liked example), scores papers in the order
of their bounds, and stops as soon as no bound left can beat the last paper taken. The papers
it never scores still count for "N more scored lower": that is a count of the papers with any
evidence that no exclusion rules out, on bit sets.

What the bounds rely on in worker.matching.explain.parts and scoring (tests check it): a
paper's score is at most combine((lexical, example)), demotions and `unlike` only lower it;
lexical is at most the noisy-OR of its terms' strengths, and a term's strength in part of its
text at most its saturation before the specificity ceiling; the example part rises with the
cosine; and a term with strength above 0 gives a score above 0. (Sharing a word with an
example counts as evidence only while the example part is above 0 for every cosine above 0:
else every such paper is scored.)
"""

from __future__ import annotations

import math
from bisect import insort
from collections.abc import Collection, Iterable
from functools import cached_property
from typing import TYPE_CHECKING

from worker.matching import examples as ex
from worker.matching import scoring
from worker.matching.corpus import Corpus, bits
from worker.matching.evidence import Breakdown, TermScore
from worker.matching.explain import Parts, build_match, parts
from worker.matching.model import Ranking

if TYPE_CHECKING:
    from worker.matching.matcher import Matcher

GRID = 1000  # the example part is tabulated at cosines 0, 1/GRID, ..., 1
SLACK = 1e-6  # scores as shown are rounded to six places: keep what could round up
_TABLES: dict[bool, tuple[list[float], bool]] = {}


class Batch:
    """A Matcher's profile against one Corpus."""

    def __init__(self, matcher: Matcher, corpus: Corpus):
        m = self.m = matcher
        self.corpus = corpus
        self.terms = [(t, m._term_evidence(t, corpus)) for t in m.terms]
        self.excludes = [(t, m._term_evidence(t, corpus)) for t in m.excludes]
        self.gate = m._gate_bits(corpus) if m.query else None
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
        if m.examples or m.unlike:
            m._similarities(corpus, found, self.liked, self.unliked)
        return found

    # ---- ranking -------------------------------------------------------------------------------

    def ranking(self, min_score: float, limit: int | None, skip: Collection[int],
                shown: bool) -> Ranking:
        """The best papers scoring at least `min_score` (as shown, rounded, when `shown`), at
        most `limit`, none of `skip`; and how many papers ranked (score > 0, not excluded)."""
        allowed = self.corpus.all_bits & ~self._ruled_out() & ~bits(skip)
        bounds = self.bounds(min_score)
        target = min_score - SLACK
        order = sorted((n for n, bound in bounds.items() if bound >= target and allowed >> n & 1),
                       key=lambda n: (-bounds[n], n))
        # A few papers at a time; all at once when all are scored (semantic matching finds the
        # nearest example for the whole batch in one go).
        step = len(order) if self.exhaustive else 16
        best: list[tuple[float, str, int, Parts, Breakdown]] = []
        ranked, scored = 0, []
        for start in range(0, len(order), step or 1):
            if self._enough(best, limit, bounds[order[start]]):
                break
            chunk = order[start:start + step]
            found = self.breakdowns(chunk)
            for n in chunk:
                if self._enough(best, limit, bounds[n]):
                    break
                b = found[n]
                p = parts(b, self.m)
                scored.append(n)
                if p.score > 0 and not p.excluded:
                    ranked += 1
                    if (round(p.score, 6) if shown else p.score) >= min_score:
                        insort(best, (-p.score, b.doc.paper.key, n, p, b), key=lambda t: t[:3])
                        del best[len(best) if limit is None else limit:]
        ranked += (self._evidence_bits() & allowed & ~bits(scored)).bit_count()
        return Ranking(tuple(build_match(b, self.m, p) for _, _, _, p, b in best), ranked)

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

    def _evidence_bits(self) -> int:
        """Papers with any evidence, which therefore score above 0: a term with strength above
        0, a word shared with a liked example, or (semantic matching) any paper at all."""
        found = bits(n for n, strength in self.lexical.items() if strength > 0.0)
        if self.m.examples and not self.exhaustive:
            found |= ex.example_bits(self.liked, self.corpus)
        return found

    @cached_property
    def exhaustive(self) -> bool:
        """Must every paper be scored? With semantic matching, any paper may be close to an
        example (and there is no cheap bound); with an example curve that is 0 near cosine 0,
        sharing a word is no evidence. Both only with liked examples."""
        return bool(self.m.examples) and (self.m.embedder is not None
                                          or not example_table(self.m)[1])

    # ---- bounds --------------------------------------------------------------------------------

    def bounds(self, reach: float) -> dict[int, float]:
        """paper -> an upper bound of its score, for every paper that may score `reach` or
        more (and some others). With semantic matching there is no cheap bound: 1.0 for all."""
        lexical = self.lexical
        if not self.m.examples:
            return lexical
        if self.exhaustive:
            return dict.fromkeys(range(len(self.corpus)), 1.0)
        table, _ = example_table(self.m)
        floor = _least_cosine(table, reach - SLACK)
        cosines: dict[int, float] = {}
        rest = floor  # every paper not in `cosines` has a cosine under it
        for vec in self.liked.vectors:
            for n, bound in ex.cosine_bounds(vec, self.corpus, floor).items():
                if bound > cosines.get(n, 0.0):
                    cosines[n] = bound
        under = table[_cell(rest)]  # the most the example part adds to a paper not in cosines
        out = {}
        for n, strength in lexical.items():
            cosine = cosines.get(n)
            example = under if cosine is None else table[_cell(max(cosine, rest))]
            out[n] = scoring.combine((strength, example))
        for n, cosine in cosines.items():
            if n not in out:
                out[n] = table[_cell(max(cosine, rest))]
        return out

    def terms_of(self, n: int) -> list[TermScore]:
        """Paper n's terms' evidence, each piece of text counted for one term only."""
        m, corpus, doc = self.m, self.corpus, self.corpus.docs[n]
        hitting = [(t, ev) for t, ev in self.terms if n in ev.hits]
        if n in self.shared_text:
            split = corpus.claimed(n, [(t.variants, t.near) for t, _ in hitting])
            return [ev.score(t, n) if by_field is ev.hits[n]
                    else m._evidence(t, by_field, doc, corpus, ev.spec)
                    for (t, ev), by_field in zip(hitting, split, strict=True) if by_field]
        return [ev.score(t, n) for t, ev in hitting]

    @cached_property
    def lexical(self) -> dict[int, float]:
        """paper -> a bound of its terms' combined strength: the noisy-OR of its terms.

        Where terms may share text in a paper (`object hallucination` and `hallucination`),
        each counts only the text it claims (terms_of), and what it is left with can even be
        worth more than all of it (a rarer field's share rises). Each is bounded there by what
        its occurrences are worth before the specificity ceiling, which no part of them can
        exceed; the exact split is only worked out for the papers that get scored."""
        miss: dict[int, float] = {}
        for _, evidence in self.terms:
            for n, strength in zip(evidence.base.papers, evidence.strengths, strict=True):
                miss[n] = miss.get(n, 1.0) * (1.0 - strength)
        for n in self.shared_text:
            miss[n] = math.prod(1.0 - ev.cap(n) for _, ev in self.terms if n in ev.hits)
        return {n: 1.0 - m for n, m in miss.items()}

    @cached_property
    def shared_text(self) -> set[int]:
        """The papers two terms that may share text (they have a word in common) both hit."""
        found: set[int] = set()
        for i, j in self.m._overlap_pairs:
            found |= self.terms[i][1].hits.keys() & self.terms[j][1].hits.keys()
        return found


def example_table(m: Matcher) -> tuple[list[float], bool]:
    """What example similarity adds (explain.parts' `example`) at each cosine on the grid, for
    a profile with terms or without, computed with parts itself once per process; and whether
    every cosine above 0 adds something (so sharing a word is evidence)."""
    key = bool(m.terms)
    found = _TABLES.get(key)
    if found is None:
        def example(cosine: float) -> float:
            return parts(Breakdown(None, liked=(0, cosine)), m).example  # type: ignore[arg-type]

        found = _TABLES[key] = ([example(i / GRID) for i in range(GRID + 1)], example(1e-9) > 0)
    return found


def _cell(cosine: float) -> int:
    """The grid point at or above `cosine`: the table there bounds the example part."""
    return min(GRID, max(0, math.ceil(cosine * GRID)))


def _least_cosine(table: list[float], target: float) -> float:
    """A cosine under which the example part stays below `target` (0.0: every cosine may
    reach it)."""
    if target <= 0.0:
        return 0.0
    for i, value in enumerate(table):
        if value >= target:
            return max(0.0, (i - 1) / GRID)
    return 2.0  # no cosine is enough
