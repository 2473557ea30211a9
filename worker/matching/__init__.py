"""Matching papers to interests: query parsing, scoring, explanations.

    Matcher(interests, examples=..., unlike=...).rank(papers) -> [Match, ...] best first
    Matcher(...).explain(paper, papers) -> Explanation (`.lines()` for the terminal)
    parse_query(text) -> Query, raising QuerySyntaxError(message, position)
    highlight_spans(text, terms) -> [(start, end), ...]

See worker.matching.scoring for what a score of 0.3 or 0.7 means.
"""

from worker.matching.checks import interest_problems
from worker.matching.corpus import Corpus
from worker.matching.highlight import highlight_spans
from worker.matching.interests import Interests
from worker.matching.matcher import Matcher, prepare
from worker.matching.model import Component, Explanation, Match, PaperText, Reason
from worker.matching.query import Query, parse_query
from worker.matching.semantic import Embedder

__all__ = [
    "Component", "Corpus", "Embedder", "Explanation", "Interests", "Match", "Matcher",
    "PaperText", "Query", "Reason", "highlight_spans", "interest_problems", "parse_query",
    "prepare",
]
