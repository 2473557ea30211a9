"""Which matched concepts count as independent clues (worker.matching.clues): passing mentions
count once, the strongest; an AND's concepts count in full only where the paper names them
together (worker.matching.conjunction)."""

from __future__ import annotations

import pytest

from worker.matching import Interests, Matcher, PaperText, parse_query, scoring
from worker.matching.clues import PASSING_MAX, Concept, count
from worker.matching.explain import APART
from worker.matching.terms import conjuncts, query_groups

T, P = True, False  # topical, passing


@pytest.mark.parametrize(("concepts", "counted"), [
    ({}, {}),
    ({1: (0.5, T), 2: (0.3, T)}, {1: 0.5, 2: 0.3}),  # topics are independent clues
    ({1: (0.25, P), 2: (0.2, P), 3: (0.1, P)}, {1: 0.25}),  # passing: the strongest only
    ({1: (0.1, P), 2: (0.2, P)}, {2: 0.2}),
    ({1: (0.4, T), 2: (0.1, P), 3: (0.2, P)}, {1: 0.4, 3: 0.2}),  # a topic, and one passing
    ({1: (0.1, T), 2: (0.2, P)}, {1: 0.1, 2: 0.2}),  # a passing mention may outweigh a topic
    ({1: (0.4, T), 2: (0.6, P)}, {1: 0.4, 2: PASSING_MAX}),  # passing: at most PASSING_MAX
    ({1: (0.9, T), 2: (0.8, T)}, {1: 0.9, 2: 0.8}),  # topics: as strong as they are
])
def test_what_counts(concepts: dict[int, tuple[float, bool]], counted: dict[int, float]) -> None:
    assert count({g: Concept(*c) for g, c in concepts.items()}) == counted


# Five papers, so that no word is in every one; the first four are the cases.
BOTH_PASSING = PaperText("passing", "Efficient captioning",
                         "Hallucination and benchmarks are common concerns. Captions vary.")
BOTH_OWN = PaperText("own", "Efficient captioning",
                     "Captions vary. We introduce a benchmark for hallucination.")
ONE_OWN = PaperText("one", "Efficient captioning",
                    "Hallucination is a common concern. We introduce a benchmark.")
IN_TITLE = PaperText("title", "A benchmark of captioning",
                     "Hallucination is a common concern. Captions vary.")
OTHER = PaperText("other", "Segmenting cells", "We segment cells in microscopy images.")
BATCH = [BOTH_PASSING, BOTH_OWN, ONE_OWN, IN_TITLE, OTHER]


def scores(keywords: tuple[str, ...]) -> dict[str, float]:
    return {m.paper.key: m.score for m in Matcher(Interests(keywords=keywords)).score(BATCH)}


@pytest.mark.parametrize(("key", "independent"), [
    ("passing", False),
    ("own", True),
    ("one", True),
    ("title", True),
])
def test_passing_mentions_count_once_topics_add_up(key: str, independent: bool) -> None:
    both = scores(("hallucination", "benchmark"))[key]
    alone = [scores((k,))[key] for k in ("hallucination", "benchmark")]
    expected = scoring.combine(alone) if independent else max(alone)
    assert both == pytest.approx(expected, abs=1e-6)
    assert min(alone) > 0


def test_an_outweighed_passing_mention_is_shown_as_counting_nothing() -> None:
    matcher = Matcher(Interests(keywords=("hallucination", "benchmark")))
    match = next(m for m in matcher.rank(BATCH) if m.paper.key == "passing")
    weights = {r.interest: r.weight for r in match.reasons}
    assert sorted(weights.values())[0] == 0.0 < sorted(weights.values())[1]
    notes = matcher.explain(BOTH_PASSING, BATCH).notes
    assert any("passing mentions count once, the strongest" in n for n in notes)


@pytest.mark.parametrize(("query", "expected"), [
    ("(benchmark OR evaluation) AND (multimodal OR VLM)",
     [("benchmark", "evaluation"), ("multimodal", "VLM")]),
    ("a AND (b AND (c OR d))", [("a",), ("b",), ("c", "d")]),
    ("a b", [("a",), ("b",)]),  # adjacent terms are ANDed
    ("hallucination AND NOT survey", []),  # one concept: nothing to ask for together
    ("(a OR NOT b) AND c", []),  # a part with a NOT inside is no concept
    ("a OR b", []),
    ("(a AND b) OR c", []),
])
def test_what_an_and_asks_for_together(query: str, expected: list[tuple[str, ...]]) -> None:
    assert [tuple(t.text for t in c) for c in conjuncts(parse_query(query))] == expected


