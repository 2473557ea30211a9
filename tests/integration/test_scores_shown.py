"""Scores as a subscriber tuning `min_score` reads them in `explain` and `preview --below`."""

from __future__ import annotations

import math
import re
from pathlib import Path

from sqlalchemy import select

from tests.integration.helpers import add_seed_day, make_config, run_cli
from worker.store import outbox
from worker.store.opening import open_engine
from worker.store.schema import digests

PROFILE = """
deliver = ["markdown"]
max_items = 200
min_score = {min_score}
[interests]
keywords = ["grounding", "segmentation", "referring"]
"""


def test_a_score_under_min_score_is_not_shown_as_min_score(tmp_path: Path, seeds_dir: Path,
                                                            sqlite_url: str) -> None:
    """A paper scoring 0.6996 under `min_score = 0.7` was listed `0.70 ... under min_score 0.7`
    by `preview --below` and `score 0.70 ... left out: under min_score 0.70` by `explain`: a
    reader cannot tell why a paper at the very score asked for was left out. Such a score is
    shown with the places that tell it from min_score, cut, not rounded up to it."""
    config = make_config(tmp_path, sqlite_url, {"g": PROFILE.format(min_score=0.01)})
    add_seed_day(tmp_path, seeds_dir, "2026-03-12")
    assert run_cli(config, "run", "--now", "2026-03-12T20:00:00+00:00").exit_code == 0
    engine = open_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            ids = conn.execute(select(digests.c.id)).scalars().all()
        items = [i for d in outbox.load_digests(engine, ids).values() for i in d.items]
    finally:
        engine.dispose()
    # a paper whose score two places round up (stored to four places: 0.6996 -> 0.70)
    item = next(i for i in items if round(i.score, 2) > i.score + 0.001)
    threshold = math.ceil(item.score * 100) / 100
    (config / "subscribers" / "g.toml").write_text(PROFILE.format(min_score=threshold))

    explained = run_cli(config, "explain", "g", item.paper.key)
    assert explained.exit_code == 0, explained.output
    shown = float(re.search(r"^  score ([0-9.]+)", explained.output, re.M).group(1))
    assert shown < threshold and shown == math.floor(item.score * 1000) / 1000
    assert f"left out: under min_score {threshold:.2f}" in explained.output

    replay = run_cli(config, "preview", "g", "--since", "30d", "--below", "200",
                     "--now", "2026-03-12T21:00:00+00:00")
    assert replay.exit_code == 0, replay.output
    listed = re.search(rf"^  ([0-9.]+) +{item.paper.key} +under min_score", replay.output,
                       re.M)
    assert listed is not None, replay.output
    assert float(listed.group(1)) < threshold
    for score, why in re.findall(r"^  ([0-9.]+) +paper:\d+ +(under min_score|past max_items)",
                                 replay.output, re.M):
        assert (float(score) < threshold) == (why == "under min_score"), (score, why)


def test_explain_and_preview_below_show_a_title_as_digests_do(tmp_path: Path, seeds_dir: Path,
                                                              sqlite_url: str) -> None:
    """A title written in TeX (`$γ-$MoD: ...`) is `γ-MoD: ...` in digests; `explain` and
    `preview --below` printed its TeX."""
    profile = PROFILE.format(min_score=0.99).replace(
        '"grounding", "segmentation", "referring"', '"mixture-of-depth"')
    config = make_config(tmp_path, sqlite_url, {"g": profile})
    add_seed_day(tmp_path, seeds_dir, "2026-03-12")
    assert run_cli(config, "run", "--now", "2026-03-12T20:00:00+00:00").exit_code == 0
    title = "Exploring Mixture-of-Depth Adaptation for Multimodal Large Language Models"
    explained = run_cli(config, "explain", "g", f"$γ-$MoD: {title}")
    assert explained.exit_code == 0, explained.output
    assert f"\nγ-MoD: {title}\n" in explained.output, explained.output
    below = run_cli(config, "preview", "g", "--since", "7d", "--below", "3",
                    "--now", "2026-03-12T21:00:00+00:00")
    assert f"γ-MoD: {title}" in below.stderr, below.stderr
    assert "$" not in below.stderr, below.stderr


def test_a_reason_quotes_an_example_title_as_digests_show_titles(tmp_path: Path,
                                                                 seeds_dir: Path,
                                                                 sqlite_url: str) -> None:
    """A liked paper titled in TeX was quoted with its TeX in every reason ("resembles
    “\\$γ-\\$MoD: ...”" in the Markdown digest) under titles that digests write out."""
    like = ("$γ-$MoD: Exploring Mixture-of-Depth Adaptation for Multimodal Large Language "
            "Models")
    profile = (PROFILE.format(min_score=0.3).split("[interests]")[0]
               + f"[interests]\nlike = ['{like}']\n")
    config = make_config(tmp_path, sqlite_url, {"g": profile})
    add_seed_day(tmp_path, seeds_dir, "2026-03-12")
    assert run_cli(config, "run", "--now", "2026-03-12T20:00:00+00:00").exit_code == 0
    digest = "".join(p.read_text() for p in (tmp_path / "out" / "g").glob("*.md"))
    assert "resembles “γ-MoD: Exploring Mixture-of-Depth" in digest, digest
    assert "$γ" not in digest, digest
