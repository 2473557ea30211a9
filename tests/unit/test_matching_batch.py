"""The fast ranking (worker.matching.batch: bounds, early stop, counting on bit sets) must give
exactly what scoring every paper gives: the same papers, scores, reasons and counts."""

from __future__ import annotations

import math
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from worker.matching import Corpus, Interests, Matcher, PaperText, prepare
from worker.matching import examples as ex
from worker.matching.batch import Batch
from worker.matching.explain import build_match, parts

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"
TOPICS = [
    ["hallucination", "object hallucination", "faithfulness", "language prior", "grounding"],
    ["vision-language model", "VLM", "multimodal", "visual instruction tuning", "image"],
    ["quantization", "KV cache", "speculative decoding", "low-bit", "throughput", "LLM"],
    ["robot", "manipulation", "embodied", "sim-to-real", "policy", "locomotion"],
    ["benchmark", "evaluation", "leaderboard", "human evaluation", "data contamination"],
    ["diffusion", "text-to-image", "denoising", "image editing", "video generation"],
    ["speech", "speech recognition", "text-to-speech", "audio", "spoken language model"],
]
FILLER = ("we propose a method that improves results on several tasks while reducing cost "
          "and the model is trained on a new dataset with strong baselines for comparison").split()


def synthetic(n: int, seed: int) -> list[PaperText]:
    rng = random.Random(seed)
    papers = []
    for i in range(n):
        topics = rng.sample(TOPICS, 2)
        words = [rng.choice(topics[0]) for _ in range(rng.randint(2, 6))]
        words += [rng.choice(topics[1]) for _ in range(rng.randint(0, 3))]
        words += rng.sample(FILLER, 12)
        rng.shuffle(words)
        title = f"Paper {i}: " + " ".join(rng.sample(topics[0], 2)).title()
        papers.append(PaperText(f"p{i}", title, " ".join(words) + "."))
    return papers


def seeds() -> list[PaperText]:
    if not any(SEEDS.glob("*.txt")):
        pytest.skip(f"{SEEDS} is absent")
    found: dict[str, PaperText] = {}
    for path in sorted(SEEDS.glob("*.txt")):
        text = path.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
        blocks = [b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()][5:]
        for title, abstract in zip(blocks[::2], blocks[1::2], strict=True):
            found.setdefault(title, PaperText(f"title:{title}", title, abstract))
    return list(found.values())


def profile(rng: random.Random, papers: list[PaperText]) -> tuple[Interests, list, list]:
    topics = rng.sample(TOPICS, rng.choice((1, 2)))
    pool = [t for topic in topics for t in topic]
    kind = rng.choice(("keywords", "query", "examples", "mixed"))
    fields: dict = {}
    if kind in ("keywords", "mixed"):
        fields["keywords"] = tuple(rng.sample(pool, rng.randint(1, 5)))
    if kind in ("query", "mixed"):
        group = " OR ".join(f'"{t}"' for t in rng.sample(topics[0], 3))
        fields["query"] = f"({group})" + (f" AND NOT {rng.choice(TOPICS[-1][:1])}"
                                           if rng.random() < 0.3 else "")
    if rng.random() < 0.3:
        fields["exclude"] = (rng.choice(rng.choice(TOPICS)),)
        fields["exclude_mode"] = rng.choice(("drop", "demote"))
    if rng.random() < 0.2:
        fields["phrases"] = (rng.choice(pool),)
    if rng.random() < 0.15:
        fields["field_weights"] = {"title": rng.choice((0.0, 1.0, 5.0))}
    liked = rng.sample(papers, rng.randint(1, 3)) if kind in ("examples", "mixed") else []
    unliked = rng.sample(papers, 1) if rng.random() < 0.2 else []
    if not fields and not liked:
        fields["keywords"] = (rng.choice(pool),)
    return Interests(**fields, like=tuple(p.key for p in liked)), liked, unliked


def brute_force(matcher: Matcher, papers: list[PaperText], min_score: float,
                limit: int | None, skip: set[str]) -> tuple[list, int]:
    corpus = prepare(papers)
    found = Batch(matcher, corpus).breakdowns(range(len(corpus)))
    scored = [(parts(b, matcher), b) for b in found.values() if b.doc.paper.key not in skip]
    ranked = [(p, b) for p, b in scored if p.score > 0 and not p.excluded]
    chosen = sorted((pb for pb in ranked if round(pb[0].score, 6) >= min_score),
                    key=lambda pb: (-pb[0].score, pb[1].doc.paper.key))[:limit]
    return [build_match(b, matcher, p) for p, b in chosen], len(ranked)


