"""Issue 6 matching: stemming, synonyms, field weights, proximity, demotion, examples, and a
score that means the same for keyword-only, example-only and mixed profiles."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from worker.matching import Interests, Match, Matcher, PaperText, interest_problems
from worker.matching.corpus import FieldText, find_near, find_phrase
from worker.matching.text import term_stems

FILLER = [PaperText(f"f{i}", f"Unrelated topic number {i}",
                    f"We study {w} in depth with a new method and report results.")
          for i, w in enumerate(["reinforcement learning", "graph networks", "speech synthesis",
                                 "protein folding", "weather forecasting", "robot control",
                                 "code generation", "time series", "recommendation",
                                 "audio tagging", "point clouds", "federated learning"])]


def paper(key: str, title: str, abstract: str = "A paper.") -> PaperText:
    return PaperText(key, title, abstract)


def rank(interests: Interests, papers: list[PaperText], **kw: object) -> list[Match]:
    return Matcher(interests, **kw).rank([*papers, *FILLER])  # type: ignore[arg-type]


def by_key(matches: list[Match]) -> dict[str, Match]:
    return {m.paper.key: m for m in matches}


@pytest.mark.parametrize("form", ["Hallucinations in VLMs", "Why models hallucinate",
                                  "Hallucinating objects", "Hallucinated details"])
def test_stemming_matches_word_forms(form: str) -> None:
    assert "p" in by_key(rank(Interests(keywords=("hallucination",)), [paper("p", form)]))


@pytest.mark.parametrize(("synonyms", "title"), [
    ({"VLM": ("vision-language model",)}, "A vision-language model for maps"),
    ({"VLM": ("vision-language model",)}, "Vision–Language Models for maps"),
    ({"vision-language model": ("VLM",)}, "VLMs for maps"),  # declared either way round
])
def test_synonyms_count_as_the_same_term(synonyms: dict[str, tuple[str, ...]],
                                         title: str) -> None:
    term = next(iter(synonyms))
    other = synonyms[term][0]
    interests = Interests(keywords=(other if "VLM" in title else term,), synonyms=synonyms)
    [match] = rank(interests, [paper("p", title)])
    assert match.reasons[0].field == "title"


def test_synonyms_do_not_double_count() -> None:
    interests = Interests(keywords=("VLM",), synonyms={"VLM": ("vision-language model",)})
    both = paper("both", "A vision-language model (VLM) for maps")
    one = paper("one", "A vision-language model for maps")
    scores = {m.paper.key: m.score for m in rank(interests, [both, one])}
    assert scores["both"] >= scores["one"]
    assert scores["both"] - scores["one"] < 0.2  # a second mention, not a second term
    reason = by_key(rank(interests, [one]))["one"].reasons[0]
    assert "(same as “VLM”)" in reason.text


def test_field_weights_change_what_counts_more() -> None:
    title = paper("t", "Grounding with boxes")
    abstract = paper("a", "Box outputs", "We study grounding. Grounding matters.")
    default = [m.paper.key for m in rank(Interests(keywords=("grounding",)), [title, abstract])]
    flipped = rank(Interests(keywords=("grounding",), field_weights={"title": 0.2}),
                   [title, abstract])
    assert default[0] == "t"
    assert flipped[0].paper.key == "a"


def test_exact_phrase_beats_words_near_each_other() -> None:
    exact = paper("exact", "Referring expression comprehension")
    near = paper("near", "Comprehension of referring and spoken expression")
    far = paper("far", "Referring to the past", "Nothing here. " * 10 + "An expression.")
    matches = by_key(rank(Interests(keywords=("referring expression",)), [exact, near, far]))
    assert set(matches) == {"exact", "near"}
    assert matches["exact"].score > matches["near"].score
    assert "close together" in matches["near"].reasons[0].text


def test_words_of_a_term_match_within_one_sentence() -> None:
    """Close together, or as the phrase, but never across a sentence's end."""
    same = paper("same", "Models", "We train in stages. Each training stage is short.")
    near = paper("near", "Models", "We use training data. The stage is short.")
    phrase = paper("phrase", "Models", "Results follow training. Stage two is short.")
    matches = by_key(rank(Interests(keywords=("training stage",)), [same, near, phrase]))
    assert set(matches) == {"same"}
    words = term_stems("training stage")
    for text in (near.abstract, phrase.abstract):
        ftext = FieldText.of(text, roles=True)
        assert find_near(ftext, words) == find_phrase(ftext, words) == []
    title = FieldText.of("Training. Stage")  # a title is one sentence
    assert find_phrase(title, words) == [(0, 2, True)]


