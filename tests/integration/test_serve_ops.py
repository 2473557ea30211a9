"""serve as an operator watches it: counters that only go up, one log line per event (with its
`event`, when it happens), a database outage said once instead of on every scrape, and a
failing source said by every process that meets it. Real SMTP, HTTP and PostgreSQL servers on
loopback (PostgreSQL behind a forwarder that cuts it off)."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.integration import faultkit as fk
from tests.integration.helpers import add_seed_day, make_config, run_cli, wait_for
from tests.integration.smtpserver import Handler, smtp_server
from tests.integration.tcpproxy import forwarding
from tests.integration.test_feedback_links import _stored
from tests.integration.test_serve import BIN
from worker.feedback import Links
from worker.reload import ConfigWatcher
from worker.scheduler import ServeError, Server
from worker.settings import load_config
from worker.store.opening import open_engine

NOW = datetime(2026, 3, 14, 20, tzinfo=UTC)
SECRET = "feedback-secret-for-tests"
ENV = {"PAPER_DIGEST_FEEDBACK_SECRET": SECRET}
SUB = """
email = "{email}"
deliver = ["email"]
max_items = 50
min_score = 0.01
[interests]
keywords = ["segmentation"]
"""
EVERY_MINUTE = '[serve]\ndefault_schedule = "every 1m"\ngrace = "1h"\n'  # due at NOW
Sample = tuple[str, tuple[tuple[str, str], ...]]


@contextmanager
def caught(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
           ) -> Iterator[list[logging.LogRecord]]:
    """paper_digest's log records, caught here once (the CLI may have stopped the logger
    propagating), at INFO."""
    logger = logging.getLogger("paper_digest")
    monkeypatch.setattr(logger, "propagate", False)
    level = logger.level
    logger.setLevel(logging.INFO)  # not setattr: setLevel clears the loggers' level caches
    caplog.handler.setLevel(logging.INFO)
    logger.addHandler(caplog.handler)
    try:
        yield caplog.records
    finally:
        logger.removeHandler(caplog.handler)
        logger.setLevel(level)


def scrape(port: int) -> dict[Sample, tuple[str, float]]:
    """/metrics as {(name, labels): (type, value)}."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    kinds = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    out = {}
    for name, labels, value in re.findall(r"^([a-z_]+)(?:\{(.*)\})? (\S+)$", text, re.M):
        key = (name, tuple(re.findall(r'(\w+)="([^"]*)"', labels or "")))
        out[key] = (kinds[name], float(value))
    return out


def _server(config: Path, url: str) -> Server:
    return Server(ConfigWatcher(config, ENV, load_config(config, ENV)), open_engine(url),
                  clock=lambda: NOW)


def test_counters_only_go_up_and_deliveries_pending_or_failed_are_a_gauge(
        tmp_path: Path, seeds_dir: Path, database_url: str) -> None:
    """A digest pending (its server said 'try later'), then sent: every counter of the first
    scrape is in the second, not lower (Prometheus reads a lower counter as a restart), and
    the pending one is a gauge that went back to 0."""
    with smtp_server(Handler(data_reply="451 4.3.0 Try again later")) as (handler, port):
        config = make_config(tmp_path, database_url, {"ada": SUB.format(email="ada@x.org")},
                             smtp_port=port)
        add_seed_day(tmp_path, seeds_dir, "2026-03-14")
        server = _server(config, database_url)
        server._start_http("127.0.0.1", 0)
        try:
            assert run_cli(config, "run", "--now", NOW.isoformat()).exit_code == 3
            before = scrape(server.http.port)
            handler.data_reply = None
            later = (NOW + timedelta(minutes=1)).isoformat()
            assert run_cli(config, "run", "--now", later).exit_code == 0
            after = scrape(server.http.port)
        finally:
            server.http.stop()
            server.engine.dispose()
    email = ("channel", "email")
    assert before[("paper_digest_deliveries", (email, ("status", "pending")))] == ("gauge", 1)
    assert after[("paper_digest_deliveries", (email, ("status", "pending")))] == ("gauge", 0)
    assert after[("paper_digest_deliveries", (email, ("status", "failed")))] == ("gauge", 0)
    assert after[("paper_digest_digests_total", (email, ("status", "sent")))] == ("counter", 1)
    counters = {key: value for key, (kind, value) in before.items() if kind == "counter"}
    assert counters
    for key, value in counters.items():
        assert key in after and after[key][1] >= value, (key, value, after.get(key))


