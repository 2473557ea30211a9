"""Sentence roles: a term in what a paper contributes counts more than the same term in
passing (background or results), and reasons say which it was."""

from __future__ import annotations

import pytest

from worker.matching import Interests, Matcher, PaperText, roles
from worker.matching.corpus import FieldText
from worker.matching.text import tokens


@pytest.mark.parametrize(("sentence", "role"), [
    ("We introduce MMBench, a benchmark for multimodal models.", roles.CONTRIBUTION),
    ("In this paper, we present a systematic evaluation of 20 VLMs.", roles.CONTRIBUTION),
    ("This work curates a dataset of 1M charts.", roles.CONTRIBUTION),
    ("Our model outperforms prior work on eleven benchmarks.", roles.RESULT),
    ("Extensive experiments show that we build better models.", roles.RESULT),
    ("Large vision-language models have achieved remarkable results.", roles.RESULT),
    ("Vision-language models are widely used.", roles.CONTEXT),
    ("The encoder uses a frozen ViT.", roles.CONTEXT),
])
def test_sentence_roles(sentence: str, role: float) -> None:
    assert roles.sentence_role(sentence) == role


def test_sentences_split_at_ends_but_not_at_abbreviations() -> None:
    text = "Models, e.g. LLaVA, are common. We propose X. It works, cf. Smith et al. Fine."
    starts = roles.sentence_starts(text)
    assert [text[a:b].strip() for a, b in zip(starts, [*starts[1:], len(text)], strict=True)] == [
        "Models, e.g. LLaVA, are common.", "We propose X.", "It works, cf. Smith et al. Fine."]


def test_each_token_weighs_what_its_sentence_does() -> None:
    text = "Benchmarks matter. We introduce a benchmark. It beats baselines on benchmarks."
    toks = tokens(text)
    weighed = roles.token_roles(text, [t.start for t in toks])[0]
    weights = dict(zip((t.fold for t in toks), weighed, strict=True))
    assert weights["matter"] == roles.CONTEXT
    assert weights["introduce"] == roles.CONTRIBUTION
    assert weights["beats"] == roles.RESULT


OWN = PaperText("own", "A study of captioning",
                "Captioning is studied widely. We introduce a benchmark for captioning.")
PASSING = PaperText("passing", "A study of captioning",
                    "Captioning is studied widely. Our captioner beats others on a benchmark.")


def test_a_term_in_the_contribution_scores_above_the_same_term_in_passing() -> None:
    # The same words in the same places but for one sentence's role; the batch holds both,
    # so specificity and lengths are alike.
    matches = {m.paper.key: m for m in Matcher(Interests(keywords=("benchmark",))).rank(
        [PASSING, OWN])}
    assert matches["own"].score > matches["passing"].score > 0
    ratio = matches["passing"].score / matches["own"].score
    assert ratio < 0.6  # RESULT against CONTRIBUTION, through saturation


def test_reasons_say_where_in_the_abstract_the_term_stood() -> None:
    matches = {m.paper.key: m for m in Matcher(Interests(keywords=("benchmark",))).rank(
        [PASSING, OWN])}
    [own] = [r.text for r in matches["own"].reasons if r.field == "abstract"]
    [passing] = [r.text for r in matches["passing"].reasons if r.field == "abstract"]
    assert own == "abstract mentions “benchmark”, in what the paper contributes"
    assert passing == "abstract mentions “benchmark”, in passing"


def test_title_mentions_carry_no_role() -> None:
    paper = PaperText("t", "A benchmark for captioning", "Captioning is studied widely.")
    [match] = Matcher(Interests(keywords=("benchmark",))).rank([paper])
    assert [r.text for r in match.reasons] == ["title mentions “benchmark”"]


@pytest.mark.parametrize(("word", "sentence"), [("Models", 0), ("common", 0), ("We", 1),
                                                ("X", 1), ("It", 2), ("works", 2)])
def test_the_sentence_of_a_word(word: str, sentence: int) -> None:
    """Each token's sentence comes from the same split as its role (FieldText.sentence)."""
    ftext = FieldText.of("Models are common. We propose X. It works.", roles=True)
    [position] = [i for i in range(len(ftext.stems)) if ftext.surface(i, i + 1) == word]
    assert ftext.sentence(position) == sentence


@pytest.mark.parametrize(("weights", "spans", "expected"), [
    (None, [(0, 1)], True),  # a field without roles: the title
    ([roles.CONTEXT, roles.CONTRIBUTION], [(1, 2)], True),
    ([roles.CONTEXT, roles.CONTRIBUTION], [(0, 1)], False),
    ([roles.RESULT, roles.CONTEXT], [(0, 1), (1, 2)], False),
])
def test_where_a_paper_says_what_it_contributes(weights: list[float] | None,
                                               spans: list[tuple[int, int]],
                                               expected: bool) -> None:
    assert roles.in_contribution(weights, spans) is expected
