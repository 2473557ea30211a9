"""plaintext.fill must give exactly what textwrap.fill gives (it replaces it for speed)."""

from __future__ import annotations

import random
import re
import textwrap

import pytest

from worker.plaintext import clean_line, fill
from worker.templating import numbered, wrap

WORDS = ["a", "of", "the", "vision-language", "model", "LLM", "benchmark", "—", "x" * 30,
         "y" * 80, "naïve", "Vision–Language", "(LVLMs)", "2.5%", "http://example.org/a/b/c",
         "--", "-b", "“quoted”", "é" * 7]


@pytest.mark.parametrize("seed", range(40))
def test_fill_is_textwrap(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        text = clean_line(" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 40))))
        first, indent = rng.choice(("", "   ", "1. ", "-" * 12)), rng.choice(("", "   ", " "))
        # (textwrap itself loops forever when an indent leaves no room at all)
        width = max(len(first), len(indent)) + rng.choice((1, 2, 5, 10, 20, 40, 72, 80))
        expected = textwrap.fill(text, width=width, initial_indent=first,
                                 subsequent_indent=indent, break_long_words=False,
                                 break_on_hyphens=False)
        assert fill(text, width, first, indent) == expected, (text, width, first, indent)


@pytest.mark.parametrize("seed", range(10))
def test_a_numbered_title_is_the_number_and_title_wrapped_as_one(seed: int) -> None:
    """templating.numbered keeps a title's lines once per paper, not per rank: the same text as
    wrapping "N. title", first words too long to follow the number and empty titles too."""
    rng = random.Random(seed)
    for _ in range(200):
        title = clean_line(" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 25))))
        title = rng.choice((title, f"  {title} ", title.replace(" ", "\t\n ", 1)))
        number, width = rng.choice((1, 9, 10, 99, 100, 1234)), rng.choice((10, 40, 72, 80))
        indent = rng.choice(("", "   "))
        assert numbered(title, number, width, indent) == wrap(f"{number}. {title}", width,
                                                                indent, ""), (title, number)


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_a_numbered_title_whose_first_word_just_fits_or_not(extra: int) -> None:
    word = "w" * (72 - len("12. ") + extra)
    for title in (word, f"{word} and more words after it", f"short {word} tail"):
        assert numbered(title, 12, 72, "   ") == wrap(f"12. {title}", 72, "   ", "")


def test_a_link_longer_than_a_line_stays_whole() -> None:
    """A plain-text digest wraps at 72 columns, but a link cut across two lines is no longer a
    link: a word longer than a line gets a line of its own, whole (real URLs from the seeds)."""
    from datetime import datetime
    from pathlib import Path

    from worker.sources.dumps import parse_dump

    seeds = Path(__file__).resolve().parents[2].parent / "shared" / "seeds"
    if not seeds.is_dir():
        pytest.skip(f"{seeds} is absent")
    abstracts = [e.abstract for path in sorted(seeds.glob("*.txt"))
                 for e in parse_dump(path.read_bytes(), path.name, datetime.now()).entries]
    links = [(a, u) for a in abstracts for u in re.findall(r"https?://\S+", a) if len(u) > 69]
    assert len(links) >= 3
    for abstract, link in links:
        lines = wrap(abstract, 72, "   ").splitlines()
        assert f"   {link}" in lines or any(line.endswith(f" {link}") for line in lines), link


def test_a_short_abstract_ends_at_a_late_sentence_end_else_at_a_word() -> None:
    """abstract_short: an abstract that fits is whole; a longer one ends at its last sentence
    end past 60 % of the limit, else at a word, with "…" (and no comma or colon before it):
    never after a first sentence of a few words, never inside a word."""
    from worker.plaintext import shorten

    assert shorten("We study charts. They help.", 30) == "We study charts. They help."
    late = "We study charts in papers. Readers skim them quickly. Tables too remain"
    assert shorten(late, 60) == "We study charts in papers. Readers skim them quickly."
    early = "We study charts. Readers skim figures, tables and captions: words, symbols, axes"
    assert shorten(early, 60) == "We study charts. Readers skim figures, tables and captions …"
    assert shorten(early, 50) == "We study charts. Readers skim figures, tables and …"


FIRST = ("Fine-tuning large models for every downstream task is costly in memory and time, "
         "and more so as the models grow.")


@pytest.mark.parametrize(("rest", "cut"), [
    # a seed abstract's: it ended at "(e.g.", as if a sentence stopped mid-parenthesis
    (" Methods update a subset (e.g. only 2% of it) of the weights", "(e.g."),
    # another's: it ended at the list's "1."
    (" There are two reasons for it: 1. The data is noisy, and 2. the", ": 1."),
    (" We show it in Fig. 3 and in the tables of the appendix too", "Fig."),
    (" We show it, approx. twice as fast as the others in the tables", "approx."),
])
def test_a_short_abstract_does_not_end_at_an_abbreviation_or_a_lists_number(
        rest: str, cut: str) -> None:
    from worker.plaintext import shorten

    text = FIRST + rest
    assert shorten(text, len(text) - 4) == FIRST, cut


def test_a_short_abstract_still_ends_at_a_sentence_that_ends_in_a_number() -> None:
    from worker.plaintext import shorten

    text = FIRST + " We compare with GPT-4. Results hold in 2023. The rest of it goes on"
    assert shorten(text, len(text) - 4) == text[: text.index(" The rest")]