QUERY = "(benchmark OR evaluation) AND (VLM OR multimodal)"
TOGETHER_TITLE = PaperText("t", "A benchmark for VLMs", "Captions vary. Models differ.")
TOGETHER_SENTENCE = PaperText("s", "Faster models",
                              "Models differ. We evaluate VLMs on a new benchmark.")
SEPARATE = PaperText("a", "Faster VLMs", "We propose a faster model. It is strong on a benchmark.")
AND_BATCH = [TOGETHER_TITLE, TOGETHER_SENTENCE, SEPARATE, OTHER]


@pytest.mark.parametrize(("paper", "apart"), [
    (TOGETHER_TITLE, False),
    (TOGETHER_SENTENCE, False),
    (SEPARATE, True),
])
def test_and_concepts_count_in_full_only_together(paper: PaperText, apart: bool) -> None:
    matcher = Matcher(Interests(query=QUERY))
    match = next(m for m in matcher.rank(AND_BATCH) if m.paper.key == paper.key)
    apart_reasons = [r for r in match.reasons if r.text.endswith(APART)]
    notes = matcher.explain(paper, AND_BATCH).notes
    assert bool(apart_reasons) is apart
    assert any("never stands with the rest of the query" in n for n in notes) is apart
    assert all(r.interest in ("VLM", "multimodal") for r in apart_reasons)
    assert match.score > 0  # apart, a concept still counts: half, in passing


def test_a_strong_concept_apart_is_capped_as_a_passing_mention_and_says_so() -> None:
    """Among many papers `VLMs` is specific enough that half its strength in a title passes
    PASSING_MAX: apart from the rest of the AND it counts as a passing mention, capped, though
    it stands in the title (which a passing mention's reason would not say)."""
    batch = [*AND_BATCH, *(PaperText(f"f{i}", f"Topic {i} studied", f"We study topic {i}.")
                           for i in range(60))]
    match = next(m for m in Matcher(Interests(query=QUERY)).rank(batch) if m.paper.key == "a")
    [reason] = [r for r in match.reasons if r.interest == "VLM"]
    assert reason.text == ("title mentions “VLMs” (not with the rest of your query: "
                           f"counts half) (so as a passing mention: counts at most {PASSING_MAX})")
    assert reason.weight == pytest.approx(PASSING_MAX) == match.score


def test_a_concept_apart_counts_half() -> None:
    # The same paper, with the AND and with its two concepts as plain query alternatives.
    def score(interests: Interests) -> float:
        return next(m.score for m in Matcher(interests).rank(AND_BATCH) if m.paper.key == "a")

    concepts = Matcher(Interests(query="VLM OR multimodal")).score(AND_BATCH)
    vlm = next(m.score for m in concepts if m.paper.key == "a")
    benchmark = score(Interests(keywords=("benchmark",)))
    joined = score(Interests(keywords=("benchmark",), query="benchmark AND (VLM OR multimodal)"))
    # `benchmark` stands in a result sentence only, VLM (apart) counts in passing: the
    # stronger passing clue alone counts.
    assert joined == pytest.approx(max(benchmark, scoring.NEAR_DISCOUNT * vlm), abs=1e-6)


def test_keywords_count_wherever_they_stand() -> None:
    # `benchmark` as a keyword is an interest in itself: only the query's own concept
    # (VLM OR multimodal) can be apart.
    matcher = Matcher(Interests(keywords=("benchmark",), query=QUERY))
    match = next(m for m in matcher.rank(AND_BATCH) if m.paper.key == "a")
    assert {r.interest for r in match.reasons if r.text.endswith(APART)} == {"VLM"}


