"""parse_query: the boolean grammar, its canonical form, and clear errors with positions."""

from __future__ import annotations

import pytest

from worker.errors import QuerySyntaxError
from worker.matching import parse_query

PARSES = [
    ("hallucination", "hallucination"),
    ('(hallucination OR "language prior") AND NOT survey',
     '(hallucination OR "language prior") AND NOT survey'),
    ("a b c", "a AND b AND c"),  # implicit AND
    ("a OR b AND NOT c", "a OR (b AND NOT c)"),  # NOT > AND > OR
    ("a or b and not c", "a OR (b AND NOT c)"),  # operators in any case
    ("-survey hallucination", "NOT survey AND hallucination"),
    ("vision-language", "vision-language"),
    ("“curly quotes”", '"curly quotes"'),
    ('  "  spaced   phrase " ', '"spaced phrase"'),
    ("((a))", "a"),
    ("NOT NOT a", "NOT NOT a"),
    ("NOT (a OR b) c", "NOT (a OR b) AND c"),
]


@pytest.mark.parametrize(("text", "canonical"), PARSES)
def test_parses(text: str, canonical: str) -> None:
    query = parse_query(text)
    assert str(query) == canonical
    assert str(parse_query(str(query))) == canonical  # the canonical form parses back


ERRORS = [
    ("", "query is empty", 0),
    ("   ", "query is empty", 0),
    ("(a OR b", "'(' is never closed", 0),
    ("a OR b)", "')' without a matching '('", 6),
    (")", "')' without a matching '('", 0),
    ("a AND", "AND needs a term after it", 2),
    ("OR a", "OR needs a term before it", 0),
    ("a AND OR b", "AND needs a term after it", 2),
    ("NOT", "NOT needs a term after it", 0),
    ('a "open phrase', "unterminated quote", 2),
    ('""', "empty quoted phrase", 0),
    ("()", "empty parentheses", 0),
    ("a AND ()", "empty parentheses", 6),
    ("+++", "has no letters or digits", 0),
]


@pytest.mark.parametrize(("text", "message", "position"), ERRORS)
def test_errors_say_what_and_where(text: str, message: str, position: int) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse_query(text)
    assert message in str(info.value)
    assert info.value.position == position
    assert f"(at character {position + 1})" in str(info.value)


def test_positive_terms_skip_negated_ones() -> None:
    query = parse_query('(hallucination OR "language prior") AND NOT (survey OR review) '
                        "AND NOT NOT grounding")
    assert [t.text for t in query.positive_terms] == ["hallucination", "language prior",
                                                      "grounding"]


@pytest.mark.parametrize(("present", "expected"), [
    ({"hallucination"}, True),
    ({"language prior"}, True),
    ({"hallucination", "survey"}, False),
    ({"survey"}, False),
    (set(), False),
])
def test_evaluates_like_boolean_logic(present: set[str], expected: bool) -> None:
    query = parse_query('(hallucination OR "language prior") AND NOT survey')
    assert query.matches(lambda term: term.text in present) is expected
    docs = {"hallucination": {1}, "language prior": {1}, "survey": {1}}
    selected = query.select(lambda t: docs[t.text] if t.text in present else set(), {1, 2})
    assert (1 in selected) is expected
