"""Tokens for matching: Unicode/case/hyphen folding and a light, consistent stemmer.

Every piece of text the matcher compares (paper fields, keywords, query terms, highlight terms)
goes through `tokens()`, so the same folding applies on both sides. Tokens are runs of letters
and digits; hyphens, dashes, slashes and punctuation separate them, so `vision-language`,
`vision language` and `Vision–Language` all give the tokens `vision`, `language`. Each token keeps
its character span in the original text, so matches can be highlighted in the original.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

# Letters and digits, not underscore; re's \w is Unicode-aware for str patterns.
_TOKEN = re.compile(r"[^\W_]+")
# Separators across which two tokens may also be read as one word (`pre-training` = `pretraining`).
_JOINERS = frozenset("-‐‑‒–—―/")
_VOWELS = frozenset("aeiouy")
_ED_WORDS = frozenset({"embed", "hundred", "shred", "infrared", "bred", "sacred"})


class Token(NamedTuple):
    # A named tuple, not a dataclass: every word of every paper is one while it is tokenized,
    # and a tuple is the cheapest immutable record to make (a frozen dataclass costs several
    # times as much). A batch keeps its words column by column (corpus.FieldText).
    fold: str  # case-, accent- and compatibility-folded surface form
    stem: str
    start: int
    end: int


@lru_cache(maxsize=65536)
def fold(word: str) -> str:
    """Casefold, NFKC (ligatures, full-width), and drop accents: `Naïve` -> `naive`."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFKC", bare)


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light suffix stripper for English technical text, applied to folded words.

    Not linguistically exact on purpose: what matters is that related forms meet
    (`hallucinate`, `hallucinated`, `hallucinations` -> `hallucin`; `images`, `image` -> `imag`;
    `grounded`, `grounding` -> `ground`), while short words, acronyms with digits and words
    without a vowel in the remaining stem stay whole so `string` and `thing` are not mangled.
    """
    if len(word) <= 3 or not word.isalpha():
        return word
    word = _singular(word)
    for suffix, min_rest in _SUFFIXES:
        if word.endswith(suffix):
            rest = word[: -len(suffix)]
            if len(rest) >= min_rest and _VOWELS.intersection(rest) and _suffix_ok(suffix, rest):
                word = _undouble(rest) if suffix in ("ing", "ed") else rest
                break
    if word.endswith("e") and len(word) >= 4:
        word = word[:-1]
    return word


# Longest first within each family; (suffix, shortest stem allowed to remain).
_SUFFIXES = (
    ("ations", 3), ("ation", 3), ("ating", 3), ("ators", 3), ("ator", 3), ("ated", 3),
    ("ate", 3), ("ing", 3), ("ed", 3), ("ion", 5),
)


def _suffix_ok(suffix: str, rest: str) -> bool:
    if suffix == "ed":
        # `need`, `speed`, `embed` are words, not past tenses
        return not rest.endswith("e") and rest + "ed" not in _ED_WORDS
    if suffix == "ion":
        return rest[-1] in "ts"  # detection -> detect, regression -> regress
    return True


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _undouble(rest: str) -> str:
    # running -> run, embedding -> embed, labelled -> label; but not fall/pass/buzz.
    doubled = len(rest) > 3 and rest[-1] == rest[-2] and rest[-1] not in _VOWELS
    if doubled and (rest[-1] not in "lsz" or rest.endswith("ell")):
        return rest[:-1]
    return rest


@lru_cache(maxsize=65536)
def _forms(word: str) -> tuple[str, str]:
    folded = fold(word)
    return folded, stem(folded)


_new = tuple.__new__
_GROUP, _SPAN = re.Match.group, re.Match.span
_JOINER = re.compile("[" + "".join(map(re.escape, sorted(_JOINERS))) + "]")

Columns = tuple[tuple[str, ...], tuple[str, ...], tuple[int, ...], tuple[int, ...]]


def columns(text: str) -> Columns:
    """(folds, stems, starts, ends): every word of `text` as `tokens` gives it, column by column,
    the form a batch of papers keeps (worker.matching.corpus.FieldText). Each column is made by
    a loop in C (map over the matches, the cached forms, zip), not a Python loop per word: a
    batch has hundreds of thousands of words."""
    # NFKC may turn one character into a separator sequence (e.g. `½`); it stays one token.
    found = list(_TOKEN.finditer(text))
    if not found:
        return (), (), (), ()
    folded, stems = zip(*map(_forms, map(_GROUP, found)), strict=True)
    starts, ends = zip(*map(_SPAN, found), strict=True)
    return folded, stems, starts, ends


def tokens(text: str) -> list[Token]:
    """Every word of `text` with its folded form, stem and span."""
    # tuple.__new__ directly: a NamedTuple's own __new__ is a Python function
    return [_new(Token, word) for word in zip(*columns(text), strict=True)]


def word_forms(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(folded forms, stems) of the words: `columns` without positions, for what only counts
    words (an example paper's vector)."""
    found = _TOKEN.findall(text)
    if not found:
        return (), ()
    folded, stems = zip(*map(_forms, found), strict=True)
    return folded, stems


def folds(text: str) -> list[tuple[str, int, int]]:
    """(folded form, start, end) of every word: `tokens` without the stems (highlighting)."""
    return [(fold(match.group()), *match.span()) for match in _TOKEN.finditer(text)]


def joins(text: str, folded: Sequence[str], starts: Sequence[int], ends: Sequence[int],
          ) -> dict[int, str]:
    """position -> the stem of word pos + word pos + 1 read as one word, where only a hyphen or
    slash separates them (`pre-training` = `pretraining`); the words as `columns` gives them.
    Found from the joiners in the text (a few a paper), not by visiting every word."""
    out = {}
    for match in _JOINER.finditer(text):
        at = match.start()
        i = bisect_left(ends, at)  # the word ending at the joiner, if one does
        if i + 1 < len(starts) and ends[i] == at and starts[i + 1] == at + 1:
            out[i] = stem(folded[i] + folded[i + 1])
    return out


@lru_cache(maxsize=65536)
def term_stems(text: str) -> tuple[str, ...]:
    """The stems of a user-written term, the unit every matcher lookup uses."""
    return tuple(t.stem for t in tokens(text))
