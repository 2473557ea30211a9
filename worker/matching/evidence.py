"""What is known about one paper against one profile before it becomes a Match."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from worker.matching import examples as ex
from worker.matching import roles, scoring
from worker.matching.corpus import Doc, FieldHit
from worker.matching.interests import FIELDS
from worker.matching.terms import ProfileTerm


@dataclass
class TermScore:
    term: ProfileTerm
    hits: dict[str, FieldHit]
    evidence: float  # BM25F saturation, 0..1
    specificity: dict[str, float]  # field -> 0..1
    shares: dict[str, float]  # field -> share of the evidence
    # The evidence shared by every profile with the term, and the paper, when the TermScore is
    # that (not the term's part of a text other terms claim too): where it is topical is known.
    shared: tuple[TermEvidence, int] | None = field(default=None, compare=False, repr=False)

    @property
    def strength(self) -> float:
        return scoring.TERM_STRENGTH * self.evidence

    @property
    def topical(self) -> bool:
        if self.shared is not None:  # all of the term's occurrences: known for the batch
            evidence, n = self.shared
            return bool(evidence.base.topical[evidence.base.index[n]])
        return topical(self.hits)


def topical(hits: dict[str, FieldHit]) -> bool:
    """Does the paper state a term with these hits as its topic: in its title, or in a sentence
    where it says what it contributes (worker.matching.roles)? Else it only mentions it in
    passing."""
    if "title" in hits:  # the title is all contribution; the cheap, common case
        return True
    return any(roles.in_contribution(hit.text.weights if hit.text is not None else None,
                                     hit.spans) for hit in hits.values())


@dataclass
class Breakdown:
    """Everything known about one paper before it becomes a Match."""

    doc: Doc
    terms: list[TermScore] = field(default_factory=list)
    excludes: list[TermScore] = field(default_factory=list)
    gate: bool | None = None  # None: no query
    gate_terms: tuple[str, ...] = ()  # the query's terms by which it passes (Matcher.gate_terms)
    gate_missing: tuple[str, ...] = ()  # what it lacks to pass, in words (Matcher.gate_missing)
    # the query's AND concepts it never names together (worker.matching.conjunction)
    apart: frozenset[int] = frozenset()
    liked: tuple[int, float] = (-1, 0.0)  # (example index, cosine)
    unliked: tuple[int, float] = (-1, 0.0)
    semantic: tuple[int, float] = (-1, 0.0)  # (example index, z: see matching.semantic)
    semantic_unliked: tuple[int, float] = (-1, 0.0)  # the same for the unliked examples
    vectors: tuple[ex.Vector, ex.Vector] | None = None  # the paper's and its nearest example's


@dataclass(frozen=True)
class TermCounts:
    """One term's occurrences in a batch, whatever concept it stands for: each paper's hits
    and scoring.field_counts, in the same order (shared by every concept with the term)."""

    hits: dict[int, dict[str, FieldHit]]  # paper -> field -> hit
    papers: np.ndarray  # the papers of `hits`, in its order (intp)
    counts: tuple[scoring.FieldCounts, ...]  # each paper's, in that order

    @cached_property
    def index(self) -> dict[int, int]:
        """paper -> its place in `papers`."""
        return {n: i for i, n in enumerate(self.hits)}

    @cached_property
    def by_field(self) -> dict[str, np.ndarray]:
        """Each field's weighted, length-normalized count in every paper (0.0 where the term
        is not in the field), fields in the order field_counts gives them."""
        found = {name: np.zeros(len(self.counts)) for name in FIELDS}
        for i, (counts, _) in enumerate(self.counts):
            for name, count in counts:
                found[name][i] = count
        return found

    @cached_property
    def raw(self) -> np.ndarray:
        """Each paper's sum of its fields' counts."""
        return np.fromiter((raw for _, raw in self.counts), dtype=np.float64,
                           count=len(self.counts))

    @cached_property
    def topical(self) -> np.ndarray:
        """Whether each paper of `papers` states the term as its topic (`topical`)."""
        return np.fromiter((topical(h) for h in self.hits.values()), dtype=bool,
                           count=len(self.hits))


@dataclass(frozen=True)
class TermEvidence:
    """One term (of one concept) against one batch: what its evidence in any paper is made
    from. Thousands of these live on a batch's corpus: per paper only two floats are kept,
    anything more is made for the papers that get scored."""

    base: TermCounts
    spec: dict[str, float]  # field -> specificity
    strengths: np.ndarray  # TermScore.strength clamped to 0..1, per paper of base.papers
    caps: np.ndarray  # the most the strength can be when other terms claim some of the text

    scored: dict[int, tuple[float, tuple[float, ...]]] = field(default_factory=dict)  # shares
    # in the order of the paper's field counts

    @property
    def hits(self) -> dict[int, dict[str, FieldHit]]:
        return self.base.hits

    def score(self, term: ProfileTerm, n: int) -> TermScore:
        """Paper n's TermScore for `term` (one of the terms this evidence is shared by)."""
        counts = self.base.counts[self.base.index[n]]
        found = self.scored.get(n)
        if found is None:
            evidence, shares, _ = scoring.evidence_from(counts, self.spec)
            found = self.scored[n] = (evidence, tuple(shares.values()))
        shares = {name: share for (name, _), share in zip(counts[0], found[1], strict=True)}
        return TermScore(term, self.hits[n], found[0], self.spec, shares, (self, n))
