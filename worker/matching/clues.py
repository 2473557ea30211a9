"""Which of a paper's matched concepts count as independent clues, and for how much.

Distinct keywords and query concepts combine like independent clues (scoring.combine), but
two kinds of evidence are not independent:

- Passing mentions. A paper names several of a reader's words in its background and results
  whatever it is about: they come with the field it is in, not with its topic, and say no
  more together than the strongest of them does (the paper is in the reader's neighbourhood).
  So every concept the paper states as its topic (in its title, or in a sentence where it
  says what it contributes: worker.matching.roles) is a clue, and of the concepts it only
  mentions in passing the strongest alone.
- Concepts of an AND that the paper never names together (worker.matching.conjunction): such
  a concept counts half, and only in passing.

And what a paper only mentions in passing is at most "some evidence" (PASSING_MAX, the 0.3 of
scoring's table of what scores mean), however often it repeats it: a paper that never names
an interest in its title or in what it contributes is not about it, and a rare word repeated
in the background ("an embedding look-up table ... the visual embedding table") saturates
as if it were.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from worker.matching import scoring
from worker.matching.evidence import TermScore


@dataclass(frozen=True)
class Concept:
    strength: float  # the best of its alternative terms (halved when apart)
    topical: bool  # does the paper state it in its title or in what it contributes?


@dataclass(frozen=True)
class Clues:
    concepts: dict[int, Concept] = field(default_factory=dict)  # group -> the concept
    counted: dict[int, float] = field(default_factory=dict)  # group -> what it counts for
    apart: frozenset[int] = frozenset()  # AND concepts the paper never names together

    def factor(self, group: int) -> float:
        """What a term of this concept counts for, against its own strength: 1, NEAR_DISCOUNT
        for a concept apart from the rest of its AND, less for a passing mention above
        PASSING_MAX, 0 for a passing mention that another one outweighs."""
        if group not in self.counted:
            return 0.0
        factor = scoring.NEAR_DISCOUNT if group in self.apart else 1.0
        if self.capped(group):
            factor *= self.counted[group] / self.concepts[group].strength
        return factor

    def capped(self, group: int) -> bool:
        """Is this concept a passing mention that counts PASSING_MAX, less than its strength?"""
        return group in self.counted and self.counted[group] < self.concepts[group].strength

    @property
    def outweighed(self) -> list[int]:
        """Concepts mentioned only in passing that count for nothing: a stronger one counted."""
        return [g for g in self.concepts if g not in self.counted]


NO_CLUES = Clues()
PASSING_MAX = 0.3


def weigh(terms: Iterable[TermScore], apart: frozenset[int] = frozenset()) -> Clues:
    """The clues among a paper's term scores (see the module's docstring)."""
    found = concepts(terms, apart)
    return Clues(found, count(found), apart & found.keys())


def count(found: dict[int, Concept]) -> dict[int, float]:
    """concept -> what it counts for: every topical concept, and the strongest passing one, up
    to PASSING_MAX."""
    counted = {g: c.strength for g, c in found.items() if c.topical}
    passing = [(c.strength, g) for g, c in found.items() if not c.topical]
    if passing:
        strength, group = max(passing)
        counted[group] = min(strength, PASSING_MAX)
    return counted


def concepts(terms: Iterable[TermScore], apart: frozenset[int] = frozenset(),
             ) -> dict[int, Concept]:
    """Each concept's strength (the best of its alternative terms) and whether the paper
    states it as its topic. A concept in `apart` counts half, and only in passing."""
    found: dict[int, Concept] = {}
    for ts in terms:
        was = found.get(ts.term.group)
        if was is None:
            found[ts.term.group] = Concept(ts.strength, ts.topical)
        elif ts.strength > was.strength or not was.topical:
            found[ts.term.group] = Concept(max(was.strength, ts.strength),
                                           was.topical or ts.topical)
    for group in apart & found.keys():
        found[group] = Concept(scoring.NEAR_DISCOUNT * found[group].strength, False)
    return found
