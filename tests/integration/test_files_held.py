"""A digest folder that cannot be written (read-only, full, in the way) is the folder's fault,
not the digest's: each digest waits, pending with no attempt counted, however many passes it
takes, and the first pass after the folder is put right writes them all (the ops audit: they
ended failed after max_attempts and needed `paper-digest retry`)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

from tests.integration.helpers import add_seed_day, make_config, run_cli

SUB = """
deliver = ["markdown"]
min_score = 0.2
[interests]
keywords = ["segmentation"]
"""


def _deliveries(url: str) -> list[tuple[str, int]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(
                "SELECT status, attempts FROM deliveries ORDER BY id"))]  # type: ignore[misc]
    finally:
        engine.dispose()


def test_a_folder_that_cannot_be_written_holds_its_digests(tmp_path: Path, seeds_dir: Path,
                                                           sqlite_url: str) -> None:
    config = make_config(tmp_path, sqlite_url, {"ada": SUB},
                         extra="[delivery]\nmax_attempts = 2\n")
    add_seed_day(tmp_path, seeds_dir, "2026-03-14")
    (tmp_path / "out").mkdir(exist_ok=True)
    blocker = tmp_path / "out" / "ada"
    blocker.write_text("a file where ada's folder goes\n", encoding="utf-8")
    for hour in ("20", "21", "22", "23"):  # more passes than max_attempts
        result = run_cli(config, "run", "--now", f"2026-03-14T{hour}:00:00+00:00")
        assert result.exit_code == 3, result.output
        assert "markdown NOT SENT (will retry) cannot write" in result.output, result.output
        assert "FAILED" not in result.output
    assert _deliveries(sqlite_url) == [("pending", 0)]
    blocker.unlink()
    fixed = run_cli(config, "run", "--now", "2026-03-15T00:00:00+00:00")
    assert fixed.exit_code == 0, fixed.output
    assert _deliveries(sqlite_url) == [("sent", 1)]
    assert len(list((tmp_path / "out" / "ada").glob("*.md"))) == 1