def test_overlapping_terms_count_text_once() -> None:
    one = Interests(keywords=("visual grounding",))
    two = Interests(keywords=("visual grounding", "grounding"))
    p = paper("p", "Visual grounding at scale")
    assert rank(one, [p])[0].score == pytest.approx(rank(two, [p])[0].score)


def test_query_alternatives_are_one_concept() -> None:
    alts = Interests(query="LVLM OR VLM OR vision-language",
                     synonyms={"LVLM": ("large vision-language model",),
                               "VLM": ("vision-language model",)})
    single = Interests(query="LVLM", synonyms={"LVLM": ("large vision-language model",)})
    p = paper("p", "Large vision-language models see")
    assert rank(alts, [p])[0].score == pytest.approx(rank(single, [p])[0].score)


def test_common_terms_say_less_than_rare_ones() -> None:
    common = [paper(f"c{i}", f"Models for task {i}", "Models, models.") for i in range(10)]
    rare = paper("r", "Chart reading", "Charts.")
    interests = Interests(keywords=("model", "chart"))
    matches = by_key(rank(interests, [*common, rare]))
    assert matches["r"].score > matches["c0"].score


def test_demote_mode_pushes_down_instead_of_dropping() -> None:
    survey = paper("s", "A survey of hallucination")
    method = paper("m", "Reducing hallucination")
    drop = by_key(rank(Interests(keywords=("hallucination",), exclude=("survey",)),
                       [survey, method]))
    demote = by_key(rank(Interests(keywords=("hallucination",), exclude=("survey",),
                                   exclude_mode="demote"), [survey, method]))
    assert set(drop) == {"m"}
    assert set(demote) == {"s", "m"}
    assert demote["s"].score < demote["m"].score
    [reason] = [r for r in demote["s"].reasons if r.kind == "exclude"]
    assert reason.weight < 0 and "score ×" in reason.text


def test_a_demotion_is_said_once_and_shown_in_the_digest() -> None:
    from worker.render import reasons_sentence

    survey = paper("s", "A Survey of Hallucination", "We survey hallucination. A survey.")
    interests = Interests(keywords=("hallucination",), exclude=("survey",),
                          exclude_mode="demote")
    found = by_key(rank(interests, [survey, paper("m", "Reducing hallucination")]))
    excluded = [r for r in found["s"].reasons if r.kind == "exclude"]
    assert [r.field for r in excluded] == ["title", "abstract"]
    assert [r.text.count("(score ×") for r in excluded] == [1, 0]  # one factor, applied once
    said = reasons_sentence([{"kind": r.kind, "text": r.text, "weight": r.weight}
                             for r in found["s"].reasons])
    assert said.endswith(f"; but {excluded[0].text}")


def test_a_field_weighted_zero_gives_no_reason() -> None:
    both = paper("b", "Grounding in the title", "And grounding in the abstract.")
    [match] = [m for m in rank(Interests(keywords=("grounding",),
                                         field_weights={"title": 0.0}), [both])
               if m.paper.key == "b"]
    assert [r.field for r in match.reasons if r.kind == "keyword"] == ["abstract"]


def test_shared_words_keep_the_papers_acronyms_and_drop_a_sentence_capital() -> None:
    example = paper("ex", "Probing VLMs with tidal charts",
                    "Tidal charts probe VLMs and LLMs on reefs.")
    near = paper("near", "Tidal charts for VLMs", "Reefs and LLMs meet tidal charts.")
    found = by_key(rank(Interests(like=("x",)), [near], examples=[example]))
    [reason] = [r for r in found["near"].reasons if r.kind == "example"]
    shared = reason.text.split("; shares ")[1].rstrip(")").split(", ")
    assert "VLMs" in shared and "tidal" in shared and "Tidal" not in shared


