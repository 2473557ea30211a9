"""The whole path: seeds in day by day, only-new relevant digests out, nothing twice."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from tests.integration.helpers import SEED_DAYS, add_seed_day, make_config, run_cli
from worker.preview import _batches, explain
from worker.records import normalize_title
from worker.settings import load_config
from worker.sources.dumps import parse_dump
from worker.store import outbox
from worker.store.models import StoredPaper
from worker.store.opening import open_engine
from worker.store.papers import papers_in_range
from worker.store.schema import digests, dumps

GROUNDING = """
name = "Grounding Fan"
deliver = ["markdown"]
max_items = 200
min_score = 0.01
[interests]
keywords = ["segmentation", "grounding", "referring"]
"""
DOCS = """
name = "Doc Reader"
deliver = ["markdown"]
max_items = 200
min_score = 0.01
[interests]
keywords = ["OCR", "chart", "document"]
exclude = ["survey"]
"""
# Stems: the matcher folds inflections ("grounded" counts for "grounding").
TERMS = {"grounding": ["segment", "ground", "refer"], "docs": ["ocr", "chart", "document"]}
KEYWORDS = {"grounding": ["segmentation", "grounding", "referring"],
            "docs": ["ocr", "chart", "document"]}


def _digest_titles(path: Path) -> list[str]:
    # Titles are the level-2 headings: "## 3. [Title](url)" or "## 3. Title".
    titles = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"## \d+\. (?:\[(.*)\]\(.*\)|(.*))$", line)
        if match:
            titles.append(re.sub(r"\\(.)", r"\1", match.group(1) or match.group(2)))
    return titles


def _hits(text: str, terms: list[str]) -> bool:
    folded = re.sub(r"[-‐–]", " ", text.casefold())
    return any(re.search(rf"\b{re.escape(t)}", folded) for t in terms)


def _names(text: str, terms: list[str]) -> bool:
    folded = re.sub(r"[-‐–]", " ", text.casefold())
    return any(re.search(rf"\b{re.escape(t)}(s|ed|ing|ation)?\b", folded) for t in terms)


def test_day_by_day(tmp_path: Path, seeds_dir: Path, database_url: str) -> None:
    config = make_config(tmp_path, database_url, {"grounding": GROUNDING, "docs": DOCS})
    seen: set[str] = set()
    delivered: dict[str, list[str]] = {"grounding": [], "docs": []}
    for day in SEED_DAYS:
        add_seed_day(tmp_path, seeds_dir, day)
        result = run_cli(config, "run", "--now", f"{day}T20:00:00+00:00")
        assert result.exit_code == 0, result.output
        entries = [e for name in SEED_DAYS[day] for e in parse_dump(
            (seeds_dir / name).read_bytes(), name, __import__("datetime").datetime.now()).entries]
        first_today = {normalize_title(e.title): e for e in entries}
        first_today = {k: e for k, e in first_today.items() if k not in seen}
        seen |= set(first_today)
        for sid, terms in TERMS.items():
            files = sorted((tmp_path / "out" / sid).glob(f"{day}-*.md"))
            titles = [t for f in files for t in _digest_titles(f)]
            keys = [normalize_title(t) for t in titles]
            # Only papers first seen today, each with a reason to be there...
            assert set(keys) <= set(first_today), f"{sid} {day}: an old paper came again"
            for key in keys:
                entry = first_today[key]
                assert _hits(entry.title + " " + entry.abstract, terms)
            # ...and every paper of today whose title names an interest is in the digest.
            wanted = {k for k, e in first_today.items() if _names(e.title, KEYWORDS[sid])
                      and not (sid == "docs" and "survey" in (e.title + e.abstract).casefold())}
            assert wanted <= set(keys), f"{sid} {day}: missed {wanted - set(keys)}"
            assert keys, f"{sid} got nothing on {day}"
            delivered[sid] += keys
        again = run_cli(config, "run", "--now", f"{day}T21:00:00+00:00")
        assert again.exit_code == 0 and "nothing new" in again.output, again.output
    for keys in delivered.values():
        assert len(keys) == len(set(keys)), "a paper was delivered twice"
    assert len(seen) == 338


def test_rereading_all_seeds_adds_nothing(tmp_path: Path, seeds_dir: Path,
                                          sqlite_url: str) -> None:
    config = make_config(tmp_path, sqlite_url, {"grounding": GROUNDING})
    for day in SEED_DAYS:
        add_seed_day(tmp_path, seeds_dir, day)
    first = run_cli(config, "run", "--now", "2026-03-14T20:00:00+00:00")
    assert "444 papers listed, 338 new" in first.output, first.output
    for path in (tmp_path / "dumps").iterdir():  # same content, new names: still known
        path.rename(path.with_name("copy-" + path.name))
    second = run_cli(config, "run", "--now", "2026-03-15T20:00:00+00:00")
    assert "0 dumps read, 5 unchanged" in second.output, second.output
    assert "grounding: nothing new" in second.output


def test_malformed_dump_is_reported_and_others_go_through(tmp_path: Path, seeds_dir: Path,
                                                          sqlite_url: str) -> None:
    config = make_config(tmp_path, sqlite_url, {"grounding": GROUNDING})
    add_seed_day(tmp_path, seeds_dir, "2026-03-14")
    (tmp_path / "dumps" / "broken.txt").write_bytes(b"Title only\n\nAbstract\n\nDangling")
    (tmp_path / "dumps" / "latin1.txt").write_bytes("Caf\xe9\n\nAbstract".encode("latin-1"))
    result = run_cli(config, "run", "--now", "2026-03-14T20:00:00+00:00")
    assert result.exit_code == 3
    assert f"FAILED {tmp_path / 'dumps' / 'broken.txt'}: line 5: 3 title/abstract" \
        in result.output
    assert "latin1.txt: line 1: not UTF-8" in result.output
    assert "119 papers listed, 119 new" in result.output
    # Fixed later, the file is read whole.
    (tmp_path / "dumps" / "broken.txt").write_bytes(b"Title only\n\nAbstract")
    (tmp_path / "dumps" / "latin1.txt").unlink()
    fixed = run_cli(config, "run", "--now", "2026-03-15T20:00:00+00:00")
    assert fixed.exit_code == 0 and "1 papers listed" not in fixed.output
    assert "1 paper listed, 1 new" in fixed.output



def test_a_dump_named_in_another_encoding_is_read_with_the_others(
        tmp_path: Path, seeds_dir: Path, sqlite_url: str) -> None:
    """A file name that is not UTF-8 (Latin-1 `café.txt`) reached the database with lone
    surrogates, which it refused: no dump of the folder was read, every run."""
    import os

    config = make_config(tmp_path, sqlite_url, {"grounding": GROUNDING})
    add_seed_day(tmp_path, seeds_dir, "2026-03-14")
    folder = os.fsencode(tmp_path / "dumps")
    with open(folder + b"/caf\xe9.txt", "wb") as good:
        good.write(b"A title\n\nIts abstract about grounding.\n")
    with open(folder + b"/na\xefve.txt", "wb") as broken:
        broken.write(b"Title only\n")
    result = run_cli(config, "run", "--now", "2026-03-14T20:00:00+00:00")
    assert "120 papers listed, 120 new" in result.output, result.output
    assert f"FAILED {tmp_path / 'dumps'}/na\\xefve.txt: line 1: " in result.output, result.output


def test_broken_subscriber_is_skipped_and_others_served(tmp_path: Path, seeds_dir: Path,
                                                        sqlite_url: str) -> None:
    config = make_config(tmp_path, sqlite_url,
                         {"grounding": GROUNDING, "broken": "[interests\nkeywords = 1"})
    add_seed_day(tmp_path, seeds_dir, "2026-03-14")
    result = run_cli(config, "run", "--now", "2026-03-14T20:00:00+00:00")
    assert result.exit_code == 3
    assert "broken: SKIPPED" in result.output and "invalid TOML" in result.output
    assert f"(fix them, then `paper-digest --config {config} check`)" in result.output
    assert list((tmp_path / "out" / "grounding").glob("*.md"))


def test_new_subscriber_gets_only_its_backfill(tmp_path: Path, seeds_dir: Path,
                                               sqlite_url: str) -> None:
    config = make_config(tmp_path, sqlite_url, {"grounding": GROUNDING})
    add_seed_day(tmp_path, seeds_dir, "2026-03-12")
    run_cli(config, "run", "--now", "2026-03-12T20:00:00+00:00")
    add_seed_day(tmp_path, seeds_dir, "2026-03-14")
    run_cli(config, "run", "--now", "2026-03-14T20:00:00+00:00")
    (config / "subscribers" / "late.toml").write_text(
        GROUNDING.replace('max_items', 'backfill = "1d"\nmax_items'), encoding="utf-8")
    result = run_cli(config, "run", "--now", "2026-03-14T21:00:00+00:00")
    assert result.exit_code == 0, result.output
    late = [t for f in (tmp_path / "out" / "late").glob("*.md") for t in _digest_titles(f)]
    day14 = [t for f in (tmp_path / "out" / "grounding").glob("2026-03-14-*.md")
             for t in _digest_titles(f)]
    assert late and sorted(late) == sorted(day14)


def test_dry_run_changes_nothing(tmp_path: Path, seeds_dir: Path, sqlite_url: str) -> None:
    config = make_config(tmp_path, sqlite_url, {"grounding": GROUNDING})
    add_seed_day(tmp_path, seeds_dir, "2026-03-14")
    dry = run_cli(config, "run", "--dry-run", "--now", "2026-03-14T20:00:00+00:00")
    assert dry.exit_code == 0 and "dry run" in dry.output
    # where the real run writes it, folder and all (it said "would write 2026-...-1.md")
    assert f"would write {tmp_path / 'out' / 'grounding' / '2026-03-14-digest-'}" in dry.output
    assert not (tmp_path / "out").exists()
    real = run_cli(config, "run", "--now", "2026-03-14T20:00:00+00:00")
    assert "119 papers listed, 119 new" in real.output


@pytest.mark.parametrize("fmt", ["md", "txt", "html"])
def test_preview_sends_and_records_nothing(tmp_path: Path, seeds_dir: Path, sqlite_url: str,
                                           fmt: str) -> None:
    config = make_config(tmp_path, sqlite_url, {"grounding": GROUNDING})
    add_seed_day(tmp_path, seeds_dir, "2026-03-14")
    run_cli(config, "run", "--now", "2026-03-14T20:00:00+00:00")
    sent = sorted((tmp_path / "out").rglob("*"))
    # A subscriber added since: preview shows what its first digest would hold.
    (config / "subscribers" / "docs.toml").write_text(DOCS, encoding="utf-8")
    shown = run_cli(config, "preview", "docs", "--format", fmt, "--now",
                    "2026-03-14T21:00:00+00:00")
    assert shown.exit_code == 0, shown.output
    assert "no digest was sent or recorded" in shown.output
    assert {"md": "# Paper digest for Doc Reader", "txt": "Paper digest for Doc Reader",
            "html": "<h1"}[fmt] in shown.output
    # Already delivered papers come back only when replaying a window.
    plain = run_cli(config, "preview", "grounding", "--now", "2026-03-14T21:00:00+00:00")
    assert "0 of 0 papers not yet delivered" in plain.output
    replay = run_cli(config, "preview", "grounding", "--since", "7d", "--now",
                     "2026-03-14T21:00:00+00:00")
    assert "## 1. " in replay.output and "papers first seen in the last 7 days" in replay.output
    assert sorted((tmp_path / "out").rglob("*")) == sent
    after = run_cli(config, "run", "--now", "2026-03-14T22:00:00+00:00")
    assert "docs: " in after.output and "docs: nothing new" not in after.output


def test_a_replay_ranks_as_the_digests_did(tmp_path: Path, seeds_dir: Path,
                                           database_url: str) -> None:
    """preview --since ranks each digest's papers together, as that digest did: with the
    profile unchanged it shows what the digests held (max_items each, not for the whole
    window), at their scores, best first."""
    config = make_config(tmp_path, database_url, {"grounding": GROUNDING.replace(
        "max_items = 200", "max_items = 3")})
    for day in ("2026-03-12", "2026-03-13"):
        add_seed_day(tmp_path, seeds_dir, day)
        assert run_cli(config, "run", "--now", f"{day}T20:00:00+00:00").exit_code == 0
    engine = open_engine(database_url)
    try:
        with engine.connect() as conn:
            ids = conn.execute(select(digests.c.id)).scalars().all()
        sent = sorted(((f"{i.score:.2f}", i.paper.key) for d in outbox.load_digests(
            engine, ids).values() for i in d.items), key=lambda s: -float(s[0]))
    finally:
        engine.dispose()
    replay = run_cli(config, "preview", "grounding", "--since", "30d", "--now",
                     "2026-03-13T21:00:00+00:00")
    assert replay.exit_code == 0, replay.output
    shown = re.findall(r"\(score ([0-9.]+), `(paper:\d+)`\)", replay.output)
    assert len(sent) == 6 and sorted(shown) == sorted(sent)
    assert [float(score) for score, _ in shown] == sorted((float(s) for s, _ in sent),
                                                          reverse=True)
    assert "each ranked with the papers its digest ranked it with" in replay.output


def test_preview_below_lists_the_best_papers_left_out(tmp_path: Path, seeds_dir: Path,
                                                       sqlite_url: str) -> None:
    """preview --below N names the N best papers the digests left out, best first, each with
    why (past max_items, under min_score) and the key explain takes, which scores it alike."""
    config = make_config(tmp_path, sqlite_url, {"grounding": GROUNDING.replace(
        "max_items = 200", "max_items = 3").replace("min_score = 0.01", "min_score = 0.5")})
    for day in ("2026-03-12", "2026-03-13"):
        add_seed_day(tmp_path, seeds_dir, day)
        assert run_cli(config, "run", "--now", f"{day}T20:00:00+00:00").exit_code == 0
    replay = run_cli(config, "preview", "grounding", "--since", "30d", "--below", "40",
                     "--now", "2026-03-13T21:00:00+00:00")
    assert replay.exit_code == 0, replay.output
    shown = {key for _, key in re.findall(r"\(score ([0-9.]+), `(paper:\d+)`\)",
                                          replay.output)}
    left = re.findall(r"^  ([0-9.]+)  (paper:\d+) +(past max_items 3|under min_score 0.5) ",
                      replay.output, re.M)
    ranked_lower = int(re.search(r"\((\d+) more ranked lower\)", replay.output).group(1))
    assert 0 < len(shown) <= 6 and len(left) == min(40, ranked_lower) > 3
    assert f"left out, best first ({len(left)} of {ranked_lower};" in replay.output
    assert not shown & {key for _, key, _ in left}
    scores = [float(score) for score, _, _ in left]
    assert scores == sorted(scores, reverse=True)
    for score, _, why in left:  # past max_items: it scored enough; under: it did not
        assert (float(score) >= 0.5) == why.startswith("past"), (score, why)
    assert {why for _, _, why in left} == {"past max_items 3", "under min_score 0.5"}
    score, key, _ = left[0]
    said = run_cli(config, "explain", "grounding", key)
    assert said.exit_code == 0 and f"score {score}" in said.output, said.output
    plain = run_cli(config, "preview", "grounding", "--now", "2026-03-13T21:00:00+00:00")
    assert "left out" not in plain.output  # only when asked


def test_the_batches_a_replay_ranks(tmp_path: Path, seeds_dir: Path, sqlite_url: str) -> None:
    """A replay ranks each digest's range whole, the pending papers together, and where a pass
    sent nothing (its range is not recorded) each dump alone, as explain scores such a paper."""
    picky = GROUNDING.replace('["segmentation", "grounding", "referring"]', '["UniTAB"]')
    config = make_config(tmp_path, sqlite_url, {"picky": picky})
    for day in ("2026-03-12", "2026-03-13"):  # UniTAB is listed on the 13th only
        add_seed_day(tmp_path, seeds_dir, day)
        assert run_cli(config, "run", "--now", f"{day}T20:00:00+00:00").exit_code == 0
    add_seed_day(tmp_path, seeds_dir, "2026-03-14")
    assert run_cli(config, "fetch", "--now", "2026-03-14T20:00:00+00:00").exit_code == 0
    profile = next(p for p in load_config(config, {}).profiles if p.id == "picky")
    engine = open_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert [(r.after, r.upto) for r in _batches(conn, "picky", 0, 5)] == [
                (0, 1), (1, 2), (2, 4), (4, 5)]
            assert [(r.after, r.upto) for r in _batches(conn, "picky", 3, 5)] == [(2, 4), (4, 5)]
            first = papers_in_range(conn, 0, 1)[0]  # of 001_, the day's first dump by name
        assert explain(engine, profile, first.key).among.startswith(
            f"the {len(papers_of_day(engine, '2026-03-12', '001_'))} papers listed with it")
    finally:
        engine.dispose()


def test_preview_unknown_name(tmp_path: Path, sqlite_url: str) -> None:
    config = make_config(tmp_path, sqlite_url, {"grounding": GROUNDING})
    result = run_cli(config, "preview", "nobody")
    assert result.exit_code == 2 and "no subscriber 'nobody'" in result.output
    assert "subscribers: grounding" in result.output


def test_preview_since_needs_a_window(tmp_path: Path, sqlite_url: str) -> None:
    config = make_config(tmp_path, sqlite_url, {"grounding": GROUNDING})
    for given, said in (("0d", "'0d' is an empty window"), ("", "'' is not a duration"),
                        ("7x", "'7x' is not a duration")):
        result = run_cli(config, "preview", "grounding", "--since", given)
        assert result.exit_code == 2 and "--since" in result.output, result.output
        assert said in result.output, result.output


def test_explain_shows_the_breakdown(tmp_path: Path, seeds_dir: Path, sqlite_url: str) -> None:
    config = make_config(tmp_path, sqlite_url, {"grounding": GROUNDING})
    add_seed_day(tmp_path, seeds_dir, "2026-03-13")
    run_cli(config, "run", "--now", "2026-03-13T20:00:00+00:00")
    title = "UniTAB: Unifying Text and Box Outputs for Grounded Vision-Language Modeling"
    shown = run_cli(config, "explain", "grounding", title.upper())  # titles match folded
    assert shown.exit_code == 0, shown.output
    assert shown.output.splitlines()[1] == title
    assert "“grounding”" in shown.output and "  in the digest, #" in shown.output
    missing = run_cli(config, "explain", "grounding", "No Such Paper")
    assert missing.exit_code == 2 and "no stored paper matches" in missing.output


def papers_of_day(engine: Engine, day: str, prefix: str = "") -> list[StoredPaper]:
    """The papers first listed by the seeds of `day` (those whose name starts with `prefix`)."""
    names = [n for n in SEED_DAYS[day] if n.startswith(prefix)]
    with engine.connect() as conn:
        seqs = sorted(s for locator, s in conn.execute(select(dumps.c.locator, dumps.c.seq).where(
            dumps.c.status == "ingested")) if any(locator.endswith(n) for n in names))
        return [p for s in seqs for p in papers_in_range(conn, s - 1, s)]


def test_explain_scores_a_paper_as_its_digest_did(tmp_path: Path, seeds_dir: Path,
                                                  database_url: str) -> None:
    """A digest ranks every dump since the last digest together (two seeds on 2026-03-12) and
    specificity is relative to those papers: explain scores a paper among the same ones, so it
    shows the digest's score, for the digest that held the paper or passed it over."""
    config = make_config(tmp_path, database_url, {"grounding": GROUNDING.replace(
        "min_score = 0.01", "min_score = 0.3")})
    for day in ("2026-03-12", "2026-03-13"):
        add_seed_day(tmp_path, seeds_dir, day)
        assert run_cli(config, "run", "--now", f"{day}T20:00:00+00:00").exit_code == 0
    profile = next(p for p in load_config(config, {}).profiles if p.id == "grounding")
    engine = open_engine(database_url)
    try:
        with engine.connect() as conn:
            ids = conn.execute(select(digests.c.id).where(
                digests.c.subscriber_id == "grounding").order_by(digests.c.id)).scalars().all()
        made = outbox.load_digests(engine, ids)
        assert len(made) == 2
        batch = dict(zip(ids, (papers_of_day(engine, "2026-03-12"),
                               papers_of_day(engine, "2026-03-13")), strict=True))
        for digest in made.values():
            for item in digest.items:
                shown = explain(engine, profile, item.paper.key)
                assert round(shown.explanation.match.score, 4) == item.score, item.paper.title
                assert (shown.rank, len(shown.shown)) == (item.rank, len(digest.items))
                assert shown.among == f"the {len(batch[digest.id])} papers its digest of " \
                    f"{digest.created_at:%Y-%m-%d %H:%M} UTC ranked"
        # A paper that scored under min_score is explained among its digest's papers too.
        first = made[ids[0]]
        shown_ids = {i.paper.id for i in first.items}
        left_out = next(p for p in batch[first.id] if p.id not in shown_ids)
        passed_over = explain(engine, profile, left_out.key)
        assert passed_over.among == explain(engine, profile, first.items[0].paper.key).among
        assert passed_over.rank is None and passed_over.verdict(profile).startswith("left out: ")
    finally:
        engine.dispose()


