"""Where matched terms sit in a text, for templates that mark them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import lru_cache

from worker.matching.text import folds

# Reasons whose terms are highlighted in the text: what the reader asked for. Words shared
# with an example paper are not: they are often common words and would only add noise.
HIGHLIGHTED_KINDS = frozenset({"keyword", "phrase", "query"})


def highlight_terms(reasons: Iterable[tuple[str | None, Iterable[str]]]) -> tuple[str, ...]:
    """The terms to highlight for a paper's (kind, terms) reasons: the matched surface forms
    of the highlighted kinds, longest first (so highlighting prefers phrases), then in the
    order the reasons give them. Forms that differ only by case or dash count once:
    highlight_spans finds all of them from one."""
    seen: dict[tuple[str, ...], str] = {}
    for kind, terms in reasons:
        if kind in HIGHLIGHTED_KINDS:
            for term in terms:
                seen.setdefault(_folded(term), term)
    return tuple(sorted(seen.values(), key=len, reverse=True))


def highlight_spans(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    """Sorted, non-overlapping (start, end) character spans of `terms` in `text`.

    Matching is by whole words with the matcher's folding (case, accents, hyphens and dashes),
    so `Vision–Language` is found for `vision-language` and `art` never lights up `partial`.
    Longer terms win where terms overlap.
    """
    wanted = sorted({_folded(term) for term in terms} - {()}, key=lambda seq: (-len(seq), seq))
    if not wanted:
        return []
    words, at = _indexed(text)
    taken = [False] * len(words)
    spans = []
    for seq in wanted:
        n = len(seq)
        for i in at.get(seq[0], ()):
            if (i + n <= len(words) and all(words[i + k][0] == seq[k] for k in range(1, n))
                    and not any(taken[i:i + n])):
                taken[i:i + n] = [True] * n
                spans.append((words[i][1], words[i + n - 1][2]))
    return sorted(spans)


def terms_in(text: str, terms: Sequence[str]) -> tuple[str, ...]:
    """The terms whose first word occurs in `text`, in their order: the only ones
    highlight_spans can mark there, so it gives the same spans for them as for all of
    `terms`. A paper is highlighted for many different term lists, most of whose terms are
    not in its title, say; callers that keep highlighted text can key it by these."""
    at = _indexed(text)[1]
    return tuple(term for term in terms if (seq := _folded(term)) and seq[0] in at)


@lru_cache(maxsize=4096)
def _folded(term: str) -> tuple[str, ...]:
    return tuple(word for word, _, _ in folds(term))


@lru_cache(maxsize=8192)
def _indexed(text: str) -> tuple[list[tuple[str, int, int]], dict[str, list[int]]]:
    """The words of `text` (folded, start, end) and where each folded word occurs. Cached: a
    digest run highlights the same titles and abstracts for many subscribers. Read-only."""
    words = folds(text)
    at: dict[str, list[int]] = defaultdict(list)
    for i, (word, _, _) in enumerate(words):
        at[word].append(i)
    return words, dict(at)
