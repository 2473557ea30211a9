"""Structured logs (one JSON line per event, no secrets) and the Prometheus text format."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from worker import logs
from worker.metrics import Metrics, db_samples, render
from worker.store.metrics import Figures
from worker.store.models import SourceState


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def logger_to(stream: io.StringIO, choice: str | None = None) -> logging.Logger:
    handler = logging.StreamHandler(stream)
    logs.configure(handler, stream, choice)
    logger = logging.getLogger(f"test.logs.{id(stream)}")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def test_json_when_not_a_terminal_one_line_per_event_with_extras() -> None:
    out = io.StringIO()
    log = logger_to(out)
    log.info("digest %s sent", 7, extra={"event": "delivery.sent", "subscriber": "ada"})
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        log.exception("job failed")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    first, second = map(json.loads, lines)
    assert first["msg"] == "digest 7 sent" and first["event"] == "delivery.sent"
    assert first["subscriber"] == "ada" and first["level"] == "info"
    assert first["ts"].endswith("Z")
    assert second["level"] == "error" and "ValueError: boom" in second["exc"]


def test_plain_text_on_a_terminal_and_override() -> None:
    tty = Tty()
    logger_to(tty).warning("careful")
    assert tty.getvalue() == "WARNING careful\n"
    forced = Tty()
    logger_to(forced, "json").warning("careful")
    assert json.loads(forced.getvalue())["msg"] == "careful"


def test_secrets_and_url_passwords_never_reach_the_log() -> None:
    logs.add_secret("hunter2-smtp")
    out = io.StringIO()
    log = logger_to(out)
    log.error("cannot connect to %s", "postgresql://digest:s3cr3t@db:5432/papers")
    log.warning("smtp said: auth hunter2-smtp rejected", extra={"detail": "pw hunter2-smtp"})
    try:
        raise RuntimeError("login with hunter2-smtp failed")
    except RuntimeError:
        log.exception("send failed")
    text = out.getvalue()
    assert "s3cr3t" not in text and "hunter2-smtp" not in text
    assert "postgresql://digest:***@db:5432/papers" in text


def test_metrics_text_format() -> None:
    metrics = Metrics()
    metrics.inc("paper_digest_job_runs_total", job="due", outcome="ok")
    metrics.inc("paper_digest_job_runs_total", job="due", outcome="ok")
    when = datetime(2026, 3, 14, 8, tzinfo=UTC)
    figures = Figures(papers=338, listed=444, new=338, failed_dumps=1,
                      deliveries={("email", "sent"): 5, ("email", "failed"): 1},
                      last_ok_run=when,
                      sources=(SourceState("hf", when, "HTTP 503", when, when),))
    text = render([*metrics.samples(), *db_samples(figures)])
    assert text.count("# TYPE paper_digest_job_runs_total counter") == 1
    assert 'paper_digest_job_runs_total{job="due",outcome="ok"} 2' in text
    assert "paper_digest_papers_seen_total 444" in text
    assert "paper_digest_papers_new_total 338" in text
    assert 'paper_digest_digests_total{channel="email",status="sent"} 5' in text
    assert "# TYPE paper_digest_deliveries gauge" in text  # states, which go down as well
    assert 'paper_digest_deliveries{channel="email",status="failed"} 1' in text
    assert 'paper_digest_deliveries{channel="email",status="pending"} 0' in text
    assert 'status="failed"' not in text.split("paper_digest_deliveries")[0]
    assert f"paper_digest_last_successful_run_timestamp_seconds {int(when.timestamp())}" in text
    assert 'paper_digest_source_failing{source="hf"} 1' in text
    assert text.endswith("\n")


def test_hostile_text_cannot_forge_a_line_or_drive_the_terminal() -> None:
    name = "bad\x1b[2J\u202eevil\nERROR forged line.txt"
    for stream in (io.StringIO(), Tty()):
        logger_to(stream).warning("dump failed: %s", name, extra={"locator": name})
        text = stream.getvalue()
        assert text.count("\n") == 1 and "\x1b" not in text and "\u202e" not in text
        assert "\\x1b[2J\\u202eevil\\nERROR forged" in text.replace("\\\\", "\\")


def test_subscribers_gauge_counts_each_state(tmp_path: Path) -> None:
    """paper_digest_subscribers: an alert on broken files reads the broken ones, not the
    disabled ones (two active, one broken, three disabled here: no two counts alike)."""
    from worker.metrics import config_samples
    from worker.settings import load_config

    folder = tmp_path / "subscribers"
    folder.mkdir()
    (tmp_path / "worker.toml").write_text(f'database_url = "sqlite:///{tmp_path}/db"\n',
                                          encoding="utf-8")
    good = 'email = "{0}@example.org"\n[interests]\nkeywords = ["charts"]\n'
    for name in ("ada", "bob"):
        (folder / f"{name}.toml").write_text(good.format(name), encoding="utf-8")
    (folder / "cy.toml").write_text(good.format("cy") + "max_items = 'many'\n",
                                    encoding="utf-8")
    for name in ("dee", "eve", "fay"):
        (folder / f"{name}.toml").write_text("enabled = false\n" + good.format(name),
                                             encoding="utf-8")
    text = render(config_samples(load_config(tmp_path, {})))
    assert "# TYPE paper_digest_subscribers gauge" in text
    assert 'paper_digest_subscribers{state="active"} 2' in text
    assert 'paper_digest_subscribers{state="broken"} 1' in text
    assert 'paper_digest_subscribers{state="disabled"} 3' in text
    assert 'state="unsubscribed"' not in text  # the database's to say: not asked here
    # bob left with a digest's link; zed, who did too, has no file any more
    text = render(config_samples(load_config(tmp_path, {}), frozenset({"bob", "zed"})))
    assert 'paper_digest_subscribers{state="active"} 1' in text
    assert 'paper_digest_subscribers{state="unsubscribed"} 1' in text