def test_explain_a_paper_no_digest_covers(tmp_path: Path, seeds_dir: Path,
                                          sqlite_url: str) -> None:
    """A paper the next digest will rank is explained among the papers that digest will rank,
    with the score it will then get; one from before a subscriber's first digest, among the
    papers listed with it."""
    config = make_config(tmp_path, sqlite_url, {"grounding": GROUNDING})
    add_seed_day(tmp_path, seeds_dir, "2026-03-12")
    assert run_cli(config, "run", "--now", "2026-03-12T20:00:00+00:00").exit_code == 0
    add_seed_day(tmp_path, seeds_dir, "2026-03-13")
    assert run_cli(config, "fetch", "--now", "2026-03-13T20:00:00+00:00").exit_code == 0
    profile = next(p for p in load_config(config, {}).profiles if p.id == "grounding")
    engine = open_engine(sqlite_url)
    try:
        title = "UniTAB: Unifying Text and Box Outputs for Grounded Vision-Language Modeling"
        ahead = explain(engine, profile, title)
        new = len(papers_of_day(engine, "2026-03-13"))
        assert ahead.among == f"the {new} papers its next digest will rank"
        assert run_cli(config, "run", "--now", "2026-03-13T21:00:00+00:00").exit_code == 0
        after = explain(engine, profile, title)
        assert after.among.startswith(f"the {new} papers its digest of 2026-03-13 21:00")
        assert after.explanation.match.score == ahead.explanation.match.score

        (config / "subscribers" / "late.toml").write_text(
            GROUNDING.replace("min_score = 0.01", 'min_score = 0.01\nbackfill = "0d"'),
            encoding="utf-8")
        add_seed_day(tmp_path, seeds_dir, "2026-03-14")
        assert run_cli(config, "run", "--now", "2026-03-14T20:00:00+00:00").exit_code == 0
        late = next(p for p in load_config(config, {}).profiles if p.id == "late")
        listed = explain(engine, late, title)
        dump = papers_of_day(engine, "2026-03-13", "000_")
        assert listed.among == f"the {len(dump)} papers listed with it (no digest of late " \
            "ranked it)"
        shown = run_cli(config, "explain", "late", title)
        assert shown.exit_code == 0 and f"scored among {listed.among}" in shown.output
    finally:
        engine.dispose()


