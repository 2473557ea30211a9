"""Matcher: what matches, what weighs more, what excludes, and the reasons it gives."""

from __future__ import annotations

import pytest

from worker.matching import Interests, Match, Matcher, PaperText, scoring

HALLU = PaperText("p:hallu", "Mitigating Hallucinations in Vision–Language Models",
                  "Large vision-language models hallucinate objects. We reduce object "
                  "hallucination with contrastive decoding against the language prior.")
SURVEY = PaperText("p:survey", "A Survey on Hallucination in Multimodal Models",
                   "We review hallucination benchmarks and mitigation methods.")
PARTIAL = PaperText("p:partial", "Partial Label Learning",
                    "Learning from partial labels with an artful loss.")
ABSTRACT_ONLY = PaperText("p:abs", "Better Decoding for Captioning",
                          "Our decoder reduces hallucination in image captions.")
GROUNDING = PaperText("p:ground", "Grounding Referring Expressions",
                      "We ground referring expressions to boxes in the image.")
BATCH = [HALLU, SURVEY, PARTIAL, ABSTRACT_ONLY, GROUNDING]


def ranked(interests: Interests, papers: list[PaperText] = BATCH) -> list[Match]:
    return Matcher(interests).rank(papers)


def keys(matches: list[Match]) -> list[str]:
    return [m.paper.key for m in matches]


@pytest.mark.parametrize(("interests", "expected"), [
    (Interests(keywords=("vision-language",)), {"p:hallu"}),
    (Interests(keywords=("vision language",)), {"p:hallu"}),
    (Interests(keywords=("VISION–LANGUAGE",)), {"p:hallu"}),
    (Interests(keywords=("art",)), set()),  # whole words: not `partial` or `artful`
    (Interests(keywords=("partial",)), {"p:partial"}),
    (Interests(keywords=("hallucination",)), {"p:hallu", "p:survey", "p:abs"}),
    (Interests(phrases=("language prior",)), {"p:hallu"}),
    (Interests(phrases=("prior language",)), set()),  # phrases keep their order
    (Interests(keywords=("referring grounding",)), {"p:ground"}),  # keywords may be near
    (Interests(query="hallucination AND NOT survey"), {"p:hallu", "p:abs"}),
    (Interests(query='(hallucination OR "referring expressions") AND NOT survey'),
     {"p:hallu", "p:abs", "p:ground"}),
    (Interests(keywords=("hallucination",), exclude=("survey",)), {"p:hallu", "p:abs"}),
    (Interests(keywords=("hallucination",), query="decoding"), {"p:hallu", "p:abs"}),
])
def test_what_matches(interests: Interests, expected: set[str]) -> None:
    assert set(keys(ranked(interests))) == expected


def test_title_hits_weigh_more_than_abstract_hits() -> None:
    title = PaperText("t", "Hallucination in captioning", "We study captions of images.")
    abstract = PaperText("a", "Studying captioning", "We study hallucination in captions.")
    matches = ranked(Interests(keywords=("hallucination",)), [abstract, title])
    assert keys(matches) == ["t", "a"]
    assert matches[0].score > matches[1].score > 0


def test_more_terms_and_more_mentions_score_higher() -> None:
    interests = Interests(keywords=("hallucination", "decoding"))
    matches = {m.paper.key: m.score for m in ranked(interests)}
    assert matches["p:hallu"] > matches["p:survey"]
    assert all(0 < s < 1 for s in matches.values())


def test_query_terms_count_toward_the_score_and_gate() -> None:
    matches = ranked(Interests(query='hallucination OR "referring expressions"'))
    assert set(keys(matches)) == {"p:hallu", "p:survey", "p:abs", "p:ground"}
    reasons = {r.kind for m in matches for r in m.reasons}
    assert reasons == {"query"}


def test_ties_are_broken_by_key() -> None:
    twins = [PaperText(k, "Hallucination", "text") for k in ("b", "a", "c")]
    assert keys(ranked(Interests(keywords=("hallucination",)), twins)) == ["a", "b", "c"]