@pytest.mark.parametrize(("query", "expected"), [
    # an OR that is part of an AND: alternatives for that part
    ("(benchmark OR evaluation) AND (multimodal OR VLM)",
     [("benchmark", "evaluation"), ("multimodal", "VLM")]),
    ("a AND NOT (b OR c)", [("a",)]),
    # an OR at the top asks for any of its parts: each an interest of its own
    ("grounding OR referring OR segmentation", [("grounding",), ("referring",), ("segmentation",)]),
    ("(a OR b) OR (c OR d)", [("a", "b"), ("c", "d")]),  # parentheses keep alternatives
    ("(a AND b) OR c", [("a",), ("b",), ("c",)]),
    ("a OR NOT b", [("a",)]),
])
def test_which_query_terms_are_alternatives(query: str, expected: list[tuple[str, ...]]) -> None:
    assert [tuple(t.text for t in g) for g in query_groups(parse_query(query))] == expected


# Every word of the profile in a share of its own: `detection` is rarer than `segmentation`.
OR_BATCH = [
    PaperText("both", "Referring segmentation", "We segment what a referring expression names."),
    PaperText("seg", "Segmentation of cells", "We introduce a segmentation model."),
    PaperText("seg2", "Faster segmentation", "Segmentation is slow. We make it fast."),
    PaperText("seg3", "Segmentation in the wild", "We study segmentation outdoors."),
    PaperText("ref", "Referring to objects", "We resolve referring phrases."),
    OTHER, PaperText("x", "Captions", "Captions vary."), PaperText("y", "Speech", "We hear."),
]


def test_a_query_of_alternatives_at_the_top_scores_as_keywords_do() -> None:
    # `query = 'a OR b'` asks for any of them, as `keywords = ["a", "b"]` does: a paper on
    # both scores as much, and each word tells as much as its own share of the batch says
    # (not the share of papers with either).
    def scores(interests: Interests) -> dict[str, float]:
        return {m.paper.key: m.score for m in Matcher(interests).score(OR_BATCH)}

    query = scores(Interests(query="referring OR segmentation"))
    keywords = scores(Interests(keywords=("referring", "segmentation")))
    assert query == pytest.approx(keywords, abs=1e-6)
    alone = [scores(Interests(query=q))["both"] for q in ("referring", "segmentation")]
    assert query["both"] == pytest.approx(scoring.combine(alone), abs=1e-6)
    assert query["both"] > max(alone)
    # In an AND, the same words are alternatives for one part: the best one counts.
    anded = scores(Interests(query="(referring OR segmentation) AND NOT speech"))
    assert anded["both"] < query["both"]


# A rare word repeated in the background only, as Ovis' abstract repeats "embedding table".
REPEATED = PaperText("repeated", "Structural embedding alignment",
                     "Models use an embedding table. The visual embedding table is learned. "
                     "Each patch indexes the table twice. The table grows with the data.")
STATED = PaperText("stated", "Structural embedding alignment",
                   "Models use embeddings. We introduce a benchmark of table understanding.")
# Papers without the word, so that it is as rare as a specific interest is in a day's batch.
FILLER = [PaperText(f"cells{i}", f"Segmenting cells, part {i}",
                    "We segment cells in microscopy images. Cells vary in shape and size, and "
                    "stains differ between labs. Results improve on three datasets.")
          for i in range(30)]


def test_what_a_paper_only_mentions_in_passing_is_at_most_some_evidence() -> None:
    batch = [REPEATED, STATED, *FILLER]
    matches = {m.paper.key: m for m in Matcher(Interests(keywords=("table",))).score(batch)}
    repeated, stated = matches["repeated"], matches["stated"]
    assert repeated.score == pytest.approx(PASSING_MAX)  # saturated well above, capped
    assert stated.score > PASSING_MAX  # said once, in what the paper contributes
    [reason] = repeated.reasons
    assert reason.text == ("abstract mentions “table” (4×), in passing "
                           f"(counts at most {PASSING_MAX}, however often)")
    assert reason.weight == pytest.approx(PASSING_MAX)  # the reasons add up to the score
    assert "counts at most" not in stated.reasons[0].text


def test_explain_says_a_passing_mention_was_capped() -> None:
    matcher = Matcher(Interests(keywords=("table",)))
    notes = matcher.explain(REPEATED, [STATED, *FILLER]).notes
    assert f"“table” only mentioned in passing: counts at most {PASSING_MAX}, however often" \
        in notes
    assert not any("only mentioned in passing" in n
                   for n in matcher.explain(STATED, [REPEATED, *FILLER]).notes)
