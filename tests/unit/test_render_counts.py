"""The count of papers a digest leaves out is worded for both reasons it leaves them out:
scored under min_score, or past max_items."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.unit.test_render_golden import CREATED, _paper, sample_digest
from worker.matching import Interests
from worker.profiles import Profile
from worker.render import digest_context, render
from worker.selection import match_papers
from worker.store.models import Digest, DigestItem

ABSTRACT = "We measure hallucination in vision-language models, setting {n}."


def _rendered(digest: Digest) -> dict[str, str]:
    ctx = digest_context(digest, name="Ada", email="ada@example.org", profile_file=None)
    return {fmt: render(ctx, fmt) for fmt in ("md", "txt", "html")}


def test_papers_past_max_items_are_not_called_below_the_threshold() -> None:
    """min_score 0 and max_items 2, seven papers matching: the five left out all scored
    above the threshold, and the digest must not say they fell below it."""
    papers = [_paper(n, f"Hallucination study {n}", ABSTRACT.format(n=n)) for n in range(1, 8)]
    profile = Profile("ada", "Ada", None, ("markdown",),
                      Interests(keywords=("hallucination",)), max_items=2, min_score=0.0)
    items, more = match_papers(profile, papers, {})
    assert (len(items), more) == (2, 5)
    by_id = {p.id: p for p in papers}
    digest = Digest(1, "ada", CREATED, "<m@x>", len(items), more, 0, 1, tuple(
        DigestItem(rank, i.score, i.reasons, by_id[i.paper_id])
        for rank, i in enumerate(items, start=1)))
    for fmt, text in _rendered(digest).items():
        assert "5 more matching papers ranked lower" in text, fmt
        assert "threshold" not in text, fmt


@pytest.mark.parametrize(("count", "words"), [(1, "1 more matching paper ranked lower"),
                                              (0, "")])
def test_one_or_none_left_out(count: int, words: str) -> None:
    digest = replace(sample_digest(), below_threshold=count)
    assert digest_context(digest, name="Ada", email=None, profile_file=None).ranked_lower == words
    for fmt, text in _rendered(digest).items():
        assert ("more matching" in text) == bool(count), fmt
        assert words in text, fmt


@pytest.mark.parametrize(("below", "said", "unsaid"), [
    (1, "1 new paper matched your interests only a little, under your", "nothing new matched"),
    (3, "3 new papers matched your interests only a little, all under your", "new papers matched"
     " your interests only a little: none"),
    (0, "matched your interests since the last digest", "only a little"),
])
def test_an_empty_digest_says_whether_papers_matched_a_little(below: int, said: str,
                                                             unsaid: str) -> None:
    """send_empty's digest with nothing shown: "nothing new matched" would contradict a paper
    that matched under min_score; and with nothing shown, none is "1 more" than it, nor are
    one paper "new papers"."""
    digest = replace(sample_digest(), items=(), item_count=0, below_threshold=below)
    for fmt, text in _rendered(digest).items():
        flat = " ".join(text.split()).lower()
        assert said.lower() in flat and unsaid not in flat, (fmt, flat[:400])
        assert "more matching" not in flat, (fmt, flat[:400])
