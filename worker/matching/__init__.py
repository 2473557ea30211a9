"""Matching papers to interests: query parsing, scoring, explanations.

    Matcher(interests, examples=..., unlike=...).rank(papers) -> [Match, ...] best first
    Matcher(...).top(prepare(papers), min_score=, limit=, skip=) -> Ranking: a digest's share
    Matcher(...).explain(paper, papers) -> Explanation (`.lines()` for the terminal)
    parse_query(text) -> Query, raising QuerySyntaxError(message, position)
    highlight_spans(text, terms) -> [(start, end), ...]

See worker.matching.scoring for what a score of 0.3 or 0.7 means.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

# The matcher's only linear algebra is small vector-matrix products (an example's cosines),
# which one thread does best: numpy's OpenBLAS need not start a thread per CPU when it is
# imported (~0.07 s of CPU on every run that matches, and threads that forked matching
# workers would inherit half-made).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

if TYPE_CHECKING:
    from worker.matching.checks import interest_problems
    from worker.matching.corpus import Corpus
    from worker.matching.highlight import highlight_spans
    from worker.matching.interests import Interests
    from worker.matching.matcher import Matcher, prepare
    from worker.matching.model import (
        Component,
        Explanation,
        Match,
        PaperText,
        Ranking,
        Reason,
    )
    from worker.matching.query import Query, parse_query
    from worker.matching.semantic import Embedder

# The names are imported when first used (PEP 562): reading a subscriber's `[interests]`
# needs worker.matching.interests, not the whole matcher, and a `run` with nothing new to
# match should not pay for importing it.
_WHERE = {
    "interest_problems": "checks", "Corpus": "corpus", "highlight_spans": "highlight",
    "Interests": "interests", "Matcher": "matcher", "prepare": "matcher",
    "Component": "model", "Explanation": "model", "Match": "model", "PaperText": "model",
    "Ranking": "model", "Reason": "model", "Query": "query", "parse_query": "query",
    "Embedder": "semantic",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "Component", "Corpus", "Embedder", "Explanation", "Interests", "Match", "Matcher",
    "PaperText", "Query", "Ranking", "Reason", "highlight_spans", "interest_problems",
    "parse_query", "prepare",
]