def test_reasons_name_term_field_and_surface() -> None:
    [match] = ranked(Interests(keywords=("vision-language",)))
    [title, abstract] = match.reasons
    assert (title.kind, title.field, title.terms) == ("keyword", "title", ("Vision–Language",))
    assert title.text == "title mentions “Vision–Language”"
    assert abstract.field == "abstract" and abstract.terms == ("vision-language",)
    assert title.weight > abstract.weight > 0
    assert match.highlights == ("Vision–Language",)  # highlight_spans finds both from one


def test_query_gate_reason_and_surfaces() -> None:
    matches = ranked(Interests(query='(hallucination OR "language prior") AND NOT survey'))
    hallu = next(m for m in matches if m.paper.key == "p:hallu")
    texts = [r.text for r in hallu.reasons]
    # the terms it passes by: both alternatives of the OR it names; the NOT names nothing
    assert "matches your query with “hallucination” and “language prior”" in texts
    # a query-only profile's terms are all the query's: no "(query term)" on each
    assert "abstract mentions “language prior”, in passing" in texts
    # beside keywords, the query's terms are told apart from them
    both = ranked(Interests(keywords=("hallucination",),
                            query='(hallucination OR "language prior") AND NOT survey'))
    texts = [r.text for r in next(m for m in both if m.paper.key == "p:hallu").reasons]
    assert "abstract mentions “language prior”, in passing (query term)" in texts
    assert "Hallucinations" in hallu.highlights and "hallucinate" in hallu.highlights


def test_excluded_papers_explain_why() -> None:
    matcher = Matcher(Interests(keywords=("hallucination",), exclude=("survey",)))
    explanation = matcher.explain(SURVEY, BATCH)
    assert explanation.match.excluded and explanation.match.score == 0
    assert any(r.kind == "exclude" and "Survey" in r.terms for r in explanation.match.reasons)
    text = "\n".join(explanation.lines())
    assert "EXCLUDED (an exclude term)" in text and "“survey”" in text
    [row] = [c for c in explanation.components if c.name == "exclude"]
    assert row.value < 0  # it takes away: "-0.33", not "+0.33" beside the terms that add


def test_failed_query_gate_excludes() -> None:
    matcher = Matcher(Interests(keywords=("hallucination",), query="NOT survey"))
    assert matcher.explain(SURVEY, BATCH).match.excluded
    # said as the query's doing, not as if an `exclude` term had hit
    text = "\n".join(matcher.explain(SURVEY, BATCH).lines())
    assert "LEFT OUT (the query)" in text and "EXCLUDED" not in text
    assert not matcher.explain(HALLU, BATCH).match.excluded


def test_explain_lists_every_component() -> None:
    matcher = Matcher(Interests(keywords=("hallucination", "vision-language"),
                                query="decoding OR prior"))
    lines = matcher.explain(HALLU, BATCH).lines()
    assert lines[0] == HALLU.title
    assert "score" in lines[1]
    assert any("“vision-language”" in line and "title 1×" in line for line in lines)
    assert any("query gate passed" in line for line in lines)


def test_explain_a_paper_outside_the_batch() -> None:
    lines = Matcher(Interests(keywords=("grounding",))).explain(GROUNDING).lines()
    assert "nothing" not in " ".join(lines)


def test_empty_batch_and_empty_profile() -> None:
    assert Matcher(Interests(keywords=("x",))).rank([]) == []
    assert Matcher(Interests()).rank(BATCH) == []


def test_explain_words_every_reason_as_the_digest_does() -> None:
    """A digest shows a paper's first few reasons "and N more"; explain shows them all."""
    matcher = Matcher(Interests(keywords=("hallucination", "vision-language"),
                                query="decoding OR prior"))
    explanation = matcher.explain(HALLU, BATCH)
    lines = explanation.lines()
    at = lines.index("  why, as the digest says it:")
    assert lines[at + 1:] == [f"    {r.text}" for r in explanation.match.reasons]
    assert len(explanation.match.reasons) >= 3


def test_specificity_is_given_field_by_field_in_one_order() -> None:
    """However a term's fields were counted (a concept's from sets, in another order each run),
    explain lists them title first."""
    assert list(scoring.field_specificity({"abstract": 3, "title": 1}, 40)) == ["title",
                                                                              "abstract"]


