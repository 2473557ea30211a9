"""A source that lists only papers on one topic (an arXiv search for the subscriber's own
keyword) made that keyword common among the papers ranked together, so each of them counted
it as telling little: four papers on visual grounding scored 0.40 for a subscriber of
"visual grounding" and were left under min_score 0.45 (the reader audit). How common a term
is counts the papers seen just before the batch too (selection.BACKGROUND)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.integration.helpers import add_seed_day, make_config, run_cli

SUB = """
deliver = ["markdown"]
min_score = 0.45
[interests]
keywords = ["visual grounding"]
"""

TOPICS = ("remote sensing imagery", "3D point clouds", "egocentric video", "medical scans")


def _focused_dump() -> str:
    """Four papers on visual grounding, as a search for it would list them."""
    blocks = ["Mar 15"]
    for topic in TOPICS:
        blocks += [f"Visual Grounding for {topic.title()}",
                   f"We introduce a visual grounding model for {topic}: given a referring "
                   f"phrase, it localizes the described object in {topic}. Visual grounding "
                   f"in {topic} is hard because objects are small and similar; our model "
                   "improves grounding accuracy on three benchmarks."]
    return "\n\n".join(blocks) + "\n"


def test_papers_of_a_focused_source_keep_their_score(tmp_path: Path, seeds_dir: Path,
                                                     sqlite_url: str) -> None:
    config = make_config(tmp_path, sqlite_url, {"ada": SUB})
    add_seed_day(tmp_path, seeds_dir, "2026-03-14")
    assert run_cli(config, "run", "--now", "2026-03-14T20:00:00+00:00").exit_code == 0
    before = set((tmp_path / "out" / "ada").glob("*.md"))
    focused = tmp_path / "dumps" / "search.txt"
    focused.write_text(_focused_dump(), encoding="utf-8")
    stamp = 1773604800  # 2026-03-15 20:00 UTC
    os.utime(focused, (stamp, stamp))
    result = run_cli(config, "run", "--now", "2026-03-15T20:00:00+00:00")
    assert result.exit_code == 0, result.output
    [digest] = set((tmp_path / "out" / "ada").glob("*.md")) - before
    text = digest.read_text(encoding="utf-8")
    for topic in TOPICS:  # every one of them, each at a score that says "on topic"
        assert f"Visual Grounding for {topic.title()}" in text, text
    explained = run_cli(config, "explain", "ada", f"Visual Grounding for {TOPICS[0].title()}")
    assert "in the digest" in explained.output, explained.output
