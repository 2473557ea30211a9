"""`paper-digest health`: 0 only with a recent heartbeat from this host and a reachable database."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path

from tests.integration.helpers import make_config, run_cli
from worker.store import schedule as store
from worker.store.opening import open_engine

BEAT = datetime(2026, 3, 14, 8, 0, tzinfo=UTC)


def beat(url: str, host: str | None = None) -> None:
    engine = open_engine(url)
    store.beat(engine, "w1", host=host or socket.gethostname(), pid=1, started_at=BEAT,
               now=BEAT)
    engine.dispose()


def test_recent_heartbeat_is_healthy_stale_is_not(tmp_path: Path, database_url: str) -> None:
    config = make_config(tmp_path, database_url, {})
    beat(database_url)
    fresh = run_cli(config, "health", "--now", "2026-03-14T08:00:20+00:00")
    assert fresh.exit_code == 0, fresh.output
    assert "OK: heartbeat 20s ago from w1" in fresh.output
    stale = run_cli(config, "health", "--now", "2026-03-14T09:00:00+00:00")
    assert stale.exit_code == 1
    assert "heartbeat is stale: last one 60m ago" in stale.output
    # The limit follows [serve] heartbeat (30s -> 90s) unless given.
    assert run_cli(config, "health", "--now", "2026-03-14T08:01:29+00:00").exit_code == 0
    assert run_cli(config, "health", "--now", "2026-03-14T08:01:31+00:00").exit_code == 1
    assert run_cli(config, "health", "--max-age", "2h",
                   "--now", "2026-03-14T09:00:00+00:00").exit_code == 0


def test_another_hosts_heartbeat_does_not_count(tmp_path: Path, sqlite_url: str) -> None:
    config = make_config(tmp_path, sqlite_url, {})
    beat(sqlite_url, host="some-other-container")
    now = "2026-03-14T08:00:05+00:00"
    mine = run_cli(config, "health", "--now", now)
    assert mine.exit_code == 1 and "no heartbeat recorded on host" in mine.output
    assert run_cli(config, "health", "--any-host", "--now", now).exit_code == 0


def test_no_heartbeat_at_all(tmp_path: Path, sqlite_url: str) -> None:
    config = make_config(tmp_path, sqlite_url, {})
    open_engine(sqlite_url).dispose()
    result = run_cli(config, "health")
    assert result.exit_code == 1 and "is `paper-digest serve` running?" in result.output


def test_sqlite_database_gone(tmp_path: Path, sqlite_url: str) -> None:
    config = make_config(tmp_path, sqlite_url, {})
    beat(sqlite_url)
    (tmp_path / "paper-digest.db").unlink()
    result = run_cli(config, "health", "--now", "2026-03-14T08:00:05+00:00")
    assert result.exit_code == 1 and "does not exist" in result.output
    assert not (tmp_path / "paper-digest.db").exists()  # and health did not create it


def test_postgresql_unreachable_and_password_not_shown(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://digest:s3cr3t@127.0.0.1:{port}/papers"
    config = make_config(tmp_path, url, {})
    result = run_cli(config, "health")
    assert result.exit_code == 1
    assert "cannot read the heartbeat from postgresql+psycopg://digest:***@127.0.0.1" \
        in result.output
    assert "s3cr3t" not in result.output
