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

from worker.matching.corpus import Corpus, Doc, FieldHit
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

    def apart(self, corpus: Corpus, n: int, terms: Iterable[TermScore]) -> frozenset[int]:
        """The query concepts (groups) that never stand with every other concept of the AND
        in the title or in one sentence of paper n's abstract."""
        doc = corpus.docs[n]
        own: dict[int, set[int]] = {}
        for ts in terms:
            if ts.term.group in self.groups:
                own.setdefault(ts.term.group, set()).update(places(doc, ts.hits))
        out = set()
        for group, where in own.items():
            mine = self.groups[group]
            for i, alternatives in enumerate(self.conjuncts):
                if i != mine and where:
                    where = where & written_places(corpus, n, alternatives)
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


def written_places(corpus: Corpus, n: int, alternatives: Sequence[Variants]) -> set[int]:
    """Where any of a concept's alternatives occurs in paper n as written (the query gate's
    exact matching), as places: from the exact hits the batch keeps for every query term
    (the gate looked them up), not by searching the paper again. (Kept on the paper for each
    concept before, it was found again nearly every time: the concepts of queries are their
    writers' own choice of alternatives, rarely the same twice.)"""
    doc, out = corpus.docs[n], set()
    for variants in alternatives:
        hits = corpus.hits(variants, near=False).get(n)
        if hits is not None:
            out |= places(doc, hits)
    return out