LIKED = paper("like", "LLaVA: Visual Instruction Tuning",
              "We use GPT-4 to generate multimodal instruction-following data and train LLaVA, "
              "a large multimodal model connecting a vision encoder with a language model.")
SIMILAR = paper("sim", "Improved Baselines with Visual Instruction Tuning",
                "Simple modifications to LLaVA with academic instruction-following data and a "
                "stronger vision encoder give a better large multimodal model.")
OTHER = paper("other", "Depth estimation from stereo pairs",
              "We estimate depth from stereo images with a cost volume and refinement.")


def test_examples_alone_rank_similar_papers_and_say_which() -> None:
    matches = rank(Interests(like=("LLaVA",)), [SIMILAR, OTHER], examples=[LIKED])
    assert matches[0].paper.key == "sim"
    reason = matches[0].reasons[0]
    assert reason.kind == "example" and "resembles “LLaVA: Visual Instruction Tuning”" in \
        reason.text and "similarity" in reason.text
    assert reason.terms and all(t in SIMILAR.title + SIMILAR.abstract for t in reason.terms)
    assert "other" not in by_key(matches) or by_key(matches)["other"].score < 0.1


def test_shared_words_name_what_the_papers_are_about_not_function_words() -> None:
    """Words like `whose`, `upon`, `rather` weigh in the similarity as any other (the vectors
    keep them), but a reader learns nothing from being told the papers share them."""
    example = paper("ex", "Tidal energy upon coastal reefs",
                    "Whose reefs fare better, rather than worse, upon tidal turbines against "
                    "currents?")
    near = paper("near", "Tidal turbines and reefs",
                 "Reefs whose currents change upon tidal turbines, rather than against them.")
    [match] = [m for m in rank(Interests(like=("x",)), [near], examples=[example])
               if m.paper.key == "near"]
    [reason] = [r for r in match.reasons if r.kind == "example"]
    shared = reason.text.split("; shares ")[1].rstrip(")").split(", ")
    assert shared and {"tidal", "turbines", "reefs", "currents"} >= set(shared)
    assert not {w.lower() for w in reason.terms} & {"whose", "upon", "rather", "against"}


def test_shared_words_the_paper_joins_are_said_as_it_writes_them() -> None:
    """`few-shot` is two words in the vectors, and one in the reason, as the paper has it."""
    example = paper("ex", "Few-shot tidal forecasting",
                    "We forecast tides few-shot from a handful of gauges with a transformer.")
    near = paper("near", "Tides forecast few-shot", "A Few-Shot transformer forecasts tides.")
    found = by_key(rank(Interests(like=("x",)), [near], examples=[example]))
    [reason] = found["near"].reasons
    shared = reason.text.split("; shares ")[1].rstrip(")").split(", ")
    assert "few-shot" in shared and "few" not in shared and "shot" not in shared
    assert "Few-Shot" in reason.terms or "few-shot" in reason.terms


def test_a_weak_resemblance_is_worded_as_one() -> None:
    """A similarity that one pair of unrelated papers in ten reaches is not called resembling."""
    example = paper("ex", "Tidal turbines on coastal reefs",
                    "We measure how tidal turbines change coastal reefs and the fish that live on "
                    "them over three years.")
    far = paper("far", "Erosion of sandy beaches",
                "Storms move sand along coastal beaches; we model the erosion with a wave "
                "simulator and field surveys.")
    near = paper("near", "Tidal turbines and reef fish",
                 "Fish on coastal reefs near tidal turbines, counted over three years of surveys.")
    found = by_key(rank(Interests(like=("x",)), [far, near], examples=[example]))
    [weak] = found["far"].reasons
    assert weak.text.startswith("is a little like “Tidal turbines on coastal reefs” "
                                "(similarity 0.1")
    assert found["far"].score < 0.2
    [strong] = found["near"].reasons
    assert strong.text.startswith("resembles “Tidal turbines on coastal reefs” (similarity")


