"""What worker.settings should reject in `[interests]` beyond types (for `paper-digest check`)."""

from __future__ import annotations

from worker.errors import QuerySyntaxError
from worker.matching.interests import FIELDS, Interests
from worker.matching.query import parse_query
from worker.matching.text import term_stems

# A weight is how many times an occurrence in the field counts (title 3, abstract 1 by
# default); evidence saturates long before this, and far larger ones overflow.
MAX_FIELD_WEIGHT = 1000.0


def interest_problems(interests: Interests) -> list[tuple[str, str]]:
    """(dotted key under `interests.`, what is wrong and what is expected), all at once."""
    problems = []
    if interests.query:
        try:
            parse_query(interests.query)
        except QuerySyntaxError as exc:
            problems.append(("query", exc.located(interests.query)[0]))
    for name, weight in interests.field_weights.items():
        if name not in FIELDS:
            problems.append((f"field_weights.{name}",
                             f"unknown field; supported: {', '.join(FIELDS)}"))
        elif not 0 <= weight <= MAX_FIELD_WEIGHT:  # nan and inf too: like 1e308 they made
            # the field's evidence NaN, which silently left out every paper it matched in
            problems.append((f"field_weights.{name}",
                             f"expected a number from 0 to {MAX_FIELD_WEIGHT:g}"))
    for key, values in interests.synonyms.items():
        if not term_stems(key) or not values or any(not term_stems(v) for v in values):
            problems.append((f"synonyms.{key}", "expected a term with letters or digits and a "
                             'list of its expansions, e.g. VLM = ["vision-language model"]'))
    for key in ("keywords", "phrases", "exclude"):
        for term in getattr(interests, key):
            if term.strip() and not term_stems(term):
                problems.append((key, f"{term!r} has no letters or digits to match"))
    return problems
