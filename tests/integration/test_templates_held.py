"""A `templates_dir` template that compiles but fails when rendered (a field `d` lacks) is the
install's to fix, not the digests': each digest it stops waits, pending with no attempt
counted, however many passes it takes, the reason naming the template's file and line, said
once a pass; the digests it does not touch (another form's) go out; and the first pass after
the template is fixed sends the rest, once (the ops audit: they ended failed after
max_attempts and needed `paper-digest retry`). Real SMTP on loopback, Markdown files."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

from tests.integration.helpers import make_config, run_cli
from tests.integration.smtpserver import smtp_server

DUMP = "new\n\nMar 14\n\nA Segmentation Model\n\nWe segment images.\n"
SUB = """
name = "{name}"
email = "{name}@example.org"
deliver = {deliver}
min_score = 0.01
[interests]
keywords = ["segmentation"]
"""
BROKEN = "<p>{{ d.subscriber_name }}</p>\n<p>{{ d.no_such_field }}</p>\n"
FIXED = '{% extends "default/digest.html.j2" %}\n'


def _deliveries(url: str) -> dict[tuple[str, str], tuple[str, int, str | None]]:
    """(subscriber, channel) -> (status, attempts, last_error)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {(r[0], r[1]): (r[2], r[3], r[4]) for r in conn.execute(text(
                "SELECT g.subscriber_id, d.channel, d.status, d.attempts, d.last_error "
                "FROM deliveries d JOIN digests g ON g.id = d.digest_id"))}
    finally:
        engine.dispose()


def test_a_template_that_fails_to_render_holds_its_digests_until_it_is_fixed(
        tmp_path: Path, sqlite_url: str) -> None:
    templates = tmp_path / "my-templates"
    templates.mkdir()
    html = templates / "digest.html.j2"
    html.write_text(BROKEN, encoding="utf-8")
    subscribers = {"ada": SUB.format(name="ada", deliver='["email"]'),
                   "bob": SUB.format(name="bob", deliver='["markdown"]'),
                   "cy": SUB.format(name="cy", deliver='["email", "markdown"]')}
    with smtp_server() as (handler, port):
        config = make_config(tmp_path, sqlite_url, subscribers, smtp_port=port,
                             extra=f'templates_dir = "{templates}"\n'
                                   "[delivery]\nmax_attempts = 2\n")
        (tmp_path / "dumps" / "day.txt").write_text(DUMP, encoding="utf-8")
        reason = f"TemplateError: {html}:2: "
        for minute in ("00", "05", "10"):  # more passes than max_attempts
            ran = run_cli(config, "run", "--now", f"2026-03-14T20:{minute}:00+00:00")
            assert ran.exit_code == 3, ran.output
            assert ran.stdout.count(f"email NOT SENT (will retry) {reason}") == 2, ran.stdout
            said = [line for line in ran.stdout.splitlines() if line.startswith("error: ")]
            assert len(said) == 1 and said[0].startswith(f"error: {reason}"), ran.stdout
            assert "has no attribute 'no_such_field': 2 digests held, pending with no " \
                "attempt counted, until the template is fixed" in said[0]
            assert "preview ada` renders it" in said[0]
            # the log's line for the pass, once; each digest's own line is DEBUG
            [logged] = ran.stderr.splitlines()
            assert "2 digests of 2 subscribers held, pending with no attempt counted" in logged
            assert "Traceback" not in ran.output and "FAILED" not in ran.output
            assert handler.messages == []
            states = _deliveries(sqlite_url)
            for who in ("ada", "cy"):
                status, attempts, error = states[who, "email"]
                assert (status, attempts) == ("pending", 0), states
                assert error is not None and error.startswith(reason), error
                assert "no_such_field" in error
            # Markdown's template is fine: those digests go, the first pass, once.
            assert states["bob", "markdown"][:2] == states["cy", "markdown"][:2] == ("sent", 1)
        status = run_cli(config, "status")
        assert "  ada: last digest sent never; 1 pending, 0 failed" in status.output
        assert f"(email, 0 attempts, next try 2026-03-14 20:12 UTC): {reason}" in status.output
        html.write_text(FIXED, encoding="utf-8")
        fixed = run_cli(config, "run", "--now", "2026-03-14T20:15:00+00:00")
        assert fixed.exit_code == 0, fixed.output
        assert "error: " not in fixed.output
        again = run_cli(config, "run", "--now", "2026-03-14T20:20:00+00:00")
        assert again.exit_code == 0, again.output
    assert sorted(m["To"] for m in handler.messages) == ["ada <ada@example.org>",
                                                         "cy <cy@example.org>"]
    assert {v[:2] for v in _deliveries(sqlite_url).values()} == {("sent", 1)}
    for who in ("bob", "cy"):
        assert len(list((tmp_path / "out" / who).glob("*.md"))) == 1