def words_embedder(texts: list[str]) -> list[list[float]]:
    """A stand-in for a sentence model: each word counted in one of 24 dimensions (by a stable
    sum of its letters), so papers with words in common are near each other, in varied ways."""
    out = []
    for text in texts:
        vector = [0.1] * 24
        for word in re.findall(r"[a-z]+", text.lower()):
            vector[sum(map(ord, word)) % 24] += 1.0
        out.append(vector)
    return out


@pytest.mark.parametrize("embedder", [None, words_embedder], ids=["words", "semantic"])
@pytest.mark.parametrize("source", ["synthetic", "seeds"])
def test_top_is_what_scoring_everything_gives(source: str, embedder: Any) -> None:
    """The top of the ranking, taken in the order of the bounds, is what scoring every paper in
    full gives, and no score exceeds its bound; with semantic matching too (its z by meaning
    to every paper is known at once, so it is bounded like the rest)."""
    papers = synthetic(400, 1) if source == "synthetic" else seeds()
    rng = random.Random(7)
    for _ in range(150):
        interests, liked, unliked = profile(rng, papers)
        matcher = Matcher(interests, examples=liked, unlike=unliked, embedder=embedder)
        min_score = rng.choice((0.0, 0.1, 0.2, 0.3, 0.5, 0.7))
        limit = rng.choice((1, 5, 10, 30, None))
        skip = {p.key for p in liked}
        expected, ranked = brute_force(matcher, papers, min_score, limit, skip)
        got = matcher.top(papers, min_score=min_score, limit=limit, skip=skip)
        assert list(got.matches) == expected, interests
        assert got.ranked == ranked, interests
        batch = Batch(matcher, prepare(papers))
        bounds = batch.bounds()
        for n, b in batch.breakdowns(range(len(papers))).items():
            assert parts(b, matcher).score <= bounds[n], (interests, n)


def test_semantic_scores_on_arrays_are_the_scalar_curve() -> None:
    from worker.matching.batch import semantic_scores
    from worker.matching.semantic import semantic_score

    zs = [-1.0, 0.0, 1e-12, 1e-6, 0.5, 2.0, 2.9, 3.0, 3.5, 5.0, 9.0]
    for z, value in zip(zs, semantic_scores(np.array(zs)), strict=True):
        assert abs(value - semantic_score(z)) <= 1e-12, z


def test_rank_with_a_limit_is_the_head_of_the_full_ranking() -> None:
    papers = synthetic(300, 2)
    rng = random.Random(3)
    for _ in range(30):
        interests, liked, unliked = profile(rng, papers)
        matcher = Matcher(interests, examples=liked, unlike=unliked)
        full = matcher.rank(papers)
        for limit in (1, 5, 20):
            assert matcher.rank(papers, limit=limit) == full[:limit]


def test_profiles_ranked_in_any_order_score_alike() -> None:
    """Per-term results are cached on the batch and shared; none may leak from one profile
    into another (the kind or words of a term, a concept's specificity)."""
    papers = synthetic(300, 4)
    rng = random.Random(5)
    profiles = [profile(rng, papers) for _ in range(40)]

    def run(order: list[int]) -> dict[int, list]:
        corpus = prepare(list(papers))
        corpus.evidence.clear()
        out = {}
        for i in order:
            interests, liked, unliked = profiles[i]
            out[i] = Matcher(interests, examples=liked, unlike=unliked).rank(corpus)
        return out

    forward = run(list(range(len(profiles))))
    backward = run(list(reversed(range(len(profiles)))))
    assert forward == backward


