"""How evidence becomes one 0..1 score that means the same for every profile.

What a score means (the same whether a profile has keywords, example papers or both):

    0.0        nothing in the profile matched.
    about 0.3  some evidence: one of your terms is mentioned once in the abstract, or the paper
               shares a fair amount of specific vocabulary with one of your example papers.
               Worth a glance; a `min_score` of 0.3 keeps these.
    about 0.5  clear evidence: a term in the title, or several of your terms in the abstract,
               or clearly similar to an example paper.
    about 0.7  strong evidence: several terms in title and abstract, or the paper is about what
               an example paper is about (close vocabulary throughout). A `min_score` of 0.7
               gives a short digest of papers squarely on topic.
    0.9+       overwhelming: many hits of specific terms in both fields plus example similarity.

How it is computed:

- Each distinct profile term (keyword, phrase, positive query term; a synonym counts as the same
  term) gets BM25F evidence in 0..1: occurrences in the title count `field_weights.title` times
  (default 3), in the abstract once, length-normalized against the papers being ranked, and
  saturated (k1 = 1.2), so the third mention adds less than the first. Words found near each
  other rather than as the exact phrase count half. A piece of text counts for one term only
  (the longest that covers it).
- A term found in most of today's papers says little: each field's occurrences are scaled by a
  specificity in 0..1, an idf over that field scaled so that a term in 2% of the papers or
  fewer counts fully and one in every paper not at all (smoothed toward 5% so that small
  batches behave). The terms under one OR of a query are alternatives for one concept: they
  share the specificity of the concept and the best of them counts.
- Concepts combine like independent clues (noisy-OR): 1 - prod(1 - 0.75 * evidence).
- Example similarity is the cosine between tf-idf vectors (title words doubled, sublinear tf),
  mapped through a saturating curve fitted to the similarity of unrelated paper pairs, so
  unrelated papers land near 0 and near-duplicates near 1. Term and example evidence combine by
  the same noisy-OR.
- Demotions multiply: each `exclude` term hit with exclude_mode = "demote" by 1 - 0.6 * its
  evidence; similarity to an `unlike` example by 1 - 0.8 * that similarity.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from worker.matching.corpus import Corpus, FieldHit

K1 = 1.2
B = 0.75
DEFAULT_FIELD_WEIGHTS = {"title": 3.0, "abstract": 1.0}
TERM_STRENGTH = 0.75  # what one fully saturated, fully specific term can contribute
NEAR_DISCOUNT = 0.5  # words near each other instead of the exact phrase
DEMOTE_STRENGTH = 0.6
UNLIKE_STRENGTH = 0.8


def term_evidence(hits: Mapping[str, FieldHit], doc_len: Mapping[str, int],
                  corpus: Corpus, weights: Mapping[str, float], specs: Mapping[str, float],
                  ) -> tuple[float, dict[str, float]]:
    """BM25F with a per-field idf: field-weighted, length-normalized term frequency saturated
    into 0..1, then scaled by how telling the term is in the fields it was found in (each
    field's specificity weighted by its share of the frequency). Also those shares, for
    reasons that say how much the title or the abstract counted.

    The idf is per field because the fields differ: `benchmark` in half of all abstracts says
    little, `benchmark` in a title (one in ten) says a lot. It applies after saturation, as in
    BM25, so repeating a common word many times does not make it telling."""
    tfs = {}
    for name, hit in hits.items():
        norm = 1 - B + B * doc_len[name] / corpus.avg_len[name]
        count = hit.count * (1.0 if hit.exact else NEAR_DISCOUNT)
        tfs[name] = weights.get(name, 1.0) * count / norm
    tf = sum(tfs.values())
    shares = {name: v / (tf or 1.0) for name, v in tfs.items()}
    spec = sum(share * specs.get(name, 1.0) for name, share in shares.items())
    return spec * tf / (K1 + tf), shares


def field_specificity(docs_by_field: Mapping[str, int], n: int) -> dict[str, float]:
    return {name: specificity(df, n) for name, df in docs_by_field.items()}


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
    """Noisy-OR of independent clues already scaled to 0..1."""
    miss = 1.0
    for e in evidence:
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