FEW = """
name = "Few"
deliver = ["markdown"]
max_items = 2
min_score = 0.3
[interests]
keywords = ["vision-language", "segmentation"]
exclude = ["survey"]
like = ["MouSi: Poly-Visual-Expert Vision-Language Models"]
"""


def test_explain_says_what_keeps_a_paper_out(tmp_path: Path, seeds_dir: Path,
                                             sqlite_url: str) -> None:
    """explain's verdict is the digest's: the papers of the digest are in it at their places,
    others are told what kept them out. (Every eighth paper of the day, with the digest's, the
    liked one and a survey: each explain ranks the day's 166 papers again.)"""
    fish = FEW.replace('["vision-language", "segmentation"]', '["zebrafish"]')
    config = make_config(tmp_path, sqlite_url, {
        "few": FEW, "fish": fish.replace("like = ", "# "),
        "gated": FEW.replace("exclude = ", 'query = "zebrafish"\nexclude = ')})
    add_seed_day(tmp_path, seeds_dir, "2026-03-12")
    assert run_cli(config, "run", "--now", "2026-03-12T20:00:00+00:00").exit_code == 0
    profile, fish, gated = (next(p for p in load_config(config, {}).profiles if p.id == name)
                            for name in ("few", "fish", "gated"))
    engine = open_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            [digest_id] = conn.execute(select(digests.c.id)).scalars().all()  # few's only
        sent = {i.paper.id: i.rank for i in outbox.load_digest(engine, digest_id).items}
        day = papers_of_day(engine, "2026-03-12")
        chosen = [p for n, p in enumerate(day) if n % 8 == 0 or p.id in sent
                  or p.title.startswith(("MouSi:", "Few-shot Adaptation"))]
        verdicts = {p.id: explain(engine, profile, p.key).verdict(profile) for p in chosen}
        assert explain(engine, fish, day[0].key).verdict(fish) == \
            "left out: nothing in your profile matched it"
        assert explain(engine, gated, day[0].key).verdict(gated) == \
            "left out: it does not match your query: no “zebrafish”"
    finally:
        engine.dispose()
    assert {pid: v for pid, v in verdicts.items() if v.startswith("in the digest")} == {
        pid: f"in the digest, #{rank} of 2" for pid, rank in sent.items()}
    kinds = {re.sub(r"\(the lowest [0-9.]+\)", "", v) for v in verdicts.values()
             if not v.startswith("in the digest")}
    assert kinds == {"left out: it mentions “Survey”, which your profile excludes",
                     "left out: it is one of your examples (digests never show them)",
                     "left out: max_items = 2, and 2 papers scored higher ",
                     "left out: under min_score 0.30"}


