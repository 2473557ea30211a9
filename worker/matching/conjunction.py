"""What an AND query asks for: its concepts about the same thing.

A reader who writes `(benchmark OR evaluation) AND (multimodal OR VLM)` wants benchmarks of
multimodal models, not papers on multimodal models that also mention a benchmark. The query
gate only checks that both concepts occur somewhere in the paper; whether they are about the
same thing shows in where they occur: together in the title, or in one sentence of the
abstract ("We introduce X, a benchmark for evaluating VLMs on ..."). A concept of the AND
that never stands with the others there is apart: its words tell something about the paper,
but not that the paper is about what the query asks. It counts half, as the words of a
multi-word keyword found apart rather than as the phrase do (scoring.NEAR_DISCOUNT), and only
as a passing mention (worker.matching.clues).

Only the query's own concepts are judged so; a keyword is an interest in itself, wherever it
stands. The other concepts are looked for by every alternative the query names, keywords
among them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from worker.matching.corpus import Doc, FieldHit, find_phrase, with_joined
from worker.matching.evidence import TermScore
from worker.matching.terms import Stems

TITLE = -1  # the title is one place; an abstract's sentences are places 0, 1, ...

Variants = tuple[Stems, ...]


class Conjunction:
    """The concepts of a profile's query that an AND asks for together."""

    def __init__(self, conjuncts: Sequence[Sequence[Variants]], groups: Mapping[int, int]):
        """`conjuncts`: each concept's alternatives, as term variants; `groups`: the profile's
        query concept (its group number) -> the conjunct it is part of."""
        self.conjuncts = conjuncts
        self.groups = dict(groups)

    def __bool__(self) -> bool:
        return bool(self.groups)

    def apart(self, doc: Doc, terms: Iterable[TermScore]) -> frozenset[int]:
        """The query concepts (groups) that never stand with every other concept of the AND
        in the title or in one sentence of the paper's abstract."""
        own: dict[int, set[int]] = {}
        for ts in terms:
            if ts.term.group in self.groups:
                own.setdefault(ts.term.group, set()).update(places(doc, ts.hits))
        out = set()
        for group, where in own.items():
            mine = self.groups[group]
            for i, alternatives in enumerate(self.conjuncts):
                if i != mine and where:
                    where = where & written_places(doc, alternatives)
            if not where:
                out.add(group)
        return frozenset(out)


def places(doc: Doc, hits: Mapping[str, FieldHit]) -> set[int]:
    """Where these occurrences stand: TITLE, or the numbers of their abstract sentences."""
    out = set()
    for name, hit in hits.items():
        if name == "title":
            out.add(TITLE)
        else:
            out.update(doc.fields[name].sentence(a) for a, _ in hit.spans)
    return out


def written_places(doc: Doc, alternatives: Sequence[Variants]) -> frozenset[int]:
    """Where any of a concept's alternatives occurs as written (the query gate's exact
    matching), as places; kept on the paper for every profile with the same concept."""
    key = ("places", tuple(alternatives))
    found = doc.memo.get(key)
    if found is None:
        found = doc.memo[key] = frozenset(_written_places(doc, alternatives))
    return found


def _written_places(doc: Doc, alternatives: Sequence[Variants]) -> set[int]:
    out = set()
    for variants in alternatives:
        for seq in with_joined(variants):
            for name, ftext in doc.fields.items():
                spans = find_phrase(ftext, seq)
                if not spans:
                    continue
                if name == "title":
                    out.add(TITLE)
                else:
                    out.update(ftext.sentence(a) for a, _, _ in spans)
    return out
