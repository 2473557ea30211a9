"""`[retention]` on real databases: old sent digests and run records go, nothing else does."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, func, select, update

from tests.integration.helpers import add_seed_day, make_config, run_cli
from worker.reload import ConfigWatcher
from worker.scheduler import Server
from worker.settings import load_config
from worker.store.metrics import figures
from worker.store.opening import open_engine
from worker.store.retention import prune_digests
from worker.store.schema import deliveries, digest_items, digests, runs

BROAD = """
deliver = ["markdown"]
max_items = 500
min_score = 0.0
[interests]
keywords = ["model", "language", "vision", "learning", "data"]
"""
RETENTION = '[retention]\ndigests = "30d"\nruns = "30d"\n'
DAYS = ("2026-03-12", "2026-03-13", "2026-03-14")


@pytest.fixture
def engine(database_url: str):  # type: ignore[no-untyped-def]
    engine = open_engine(database_url)
    yield engine
    engine.dispose()


def three_days(tmp_path: Path, seeds_dir: Path, database_url: str, extra: str = RETENTION,
               ) -> Path:
    """ada and bob, each with a digest of each seed day (made at 20:00 UTC)."""
    config = make_config(tmp_path, database_url, {"ada": BROAD, "bob": BROAD}, extra=extra)
    for day in DAYS:
        add_seed_day(tmp_path, seeds_dir, day)
        result = run_cli(config, "run", "--now", f"{day}T20:00:00+00:00")
        assert result.exit_code == 0, result.output
        assert "Retention" not in result.output  # nothing old enough yet
    return config


def digest_days(engine: Engine, subscriber: str) -> list[str]:
    with engine.connect() as conn:
        return [d.date().isoformat() for d in conn.execute(
            select(digests.c.created_at).where(digests.c.subscriber_id == subscriber)
            .order_by(digests.c.id)).scalars()]


def count(engine: Engine, table, *where) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar())


def test_a_run_removes_sent_digests_past_retention_but_each_subscribers_newest(
        tmp_path: Path, seeds_dir: Path, database_url: str, engine: Engine) -> None:
    config = three_days(tmp_path, seeds_dir, database_url)
    assert digest_days(engine, "ada") == list(DAYS)
    items_before = count(engine, digest_items)
    newest_items = count(engine, digest_items, digest_items.c.digest_id.in_(
        select(func.max(digests.c.id)).group_by(digests.c.subscriber_id)))
    # bob's first digest could not be written out: still failed, so it stays to be retried.
    with engine.begin() as conn:
        first = conn.execute(select(func.min(digests.c.id))
                             .where(digests.c.subscriber_id == "bob")).scalar()
        conn.execute(update(deliveries).where(deliveries.c.digest_id == first)
                     .values(status="failed"))
    bob_first_items = count(engine, digest_items, digest_items.c.digest_id == first)

    # 30 days after the last digest: all three are past retention.
    result = run_cli(config, "run", "--now", "2026-04-13T21:00:00+00:00")
    assert result.exit_code == 0, result.output
    removed_items = items_before - newest_items - bob_first_items
    assert (f"Retention: removed 3 digests made over 30d ago, all sent ({removed_items:,} "
            "items), 3 run records over 30d old.") in result.output
    assert digest_days(engine, "ada") == ["2026-03-14"]  # the newest stays
    assert digest_days(engine, "bob") == ["2026-03-12", "2026-03-14"]  # and the failed one
    assert count(engine, digest_items) == newest_items + bob_first_items
    assert count(engine, deliveries) == 3
    assert count(engine, runs) == 1  # this run's own record
    # Nothing comes back: their cursors are past every paper the removed digests held.
    files = sorted((tmp_path / "out").rglob("*.md"))
    again = run_cli(config, "run", "--now", "2026-04-14T21:00:00+00:00")
    assert again.exit_code == 0 and again.output.count("nothing new") == 2, again.output
    assert sorted((tmp_path / "out").rglob("*.md")) == files
    assert digest_days(engine, "ada") == ["2026-03-14"]
    status = run_cli(config, "status")
    assert status.exit_code == 0 and "2026-03-14" in status.output, status.output


def test_a_dry_run_removes_nothing_and_an_install_without_retention_keeps_everything(
        tmp_path: Path, seeds_dir: Path, database_url: str, engine: Engine) -> None:
    config = three_days(tmp_path, seeds_dir, database_url, extra="")
    later = run_cli(config, "run", "--now", "2027-03-14T21:00:00+00:00")
    assert later.exit_code == 0 and "Retention" not in later.output
    assert digest_days(engine, "ada") == list(DAYS)
    (config / "worker.toml").write_text((config / "worker.toml").read_text() + RETENTION)
    dry = run_cli(config, "run", "--dry-run", "--now", "2027-03-14T22:00:00+00:00")
    assert dry.exit_code == 0 and "Retention" not in dry.output, dry.output
    assert digest_days(engine, "ada") == list(DAYS) and count(engine, runs) == 4


def test_serve_applies_retention_in_its_hourly_maintenance(
        tmp_path: Path, seeds_dir: Path, database_url: str, engine: Engine) -> None:
    config = three_days(tmp_path, seeds_dir, database_url)
    sent = figures(engine).deliveries
    assert sent == {("markdown", "sent"): 6}
    with engine.begin() as conn:  # the last run went wrong: the one before is the last good
        conn.execute(update(runs).where(runs.c.id == select(func.max(runs.c.id))
                                        .scalar_subquery()).values(status="partial"))
    last_ok = figures(engine).last_ok_run
    loaded = load_config(config, {})
    server = Server(ConfigWatcher(config, {}, loaded), engine)
    server.clock = lambda: datetime(2026, 4, 13, 21, tzinfo=UTC)
    server.maintenance()
    assert digest_days(engine, "ada") == digest_days(engine, "bob") == ["2026-03-14"]
    assert count(engine, runs) == 2  # the newest run's record stays, and the last good one's
    # /metrics: digests sent is a counter, and counts the sends of removed digests still.
    after = figures(engine)
    assert after.deliveries == sent and after.last_ok_run == last_ok
    assert count(engine, deliveries) == 2


def test_serves_maintenance_logs_what_retention_removed_in_serves_log(
        tmp_path: Path, seeds_dir: Path, database_url: str, engine: Engine,
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """serve's log is its "paper_digest" logger's (worker.cli.setup_logging): a line logged
    elsewhere never reaches it, and serve's hourly removals went unrecorded."""
    config = three_days(tmp_path, seeds_dir, database_url)
    ours = logging.getLogger("paper_digest")  # as serve set it up: its own handler alone
    monkeypatch.setattr(ours, "handlers", [caplog.handler])
    monkeypatch.setattr(ours, "level", logging.INFO)
    monkeypatch.setattr(ours, "propagate", False)
    server = Server(ConfigWatcher(config, {}, load_config(config, {})), engine)
    server.clock = lambda: datetime(2026, 4, 13, 21, tzinfo=UTC)
    server.maintenance()
    [line] = [r for r in caplog.records if getattr(r, "event", None) == "retention.removed"]
    assert (line.getMessage(), line.digests, line.runs) == (  # type: ignore[attr-defined]
        f"retention: removed 4 digests made over 30d ago, all sent ({line.items:,} items), "  # type: ignore[attr-defined]
        "2 run records over 30d old", 4, 2)


