"""PostgreSQL out of reach for a few seconds (a restart, a failover), cut off by a forwarder on
loopback while a run sends: unlike a killed backend (test_faults_database), no new connection
can be made for a while. A digest the SMTP server accepted just before must be recorded as sent
once the database answers again, not sent a second time by the next pass."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests.integration import faultkit as fk
from tests.integration.helpers import make_config
from tests.integration.smtpserver import Handler, smtp_server
from tests.integration.tcpproxy import Forwarder, forwarding
from worker.app import run_pass
from worker.errors import as_database_error
from worker.settings import load_config
from worker.store import recording
from worker.store.opening import open_engine

SUBSCRIBERS = ("ada", "bob", "cy", "dan")
RECOVER_AT = "2026-03-14T20:01:00+00:00"


class CutAfter(Handler):
    """Accepts each message; right after the `nth`, cuts the database off for `outage` s."""

    def __init__(self, nth: int, outage: float | None):
        super().__init__()
        self.nth, self.outage = nth, outage
        self.forwarder: Forwarder | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        forwarder = self.forwarder
        if forwarder is not None and len(self.messages) == self.nth:
            forwarder.down()
            if self.outage is not None:
                threading.Timer(self.outage, forwarder.up).start()
        return reply


def _through(url: str, forwarder: Forwarder) -> str:
    return make_url(url).set(host="127.0.0.1", port=forwarder.port).render_as_string(
        hide_password=False)


def test_a_database_restart_after_a_send_does_not_send_it_twice(tmp_path: Path,
                                                                 pg_url: str) -> None:
    real = make_url(pg_url)
    tokens = fk.write_dumps(tmp_path, (4, 6, 5))
    handler = CutAfter(2, outage=3.0)
    with forwarding(real.host or "127.0.0.1", real.port or 5432) as db, \
            smtp_server(handler) as (_, port):
        config = fk.config_dir(tmp_path, _through(pg_url, db), SUBSCRIBERS, smtp_port=port)
        handler.forwarder = db
        faulty = fk.run(config, "run", "--now", fk.NOW)
        handler.forwarder = None
        db.up()
        recovered = fk.run(config, "run", "--now", RECOVER_AT)
    assert faulty.code == 0, faulty.stdout + faulty.stderr
    assert "database does not answer" in faulty.stderr
    assert recovered.code == 0, recovered.stdout + recovered.stderr
    tally = fk.tally(fk.mails(handler.messages))
    assert tally.repeated_message_ids == {} and tally.duplicates == 0
    every = {t for group in tokens.values() for t in group}
    for name in SUBSCRIBERS:
        assert tally.delivered(f"{name}@example.org") == every, name
    assert fk.delivery_statuses(pg_url) == {"sent": len(SUBSCRIBERS)}
    assert sorted(fk.sent_message_ids(pg_url)) == sorted(tally.per_message_id)


def test_a_send_that_cannot_be_recorded_is_said_so(tmp_path: Path, pg_url: str,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    """The database stays away for longer than a mark waits: the pass fails with a database
    error, and the log names the digest the server accepted but the database does not know
    was sent (it goes out again once its lease ends)."""
    monkeypatch.setattr(recording, "PATIENCE", 1.5)
    real = make_url(pg_url)
    fk.write_dumps(tmp_path, (3,))
    handler = CutAfter(1, outage=None)
    with forwarding(real.host or "127.0.0.1", real.port or 5432) as db, \
            smtp_server(handler) as (_, port):
        url = _through(pg_url, db)
        config = load_config(fk.config_dir(tmp_path, url, ("ada", "bob"), smtp_port=port), {})
        engine = open_engine(url)
        handler.forwarder = db
        caplog.set_level(logging.INFO, logger="paper_digest")
        try:
            with pytest.raises(Exception) as raised:  # (the run's record fails as well)
                run_pass(config, engine, fk.WRITTEN.replace(hour=20))
            assert as_database_error(raised.value) is not None
        finally:
            db.up()
            engine.dispose()
    said = [r for r in caplog.records if getattr(r, "event", "") == "delivery.unrecorded"]
    assert len(said) == 1 and said[0].levelno == logging.ERROR, caplog.text
    assert "was sent" in said[0].getMessage() and "same Message-ID" in said[0].getMessage()
    assert [getattr(r, "event", "") for r in caplog.records].count("database.retry") == 1


def test_deliveries_a_failed_pass_had_claimed_go_out_with_the_next_pass(
        tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """serve's pass fails on a database error mid-delivery: the deliveries it had claimed but
    not begun are handed back by its next pass (same process), not left to their 10-minute
    lease."""
    from sqlalchemy.exc import OperationalError

    from worker.store import outbox

    fk.write_dumps(tmp_path, (3,))
    config = load_config(make_config(tmp_path, database_url, {  # Markdown: no SMTP needed
        name: fk.subscriber(name, deliver=("markdown",)) for name in SUBSCRIBERS}), {})
    real_mark, calls = outbox.mark_sent, []

    def mark_once_failing(*args: Any, **kwargs: Any) -> bool:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("UPDATE deliveries", {}, Exception("server closed"))
        return real_mark(*args, **kwargs)

    monkeypatch.setattr(outbox, "mark_sent", mark_once_failing)
    engine = open_engine(database_url)
    now = fk.WRITTEN.replace(hour=20)
    try:
        with pytest.raises(Exception, match="server closed"):
            run_pass(config, engine, now, ignore_backoff=False)
        report = run_pass(config, engine, now + timedelta(minutes=1), ignore_backoff=False)
    finally:
        engine.dispose()
    assert sorted(d.status for d in report.deliveries) == ["sent"] * (len(SUBSCRIBERS) - 1)
    statuses = fk.delivery_statuses(database_url)
    assert statuses == {"sent": len(SUBSCRIBERS) - 1, "pending": 1}  # the one sent unrecorded
