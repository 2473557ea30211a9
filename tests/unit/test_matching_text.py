"""Folding, tokens, stemming and highlight spans: the ground every match stands on."""

from __future__ import annotations

from itertools import pairwise

import pytest

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