def test_digests_go_a_batch_at_a_time_and_stop_at_the_cutoff(
        tmp_path: Path, seeds_dir: Path, database_url: str, engine: Engine) -> None:
    three_days(tmp_path, seeds_dir, database_url, extra="")
    # The cutoff between the second and third days' digests: two each are old enough, the
    # newest of each stays anyway.
    removed, items = prune_digests(engine, datetime(2026, 3, 14, tzinfo=UTC), batch=1)
    assert removed == 4 and items > 0
    assert digest_days(engine, "ada") == digest_days(engine, "bob") == ["2026-03-14"]
    assert prune_digests(engine, datetime(2026, 9, 1, tzinfo=UTC)) == (0, 0)


def test_two_prunes_at_once_remove_each_digest_once_and_count_its_sends_once(
        tmp_path: Path, seeds_dir: Path, database_url: str, engine: Engine) -> None:
    """serve's maintenance and a cron `run` may prune at the same moment."""
    three_days(tmp_path, seeds_dir, database_url, extra="")
    sent = figures(engine).deliveries
    results: list[tuple[int, int]] = []
    cutoff = datetime(2026, 9, 1, tzinfo=UTC)
    workers = [threading.Thread(target=lambda: results.append(
        prune_digests(engine, cutoff, batch=1))) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert sum(removed for removed, _ in results) == 4
    assert figures(engine).deliveries == sent and count(engine, deliveries) == 2


def test_a_prune_committed_while_metrics_are_read_neither_counts_a_send_twice_nor_drops_it(
        tmp_path: Path, seeds_dir: Path, database_url: str, engine: Engine) -> None:
    """/metrics read the deliveries, then the sends of removed digests: a prune committed in
    between (serve's, or a cron run's) was counted in both on PostgreSQL, and the next scrape
    had the counter go down (a counter reset to Prometheus)."""
    three_days(tmp_path, seeds_dir, database_url, extra="")
    sent = figures(engine).deliveries
    scraping = open_engine(database_url)
    pruned: list[tuple[int, int]] = []

    def prune_meanwhile(conn, cursor, statement, *_):  # type: ignore[no-untyped-def]
        if "FROM deliveries GROUP BY" in statement and not pruned:
            pruned.append(prune_digests(engine, datetime(2026, 9, 1, tzinfo=UTC)))

    event.listen(scraping, "after_cursor_execute", prune_meanwhile)
    try:
        during = figures(scraping).deliveries
    finally:
        event.remove(scraping, "after_cursor_execute", prune_meanwhile)
        scraping.dispose()
    assert pruned == [(4, pruned[0][1])]
    assert during == sent == figures(engine).deliveries


def test_the_last_digest_sent_stays_while_newer_ones_are_not_sent(
        tmp_path: Path, seeds_dir: Path, database_url: str, engine: Engine) -> None:
    """bob's address stopped taking mail: his newest digest failed. Retention kept it, as
    every subscriber's newest, and removed the last one sent: `status` then said bob's last
    digest was sent never."""
    config = three_days(tmp_path, seeds_dir, database_url)
    with engine.begin() as conn:
        conn.execute(update(deliveries).where(deliveries.c.digest_id == select(
            func.max(digests.c.id)).where(digests.c.subscriber_id == "bob").scalar_subquery())
            .values(status="failed", sent_at=None, last_error="550 no such mailbox"))
    # A batch a digest: bob's kept one is a batch of its own, and the prune goes on past it.
    assert prune_digests(engine, datetime(2026, 4, 1, tzinfo=UTC), batch=1)[0] == 3
    assert digest_days(engine, "ada") == ["2026-03-14"]
    assert digest_days(engine, "bob") == ["2026-03-13", "2026-03-14"]
    result = run_cli(config, "run", "--now", "2026-04-13T21:00:00+00:00")
    assert result.exit_code == 0 and "Retention: removed 3 run records" in result.output
    assert digest_days(engine, "bob") == ["2026-03-13", "2026-03-14"]
    status = run_cli(config, "status").output
    assert "bob: last digest sent 2026-03-13 20:00 UTC; 0 pending, 1 failed" in status, status


def test_a_database_error_while_pruning_keeps_the_runs_report(
        tmp_path: Path, seeds_dir: Path, database_url: str) -> None:
    """The connection lost after the pass, as retention began: `run` printed only the error
    and "run again: the next run finishes the work", not the digests it had sent."""
    from sqlalchemy.exc import OperationalError

    config = make_config(tmp_path, database_url, {"ada": BROAD}, extra=RETENTION)
    add_seed_day(tmp_path, seeds_dir, "2026-03-12")
    assert run_cli(config, "run", "--now", "2026-03-12T20:00:00+00:00").exit_code == 0
    add_seed_day(tmp_path, seeds_dir, "2026-03-13")

    def lost(conn, cursor, statement, *_):  # type: ignore[no-untyped-def]
        if statement.lstrip().startswith("SELECT digests.id") and "created_at <" in statement:
            raise OperationalError(statement, None, Exception("server closed the connection"))

    event.listen(Engine, "before_cursor_execute", lost)
    try:
        result = run_cli(config, "run", "--now", "2026-04-13T21:00:00+00:00")
    finally:
        event.remove(Engine, "before_cursor_execute", lost)
    assert result.exit_code == 3, result.output
    assert "markdown -> " in result.output  # what it sent
    assert ("Retention: not applied (database error: server closed the connection); the next "
            "run applies it.") in result.output
