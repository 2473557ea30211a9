"""What is known about one paper against one profile before it becomes a Match."""

from __future__ import annotations

from dataclasses import dataclass, field

from worker.matching import examples as ex
from worker.matching import scoring
from worker.matching.corpus import Doc, FieldHit
from worker.matching.model import Reason
from worker.matching.terms import ProfileTerm


@dataclass
class TermScore:
    term: ProfileTerm
    hits: dict[str, FieldHit]
    evidence: float  # BM25F saturation, 0..1
    specificity: dict[str, float]  # field -> 0..1
    shares: dict[str, float]  # field -> share of the evidence
    # The evidence shared by every profile with the term, and the paper, when the TermScore is
    # that (not the term's part of a text other terms claim too): its reasons are kept there.
    shared: tuple[TermEvidence, int] | None = field(default=None, compare=False, repr=False)

    @property
    def strength(self) -> float:
        return scoring.TERM_STRENGTH * self.evidence


@dataclass
class Breakdown:
    """Everything known about one paper before it becomes a Match."""

    doc: Doc
    terms: list[TermScore] = field(default_factory=list)
    excludes: list[TermScore] = field(default_factory=list)
    gate: bool | None = None  # None: no query
    liked: tuple[int, float] = (-1, 0.0)  # (example index, cosine)
    unliked: tuple[int, float] = (-1, 0.0)
    semantic: tuple[int, float] = (-1, 0.0)  # (example index, z: see matching.semantic)
    vectors: tuple[ex.Vector, ex.Vector] | None = None  # the paper's and its nearest example's

    @property
    def shared(self) -> tuple[str, ...]:
        """Stems the paper shares most with its nearest example."""
        return ex.shared_terms(*self.vectors) if self.vectors else ()


@dataclass(frozen=True)
class TermEvidence:
    """One term against one batch: what its evidence in any paper is made from."""

    hits: dict[int, dict[str, FieldHit]]  # paper -> field -> hit
    spec: dict[str, float]  # field -> specificity
    counts: dict[int, scoring.FieldCounts]  # paper -> what its evidence is computed from
    strengths: dict[int, float]  # paper -> TermScore.strength, clamped to 0..1
    caps: dict[int, float]  # paper -> the most the strength can be when other terms claim text

    scored: dict[int, tuple[float, dict[str, float]]] = field(default_factory=dict)
    worded: dict[tuple[int, str, str], tuple[Reason, ...]] = field(default_factory=dict)

    def score(self, term: ProfileTerm, n: int) -> TermScore:
        """Paper n's TermScore for `term` (one of the terms this evidence is shared by)."""
        found = self.scored.get(n)
        if found is None:
            evidence, shares, _ = scoring.evidence_from(self.counts[n], self.spec)
            found = self.scored[n] = (evidence, shares)
        return TermScore(term, self.hits[n], found[0], self.spec, found[1], (self, n))
