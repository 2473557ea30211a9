"""Property-based fuzzing (hypothesis) of the two parsers that read untrusted text.

- parse_dump: arbitrary bytes, arbitrary text, and structured near-valid dumps (headers in
  any state, CRLF, BOM, hard wraps, dropped blocks, impossible dates) never raise anything
  but ParseError; a valid dump parses back to exactly the papers written into it.
- parse_query: arbitrary text never raises anything but QuerySyntaxError; a query built from
  a random syntax tree parses, its canonical form parses back to itself, and it evaluates
  like the tree it was built from.

10,000 examples each, no deadline; the whole module takes well under a minute on 2 cores.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from worker.errors import ParseError, QuerySyntaxError
from worker.matching import parse_query
from worker.matching.query import Term
from worker.sources.dumps import MAX_TITLE_CHARS, parse_dump

FUZZ = settings(max_examples=10_000, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
REFERENCE = datetime(2026, 3, 14, 18, tzinfo=UTC)
# When the dump was written, 1971..2100: one integer (st.datetimes costs 8 draws an example).
references = st.integers(0, 47_000).map(
    lambda n: datetime(1971, 1, 1, tzinfo=UTC) + timedelta(days=n, hours=n % 24))


def _check_parsed(data: bytes, reference: datetime = REFERENCE) -> None:
    try:
        parsed = parse_dump(data, "fuzz.txt", reference)
    except ParseError as exc:
        assert str(exc).startswith("fuzz.txt")  # every error names the dump
        return
    assert parsed.entries
    for entry in parsed.entries:
        assert entry.title and entry.abstract and len(entry.title) <= MAX_TITLE_CHARS
        assert "\n" not in entry.title + entry.abstract
        assert entry.title == entry.title.strip() and entry.line >= 1
    if parsed.listing_date is not None:  # never after the day the dump was written (+1)
        assert (parsed.listing_date - reference.date()).days <= 1


# -- the dump parser -------------------------------------------------------------------------

# Characters that matter to the format: line breaks of every kind, blanks, header words.
_DUMP_TOKENS = ["a", "b c", " ", "Mar 13", "Feb 30", "new", "Subscribe", "\t", "\r", "\n",
                "\n\n", "\r\n", "\u2028", "\x85", "\x00", "\ufeff", "é", "T" * 700]


def _tokens(vocabulary: list[str], max_tokens: int) -> st.SearchStrategy[str]:
    """Text made of tokens that matter to a parser. Drawn as bytes, each byte picking a token:
    hypothesis generates and shrinks bytes about 4x faster than lists of sampled tokens."""
    return st.binary(max_size=max_tokens).map(
        lambda raw: "".join(vocabulary[byte % len(vocabulary)] for byte in raw))


_ANY_DUMP = st.one_of(  # raw bytes, format-shaped text, any Unicode text
    st.binary(max_size=1_000),
    _tokens(_DUMP_TOKENS, 50).map(str.encode),
    st.text(max_size=80).map(str.encode))


@FUZZ
@given(_ANY_DUMP, references)
@example(b"new\n\nFeb 30\n\ntitle\n\nabstract\n", REFERENCE)  # date-shaped, no such day
@example(b"\xef\xbb\xbf\r\n\r\n", REFERENCE)
def test_dump_parser_takes_any_input(data: bytes, reference: datetime) -> None:
    _check_parsed(data, reference)


# Each near-valid dump is built from one seed by a seeded Random: a handful of hypothesis
# draws per example instead of hundreds keeps 10,000 examples to seconds, and the failing
# dump is printed whole, so nothing is lost by not shrinking it. The words are what the
# format treats specially: header words, dates, TeX, non-ASCII, tabs, very long words.
_WORDS = ["seg", "new", "Subscribe", "Mar", "13", "Feb.", "$\\pi$", "{x}", "(a)", "-", ":", "é",
          "中文", "’", "x" * 60, "NEW", "byAK", "a.", "b. c", "a\tb", "<b>"]
_BANNERS = ["new", "Subscribe", "byAK and the research community",
            "Get trending papers in your email inbox once a day!"]
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "Sep", "Sept.", "December", "Foo", "mar"]
_DAYS = {"jan": 31, "feb": 29, "mar": 31, "apr": 30, "sep": 30, "dec": 31}


@dataclass(frozen=True)
class NearDump:
    data: bytes
    papers: list[tuple[str, str]]
    dropped: bool  # one title or abstract block removed
    date: str  # "none", "valid", "impossible" (Feb 30) or "not-a-date" (Foo 12: a body block)

    @property
    def must_parse(self) -> bool:
        return not self.dropped and self.date in ("none", "valid")

    @property
    def must_fail(self) -> bool:
        # One block too few, or too many, leaves an odd count; a date with no such day fails.
        return self.date == "impossible" or self.dropped != (self.date == "not-a-date")


def _date_kind(month: str, day: int) -> str:
    days = _DAYS.get(month[:3].casefold())
    if days is None:
        return "not-a-date"
    return "valid" if 1 <= day <= days else "impossible"


def _blocks(rng: random.Random, count: int) -> list[tuple[str, str]]:
    def words() -> str:
        return " ".join(rng.choices(_WORDS, k=rng.randint(1, 10)))

    # "P<n>" starts every title: a title never looks like a header block.
    return [(f"P{i} {words()}", f"Abstract {words()}") for i in range(count)]


def _near_valid(seed: int) -> NearDump:
    rng = random.Random(seed)
    header = rng.sample(_BANNERS, rng.randint(0, len(_BANNERS)))
    date = "none"
    if rng.random() < 0.6:
        month, day = rng.choice(_MONTHS), rng.randint(0, 40)  # Feb 30 and Mar 0 too
        header.append(f"{month} {day}")
        date = _date_kind(month, day)
    papers = _blocks(rng, rng.randint(1, 6))
    blocks = header + [b for pair in papers for b in pair]
    dropped = rng.random() < 0.4
    if dropped:
        del blocks[len(header) + rng.randrange(2 * len(papers))]
    newline = rng.choice(["\n", "\r\n", "\r"])
    width = rng.randint(8, 200)
    text = (newline * rng.randint(2, 4)).join(_wrap(b, width, newline) for b in blocks)
    bom = "\ufeff" if rng.random() < 0.3 else ""
    return NearDump((bom + text + newline * rng.randint(0, 3)).encode("utf-8"), papers,
                    dropped, date)


near_valid_dumps = st.integers(0, 2**32 - 1).map(_near_valid)


def _wrap(block: str, width: int, newline: str) -> str:
    """Hard-wrap a block at spaces, as some dumps are (the parser joins the lines again)."""
    lines, line = [], ""
    for word in block.split(" "):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return newline.join([*lines, line])


@FUZZ
@given(near_valid_dumps, references)
def test_dump_parser_round_trips_near_valid_dumps(dump: NearDump, reference: datetime) -> None:
    try:
        parsed = parse_dump(dump.data, "near.txt", reference)
    except ParseError:
        assert not dump.must_parse, f"a valid dump was refused ({dump.date} date)"
        return
    assert not dump.must_fail, f"accepted: dropped={dump.dropped}, {dump.date} date"
    if dump.must_parse:
        assert [(e.title, e.abstract) for e in parsed.entries] == dump.papers
        assert [e.position for e in parsed.entries] == list(range(len(dump.papers)))


# -- the query parser ------------------------------------------------------------------------

_QUERY_TOKENS = ["a", "b", " ", " ", "(", ")", '"', "“", "”", "-", "\t", "AND", "OR", "NOT",
                 "and", " or ", "not", "-x", "é", "$", "\n", "--", "vision-language"]


@FUZZ
@given(st.one_of(_tokens(_QUERY_TOKENS, 30), st.text(max_size=40)))
@example("")
@example('"')
@example("((((((((((a")
def test_query_parser_takes_any_text(text: str) -> None:
    try:
        query = parse_query(text)
    except QuerySyntaxError as exc:
        assert exc.position is None or 0 <= exc.position <= len(text)
        return
    canonical = str(query)
    assert str(parse_query(canonical)) == canonical


# Each example parses up to ~25 KB of query text: 1,000 random ones (and the edges below) cover
# the space of depths, where 10,000 took half a minute of the suite.
@settings(FUZZ, max_examples=1_000)
@given(st.integers(0, 5_000), st.integers(0, 5_000), st.sampled_from(["(", "NOT ", "-", "a OR "]))
@example(50, 50, "(")
@example(51, 51, "(")
@example(5_000, 5_000, "(")
@example(5_000, 0, "NOT ")
@example(5_000, 0, "-")
@example(5_000, 0, "a OR ")
@example(0, 5_000, "(")
def test_query_parser_survives_deep_nesting(opened: int, closed: int, unit: str) -> None:
    # Thousands of nested groups or operators: a parse or a QuerySyntaxError, never a
    # RecursionError (which is not a QuerySyntaxError).
    text = unit * opened + "a" + ")" * closed
    with contextlib.suppress(QuerySyntaxError):
        parse_query(text)


def test_deep_nesting_is_a_clear_syntax_error() -> None:
    with pytest.raises(QuerySyntaxError, match="nested too deeply") as caught:
        parse_query("(" * 60 + "a" + ")" * 60)
    assert caught.value.position == 50  # the first '(' past the limit
    with pytest.raises(QuerySyntaxError, match="nested too deeply"):
        parse_query("NOT " * 60 + "a")
    assert str(parse_query("(" * 20 + "a OR b" + ")" * 20)) == "a OR b"  # 20 levels are fine


_TERMS = ["alpha", "beta", "gamma", "delta", "vision", "prior", "x1", "ocr"]
_Tree = tuple  # ("term", word) | ("not", tree) | ("and" | "or", [trees])


def _random_tree(rng: random.Random, depth: int = 0) -> _Tree:
    roll = rng.random()
    if depth >= 4 or roll < 0.4:
        return ("term", rng.choice(_TERMS))
    if roll < 0.55:
        return ("not", _random_tree(rng, depth + 1))
    children = [_random_tree(rng, depth + 1) for _ in range(rng.randint(2, 4))]
    return (rng.choice(["and", "or"]), children)


def _text(tree: _Tree, spell: str) -> str:
    kind, value = tree
    if kind == "term":
        return f'"{value}"' if spell == "quoted" else value
    if kind == "not":
        return f"{'-' if spell == 'short' else 'NOT '}{_text(value, spell)}"
    joiner = " " if kind == "and" and spell == "implicit" else f" {kind.upper()} "
    return "(" + joiner.join(_text(child, spell) for child in value) + ")"


def _eval(tree: _Tree, truth: dict[str, bool]) -> bool:
    kind, value = tree
    if kind == "term":
        return truth[value]
    if kind == "not":
        return not _eval(value, truth)
    results = [_eval(child, truth) for child in value]
    return all(results) if kind == "and" else any(results)


def _words(tree: _Tree) -> set[str]:
    kind, value = tree
    if kind == "term":
        return {value}
    if kind == "not":
        return _words(value)
    return set().union(*(_words(child) for child in value))


@FUZZ
@given(st.integers(0, 2**32 - 1))
def test_valid_queries_round_trip_and_evaluate(seed: int) -> None:
    rng = random.Random(seed)
    tree = _random_tree(rng)
    spell = rng.choice(["plain", "quoted", "short", "implicit"])
    bits = rng.getrandbits(len(_TERMS))
    query = parse_query(_text(tree, spell))
    canonical = str(query)
    again = parse_query(canonical)
    assert str(again) == canonical
    truth = {w: bool(bits >> i & 1) for i, w in enumerate(sorted(_words(tree)))}

    def has(term: Term) -> bool:
        return truth[term.text]

    assert query.matches(has) == again.matches(has) == _eval(tree, truth)
