"""What each sentence of an abstract does, and so how much a word in it says about the paper.

A reader's interest is what a paper is about, not what it mentions. Abstracts follow a common
shape: background ("Large vision-language models have shown ..."), the paper's own contribution
("We introduce X, a benchmark for ..."), and its results ("X outperforms ... on 11
benchmarks"). A term in the contribution is the paper's topic; the same term in a result or in
the background is usually a passing mention. So each occurrence of a term in an abstract counts
by the role of its sentence:

    contribution  1.0   the paper's own work: "we", "our", "this paper" with a verb of making
                        (introduce, propose, build, curate, conduct, ...)
    context       0.6   anything else: background, method details
    result        0.35  a sentence reporting outcomes (outperforms, achieves, experiments show)
                        and not also introducing something

Titles are all contribution. The weights are round numbers set from the shape of abstracts,
not fitted to any judgements; they only scale term counts, so a paper with no contribution
sentence still scores, only lower.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left
from collections.abc import Sequence

CONTRIBUTION = 1.0
CONTEXT = 0.6
RESULT = 0.35

# A sentence ends at . ! or ? followed by space and a capital, digit or quote; not after e.g.,
# i.e., et al., cf. or vs. (Initials are rare in abstracts; model names ending a sentence,
# "we call it X.", are not.)
_SENTENCE_END = re.compile(r"[.!?](?=\s+[\"'(A-Z0-9])")
_ABBREVIATIONS = ("e.g", "i.e", " al", " cf", " vs")
# Matched on the lowercased sentence; word beginnings are enough (`introduc` for introduce,
# introduces, introducing).
_OWN = re.compile(r"\b(?:we|our|us|this (?:paper|work|study|report|article|survey)|here)\b")
_MAKING = re.compile(
    r"\b(?:introduc|present|propos|construct|buil[dt]|creat|curat|collect|releas|develop|design|"
    r"establish|conduct|contribut|offer|formulat|devis|assembl|compil|annotat|synthesi[sz]|"
    r"generat|stud(?:y|ie)|investigat|explor|examin|analy[sz]|evaluat|revisit|tackl|address|aim|focus)")
_OUTCOME = re.compile(
    r"\b(?:achiev|outperform|surpass|attain|exceed|beat|rival|yield|gain|"
    r"state[- ]of[- ]the[- ]art|sota|result|experiment|empirical|extensive|competitive|"
    r"superior|significant|consistent|remarkabl|impressive|improv|demonstrat|show)")


def sentence_role(sentence: str) -> float:
    """The weight of a word in this sentence (see the module's table). A sentence that says
    how a result was found before it names anything made ("experiments show that our model
    ...") is a result."""
    sentence = sentence.lower()
    outcome = _OUTCOME.search(sentence)
    if _OWN.search(sentence):
        making = _MAKING.search(sentence)
        if making and (outcome is None or making.start() < outcome.start()):
            return CONTRIBUTION
    return RESULT if outcome else CONTEXT


def in_contribution(weights: Sequence[float] | None, spans: Sequence[tuple[int, int]]) -> bool:
    """Does any occurrence at these token spans stand where the paper says what it is about: a
    contribution sentence, or a field without roles (the title)?"""
    return weights is None or any(weights[a] >= CONTRIBUTION for a, _ in spans)


def sentence_starts(text: str) -> list[int]:
    """Character offsets where each sentence of `text` starts (the first is 0)."""
    return [0, *(m.end() for m in _SENTENCE_END.finditer(text)
                 if not text.endswith(_ABBREVIATIONS, 0, m.start()))]


def token_roles(text: str, starts: Sequence[int]) -> tuple[array[float], array[int]]:
    """Each word's weight (the role of the sentence it is in) and the number of that sentence
    (0: the first), from one split of the text into sentences; `starts`: where each word of
    the text starts, in order (worker.matching.text.columns)."""
    weights, sentences = array("d"), array("I")
    begins = sentence_starts(text)
    i = 0
    for number, (a, b) in enumerate(zip(begins, [*begins[1:], len(text) + 1], strict=True)):
        j = bisect_left(starts, b, i)  # the words before the next sentence
        if j > i:
            weights.extend(array("d", (sentence_role(text[a:b]),)) * (j - i))
            sentences.extend(array("I", (number,)) * (j - i))
        i = j
    return weights, sentences
