"""Digests held for a cause that is no digest's fault (a template that fails to render, a relay
that cannot be reached, a digest folder that cannot be written) are said once a pass in the
log: one line for the cause, with how many digests of how many subscribers it held. Each held
digest's own line is DEBUG (`-vv`): it was a warning each, every pass, so at 10,000
subscribers one broken template or one relay down wrote 10,000 lines a pass. The run's
summary on stdout is not this test's: it still lists what each subscriber's digest did."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from tests.integration.helpers import make_config, run_cli
from tests.integration.smtpserver import free_port, smtp_server

NAMES = ("ada", "bob", "cy", "dee", "eve")
DUMP = "new\n\nMar 14\n\nA Segmentation Model\n\nWe segment images.\n"
SUB = """
email = "{name}@example.org"
deliver = ["{channel}"]
min_score = 0.01
[interests]
keywords = ["segmentation"]
"""
NOW = "2026-03-14T20:00:00+00:00"


def _config(root: Path, url: str, channel: str, port: int | None, extra: str = "") -> Path:
    config = make_config(root, url, {n: SUB.format(name=n, channel=channel) for n in NAMES},
                         smtp_port=port, extra=extra)
    (root / "dumps" / "day.txt").write_text(DUMP, encoding="utf-8")
    return config


def _logged(config: Path, verbose: str, now: str = NOW) -> list[dict[str, Any]]:
    """The JSON log lines of one `run` (stderr), at `-v` (serve's level) or `-vv`."""
    ran = run_cli(config, verbose, "run", "--now", now, env={"PAPER_DIGEST_LOG_FORMAT": "json"})
    assert ran.exit_code == 3, ran.output
    return [json.loads(line) for line in ran.stderr.splitlines() if line.startswith("{")]


def _held_once(records: list[dict[str, Any]], event: str, level: int) -> dict[str, Any]:
    """The pass's one line for the cause; no other line of a delivery at INFO or above."""
    deliveries = [r for r in records if r.get("event", "").startswith("delivery.")]
    assert [r["event"] for r in deliveries] == [event], deliveries
    [said] = deliveries
    assert said["level"] == logging.getLevelName(level).lower(), said
    assert (said["digests"], said["subscribers"]) == (len(NAMES), len(NAMES)), said
    assert f"{len(NAMES)} digests of {len(NAMES)} subscribers held, pending with no attempt " \
        "counted" in said["msg"], said
    assert len([r for r in records if r["level"] in ("warning", "error")]) == 1, records
    return said


def _each_at_debug(records: list[dict[str, Any]], reason: str) -> None:
    """`-vv`: each held digest's own line too, DEBUG, with its subscriber and reason."""
    each = [r for r in records if r.get("event") == "delivery.retry"]
    assert sorted(r["subscriber"] for r in each) == sorted(NAMES), records
    assert all(r["level"] == "debug" and reason in r["msg"] and r["attempts"] == 0
               for r in each), each


def test_a_broken_template_is_said_once_a_pass_with_its_count(tmp_path: Path,
                                                              sqlite_url: str) -> None:
    templates = tmp_path / "my-templates"
    templates.mkdir()
    html = templates / "digest.html.j2"
    html.write_text("<p>{{ d.subscriber_name }}</p>\n<p>{{ d.no_such_field }}</p>\n",
                    encoding="utf-8")
    with smtp_server() as (handler, port):
        config = _config(tmp_path, sqlite_url, "email", port,
                         extra=f'templates_dir = "{templates}"\n')
        said = _held_once(_logged(config, "-v"), "delivery.template_held", logging.ERROR)
        assert said["msg"].startswith(f"TemplateError: {html}:2: "), said
        assert "no_such_field" in said["msg"] and said["subscriber"] in NAMES
        _each_at_debug(_logged(config, "-vv", "2026-03-14T20:05:00+00:00"),
                       f"TemplateError: {html}:2: ")
        assert handler.messages == []


def test_a_relay_that_cannot_be_reached_is_said_once_a_pass_with_its_count(
        tmp_path: Path, sqlite_url: str) -> None:
    port = free_port()  # nothing listens: connection refused
    config = _config(tmp_path, sqlite_url, "email", port)
    said = _held_once(_logged(config, "-v"), "delivery.held", logging.WARNING)
    reason = f"SMTP 127.0.0.1:{port} cannot be reached: "
    assert said["msg"].startswith(reason) and said["channel"] == "email", said
    _each_at_debug(_logged(config, "-vv", "2026-03-14T20:05:00+00:00"), reason)


def test_a_folder_that_cannot_be_written_is_said_once_a_pass_with_its_count(
        tmp_path: Path, sqlite_url: str) -> None:
    config = _config(tmp_path, sqlite_url, "markdown", None)
    out = tmp_path / "out"
    out.write_text("a file where the digests' folder goes\n", encoding="utf-8")
    said = _held_once(_logged(config, "-v"), "delivery.held", logging.WARNING)
    assert said["msg"].startswith("cannot write a digest's file: "), said
    assert f"the first: cannot write {out}/" in said["msg"] and said["channel"] == "markdown"
    _each_at_debug(_logged(config, "-vv", "2026-03-14T20:05:00+00:00"),
                   f"cannot write {out}/")

