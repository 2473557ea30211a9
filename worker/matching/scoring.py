"""How evidence becomes one 0..1 score that means the same for every profile.

What a score means, whether a profile has keywords, a query, example papers or all of them:

    0.0        nothing in the profile matched.
    about 0.1  a word of the profile that most of today's papers use, mentioned in passing.
    about 0.3  some evidence: one of your specific terms is mentioned once in the abstract, or
               the paper shares more specific vocabulary with one of your example papers than
               nine in ten unrelated pairs of papers do. Worth a glance: `min_score = 0.3`
               keeps these (a recall-minded digest).
    about 0.5  clear evidence: one of your terms in what the paper contributes, two of
               your terms in the abstract with at least one of them there, a term repeated
               in the abstract and stated there, or clearly similar to an example paper.
               (What the paper only mentions in passing, however often, counts as the
               strongest such term, and for at most 0.3.)
    about 0.7  strong evidence: your term in the title and again in the abstract, several
               terms throughout, or the paper is about what an example paper is about.
               `min_score = 0.7` gives a short digest of papers squarely on topic.
    0.9+       overwhelming: several specific terms in title and abstract, or a near-duplicate
               of an example paper.

How it is computed:

- Each distinct profile term (keyword, phrase, positive query term; a synonym counts as the same
  term) gets BM25F evidence in 0..1: occurrences in the title count `field_weights.title` times
  (default 3), in the abstract once, each field's count length-normalized (b = 0.75) and scaled
  by the term's specificity in that field; the sum t is saturated as t / (2 + t), so the third
  mention adds less than the first. The result is capped at the term's specificity (averaged
  over its occurrences): a word that nearly every paper of the batch uses cannot make a paper
  stand out by repetition (`VLM` six times in an abstract, in a batch of VLM papers, is worth
  about 0.1, not 0.35). Words found near each other rather than as the exact phrase count
  half, and so does an occurrence that only describes the next word (`pre-trained models`
  for `pre-training`: worker.matching.corpus.FieldText.modifier). A piece of text counts
  for one term only (the longest that covers it).
- Specificity is an idf over the papers being ranked (and the papers seen just before them,
  the corpus's reference: selection.BACKGROUND), per field, scaled to 0..1: a term in 2%
  of the papers or fewer counts fully, one in half of them about 0.2, one in every paper not at
  all (smoothed toward 5% so that small batches behave). Per field, because `benchmark` in half
  of all abstracts says little while `benchmark` in a title says a lot.
- The terms of an OR that is part of an AND are alternatives for one concept (`hallucination
  AND (LVLM OR VLM OR "vision-language")`): they share the concept's specificity and the best
  of them counts. An OR at the top of a query asks for any of its parts, as a keyword list
  does: each part is a concept of its own (worker.matching.terms.query_groups).
- Concepts combine like independent clues (noisy-OR): 1 - prod(1 - evidence), when the paper
  states them as its topic (title, or a sentence saying what it contributes); those it only
  mentions in passing count once, the strongest of them, and for at most 0.3 (a paper that
  never states an interest is not about it); a concept of a top-level AND that the
  paper never names together with the others counts half, in passing (worker.matching.clues).
- Example similarity is the cosine between tf-idf vectors (title words doubled, sublinear tf),
  mapped through a logistic curve set from the similarity of unrelated pairs of papers in one
  field (median cosine about 0.07 -> 0.1; 0.11, closer than nine in ten pairs -> 0.2; 0.2 ->
  0.6; 0.3 -> 0.9). When a profile has terms as well as examples, example similarity counts
  half: with a handful of examples it mostly reflects a shared field, not the facet the reader
  named in words. Terms and examples combine by the same noisy-OR.
- Demotions multiply: each `exclude` term hit with exclude_mode = "demote" by 1 - 0.6 * its
  evidence; similarity to an `unlike` example by 1 - 0.8 * that similarity.
- With liked and unliked examples both, the side a paper resembles more counts, by how much
  more: the example part is the curve at (liked cosine - unliked cosine), the unlike factor
  1 - 0.8 * the curve at the reverse (worker.matching.explain.parts).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

from worker.matching.corpus import Corpus, FieldHit
from worker.matching.interests import FIELDS

K1 = 2.0
B = 0.75
DEFAULT_FIELD_WEIGHTS = {"title": 3.0, "abstract": 1.0}
TERM_STRENGTH = 1.0  # a fully saturated, fully specific term is certain evidence
NEAR_DISCOUNT = 0.5  # words near each other instead of the exact phrase
DEMOTE_STRENGTH = 0.6
# With a handful of examples, similarity mostly reflects a shared field rather than the facet
# a reader named in words; when a profile has both, terms lead and examples support.
EXAMPLE_WITH_TERMS = 0.5
UNLIKE_STRENGTH = 0.8


FieldCounts = tuple[tuple[tuple[str, float], ...], float]


def term_evidence(hits: Mapping[str, FieldHit], doc_len: Mapping[str, int],
                  corpus: Corpus, weights: Mapping[str, float], specs: Mapping[str, float],
                  ) -> tuple[float, dict[str, float], float]:
    """BM25F with a per-field idf: each field's occurrences, length-normalized, weighted by the
    field's weight and by how telling the term is in that field, summed and saturated into
    0..1. Also each field's share, for reasons that say how much title or abstract counted.

    The idf is per field because the fields differ: `benchmark` in half of all abstracts says
    little, `benchmark` in a title (one in ten) says a lot. It applies before saturation, so a
    common word repeated throughout an abstract (what the paper is about) still adds up, while
    one passing mention of it counts little; but never beyond the term's specificity.

    Returns (evidence, each field's share of it, the evidence before the specificity ceiling:
    what no subset of these occurrences can exceed, as the ceiling may rise when some go)."""
    return evidence_from(field_counts(hits, doc_len, corpus, weights), specs)


def field_counts(hits: Mapping[str, FieldHit], doc_len: Mapping[str, int], corpus: Corpus,
                 weights: Mapping[str, float]) -> FieldCounts:
    """The part of term_evidence that does not depend on specificity: each field's weighted,
    length-normalized count, and their sum."""
    counts, raw = [], 0.0
    for name, hit in hits.items():
        norm = 1 - B + B * doc_len[name] / corpus.avg_len[name]
        count = weights.get(name, 1.0) * hit.weight * (1.0 if hit.exact else NEAR_DISCOUNT) / norm
        raw += count
        counts.append((name, count))
    return tuple(counts), raw


def evidence_from(counts: FieldCounts, specs: Mapping[str, float],
                  ) -> tuple[float, dict[str, float], float]:
    """term_evidence from field_counts."""
    tfs = {name: specs.get(name, 1.0) * count for name, count in counts[0]}
    tf = sum(tfs.values())
    evidence, saturated = _saturate(tf, counts[1])
    return evidence, {name: v / (tf or 1.0) for name, v in tfs.items()}, saturated


def strengths(counts: Mapping[str, np.ndarray], raw: np.ndarray, specs: Mapping[str, float],
              ) -> tuple[np.ndarray, np.ndarray]:
    """evidence_from's evidence and saturation for many papers at once, without the shares:
    `counts` is each field's field_counts in every paper (0.0 where the term is not in that
    field), in the order field_counts gives them, `raw` their sums. The same operations in the
    same order as _saturate, so the same bits."""
    tf = np.zeros(len(raw))
    for name, count in counts.items():
        tf = tf + specs.get(name, 1.0) * count
    saturated = tf / (K1 + tf)
    return np.minimum(saturated, tf / np.where(raw == 0.0, 1.0, raw)), saturated


def _saturate(tf: float, raw: float) -> tuple[float, float]:
    # However often it is repeated, a term tells no more than its specificity: a word that
    # nearly every paper of the batch uses cannot make a paper stand out by repetition.
    ceiling = tf / (raw or 1.0)
    saturated = tf / (K1 + tf)
    return min(saturated, ceiling), saturated


def field_specificity(docs_by_field: Mapping[str, int], n: int) -> dict[str, float]:
    """field -> specificity, fields in FIELDS order (whatever order they were counted in: a
    concept's are counted from sets, whose order changes from run to run)."""
    return {name: specificity(docs_by_field[name], n) for name in FIELDS
            if name in docs_by_field}


def specificity(df: int, n: int) -> float:
    """0..1: how much finding a term tells, from the share of the batch that contains it (an
    idf scaled so a term in 2% of papers or fewer is fully specific and one in every paper
    tells nothing). The share is smoothed toward 5% so a small batch, where every term is in
    a large share of the papers, does not make every term look common."""
    share = (df + PRIOR_WEIGHT * PRIOR_SHARE) / (n + PRIOR_WEIGHT)
    return max(0.0, min(1.0, math.log(1.0 / share) / math.log(1.0 / SPECIFIC_SHARE)))


SPECIFIC_SHARE = 0.02
PRIOR_SHARE = 0.05
PRIOR_WEIGHT = 20


def combine(evidence: Iterable[float]) -> float:
    """Noisy-OR of clues already scaled to 0..1, strongest first (the same bits in any
    order of the same clues)."""
    values = tuple(evidence)
    if len(values) > 2:  # else the order cannot change the product's bits
        values = tuple(sorted(values, reverse=True))
    miss = 1.0
    for e in values:
        miss *= 1.0 - max(0.0, min(e, 1.0))
    return 1.0 - miss


def similarity_score(cosine: float) -> float:
    """Cosine of tf-idf vectors -> 0..1. Unrelated papers in one field share generic words and
    sit around 0.05; cosine 0.15 is clearly related (about 0.45) and 0.3 is strongly so
    (about 0.8). A logistic curve: below the noise floor scores fall to 0 quickly."""
    if cosine <= 0.0:
        return 0.0
    value = 1.0 / (1.0 + math.exp(-(cosine - SIM_MIDPOINT) / SIM_SCALE))
    floor = 1.0 / (1.0 + math.exp(SIM_MIDPOINT / SIM_SCALE))
    return max(0.0, (value - floor) / (1.0 - floor))


SIM_MIDPOINT = 0.17
SIM_SCALE = 0.055