def test_a_database_outage_is_one_line_when_it_starts_and_one_when_it_ends(
        tmp_path: Path, pg_url: str, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL cut off while /metrics is scraped and a feedback link is opened, again and
    again: each says 'database unreachable' in one line with the driver's reason, no
    traceback, when the outage starts, and 'answers again' when it ends."""
    real = make_url(pg_url)
    with forwarding(real.host or "127.0.0.1", real.port or 5432) as db, \
            caught(caplog, monkeypatch) as records:
        url = real.set(host="127.0.0.1", port=db.port).render_as_string(hide_password=False)
        config = make_config(tmp_path, url, {"ada": SUB.format(email="ada@x.org")},
                             extra='[feedback]\nurl = "http://127.0.0.1/digest"\n')
        server = _server(config, url)
        server._start_http("127.0.0.1", 0)
        port = server.http.port
        link = Links(f"http://127.0.0.1:{port}/digest", SECRET).link(
            "ada", _stored(server.engine, "Charts Read Aloud"), "like", datetime.now(UTC).date())
        try:
            assert scrape(port)[("paper_digest_up", ())] == ("gauge", 1)
            assert httpx.get(link, timeout=5).status_code == 200
            db.down()
            for _ in range(3):
                assert scrape(port)[("paper_digest_up", ())] == ("gauge", 0)
                assert httpx.get(link, timeout=10).status_code == 503
            db.up()
            assert scrape(port)[("paper_digest_up", ())] == ("gauge", 1)
            assert httpx.get(link, timeout=5).status_code == 200
        finally:
            server.http.stop()
            server.engine.dispose()
    said = [(r.levelname, r.event, r.by) for r in records  # type: ignore[attr-defined]
            if getattr(r, "event", "").startswith("database.")]
    assert sorted(said) == [("INFO", "database.up", "feedback"), ("INFO", "database.up", "metrics"),
                            ("WARNING", "database.down", "feedback"),
                            ("WARNING", "database.down", "metrics")], said
    for record in records:
        assert not record.exc_info and not record.exc_text, record.getMessage()
        assert len(record.getMessage()) < 300 and "[SQL" not in record.getMessage()
    down = [r.getMessage() for r in records if getattr(r, "event", "") == "database.down"]
    assert all("database unreachable: database error: " in m for m in down), down


def test_jobs_failing_on_a_database_outage_say_so_once_each(
        tmp_path: Path, pg_url: str, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL cut off while serve's jobs go on turning (a heartbeat every 30 s, the digest
    check every minute): each job says it fails, with the driver's reason, when it starts
    failing, not on each turn, and says when it works again; /healthz names the database,
    not the heartbeat the outage made stale."""
    real = make_url(pg_url)
    with forwarding(real.host or "127.0.0.1", real.port or 5432) as db, \
            caught(caplog, monkeypatch) as records:
        url = real.set(host="127.0.0.1", port=db.port).render_as_string(hide_password=False)
        config = make_config(tmp_path, url, {"ada": SUB.format(email="ada@x.org")})
        server = _server(config, url)
        server._start_http("127.0.0.1", 0)
        jobs = {name: server._guarded(name, getattr(server, name)) for name in ("heartbeat", "due")}
        try:
            db.down()
            health = httpx.get(f"http://127.0.0.1:{server.http.port}/healthz", timeout=10)
            assert health.status_code == 503
            assert health.text.startswith("database unreachable"), health.text
            for _ in range(3):
                for job in jobs.values():
                    job()
            db.up()
            for job in jobs.values():
                job()
        finally:
            server.http.stop()
            server.engine.dispose()
    said = [(r.levelname, r.event, r.job) for r in records  # type: ignore[attr-defined]
            if getattr(r, "event", "").startswith("job.")]
    assert sorted(said) == [("ERROR", "job.error", "due"), ("ERROR", "job.error", "heartbeat"),
                            ("INFO", "job.recovered", "due"),
                            ("INFO", "job.recovered", "heartbeat")], said
    errors = [r.getMessage() for r in records if getattr(r, "event", "") == "job.error"]
    assert all(": database error: " in m and "[SQL" not in m for m in errors), errors
    back = [r.getMessage() for r in records if getattr(r, "event", "") == "job.recovered"]
    assert all("3 time(s)" in m for m in back), back


def test_a_serve_whose_port_is_taken_stops_before_any_job(tmp_path: Path,
                                                          sqlite_url: str) -> None:
    """A second serve started by mistake (its [serve] http_port held by the first) stops with
    'cannot listen': before it read any source or sent anything (its fetch at start ran, and
    recorded papers, before the port was found taken)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        config = make_config(tmp_path, sqlite_url, {"ada": SUB.format(email="ada@x.org")},
                             extra=f'[serve]\nhttp_host = "127.0.0.1"\nhttp_port = {port}\n')
        (tmp_path / "dumps" / "a.txt").write_text(
            "new\n\nMar 14\n\nA Title\n\nAn abstract.\n", encoding="utf-8")
        server = _server(config, sqlite_url)
        try:
            with pytest.raises(ServeError, match=r"cannot listen on 127\.0\.0\.1:"):
                server.start()
            assert not wait_for(lambda: fk.scalar(sqlite_url, "SELECT count(*) FROM dumps"), 2)
        finally:
            server.shutdown(grace=5)
            server.engine.dispose()


def test_each_delivery_is_one_line_with_its_event_when_it_happens(
        tmp_path: Path, seeds_dir: Path, sqlite_url: str, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """serve's pass: a refused send is one warning, event delivery.retry with when it is tried
    again, not a second line without an event; each send is logged as it happens."""
    names = ("ada", "bob", "cy")
    handler = Handler(refuse={"ada@x.org": "450 4.2.1 Mailbox busy"}, delay=0.4)
    with smtp_server(handler) as (handler, port), caught(caplog, monkeypatch) as records:
        config = make_config(tmp_path, sqlite_url,
                             {n: SUB.format(email=f"{n}@x.org") for n in names},
                             smtp_port=port, extra=EVERY_MINUTE)
        add_seed_day(tmp_path, seeds_dir, "2026-03-14")
        server = _server(config, sqlite_url)
        try:
            server.fetch("local")
            server.due()
        finally:
            server.engine.dispose()
    events = [r for r in records if getattr(r, "event", "").startswith("delivery.")]
    assert sorted((r.event, r.subscriber) for r in events) == [  # type: ignore[attr-defined]
        ("delivery.retry", "ada"), ("delivery.sent", "bob"), ("delivery.sent", "cy")]
    [retry] = [r for r in events if r.event == "delivery.retry"]  # type: ignore[attr-defined]
    assert retry.levelno == logging.WARNING and "450 4.2.1 Mailbox busy" in retry.getMessage()
    assert retry.attempts == 1 and retry.retry_at.endswith("Z")  # type: ignore[attr-defined]
    unmarked = [r.getMessage() for r in records
                if r.levelno >= logging.WARNING and not getattr(r, "event", None)]
    assert unmarked == []  # the refusal was said once, with its event
    sent = sorted(r.created for r in events if r.event == "delivery.sent")  # type: ignore
    assert sent[1] - sent[0] >= 0.3  # each when its server took it (0.4 s apart), not together


def test_a_failing_source_is_logged_once_by_each_process(tmp_path: Path,
                                                         sqlite_url: str) -> None:
    """A source failing for good: `fetch` logs why (event source.failed); serve, started
    later, logs it too, once, whatever the number of its fetches."""
    config = make_config(tmp_path, sqlite_url, {"ada": SUB.format(email="ada@x.org")},
                         extra='[serve]\nfetch_every = "1s"\ncheck_every = "1s"\n'
                               'heartbeat = "1s"\n')
    (tmp_path / "dumps").rmdir()  # the source's folder: gone
    env = {**os.environ, "PAPER_DIGEST_LOG_FORMAT": "json", "PAPER_DIGEST_CONFIG": str(config),
           "PAPER_DIGEST_DATABASE_URL": sqlite_url}
    fetched = subprocess.run([str(BIN / "paper-digest"), "fetch"], env=env, capture_output=True,
                             text=True, timeout=60)
    assert fetched.returncode == 3, fetched.stderr
    assert len(_failed(fetched.stderr)) == 1, fetched.stderr
    log = tmp_path / "serve.log"
    with log.open("wb") as stderr:
        serve = subprocess.Popen([str(BIN / "paper-digest"), "serve"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=stderr, cwd=tmp_path)
    try:
        assert wait_for(lambda: log.read_text("utf-8").count('"fetch.done"') >= 3, 30), \
            log.read_text("utf-8")
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=15)
    [failed] = _failed(log.read_text("utf-8"))
    assert failed["source"] == "local" and failed["level"] == "error"
    assert "not a directory (check `path`)" in str(failed["msg"])


def _failed(stderr: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "source.failed"]