def test_terms_that_split_a_paper_are_bounded_after_the_split() -> None:
    """Where two terms share words (`speech`, `speech recognition`), the text is split between
    them, and a term's strength may rise when it keeps only its more telling occurrences:
    the bounds must be taken after the split."""
    common = [PaperText(f"c{i}", f"Paper {i} on tasks", "speech " * 3 + " ".join(FILLER))
              for i in range(120)]
    split = [PaperText(f"s{i}", f"Fast Speech Synthesis {i}",
                       "speech recognition " * (2 + i % 3) + "speech " * (3 + i) + "done.")
             for i in range(8)]
    papers = common + split
    matcher = Matcher(Interests(keywords=("speech", "speech recognition")))
    batch = Batch(matcher, prepare(papers))
    bounds = batch.bounds()
    for n, b in batch.breakdowns(range(len(papers))).items():
        assert parts(b, matcher).score <= bounds[n]
    for limit in (1, 3, 5):
        expected, ranked = brute_force(matcher, papers, 0.2, limit, set())
        got = matcher.top(papers, min_score=0.2, limit=limit)
        assert (list(got.matches), got.ranked) == (expected, ranked)


def test_a_query_concept_changed_by_synonyms_shares_nothing_with_the_plain_one() -> None:
    """A query term's evidence depends on how telling its whole concept is, and a synonym of
    another alternative changes that (`VLM` = `vision-language model` makes the concept hit
    more papers): the same query without the synonym must not get its cached evidence."""
    papers = synthetic(300, 6) + [
        PaperText(f"v{i}", f"Study {i}", "a vision-language model for tasks " * (1 + i % 3))
        for i in range(60)]
    query = '("visual instruction tuning" OR VLM)'
    plain = Interests(query=query)
    with_synonym = Interests(query=query, synonyms={"VLM": ("vision-language model",)})
    alone = Matcher(plain).rank(Corpus.of(papers))
    shared = Corpus.of(papers)
    Matcher(with_synonym).rank(shared)
    assert Matcher(plain).rank(shared) == alone
    assert alone  # the profile does match papers, so the comparison means something


def test_profiles_sharing_a_terms_evidence_each_get_their_own_reasons() -> None:
    """Profiles share a term's evidence in a batch (Matcher._term_evidence) and the wording of
    its hits (FieldHit.said); those that write the term otherwise, or as another kind of
    interest, must each still get the reasons they get alone: their own wording quoted, their
    own kind."""
    papers = synthetic(200, 8)
    profiles = [Interests(keywords=("grounding",)), Interests(keywords=("Grounding",)),
                Interests(phrases=("grounding",)),
                Interests(keywords=("grounding", "image"), query="hallucination OR grounding")]
    alone = [Matcher(i).rank(Corpus.of(papers), limit=5) for i in profiles]
    shared = Corpus.of(papers)
    together = [Matcher(i).rank(shared, limit=5) for i in profiles]
    assert together == alone
    reasons = [m.reasons[0] for m in together[1] + together[2]]
    assert reasons and {r.interest for r in reasons[:5]} == {"Grounding"}
    assert {r.kind for r in reasons[5:]} == {"phrase"}


def test_cosines_on_arrays_are_the_dot_products_of_the_vectors() -> None:
    """examples.Postings: the cosines of several examples with every paper at once are their
    vectors' dot products (0.0 for papers sharing no stem), common and rare stems alike; each
    paper's nearest example is the first of equals."""
    papers = seeds()
    corpus = Corpus.of(papers)
    vectors = ex.corpus_vectors(corpus)
    chosen = random.Random(7).sample(papers, 12)
    examples = ex.example_vectors([*chosen, chosen[0]], corpus)  # the last: a tie with the first
    assert all(len(e.rows) and len(e.stems) for e in examples.examples)  # both kinds of stems
    cosines = ex.postings(corpus).cosines(examples.examples)
    for row, found in zip(cosines, examples.examples, strict=True):
        for n, paper in enumerate(vectors):
            shared = [weight * paper[stem] for stem, weight in found.vector.items()
                      if stem in paper]
            assert row[n] == pytest.approx(math.fsum(shared), abs=1e-14)
            assert (row[n] == 0.0) == (not shared)
    best, best_cosine = ex.postings(corpus).nearest(examples)
    for n in range(len(corpus)):
        column = list(cosines[:, n])
        assert best_cosine[n] == max(column)
        assert best[n] == (column.index(max(column)) if max(column) > 0 else -1)
        assert best[n] != len(chosen)


