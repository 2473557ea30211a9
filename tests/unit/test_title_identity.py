"""A paper's title key (normalize_title): one key for the forms one title takes in different
listings, and distinct keys for distinct titles. Table-driven; the titles are made up."""

from __future__ import annotations

import unicodedata

import pytest

from worker.records import normalize_title

SAME = [  # (as one source lists it, as another does)
    ("SOTOPIA-π: Interactive Learning", "SOTOPIA-$\\pi$: Interactive Learning"),
    ("MVD²: Efficient Reconstruction", "MVD$^2$: Efficient Reconstruction"),
    ("Don’t Stop Pretraining – A Survey.", "don't stop pretraining - a survey"),
    ("Efficient ﬁne-tuning", "Efficient fine-tuning"),
    (unicodedata.normalize("NFD", "Café Models"), "Café Models"),
    # TeX accents, as arXiv's metadata has them and a listing shows them
    ("Schrödinger Bridges for Tiny Models", 'Schr\\"odinger Bridges for Tiny Models'),
    ("Schrödinger Bridges for Tiny Models", 'Schr\\"{o}dinger Bridges for Tiny Models'),
    ("Schrödinger Bridges for Tiny Models", 'Schr{\\"o}dinger Bridges for Tiny Models'),
    ("Poincaré Embeddings Revisited", "Poincar\\'e Embeddings Revisited"),
    ("Poincaré Embeddings Revisited", "Poincar\\'{e} Embeddings Revisited"),
    ("Erdős Graphs and Transformers", "Erd\\H{o}s Graphs and Transformers"),
    ("Çelik and Šnajder Meet Agents", "\\c{C}elik and \\v{S}najder Meet Agents"),
    ("A naïve Baseline", 'A na\\"{\\i}ve Baseline'),
    ("Ørsted Straße Benchmark", "\\O rsted Stra\\ss e Benchmark"),
    ("Ørsted Benchmark", "{\\O}rsted Benchmark"),
    # letters and words that math commands stand for
    ("ℓ1-Sparse Probing of Language Models", "$\\ell_1$-Sparse Probing of Language Models"),
    ("Sub-O(log n) Retrieval for Agents", "Sub-$O(\\log n)$ Retrieval for Agents"),
    # invisible characters inside a word
    ("Multi\u00admodal Token Pruning", "Multimodal Token Pruning"),
    ("Lo\u200bRA Adapters", "LoRA Adapters"),
    ("\ufeffLoRA Adapters", "LoRA Adapters"),
    # HTML character references a source left in
    ("Q&amp;A Agents over Tables", "Q&A Agents over Tables"),
    ("Q&#38;A Agents over Tables", "Q&A Agents over Tables"),
    ("&quot;Quoted&quot; Agents", '"Quoted" Agents'),
]

DIFFERENT = [
    ("A Survey", "A Survey of Surveys"),
    ("Schrödinger Bridges", "Schrodinger Bridges"),  # an accent is part of the word
    ("GPT4 Agents", "GPT-5 Agents"),
    ("$\\ell_1$ Probing", "$\\ell_2$ Probing"),
    ("O(log n) Retrieval", "O(n) Retrieval"),
    ("AT&T Networks", "ATT Networks"),
]


@pytest.mark.parametrize(("one", "other"), SAME)
def test_forms_of_one_title_have_one_key(one: str, other: str) -> None:
    assert normalize_title(one) == normalize_title(other)
    assert normalize_title(one)


@pytest.mark.parametrize(("one", "other"), DIFFERENT)
def test_distinct_titles_keep_distinct_keys(one: str, other: str) -> None:
    assert normalize_title(one) != normalize_title(other)


def test_a_tex_accent_gives_the_letter_not_a_space() -> None:
    assert normalize_title('Schr\\"odinger') == "schrödinger"
    assert normalize_title("$\\ell_2$ norm") == "l2 norm"
