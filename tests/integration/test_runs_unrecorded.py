"""serve's pass fails because its database went away, and the database is still away when the
pass ends, so its run cannot be recorded `failed` then: the run used to stay `running`, its
lease gone with its connection, and read `abandoned` in `status` as if the process had died.
serve keeps the outcome and records it once the database answers (its next heartbeat, or its
next pass): `failed` and why. The database goes away for real: PostgreSQL behind a forwarder
that cuts it off, an SQLite database whose folder is moved away (a volume unmounted)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from tests.integration import faultkit as fk
from tests.integration.helpers import make_config, run_cli
from tests.integration.tcpproxy import forwarding
from worker.app import Pipeline
from worker.errors import as_database_error
from worker.reload import ConfigWatcher
from worker.scheduler import Server
from worker.settings import load_config
from worker.store import runs
from worker.store.opening import open_engine

NOW = datetime(2026, 3, 14, 20, tzinfo=UTC)
EVERY_MINUTE = '[serve]\ndefault_schedule = "every 1m"\ngrace = "1h"\n'  # due at NOW


class Outage:
    """The database of `url` made to go away (`down`) and come back (`up`)."""

    def __init__(self, url: str, down: Callable[[Engine], None], up: Callable[[], None]):
        self.url, self._down, self.up = url, down, up
        self.engine: Engine | None = None

    def down(self) -> None:
        assert self.engine is not None
        self._down(self.engine)


@contextmanager
def outage(tmp_path: Path, database_url: str) -> Iterator[Outage]:
    if database_url.startswith("sqlite"):
        folder = tmp_path / "db"
        folder.mkdir()
        away = tmp_path / "db-away"

        def down(engine: Engine) -> None:
            folder.rename(away)
            engine.dispose()  # (open connections would go on with the moved file)

        yield Outage(f"sqlite:///{folder / 'paper-digest.db'}", down,
                     lambda: away.rename(folder))
        return
    real = make_url(database_url)
    with forwarding(real.host or "127.0.0.1", real.port or 5432) as db:
        through = real.set(host="127.0.0.1", port=db.port).render_as_string(
            hide_password=False)
        yield Outage(through, lambda engine: db.down(), db.up)


def _server(tmp_path: Path, url: str, clock: Callable[[], datetime]) -> tuple[Server, Path]:
    fk.write_dumps(tmp_path, (3,))
    config = make_config(tmp_path, url, {"ada": fk.subscriber("ada", deliver=("markdown",))},
                         extra=EVERY_MINUTE)
    return Server(ConfigWatcher(config, {}, load_config(config, {})), open_engine(url),
                  clock=clock), config


def _cut_in_the_pass(monkeypatch: pytest.MonkeyPatch, db: Outage) -> list[bool]:
    """The database goes away once the pass's run is recorded under way (as it starts reading
    sources), while `cut` holds True; it stays away until db.up()."""
    cut, ingest = [True], Pipeline.ingest

    def ingest_then_lose_the_database(self: Pipeline, *args: Any, **kwargs: Any) -> Any:
        if cut[0]:
            cut[0] = False
            db.down()
        return ingest(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "ingest", ingest_then_lose_the_database)
    return cut


def _failing_pass(server: Server) -> None:
    with pytest.raises(Exception) as raised:
        server.due()
    assert as_database_error(raised.value) is not None, raised.value


def test_a_pass_that_lost_its_database_reads_failed_once_it_answers(
        tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with outage(tmp_path, database_url) as db:
        server, config = _server(tmp_path, db.url, lambda: NOW)
        db.engine = server.engine
        _cut_in_the_pass(monkeypatch, db)
        try:
            _failing_pass(server)
            db.up()
            server.heartbeat()  # the database answers: serve records how the pass ended
            [run] = runs.recent_runs(server.engine)
            shown = run_cli(config, "status")
        finally:
            server.engine.dispose()
    assert run.status == "failed", run
    assert run.error is not None and run.error.startswith("database error: "), run.error
    assert run.finished_at is not None
    assert f"  #{run.id} run 2026-03-14 20:00 UTC to 2026-03-14 20:00 UTC: failed - " \
        "database error: " in shown.output, shown.output
    assert "abandoned" not in shown.output


def test_the_next_pass_records_the_failed_one_before_it_starts(
        tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """No heartbeat in between: the next pass of the process records it first (the run it
    starts would otherwise mark it abandoned: its lease is free)."""
    moments = iter([NOW, NOW + timedelta(minutes=1)])
    now = [NOW]

    def clock() -> datetime:
        return now[0]

    with outage(tmp_path, database_url) as db:
        server, _ = _server(tmp_path, db.url, clock)
        db.engine = server.engine
        _cut_in_the_pass(monkeypatch, db)
        try:
            now[0] = next(moments)
            _failing_pass(server)
            db.up()
            now[0] = next(moments)
            server.due()
            later, failed = runs.recent_runs(server.engine)
        finally:
            server.engine.dispose()
    assert (failed.status, later.status) == ("failed", "ok"), (failed, later)
    assert failed.error is not None and failed.error.startswith("database error: ")