def test_a_weak_resemblance_to_an_unliked_example_is_worded_as_one() -> None:
    """As with liked examples; and an unliked example that takes too little of a liked one's
    similarity to show is not mentioned ("similarity 1.00; counts as 1.00")."""
    unliked = paper("ex", "Tidal turbines on coastal reefs",
                    "We measure how tidal turbines change coastal reefs and the fish that live on "
                    "them over three years.")
    far = paper("far", "Erosion of sandy beaches",
                "Storms move sand along coastal beaches; we model the erosion with a wave "
                "simulator and field surveys.")
    liked = paper("lk", "Beach erosion under storms", "We model sand erosion on beaches.")
    [match] = rank(Interests(keywords=("erosion",), unlike=("y",)), [far], unlike=[unliked])
    [unlike] = [r for r in match.reasons if r.kind == "unlike"]
    assert unlike.text == ("is a little like “Tidal turbines on coastal reefs”, which you marked "
                           "unlike (similarity 0.12)")
    [match] = rank(Interests(like=("x",), unlike=("y",)), [far], examples=[liked],
                   unlike=[unliked])
    [example] = match.reasons
    assert example.text.startswith("resembles “Beach erosion under storms” (similarity 1.00; "
                                   "shares ")
    liked = paper("lk", "Field surveys of sand", "We survey sand.")
    [match] = rank(Interests(like=("x",), unlike=("y",)), [far], examples=[liked],
                   unlike=[unliked])
    [example] = match.reasons
    assert example.text.startswith("resembles “Field surveys of sand” (similarity 0.97; counts "
                                   "as 0.90: it is also a little like “Tidal turbines on coastal "
                                   "reefs” (0.12), which you marked unlike; shares ")


def test_unlike_examples_push_down() -> None:
    stereo = paper("stereo", "Stereo depth with cost volumes",
                   "A cost volume for depth from stereo images, refined in two steps.")
    interests = Interests(keywords=("depth",), unlike=("y",))
    plain = by_key(rank(Interests(keywords=("depth",)), [OTHER, stereo]))
    with_unlike = by_key(rank(interests, [OTHER, stereo], unlike=[stereo]))
    assert with_unlike["other"].score < plain["other"].score
    [reason] = [r for r in with_unlike["other"].reasons if r.kind == "unlike"]
    assert reason.weight < 0 and "which you marked unlike (similarity" in reason.text


def test_with_both_kinds_of_example_the_nearer_side_counts() -> None:
    """Marks give a profile liked and unliked papers of one field, which every new paper of
    the field resembles a little: a paper counts as like the side it resembles more."""
    twin = paper("twin", "Improved Baselines with Visual Instruction Tuning",
                 "Simple modifications to LLaVA with academic instruction-following data and a "
                 "stronger vision encoder give a better large multimodal model.")
    near_liked = paper("dup", LIKED.title, LIKED.abstract)
    liked_only = by_key(rank(Interests(like=("x",)), [twin, near_liked, OTHER],
                             examples=[LIKED]))
    both = by_key(rank(Interests(like=("x",), unlike=("y",)), [twin, near_liked, OTHER],
                       examples=[LIKED], unlike=[SIMILAR]))
    # the unliked paper's twin resembles it more than the liked one: no longer a match at all
    assert "twin" in liked_only and "twin" not in both
    # the liked paper's twin resembles it more: still a match, not demoted, a little less
    # similar for resembling the unliked paper too, and its reason says so
    assert 0.5 < both["dup"].score < liked_only["dup"].score
    assert not any(r.kind == "unlike" for r in both["dup"].reasons)
    [reason] = [r for r in both["dup"].reasons if r.kind == "example"]
    assert "counts as" in reason.text and "Improved Baselines" in reason.text
    assert "which you marked unlike" in reason.text