def test_run_says_which_examples_it_could_not_use(tmp_path: Path, seeds_dir: Path,
                                                  sqlite_url: str) -> None:
    """A `like` that matches no stored paper (a typo, a paper no source listed) is named in
    the run's report, not silently dropped."""
    config = make_config(tmp_path, sqlite_url, {"few": FEW.replace(
        'like = ["MouSi', 'unlike = ["2401.99999"]\nlike = ["A Paper Nobody Wrote", "MouSi')},
        extra='[matching]\nexample_lookup = ""')  # arXiv ids: test_example_lookup.py
    add_seed_day(tmp_path, seeds_dir, "2026-03-12")
    result = run_cli(config, "run", "--now", "2026-03-12T20:00:00+00:00")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    at = next(n for n, line in enumerate(lines) if line.startswith("  few: 2 papers"))
    assert lines[at + 1] == ('    examples not used (not listed by any source): '
                             '"A Paper Nobody Wrote", "2401.99999"')


def test_grouped_by_interest_on_the_seeds(tmp_path: Path, seeds_dir: Path,
                                          sqlite_url: str) -> None:
    grouped = GROUNDING.replace('deliver = ["markdown"]', 'deliver = ["markdown"]\n'
                                'group_by = "interest"')
    config = make_config(tmp_path, sqlite_url, {"grouped": grouped})
    for day in SEED_DAYS:
        add_seed_day(tmp_path, seeds_dir, day)
    assert run_cli(config, "run", "--now", "2026-03-14T20:00:00+00:00").exit_code == 0
    (digest,) = (tmp_path / "out" / "grouped").glob("*.md")
    sections: dict[str, list[str]] = {}  # keyword -> the text of each paper under it
    for line in digest.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            items = sections[line[3:]] = []
        elif line.startswith("### "):
            items.append(line)
        elif line.startswith("**Why:**"):
            items[-1] += "\n" + line
    # One section per keyword that matched, numbered through in the order shown...
    assert set(sections) <= set(KEYWORDS["grounding"]) and len(sections) >= 2
    ranks = [int(re.match(r"### (\d+)\.", t).group(1))  # type: ignore[union-attr]
             for s in sections.values() for t in s]
    assert ranks == list(range(1, len(ranks) + 1))
    # ...and each paper under the keyword its strongest reason names.
    stems = dict(zip(KEYWORDS["grounding"], TERMS["grounding"], strict=True))
    for keyword, papers in sections.items():
        for paper in papers:
            why = paper.split("\n**Why:** ", 1)[1].split(";")[0].casefold()
            assert stems[keyword] in why, (keyword, paper)


