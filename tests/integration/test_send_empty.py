"""`send_empty = true`: a "nothing new" digest also on a day when no new paper arrives, once
a day from `run` (however often cron runs it) and once a slot under a schedule; subscribers
who did not ask get nothing on such days."""

from __future__ import annotations

from pathlib import Path

from tests.integration.helpers import add_seed_day, make_config, run_cli

SUB = """
deliver = ["markdown"]
min_score = 0.2
send_empty = {send_empty}
{schedule}
[interests]
keywords = ["segmentation"]
"""


def _pair(root: Path, url: str, seeds: Path, schedule: str = "") -> Path:
    """ada asks for a digest on a quiet day too, bob does not; one seed day listed."""
    config = make_config(root, url, {
        "ada": SUB.format(send_empty="true", schedule=schedule),
        "bob": SUB.format(send_empty="false", schedule=schedule)})
    add_seed_day(root, seeds, "2026-03-14")
    return config


def _digests(root: Path, name: str) -> list[str]:
    return sorted(p.read_text(encoding="utf-8") for p in (root / "out" / name).glob("*.md"))


def test_a_day_without_new_papers_gives_one_nothing_new_digest(tmp_path: Path,
                                                               seeds_dir: Path,
                                                               database_url: str) -> None:
    config = _pair(tmp_path, database_url, seeds_dir)
    assert run_cli(config, "run", "--now", "2026-03-14T20:00:00+00:00").exit_code == 0
    assert len(_digests(tmp_path, "ada")) == len(_digests(tmp_path, "bob")) == 1
    # Later the same day, nothing new: ada had her digest today already.
    assert run_cli(config, "run", "--now", "2026-03-14T23:00:00+00:00").exit_code == 0
    assert len(_digests(tmp_path, "ada")) == 1
    # The next day, still nothing new: ada hears so, once; bob hears nothing.
    for hour in ("08", "09"):
        result = run_cli(config, "run", "--now", f"2026-03-15T{hour}:00:00+00:00")
        assert result.exit_code == 0, result.output
    found = _digests(tmp_path, "ada")
    assert len(found) == 2 and len(_digests(tmp_path, "bob")) == 1
    empty = next(text for text in found if "segmentation" not in text.lower())
    assert "no new papers" in empty.lower(), empty


def test_a_day_without_new_papers_follows_the_subscribers_time_zone(
        tmp_path: Path, seeds_dir: Path, sqlite_url: str) -> None:
    config = make_config(tmp_path, sqlite_url, {
        "ada": SUB.format(send_empty="true", schedule='timezone = "Asia/Tokyo"')})
    add_seed_day(tmp_path, seeds_dir, "2026-03-14")
    assert run_cli(config, "run", "--now", "2026-03-14T10:00:00+00:00").exit_code == 0
    # 16:00 UTC is 01:00 on the 15th in Tokyo: a new day there.
    assert run_cli(config, "run", "--now", "2026-03-14T16:00:00+00:00").exit_code == 0
    assert len(_digests(tmp_path, "ada")) == 2


def test_each_scheduled_slot_without_new_papers_gives_a_digest(tmp_path: Path,
                                                               seeds_dir: Path,
                                                               sqlite_url: str) -> None:
    config = _pair(tmp_path, sqlite_url, seeds_dir, 'schedule = "every 6h"')
    for when in ("2026-03-14T12:00:00", "2026-03-14T18:00:00", "2026-03-15T00:00:00",
                 "2026-03-15T00:30:00"):
        result = run_cli(config, "run", "--due", "--now", f"{when}+00:00")
        assert result.exit_code == 0, result.output
    # 12:00 first sight (the first slot is the next), 18:00 the papers, 00:00 nothing new (a
    # slot: ada's digest says so), 00:30 no slot due
    assert len(_digests(tmp_path, "ada")) == 2
    assert len(_digests(tmp_path, "bob")) == 1


def test_new_papers_that_do_not_match_still_give_one_nothing_new_digest_a_day(
        tmp_path: Path, seeds_dir: Path, sqlite_url: str) -> None:
    unmatched = SUB.format(send_empty="true", schedule="").replace("segmentation", "zymurgy")
    config = make_config(tmp_path, sqlite_url, {"ada": unmatched})
    said = []
    for day, hour in (("2026-03-12", "08"), ("2026-03-13", "09"), ("2026-03-14", "10")):
        add_seed_day(tmp_path, seeds_dir, day)  # new papers each run, none about zymurgy
        result = run_cli(config, "run", "--now", f"2026-03-14T{hour}:00:00+00:00")
        assert result.exit_code == 0, result.output
        said.append(result.output.split("Digests:\n", 1)[1].splitlines()[0])
    assert len(_digests(tmp_path, "ada")) == 1
    assert said[0].endswith("new papers matched (a digest says so: send_empty)"), said
    assert said[1].startswith("  ada: none of ") and "send_empty" not in said[1], said


def test_no_nothing_new_digest_while_a_source_cannot_be_read(tmp_path: Path, seeds_dir: Path,
                                                             sqlite_url: str) -> None:
    """A source that failed may have listed new papers: "no new papers" would not be known.
    The digest waits for a pass that reads it (the ops audit: the only source failed, and
    the subscriber was told nothing new had come)."""
    config = _pair(tmp_path, sqlite_url, seeds_dir)
    assert run_cli(config, "run", "--now", "2026-03-14T20:00:00+00:00").exit_code == 0
    broken = tmp_path / "dumps" / "broken.txt"
    broken.write_text("<html><body>502 Bad Gateway</body></html>\n", encoding="utf-8")
    failed = run_cli(config, "run", "--now", "2026-03-15T08:00:00+00:00")
    assert failed.exit_code == 3 and "broken.txt" in failed.output, failed.output
    assert len(_digests(tmp_path, "ada")) == 1  # no "nothing new" while it fails
    broken.unlink()
    assert run_cli(config, "run", "--now", "2026-03-15T09:00:00+00:00").exit_code == 0
    found = _digests(tmp_path, "ada")
    assert len(found) == 2 and any("no new papers" in text.lower() for text in found)
