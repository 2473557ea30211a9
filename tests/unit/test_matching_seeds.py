"""The matcher on real seed text from ../shared/seeds (skipped where it is absent)."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from worker.matching import Interests, Matcher, PaperText, highlight_spans

SEEDS = Path(__file__).resolve().parents[2].parent / "shared" / "seeds"


def load_seed_papers() -> list[PaperText]:
    """Unique papers of every seed file (blocks after the 5 header blocks: title, abstract)."""
    if not SEEDS.is_dir():
        pytest.skip(f"seed dumps not found at {SEEDS}")
    papers: dict[str, PaperText] = {}
    for path in sorted(SEEDS.glob("*.txt")):
        text = path.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
        blocks = [b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()][5:]
        for title, abstract in zip(blocks[::2], blocks[1::2], strict=True):
            papers.setdefault(title, PaperText(f"title:{title}", title, abstract))
    return list(papers.values())


@pytest.fixture(scope="module")
def seeds() -> list[PaperText]:
    return load_seed_papers()


def oracle(pattern: str, papers: list[PaperText]) -> set[str]:
    """An independent check: a regex over NFKC-normalized text, any dash or space."""
    rx = re.compile(pattern, re.IGNORECASE)
    return {p.key for p in papers
            if rx.search(unicodedata.normalize("NFKC", f"{p.title}\n{p.abstract}"))}


def keys(interests: Interests, papers: list[PaperText]) -> set[str]:
    return {m.paper.key for m in Matcher(interests).rank(papers)}


def test_seeds_load(seeds: list[PaperText]) -> None:
    assert len(seeds) == 338


@pytest.mark.parametrize(("term", "pattern"), [
    ("vision-language", r"\bvision[\s\-‐‑–—&/]*language\b"),  # also Vision&Language
    ("OCR", r"\bOCRs?\b"),
    ("referring expression", r"\breferring[\s\-]+expressions?\b"),
    ("chart", r"\bcharts?\b"),
    ("hallucination", r"\bhallucinat(e|es|ed|ing|ion|ions)\b"),
])
def test_keyword_hits_agree_with_a_regex(seeds: list[PaperText], term: str,
                                         pattern: str) -> None:
    expected = oracle(pattern, seeds)
    assert expected, "the oracle should find something in the seeds"
    assert keys(Interests(keywords=(term,)), seeds) == expected


def test_whole_words_only(seeds: list[PaperText]) -> None:
    found = keys(Interests(keywords=("art",)), seeds)
    assert found == oracle(r"\barts?\b", seeds)  # `state-of-the-art`, never `partial`
    assert oracle(r"partial", seeds) - found


def test_unicode_titles_match(seeds: list[PaperText]) -> None:
    [match] = Matcher(Interests(keywords=("μ-bench",))).rank(seeds)
    assert match.paper.title.startswith("μ-Bench")
    assert match.reasons[0].terms == ("μ-Bench",)
    [span] = highlight_spans(match.paper.title, match.highlights)[:1]
    assert match.paper.title[span[0]:span[1]] == "μ-Bench"


def test_the_design_query_on_the_seeds(seeds: list[PaperText]) -> None:
    interests = Interests(query='(hallucination OR "language prior") AND NOT survey')
    found = keys(interests, seeds)
    positive = oracle(r"\bhallucinat\w*|\blanguage[\s\-]+priors?\b", seeds)
    assert found == positive - oracle(r"\bsurveys?\b", seeds)
    assert len(found) >= 10


def test_every_highlight_occurs_in_the_paper(seeds: list[PaperText]) -> None:
    interests = Interests(keywords=("vision-language", "benchmark", "multimodal", "grounding"))
    for match in Matcher(interests).rank(seeds):
        text = f"{match.paper.title}\n{match.paper.abstract}"
        assert match.highlights
        assert all(term in text for term in match.highlights)
        assert highlight_spans(text, match.highlights)


@pytest.mark.parametrize("kind", ["keywords", "query", "examples"])
def test_scores_mean_the_same_for_every_kind_of_profile(seeds: list[PaperText],
                                                        kind: str) -> None:
    """On a real batch, a profile of any kind passes few papers at 0.7 and a minority at 0.3."""
    examples = [p for p in seeds if "grounding" in p.title.casefold()][:3]
    interests = {
        "keywords": Interests(keywords=("visual grounding", "referring expression")),
        "query": Interests(query='grounding OR "referring expression"'),
        "examples": Interests(like=tuple(p.title for p in examples)),
    }[kind]
    own = {p.key for p in examples}
    batch = [p for p in seeds if p.key not in own]
    matcher = Matcher(interests, examples=examples if kind == "examples" else ())
    scores = [m.score for m in matcher.rank(batch)]
    assert 0 < sum(s >= 0.7 for s in scores) <= 0.05 * len(batch)
    assert sum(s >= 0.3 for s in scores) <= 0.25 * len(batch)