def test_matching_over_several_processes_writes_the_same_digests(
        tmp_path: Path, seeds_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`[matching] workers`: the digests do not depend on how many processes matched them."""
    from worker import selection

    monkeypatch.setattr(selection, "PARALLEL_MIN", 1)  # fork even for a handful of subscribers
    subscribers = {"grounding": GROUNDING, "docs": DOCS,
                   "mixed": GROUNDING.replace('"referring"]', '"referring", "OCR"]')}
    outputs = []
    for workers in (1, 3):
        root = tmp_path / "same-paths-both-times"
        shutil.rmtree(root, ignore_errors=True)
        config = make_config(root, f"sqlite:///{root / 'pd.db'}", subscribers,
                             extra=f"[matching]\nworkers = {workers}")
        for day in SEED_DAYS:
            add_seed_day(root, seeds_dir, day)
            assert run_cli(config, "run", "--now", f"{day}T20:00:00+00:00").exit_code == 0
        outputs.append({p.relative_to(root / "out").as_posix(): p.read_text(encoding="utf-8")
                        for p in sorted((root / "out").rglob("*.md"))})
    assert outputs[0] == outputs[1]
    assert len(outputs[0]) >= 3 * len(subscribers) - 1  # a digest a day for (nearly) each


SECTIONS = """
name = "Sections"
deliver = ["markdown"]
max_items = 12
min_score = 0.2
group_by = "interest"
[interests]
keywords = ["segmentation", "OCR", "hallucination", "benchmark"]
"""


def test_explain_numbers_a_paper_as_a_grouped_digest_shows_it(
        tmp_path: Path, seeds_dir: Path, sqlite_url: str) -> None:
    """With group_by = "interest" a digest numbers its papers section by section, not by
    score: explain's "#N" is the number the reader sees in front of the paper, and names its
    section."""
    config = make_config(tmp_path, sqlite_url, {"sections": SECTIONS})
    add_seed_day(tmp_path, seeds_dir, "2026-03-13")
    assert run_cli(config, "run", "--now", "2026-03-13T20:00:00+00:00").exit_code == 0
    [path] = (tmp_path / "out" / "sections").glob("*.md")
    shown, section = {}, None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = line[3:]
        match = re.match(r"### (\d+)\. (.*)$", line)
        if match:
            shown[re.sub(r"\\(.)", r"\1", match.group(2))] = (int(match.group(1)), section)
    profile = load_config(config, {}).profiles[0]
    engine = open_engine(sqlite_url)
    try:
        [digest_id] = _digest_ids(engine)
        items = outbox.load_digest(engine, digest_id).items
        assert len({s for _, s in shown.values()}) > 1  # sections, so numbers differ from ranks
        assert any(shown[i.paper.title][0] != i.rank for i in items)
        verdicts = {i.paper.title: explain(engine, profile, i.paper.key).verdict(profile)
                    for i in items}
    finally:
        engine.dispose()
    assert verdicts == {title: f"in the digest, #{number} of {len(items)}, under “{label}”"
                        for title, (number, label) in shown.items()}


def _digest_ids(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(digests.c.id)).scalars().all())


KEEN = """
deliver = ["markdown"]
min_score = 0.01
[interests]
keywords = ["grounding"]
"""


def _own_dump(root: Path, name: str, *titles: str) -> None:
    """A dump of our own in the seed format, one paper per title."""
    blocks = ["new", "Get trending papers in your email inbox!", "Subscribe",
              "byAK and the research community", "Mar 13"]
    for title in titles:
        blocks += [title, f"We study {title.lower()} on three benchmarks."]
    (root / "dumps" / name).write_text("\n\n".join(blocks) + "\n", encoding="utf-8")


def _digests_of(root: Path, sid: str) -> list[list[str]]:
    """Each Markdown digest's titles, oldest digest first."""
    files = (root / "out" / sid).glob("*.md")
    by_id = {int(re.search(r"-digest-(\d+)\.md$", f.name).group(1)): f  # type: ignore[union-attr]
             for f in files}
    return [sorted(_digest_titles(by_id[n])) for n in sorted(by_id)]


def test_a_new_subscriber_with_a_backfill_changes_nothing_for_the_others(
        tmp_path: Path, database_url: str) -> None:
    # bob's backfill makes the pass read papers from below ada's cursor: ada's candidates are
    # still only those above hers. The paper at her cursor came in her last digest; offered
    # again, the database refused the whole digest and ada got nothing, pass after pass.
    config = make_config(tmp_path, database_url, {"ada": KEEN})
    _own_dump(tmp_path, "d1.txt", "Grounding A")
    assert run_cli(config, "run", "--now", "2026-03-13T20:00:00+00:00").exit_code == 0
    (config / "subscribers" / "bob.toml").write_text(KEEN, encoding="utf-8")
    _own_dump(tmp_path, "d2.txt", "Grounding B")
    result = run_cli(config, "run", "--now", "2026-03-14T20:00:00+00:00")
    assert result.exit_code == 0, result.output
    assert _digests_of(tmp_path, "ada") == [["Grounding A"], ["Grounding B"]]
    assert _digests_of(tmp_path, "bob") == [["Grounding A", "Grounding B"]]


def test_a_cursor_set_back_resends_nothing_and_holds_nothing_up(tmp_path: Path,
                                                                database_url: str) -> None:
    # Candidates are the papers above the cursor *never delivered* to the subscriber: with
    # her cursor set back (by hand, or a subscribers table restored from an older copy), ada
    # is not sent A again, and the database's refusal of a paper twice does not hold up B.
    from sqlalchemy import update

    from worker.store.schema import subscribers

    config = make_config(tmp_path, database_url, {"ada": KEEN})
    _own_dump(tmp_path, "d1.txt", "Grounding A")
    assert run_cli(config, "run", "--now", "2026-03-13T20:00:00+00:00").exit_code == 0
    engine = open_engine(database_url)
    with engine.begin() as conn:
        conn.execute(update(subscribers).values(cursor_seq=0))
    _own_dump(tmp_path, "d2.txt", "Grounding B")
    result = run_cli(config, "run", "--now", "2026-03-14T20:00:00+00:00")
    assert result.exit_code == 0, result.output
    assert _digests_of(tmp_path, "ada") == [["Grounding A"], ["Grounding B"]]
    # preview shows what the next digest would hold: neither, whatever the cursor says
    with engine.begin() as conn:
        conn.execute(update(subscribers).values(cursor_seq=0))
    engine.dispose()
    preview = run_cli(config, "preview", "ada", "--now", "2026-03-14T21:00:00+00:00")
    assert preview.exit_code == 0, preview.output
    assert "Grounding" not in preview.output, preview.output