# What a score means must not depend on the kind of profile (issue 6 calibration).
CALIBRATION = [
    # (profile, paper, low, high)
    (Interests(keywords=("chart",)), paper("p", "Other", "We also read a chart."), 0.15, 0.45),
    (Interests(keywords=("chart",)), paper("p", "Chart understanding", "Charts."), 0.45, 0.85),
    (Interests(keywords=("chart", "table", "document")),
     paper("p", "Chart and table understanding", "Charts, tables and documents."), 0.7, 1.0),
]


@pytest.mark.parametrize(("interests", "p", "low", "high"), CALIBRATION)
def test_keyword_scores_land_in_their_documented_band(interests: Interests, p: PaperText,
                                                      low: float, high: float) -> None:
    [match] = rank(interests, [p])
    assert low <= match.score <= high


def test_example_scores_are_on_the_same_scale() -> None:
    near_duplicate = paper("dup", LIKED.title, LIKED.abstract)
    scores = by_key(rank(Interests(like=("x",)), [near_duplicate, SIMILAR, OTHER],
                         examples=[LIKED]))
    assert scores["dup"].score > 0.9
    assert scores["dup"].score >= scores["sim"].score >= 0.3
    assert scores.get("other") is None or scores["other"].score < 0.1


def test_rank_shortcuts_match_the_full_ranking() -> None:
    interests = Interests(keywords=("instruction", "multimodal", "depth"))
    full = Matcher(interests).rank([LIKED, SIMILAR, OTHER, *FILLER])
    short = Matcher(interests).rank([LIKED, SIMILAR, OTHER, *FILLER], min_score=full[1].score,
                                    limit=1)
    assert short == full[:1]


def test_explanation_lines_cover_terms_examples_and_gate() -> None:
    matcher = Matcher(Interests(keywords=("instruction tuning",), query="multimodal",
                                like=("x",)), examples=[LIKED])
    lines = matcher.explain(SIMILAR, [SIMILAR, OTHER, *FILLER]).lines()
    text = "\n".join(lines)
    assert "“instruction tuning”: title 1×" in text
    assert "nearest liked example “LLaVA: Visual Instruction Tuning”: cosine" in text
    assert "query gate passed: multimodal" in text


def fake_embedder(texts: Sequence[str]) -> list[list[float]]:
    """Stands in for a sentence model: a 'meaning' axis per topic word family."""
    topics = (("instruction", "llava", "multimodal"), ("depth", "stereo"), ("speech", "audio"))
    return [[float(sum(t.casefold().count(w) for w in family)) + 0.01 for family in topics]
            for t in texts]


def test_semantic_hook_adds_meaning_similarity() -> None:
    reworded = paper("reworded", "Assistants that follow what users ask about pictures",
                     "Our multimodal chat assistant learns from instruction data.")
    without = by_key(Matcher(Interests(like=("x",)), examples=[LIKED]).rank(
        [reworded, OTHER, *FILLER]))
    matcher = Matcher(Interests(like=("x",)), examples=[LIKED], embedder=fake_embedder)
    matches = by_key(matcher.rank([reworded, OTHER, *FILLER]))
    assert matches["reworded"].score > without["reworded"].score
    assert matches["reworded"].reasons[0].kind == "semantic"
    assert "LLaVA: Visual Instruction Tuning" in matches["reworded"].reasons[0].text
    lines = "\n".join(matcher.explain(reworded, [reworded, OTHER]).lines())
    assert "embedding cosine" in lines


@pytest.mark.parametrize(("interests", "key"), [
    (Interests(query="a AND"), "query"),
    (Interests(keywords=("x",), field_weights={"body": 1.0}), "field_weights.body"),
    (Interests(keywords=("x",), field_weights={"title": -1.0}), "field_weights.title"),
    (Interests(keywords=("x",), synonyms={"VLM": ()}), "synonyms.VLM"),
    (Interests(keywords=("+++",)), "keywords"),
])
def test_interest_problems_name_the_key(interests: Interests, key: str) -> None:
    assert [k for k, _ in interest_problems(interests)] == [key]


def test_good_interests_have_no_problems() -> None:
    assert interest_problems(Interests(
        keywords=("VLM",), query='a OR "b c"', field_weights={"title": 2.0, "abstract": 1.0},
        synonyms={"VLM": ("vision-language model",)})) == []
