"""Where matched terms sit in a text, for templates that mark them."""

from __future__ import annotations

from collections.abc import Sequence

from worker.matching.text import tokens


def highlight_spans(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    """Sorted, non-overlapping (start, end) character spans of `terms` in `text`.

    Matching is by whole words with the matcher's folding (case, accents, hyphens and dashes),
    so `Vision–Language` is found for `vision-language` and `art` never lights up `partial`.
    Longer terms win where terms overlap.
    """
    toks = tokens(text)
    folds = [t.fold for t in toks]
    wanted = sorted({tuple(t.fold for t in tokens(term)) for term in terms} - {()},
                    key=lambda seq: (-len(seq), seq))
    taken = [False] * len(toks)
    spans = []
    for seq in wanted:
        n = len(seq)
        for i in range(len(toks) - n + 1):
            if tuple(folds[i:i + n]) == seq and not any(taken[i:i + n]):
                taken[i:i + n] = [True] * n
                spans.append((toks[i].start, toks[i + n - 1].end))
    return sorted(spans)
