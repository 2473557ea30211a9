"""The papers seen just before a batch, for how common a term is (Corpus.reference)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from worker.matching.interests import FIELDS
from worker.matching.text import columns, joins


@dataclass(frozen=True)
class Reference:
    """Papers known only by which words each field has, as one bit set a word: what a batch's
    reference needs for how common a term is (a term's words all in a paper's field count it,
    near or not), in a few hundred bytes a word rather than a tokenized batch."""

    size: int
    index: dict[str, dict[str, int]]  # field -> stem -> bit set of the papers with it

    @classmethod
    def of(cls, papers: Sequence[tuple[str, str]]) -> Reference:
        """From the (title, abstract) of each paper."""
        index: dict[str, dict[str, int]] = {name: defaultdict(int) for name in FIELDS}
        for n, (title, abstract) in enumerate(papers):
            bit = 1 << n
            for name, text in (("title", title), ("abstract", abstract)):
                field_index = index[name]
                for stem_ in _words(text):
                    field_index[stem_] |= bit
        return cls(len(papers), {name: dict(words) for name, words in index.items()})

    def df(self, name: str, variants: Iterable[Sequence[str]]) -> int:
        """How many papers have, in field `name`, every word of any of `variants`."""
        words = self.index.get(name, {})
        found = 0
        for stems in variants:
            papers = -1  # every paper, until a word says otherwise
            for stem_ in stems:
                papers &= words.get(stem_, 0)
                if not papers:
                    break
            if stems and papers > 0:
                found |= papers
        return found.bit_count()


def _words(text: str) -> set[str]:
    """The stems a field's FieldText would index (its words, and pairs joined by a hyphen or
    slash read as one word), without the columns and positions a batch keeps of them."""
    folds, stems, starts, ends = columns(text)
    return {*stems, *joins(text, folds, starts, ends).values()}
