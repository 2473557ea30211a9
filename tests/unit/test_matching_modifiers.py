"""A word that only describes the next one (`pre-trained models`, `masked image modeling`)
counts half: the paper is about the models, not about pre-training (FieldText.modifier)."""

from __future__ import annotations

import pytest

from worker.matching import Interests, Matcher, PaperText
from worker.matching.corpus import MODIFIER_DISCOUNT, FieldText


def _ends(ftext: FieldText, word: str) -> list[int]:
    """The token end of each occurrence of `word` (as written) in the field."""
    return [i + 1 for i in range(len(ftext.stems)) if ftext.surface(i, i + 1) == word]


@pytest.mark.parametrize(("text", "word", "expected"), [
    ("Prompt tuning for pre-trained vision-language models", "trained", True),
    ("Masked image modeling at scale", "Masked", True),
    ("Visually grounded language learning", "grounded", True),
    ("Models trained on web data", "trained", False),  # a verb: a function word follows
    ("Answers grounded in the image", "grounded", False),
    ("Models are pre-trained", "trained", False),  # nothing follows
    ("Models are pre-trained. Results follow", "trained", False),  # not within the sentence
    ("We use pre-trained-model features", "trained", False),  # hyphen: one expression
    ("Models pre-trained, then tuned", "trained", False),
    ("We evaluated 12 models", "evaluated", False),  # a number is no word it describes
    ("Inference speed matters", "speed", False),  # not a participle: the stem is the word
    ("Image segmentation models", "segmentation", False),
])
def test_which_occurrences_only_describe_the_next_word(text: str, word: str,
                                                        expected: bool) -> None:
    ftext = FieldText.of(text)
    [end] = _ends(ftext, word)
    assert ftext.modifier(end) is expected


def test_a_describing_occurrence_weighs_half_its_role() -> None:
    text = "We fine-tune pre-trained models. We study pre-training."
    ftext = FieldText.of(text, roles=True)
    [described] = _ends(ftext, "trained")
    [plain] = _ends(ftext, "training")
    assert ftext.weights is not None
    role = {end: ftext.weights[end - 1] for end in (described, plain)}
    whole = ftext.weight([(described - 2, described), (plain - 2, plain)])
    assert whole == pytest.approx(MODIFIER_DISCOUNT * role[described] + role[plain])


ABOUT = PaperText("about", "Vision-language pre-training at scale",
                  "We study how pre-training data shapes models.")
USING = PaperText("using", "Prompt tuning for pre-trained vision-language models",
                  "We study how pre-trained models adapt.")


def test_a_paper_about_the_keyword_outranks_one_that_describes_something_with_it() -> None:
    matches = {m.paper.key: m for m in Matcher(Interests(keywords=("pre-training",))).rank(
        [USING, ABOUT])}
    assert matches["about"].score > matches["using"].score > 0
    # the same places and roles, the same batch: only the describing counts less
    assert matches["using"].score < 0.75 * matches["about"].score


def test_reasons_say_an_occurrence_was_counted_half() -> None:
    [using] = Matcher(Interests(keywords=("pre-training",))).rank([USING])
    assert [r.text for r in using.reasons] == [
        "title mentions “pre-trained” (describing the next word: counted half)",
        "abstract mentions “pre-trained”, in what the paper contributes "
        "(describing the next word: counted half)"]
    mixed = PaperText("mixed", "Pre-training", "We study pre-training of pre-trained models.")
    [match] = Matcher(Interests(keywords=("pre-training",))).rank([mixed])
    [abstract] = [r.text for r in match.reasons if r.field == "abstract"]
    assert abstract.endswith("(1 of 2 describing the next word: counted half)")


def test_explain_says_which_occurrences_describe_the_next_word() -> None:
    explained = Matcher(Interests(keywords=("pre-training",))).explain(USING, [ABOUT])
    [term] = [c.detail for c in explained.components if c.name == "keyword"]
    assert term.startswith("“pre-training”: title 1× (describing the next word: counted half), "
                           "abstract 1× (describing the next word: counted half);")