def test_example_vectors_kept_are_bounded_and_made_again_alike(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch keeps the EXAMPLES_KEPT most recently used examples' vectors; one made again
    after it was dropped is the same, and one still kept is the same object."""
    papers = seeds()
    corpus = Corpus.of(papers)
    monkeypatch.setattr(ex, "EXAMPLES_KEPT", 2)
    first = ex.example_vectors(papers[:3], corpus).examples
    kept = corpus.cache["example-vectors"]
    assert list(kept) == papers[1:3]  # the first was dropped
    [still] = ex.example_vectors([papers[2]], corpus).examples
    assert still is first[2]
    [again] = ex.example_vectors([papers[0]], corpus).examples
    assert again is not first[0] and again.vector == first[0].vector
    assert (again.rows == first[0].rows).all() and (again.stems == first[0].stems).all()
    assert list(kept) == [papers[2], papers[0]]  # papers[1] was the least recently used


def test_bounds_are_tight_where_terms_share_no_text() -> None:
    """Away from shared text (and with no AND of concepts, whose concepts may stand apart) the
    bound is the score itself, to rounding, passing mentions counted once as the score counts
    them: a digest scores little more than the papers it shows."""
    papers = seeds()
    rng = random.Random(11)
    for _ in range(40):
        interests, liked, unliked = profile(rng, papers)
        matcher = Matcher(interests, examples=liked, unlike=unliked)
        batch = Batch(matcher, prepare(papers))
        bounds = batch.bounds()
        for n, b in batch.breakdowns(range(len(papers))).items():
            p = parts(b, matcher)
            if n not in batch.shared_text and not p.excluded:
                assert bounds[n] - 1e-8 <= p.score <= bounds[n], (interests, n)


def test_similarity_on_arrays_is_the_scalar_curve() -> None:
    from worker.matching import scoring
    from worker.matching.batch import similarity_scores

    cosines = [-0.1, 0.0, 1e-12, 1e-6, 0.01, 0.05, 0.11, 0.17, 0.2, 0.3, 0.5, 0.99, 1.0]
    import numpy as np

    got = similarity_scores(np.array(cosines))
    for cosine, value in zip(cosines, got, strict=True):
        assert abs(value - scoring.similarity_score(cosine)) <= 1e-12, cosine


def test_strengths_on_arrays_are_each_papers_evidence_to_the_bit() -> None:
    """scoring.strengths (every paper at once, for the bounds) and scoring.evidence_from (one
    paper, for its score) must agree exactly: the bounds are the scores."""
    from worker.matching import scoring

    corpus = prepare(synthetic(300, 8))
    matcher = Matcher(Interests(keywords=("hallucination", "object hallucination", "robot"),
                                query='("KV cache" OR quantization OR LLM)'))
    batch = Batch(matcher, corpus)
    assert all(len(ev.base.papers) for _, ev in batch.terms)
    for _, ev in batch.terms:
        for i, counts in enumerate(ev.base.counts):
            evidence, _, saturated = scoring.evidence_from(counts, ev.spec)
            assert ev.strengths[i] == min(scoring.TERM_STRENGTH * evidence, 1.0)
            assert ev.caps[i] == min(scoring.TERM_STRENGTH * saturated, 1.0)


def test_a_tf_idf_vector_is_what_its_definition_gives() -> None:
    """Sublinear tf (a title's words counted twice) times smoothed idf over the batch, unit
    length; stop words, single letters and numbers left out; an example paper gets the same
    vector as the same paper in the batch."""
    papers = [PaperText("a", "Grounding grounding models", "We ground 2024 models in images."),
              PaperText("b", "Images", "Images of x and models."),
              PaperText("c", "Other", "Nothing shared here.")]
    corpus = Corpus.of(papers)
    size = len(papers) + 1
    df = {"ground": 1, "model": 2}
    tf = {"ground": 2 * 2 + 1, "model": 2 + 1, "imag": 1}  # title twice, then the abstract
    raw = {s: (1 + math.log(c)) * (math.log(size / (df.get(s, 2) + 1)) + 1) for s, c in tf.items()}
    norm = math.sqrt(sum(v * v for v in raw.values()))
    expected = {s: v / norm for s, v in raw.items()}
    vector = ex.corpus_vectors(corpus)[0]
    assert list(vector) == list(expected)  # in order of first occurrence: title, abstract
    assert vector == pytest.approx(expected, rel=1e-12)
    assert ex.example_vectors([papers[0]], corpus).examples[0].vector == vector
