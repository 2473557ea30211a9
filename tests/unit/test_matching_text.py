"""Folding, tokens, stemming and highlight spans: the ground every match stands on."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.matching import highlight_spans
from worker.matching.text import fold, stem, term_stems


@pytest.mark.parametrize(("a", "b"), [
    ("vision-language", "vision language"),
    ("vision-language", "Vision–Language"),  # en dash
    ("vision-language", "VISION—LANGUAGE"),  # em dash
    ("vision-language", "vision‑language"),  # non-breaking hyphen
    ("naïve", "naive"),
    ("ﬁne-tuning", "fine tuning"),  # ligature
    ("ＬＬＭ", "llm"),  # full width
    ("μ-Bench", "μ bench"),
    ("Straße", "strasse"),
])
def test_same_stems(a: str, b: str) -> None:
    assert term_stems(a) == term_stems(b)


@pytest.mark.parametrize("group", [
    ["hallucinate", "hallucinated", "hallucinating", "hallucination", "hallucinations"],
    ["image", "images", "imaging"],
    ["benchmark", "benchmarks", "benchmarking"],
    ["ground", "grounded", "grounding"],
    ["embed", "embedded", "embedding", "embeddings"],
    ["model", "models", "modeling", "modelling"],
    ["segment", "segments", "segmentation", "segmenting"],
    ["evaluate", "evaluated", "evaluation", "evaluations"],
    ["study", "studies"],
    ["box", "boxes"],
    ["LLM", "LLMs", "llms"],
    ["detect", "detected", "detection"],
    ["curated", "curation"],
])
def test_stemming_brings_forms_together(group: list[str]) -> None:
    assert len({stem(fold(w)) for w in group}) == 1, {w: stem(fold(w)) for w in group}


@pytest.mark.parametrize(("a", "b"), [
    ("string", "strings"), ("need", "needs"), ("speed", "speeds"), ("analysis", "analysis"),
])
def test_stemming_keeps_short_and_odd_words_whole(a: str, b: str) -> None:
    assert stem(a) == stem(b) == a


@pytest.mark.parametrize(("a", "b"), [
    ("art", "partial"), ("vision", "version"), ("text", "context"), ("chart", "charter"),
])
def test_different_words_stay_apart(a: str, b: str) -> None:
    assert stem(a) != stem(b)


HIGHLIGHTS = [
    ("Mitigating Vision–Language hallucination", ["vision-language"], ["Vision–Language"]),
    ("partial art", ["art"], ["art"]),
    ("partial", ["art"], []),
    ("Large Language Models and language models", ["language models", "large language models"],
     ["Large Language Models", "language models"]),
    ("A B C", ["a b", "b c"], ["A B"]),  # no overlaps: the first (longest) claim wins
    ("μ-Bench for MLLMs", ["μ-bench", "MLLMs"], ["μ-Bench", "MLLMs"]),
    ("anything", [], []),
    ("anything", ["", "  "], []),
]


@pytest.mark.parametrize(("text", "terms", "expected"), HIGHLIGHTS)
def test_highlight_spans(text: str, terms: list[str], expected: list[str]) -> None:
    spans = highlight_spans(text, terms)
    assert [text[a:b] for a, b in spans] == expected
    assert spans == sorted(spans)
    assert all(b1 <= a2 for (_, b1), (a2, _) in pairwise(spans))


def test_only_what_the_reader_asked_for_is_highlighted() -> None:
    """Keywords, phrases and the query's words are marked; words shared with a liked (or
    unliked) example paper, or an excluded term, are not: they are often common words."""
    from worker.matching.highlight import highlight_terms

    reasons = [("example", ["the", "models"]), ("keyword", ["charts"]),
               ("unlike", ["survey"]), ("phrase", ["chart question answering"]),
               ("exclude", ["remote sensing"]), ("query", ["OCR"]), ("semantic", ["tables"])]
    assert highlight_terms(reasons) == ("chart question answering", "charts", "OCR")


@pytest.mark.parametrize(("text", "terms", "expected"), [
    *HIGHLIGHTS,
    ("A B C", ["b c", "x y", "a b", "c d"], ["A B"]),  # absent terms do not change the claims
    ("Language models", ["large language models", "zebra", "language models"],
     ["Language models"]),
])
def test_terms_in_keeps_the_spans(text: str, terms: list[str], expected: list[str]) -> None:
    """Renderers key highlighted text by `terms_in`: it must mark exactly what all terms do,
    and leave out the terms whose first word is not in the text."""
    from worker.matching.highlight import terms_in

    found = terms_in(text, terms)
    assert highlight_spans(text, found) == highlight_spans(text, terms)
    assert [text[a:b] for a, b in highlight_spans(text, found)] == expected
    assert set(found) <= set(terms)
    assert "zebra" not in found and "x y" not in found and "" not in found


# ---- a field's words, column by column (worker.matching.text.columns, joins, roles) ------------

_PIECES = ["pre", "training", "Vision", "LLaVA", "1.5", "x_y", "½", "naïve", "ﬁne", "e.g.",
           "We", "introduce", "benchmarks", "It", "outperforms", "et al.", "(", ")", "3D", "μ"]
_GLUE = [" ", "-", "/", "–", "—", "‑", "_", ". ", "? ", ", ", "--", " - ", "", "\n"]


def _word_by_word(text: str) -> tuple[list[tuple[str, str, int, int]], dict[int, str], list[int]]:
    """What a field's words are, worked out one word at a time: each word, the pairs only a
    joiner separates (read as one word), and each word's sentence."""
    import re

    from worker.matching.roles import sentence_starts
    from worker.matching.text import _JOINERS

    words = [(fold(m.group()), stem(fold(m.group())), m.start(), m.end())
             for m in re.finditer(r"[^\W_]+", text)]
    joined = {i: stem(a[0] + b[0]) for i, (a, b) in enumerate(pairwise(words))
              if b[2] - a[3] == 1 and text[a[3]] in _JOINERS}
    begins = sentence_starts(text)
    sentence = [sum(1 for s in begins[1:] if s <= w[2]) for w in words]
    return words, joined, sentence


def _texts() -> list[str]:
    import random

    rng = random.Random(11)
    made = ["", "-", "pre-training", "a-b-c", "x_-y", "end-", "-start", "½-½", "A/B test"]
    for _ in range(300):
        made.append("".join(rng.choice(_PIECES) + rng.choice(_GLUE)
                            for _ in range(rng.randrange(1, 12))))
    return made


def test_a_fields_words_are_what_reading_word_by_word_gives() -> None:
    from worker.matching.corpus import FieldText
    from worker.matching.text import tokens

    for text in _texts():
        words, joined, sentence = _word_by_word(text)
        assert [tuple(t) for t in tokens(text)] == words, text
        field = FieldText.of(text, roles=True)
        assert list(zip(field.folds, field.stems, field.starts, field.ends, strict=True)) == \
            words, text
        assert field.joins == joined, text
        assert list(field.sentences or []) == sentence, text


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from([*"aZé9_ ./-–—‑‐―?!,()\n\t½ﬁx", "\u0301"]),
               max_size=60) | st.text(max_size=40))
def test_any_text_reads_as_word_by_word(text: str) -> None:
    from worker.matching.corpus import FieldText

    words, joined, sentence = _word_by_word(text)
    field = FieldText.of(text, roles=True)
    assert list(zip(field.folds, field.stems, field.starts, field.ends, strict=True)) == words
    assert field.joins == joined
    assert list(field.sentences or []) == sentence