@pytest.mark.parametrize(("query", "said"), [
    ("hallucination", "with “hallucination”"),
    ('(hallucination OR "language prior" OR survey) AND decoding',
     "with “hallucination”, “language prior” and “decoding”"),
    ("NOT survey", ""),  # passing a NOT alone names no term
    ("(survey OR NOT benchmark) AND vision-language", "with “vision-language”"),
])
def test_the_query_reason_names_the_terms_the_paper_passes_by(query: str, said: str) -> None:
    matcher = Matcher(Interests(keywords=("vision-language",), query=query))
    [reason] = [r for r in matcher.explain(HALLU, BATCH).match.reasons if r.kind == "query"
                and r.text.startswith("matches your query")]
    assert reason.text == f"matches your query {said}".rstrip()


def test_a_failed_query_is_quoted_whole() -> None:
    explanation = Matcher(Interests(query="survey")).explain(HALLU, BATCH)
    assert "does not match your query survey: no “survey”" in [
        r.text for r in explanation.match.reasons]


@pytest.mark.parametrize(("query", "lacks"), [
    ("survey", "no “survey”"),
    ("(hallucination OR grounding) AND (survey OR benchmark)", "no “survey” or “benchmark”"),
    ("(survey OR benchmark) AND decoding AND segmentation",
     "no “survey” or “benchmark”; no “segmentation”"),
    ("hallucination AND NOT decoding",
     "it mentions “decoding”, which the query rules out"),
    ("(survey AND decoding) OR benchmark", "(survey AND decoding) OR benchmark does not hold"),
    ("hallucination AND (survey OR (benchmark AND decoding))",
     "(survey OR (benchmark AND decoding)) does not hold"),
])
def test_a_failed_query_says_which_part_the_paper_lacks(query: str, lacks: str) -> None:
    """explain's verdict says what to change: which part of the query the paper fails, not
    only the query again."""
    matcher = Matcher(Interests(query=query))
    explanation = matcher.explain(HALLU, BATCH)
    assert explanation.match.excluded
    [said] = [r.text for r in explanation.match.reasons
              if r.text.startswith("does not match your query")]
    assert said == f"does not match your query {matcher.query_text}: {lacks}"
    assert f"query gate FAILED: {matcher.query_text} ({lacks})" in explanation.notes


def test_papers_seen_before_the_batch_count_in_how_common_a_term_is() -> None:
    """A batch of papers all on one topic (a search for it): within the batch the topic's
    words are in every paper and tell little; beside the papers seen before it (the corpus's
    reference) they are as rare as they are. The reference is never ranked."""
    from worker.matching import Corpus
    from worker.matching.reference import Reference

    focused = [PaperText(f"p:{n}", f"Visual Grounding in Domain {n}",
                         "We study visual grounding of referring phrases.") for n in range(4)]
    before = [(f"Efficient Transformers, Part {n}",
               "We make attention cheaper for long sequences.") for n in range(200)]
    matcher = Matcher(Interests(keywords=("visual grounding",)))
    alone = matcher.rank(Corpus.of(focused))
    beside = matcher.rank(Corpus.of(focused, reference=Reference.of(before)))
    assert keys(beside) == keys(alone) == [p.key for p in focused]  # only the batch, ranked
    assert max(m.score for m in alone) < 0.45 < min(m.score for m in beside)
    spec = matcher.explain(focused[0], Corpus.of(focused, reference=Reference.of(before)))
    assert "specificity title 0.97" in "\n".join(spec.lines())  # 0.40 in the batch alone


def test_a_reference_knows_a_field_by_the_words_its_batch_would_index(seeds_dir) -> None:  # type: ignore[no-untyped-def]
    """Reference reads a field's words without a FieldText; they must be the words one indexes
    (`pre-training` as `pretraining` too), or a term would count apart in batch and reference."""
    from worker.matching.corpus import FieldText
    from worker.matching.reference import _words

    blocks = [b for f in sorted(seeds_dir.glob("*.txt"))
              for b in f.read_text(encoding="utf-8").split("\n\n")]
    assert len(blocks) > 500 and any("-" in b for b in blocks)
    assert all(_words(b) == set(FieldText.of(b).positions) for b in blocks)
